/** Go's strconv.ParseInt for a fixed base, with its error text (etcdctl prints it as it is). */
import { goQuote } from "../output/go-quote.ts";

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** strconv.ParseInt(text, base, 64) for base 10 or 16: a sign, digits, no prefix, no underscores. */
export function parseInt64(text: string, base: 10 | 16): bigint {
  const digits = base === 10 ? /^[+-]?[0-9]+$/ : /^[+-]?[0-9a-fA-F]+$/;
  if (!digits.test(text)) throw new Error(`strconv.ParseInt: parsing ${goQuote(text)}: invalid syntax`);
  const neg = text.startsWith("-");
  const body = text.replace(/^[+-]/, "");
  let v = BigInt(base === 16 ? "0x" + body : body);
  if (neg) v = -v;
  if (v < INT64_MIN || v > INT64_MAX) throw new Error(`strconv.ParseInt: parsing ${goQuote(text)}: value out of range`);
  return v;
}
