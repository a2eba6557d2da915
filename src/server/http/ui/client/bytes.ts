// Keys and values are arbitrary bytes; the gateway carries them as base64. These helpers keep them
// as Uint8Array everywhere and turn them into text only for display.

const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export function fromBase64(text: string | undefined): Uint8Array {
  if (!text) return new Uint8Array(0);
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** The bytes as UTF-8 text when they are valid UTF-8, else null. */
export function asText(bytes: Uint8Array): string | null {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return null;
  }
}

/** What the console shows for a key or value: its text when valid UTF-8, else its hex digits. */
export function display(bytes: Uint8Array): { text: string; hex: boolean } {
  const text = asText(bytes);
  return text === null ? { text: toHex(bytes), hex: true } : { text, hex: false };
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Byte order, as etcd sorts keys. */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * The range end that covers every key starting with `prefix` (clientv3's GetPrefixRangeEnd): the
 * prefix with its last byte below 0xff incremented and the rest dropped; [0] ("to the end of the key
 * space") when there is no such byte, as for the empty prefix.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/** The smallest key after `key` ("key\0"), where a range continues after it. */
export function keyAfter(key: Uint8Array): Uint8Array {
  return concat(key, new Uint8Array([0]));
}
