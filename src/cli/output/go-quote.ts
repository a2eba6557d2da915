/** Go's %q of a byte string (strconv.Quote(string(b))): valid UTF-8 kept, other bytes as \xNN. */
import { goQuote } from "../../pkg/go-json.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });

export function goQuoteBytes(b: Uint8Array): string {
  try {
    return goQuote(decoder.decode(b));
  } catch {
    // Invalid UTF-8 somewhere: quote run by run, each bad byte as \x.
    let out = '"';
    let i = 0;
    while (i < b.length) {
      const n = utf8Len(b, i);
      if (n === 0) {
        out += "\\x" + b[i].toString(16).padStart(2, "0");
        i++;
        continue;
      }
      out += goQuote(decoder.decode(b.subarray(i, i + n))).slice(1, -1);
      i += n;
    }
    return out + '"';
  }
}

/** The length of the valid UTF-8 sequence at b[i], or 0. */
function utf8Len(b: Uint8Array, i: number): number {
  const c = b[i];
  const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
  if (n === 0 || i + n > b.length) return n === 1 ? 1 : 0;
  try {
    decoder.decode(b.subarray(i, i + n));
    return n;
  } catch {
    return 0;
  }
}

export { goQuote };
