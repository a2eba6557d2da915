// --client-crl-file / --peer-crl-file: certificate revocation lists, with etcd's semantics. A
// connecting party whose certificate chain holds a serial number listed in the CRL is refused after
// the TLS handshake. As etcd: the CRL may be PEM or DER; only its serial numbers count (its signature
// and next-update date are not checked — etcd's fixtures ship an expired one); the file is read
// again when it changes, so a new CRL takes effect for new connections without a restart; and a CRL
// that cannot be read or parsed refuses every certificate (fail closed).
import fs from "node:fs";
import { children, DerError, expectTag, integerMagnitudeHex, pemBlocks, readDer, Tag } from "./tls-der.ts";

/** The serial numbers (hex of magnitude bytes, as tls-der) a CRL revokes. Throws DerError when it is not a CRL. */
export function parseCrl(data: Uint8Array): Set<string> {
  const text = Buffer.from(data.subarray(0, 64)).toString("latin1");
  const ders = /^\s*-----BEGIN /.test(text) ? pemBlocks(Buffer.from(data).toString("latin1"), "X509 CRL") : [data];
  if (ders.length === 0) throw new DerError("no \"X509 CRL\" PEM block");
  const serials = new Set<string>();
  for (const der of ders) {
    const list = expectTag(readDer(der), Tag.SEQUENCE, "CertificateList");
    const tbs = children(expectTag(children(list)[0], Tag.SEQUENCE, "tbsCertList"));
    let i = 0;
    if (tbs[i]?.tag === Tag.INTEGER) i++; // version
    expectTag(tbs[i++], Tag.SEQUENCE, "signature algorithm");
    expectTag(tbs[i++], Tag.SEQUENCE, "issuer");
    const isTime = (t: number | undefined) => t === Tag.UTC_TIME || t === Tag.GENERALIZED_TIME;
    if (!isTime(tbs[i++]?.tag)) throw new DerError("thisUpdate is missing");
    if (isTime(tbs[i]?.tag)) i++; // nextUpdate
    if (tbs[i]?.tag !== Tag.SEQUENCE) continue; // no revoked certificates
    for (const entry of children(tbs[i])) {
      serials.add(integerMagnitudeHex(expectTag(children(entry)[0], Tag.INTEGER, "revoked certificate serial")));
    }
  }
  return serials;
}

/** A CRL file, read at first use and again whenever it changes on disk. */
export class CrlFile {
  readonly path: string;
  readonly #flag: string;
  #stamp = "";
  #serials: Set<string> | null = null;
  #error = "";

  /** `flag` names the setting in messages ("--client-crl-file"). */
  constructor(path: string, flag: string) {
    this.path = path;
    this.#flag = flag;
  }

  /** Reads the file now; throws an Error naming the flag and the file when it is unusable (checked at start). */
  load(): void {
    this.#refresh();
    if (this.#serials === null) throw new Error(this.#error);
  }

  /**
   * Why a connecting party with these certificate serials (its chain, leaf first) is refused: a revoked
   * serial (etcd's text), or an unreadable CRL; undefined when none is revoked.
   */
  refusal(serials: readonly string[]): string | undefined {
    this.#refresh();
    if (this.#serials === null) return this.#error;
    for (const s of serials) if (this.#serials.has(s)) return `transport: certificate serial ${s} revoked`;
    return undefined;
  }

  #refresh(): void {
    let stamp: string;
    try {
      const st = fs.statSync(this.path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (e) {
      return this.#fail(e);
    }
    if (stamp === this.#stamp) return;
    try {
      this.#serials = parseCrl(fs.readFileSync(this.path));
      this.#stamp = stamp;
    } catch (e) {
      this.#fail(e);
    }
  }

  #fail(e: unknown): void {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err instanceof DerError ? `not a certificate revocation list (${err.message})` : err.message;
    this.#serials = null;
    this.#stamp = "";
    this.#error = `Cannot read ${this.#flag} '${this.path}': ${why}`;
  }
}
