// A minimal DER (ASN.1) reader: enough to walk X.509 certificates and CRLs for the few fields the
// TLS checks need (serial numbers, names), without a certificate library. Pure; throws DerError on
// malformed input, which callers turn into a message naming the file or the connection.

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

/** One TLV: its tag byte and where its contents are. */
export interface Der {
  readonly tag: number;
  /** The whole input the TLV lives in. */
  readonly bytes: Uint8Array;
  /** Contents: bytes[start, end). */
  readonly start: number;
  readonly end: number;
}

/** Tags used here. Context-specific constructed tags are 0xa0 | n. */
export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Reads the TLV at `at`; it must end by `limit`. */
export function readDer(bytes: Uint8Array, at = 0, limit = bytes.length): Der {
  if (at + 2 > limit) throw new DerError("truncated DER: no room for a tag and a length");
  const tag = bytes[at];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported DER tag 0x${tag.toString(16)} (high tag number)`);
  let len = bytes[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // Indefinite lengths (n = 0) are BER, not DER; 4 bytes of length are more than any certificate needs.
    if (n === 0 || n > 4) throw new DerError(`unsupported DER length form 0x${len.toString(16)}`);
    if (start + n > limit) throw new DerError("truncated DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[start + i];
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new DerError(`truncated DER: a value of ${len} bytes overruns its container`);
  return { tag, bytes, start, end };
}

/** The TLVs inside a constructed value, in order. */
export function children(parent: Der): Der[] {
  const out: Der[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const d = readDer(parent.bytes, at, parent.end);
    out.push(d);
    at = d.end;
  }
  return out;
}

export function expectTag(d: Der | undefined, tag: number, what: string): Der {
  if (d === undefined) throw new DerError(`${what} is missing`);
  if (d.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${d.tag.toString(16)}`);
  return d;
}

export function contents(d: Der): Uint8Array {
  return d.bytes.subarray(d.start, d.end);
}

/**
 * An INTEGER as lowercase hex of its magnitude's bytes, without leading zero bytes ("00" for zero) —
 * Go's big.Int.Bytes(), which etcd compares serial numbers by (and prints with %x).
 */
export function integerMagnitudeHex(d: Der): string {
  let b = contents(d);
  if (b.length === 0) throw new DerError("empty INTEGER");
  if (b[0] & 0x80) {
    // Negative (two's complement; not allowed for serials by RFC 5280, but seen): take its magnitude.
    const m = new Uint8Array(b.length);
    let carry = 1;
    for (let i = b.length - 1; i >= 0; i--) {
      const v = (~b[i] & 0xff) + carry;
      m[i] = v & 0xff;
      carry = v >> 8;
    }
    b = m;
  }
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return Buffer.from(b.subarray(i)).toString("hex");
}

/** A directory string (CN and the like) as text. */
export function stringValue(d: Der): string {
  const b = Buffer.from(contents(d));
  switch (d.tag) {
    case Tag.BMP_STRING:
      return b.swap16().toString("utf16le");
    case Tag.UNIVERSAL_STRING: {
      let s = "";
      for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(b.readUInt32BE(i));
      return s;
    }
    case Tag.T61_STRING:
      return b.toString("latin1");
    default:
      return b.toString("utf8");
  }
}

/** Whether an OID TLV's contents are exactly `encoded` (its DER contents, e.g. 55 04 03 for 2.5.4.3). */
export function oidIs(d: Der, encoded: readonly number[]): boolean {
  if (d.tag !== Tag.OID || d.end - d.start !== encoded.length) return false;
  for (let i = 0; i < encoded.length; i++) if (d.bytes[d.start + i] !== encoded[i]) return false;
  return true;
}

/** The DER bodies of the PEM blocks of `type` in text ("CERTIFICATE", "X509 CRL"). */
export function pemBlocks(text: string, type: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${type}-----([\\s\\S]*?)-----END ${type}-----`, "g");
  const out: Buffer[] = [];
  for (const m of text.matchAll(re)) {
    // Headers ("Proc-Type: …") sit before a blank line; base64 never contains ':'.
    const body = m[1].split(/\r?\n/).filter((l) => !l.includes(":")).join("");
    out.push(Buffer.from(body.replace(/\s+/g, ""), "base64"));
  }
  return out;
}
