/**
 * The parts of Go's encoding/json (and encoding/base64) that etcd's grpc-gateway exposes to clients,
 * reproduced so our answers match byte for byte: a parser that keeps numbers (and strings) as their
 * source text, with Go's syntax error messages; Go's string quoting (HTML-safe); Go's strict base64
 * decoding with its error offsets.
 */

export type JsonNode =
  | { readonly t: "object"; readonly entries: readonly (readonly [string, JsonNode])[] }
  | { readonly t: "array"; readonly items: readonly JsonNode[] }
  /** raw: the source text between the quotes, escapes not applied (jsonpb reads enums and numbers from it). */
  | { readonly t: "string"; readonly value: string; readonly raw: string }
  | { readonly t: "number"; readonly raw: string }
  | { readonly t: "bool"; readonly value: boolean }
  | { readonly t: "null" };

/** An error whose message is Go's text for the same input. */
export class GoJsonError extends Error {}

/** Go's name for a JSON value's kind in "cannot unmarshal <kind> into …" errors. */
export function kindOf(n: JsonNode): string {
  return n.t === "bool" ? "bool" : n.t;
}

/** Nesting limit (Go's is 10000); deeper input is refused rather than overflowing the stack. */
const MAX_DEPTH = 1000;

class Incomplete {}
const INCOMPLETE = new Incomplete();

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** The byte Go's scanner would report for this character (the first byte of its UTF-8 form). */
function firstUtf8Byte(cp: number): number {
  if (cp < 0x80) return cp;
  if (cp < 0x800) return 0xc0 | (cp >> 6);
  if (cp < 0x10000) return 0xe0 | (cp >> 12);
  return 0xf0 | (cp >> 18);
}

/** Go's strconv.IsPrint for the code points U+0000..U+00FF (all a scanner byte can be). */
function isPrintLatin1(c: number): boolean {
  return (c >= 0x20 && c < 0x7f) || (c >= 0xa1 && c !== 0xad);
}

/** encoding/json's quoteChar: how a byte appears in "invalid character …" messages. */
export function quoteChar(byte: number): string {
  if (byte === 0x27) return "'\\''";
  if (byte === 0x22) return "'\"'";
  return `'${goQuote(String.fromCharCode(byte)).slice(1, -1)}'`;
}

/** Go's strconv.Quote (the %q verb) for text made of code points (not raw bytes). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c === 0x22 || c === 0x5c) out += "\\" + ch;
    else if (c < 0x80 ? c >= 0x20 && c < 0x7f : c <= 0xff ? isPrintLatin1(c) : c !== 0x2028 && c !== 0x2029 && c !== 0xfeff) out += ch;
    else if (c === 0x07) out += "\\a";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0b) out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += "\\x" + c.toString(16).padStart(2, "0");
    else if (c < 0x10000) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += "\\U" + c.toString(16).padStart(8, "0");
  }
  return out + '"';
}

/**
 * A recursive-descent reader over one text. Syntax errors carry Go's scanner messages; running out
 * of input throws INCOMPLETE so callers can tell "need more" from "wrong".
 */
class Reader {
  pos: number;
  readonly #s: string;
  #depth = 0;

  constructor(s: string, pos: number) {
    this.#s = s;
    this.pos = pos;
  }

  #syntax(what: string): never {
    throw new GoJsonError(`invalid character ${quoteChar(firstUtf8Byte(this.#s.codePointAt(this.pos)!))} ${what}`);
  }

  #peek(): number {
    if (this.pos >= this.#s.length) throw INCOMPLETE;
    return this.#s.charCodeAt(this.pos);
  }

  skipSpace(): void {
    while (this.pos < this.#s.length && isSpace(this.#s.charCodeAt(this.pos))) this.pos++;
  }

  /** One value; `context` is Go's wording for what the scanner was looking for. */
  value(): JsonNode {
    this.skipSpace();
    const c = this.#peek();
    if (c === 0x7b) return this.#object();
    if (c === 0x5b) return this.#array();
    if (c === 0x22) return this.#string();
    if (c === 0x2d || isDigit(c)) return this.#number();
    if (c === 0x74) return this.#literal("true", { t: "bool", value: true });
    if (c === 0x66) return this.#literal("false", { t: "bool", value: false });
    if (c === 0x6e) return this.#literal("null", { t: "null" });
    this.#syntax("looking for beginning of value");
  }

  #enter(): void {
    if (++this.#depth > MAX_DEPTH) throw new GoJsonError("exceeded max depth");
  }

  #object(): JsonNode {
    this.#enter();
    this.pos++;
    const entries: [string, JsonNode][] = [];
    this.skipSpace();
    if (this.#peek() === 0x7d) {
      this.pos++;
      this.#depth--;
      return { t: "object", entries };
    }
    for (;;) {
      this.skipSpace();
      if (this.#peek() !== 0x22) this.#syntax("looking for beginning of object key string");
      const key = this.#string().value;
      this.skipSpace();
      if (this.#peek() !== 0x3a) this.#syntax("after object key");
      this.pos++;
      entries.push([key, this.value()]);
      this.skipSpace();
      const c = this.#peek();
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x7d) break;
      this.pos--;
      this.#syntax("after object key:value pair");
    }
    this.#depth--;
    return { t: "object", entries };
  }

  #array(): JsonNode {
    this.#enter();
    this.pos++;
    const items: JsonNode[] = [];
    this.skipSpace();
    if (this.#peek() === 0x5d) {
      this.pos++;
      this.#depth--;
      return { t: "array", items };
    }
    for (;;) {
      items.push(this.value());
      this.skipSpace();
      const c = this.#peek();
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x5d) break;
      this.pos--;
      this.#syntax("after array element");
    }
    this.#depth--;
    return { t: "array", items };
  }

  #string(): JsonNode & { t: "string" } {
    const s = this.#s;
    const start = ++this.pos;
    let value = "";
    let from = start;
    for (;;) {
      const c = this.#peek();
      if (c === 0x22) break;
      if (c < 0x20) this.#syntax("in string literal");
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      value += s.slice(from, this.pos);
      this.pos++;
      const e = this.#peek();
      const simple = ESCAPES[e];
      if (simple !== undefined) {
        value += simple;
        this.pos++;
      } else if (e === 0x75) {
        this.pos++;
        let unit = this.#hex4();
        if (unit >= 0xd800 && unit < 0xdc00) {
          // A high surrogate pairs only with an escaped low one that follows at once (Go: else U+FFFD).
          const save = this.pos;
          if (s.charCodeAt(this.pos) === 0x5c && s.charCodeAt(this.pos + 1) === 0x75) {
            this.pos += 2;
            const low = this.#hex4();
            if (low >= 0xdc00 && low < 0xe000) {
              value += String.fromCharCode(unit, low);
              from = this.pos;
              continue;
            }
          }
          this.pos = save;
          unit = 0xfffd;
        } else if (unit >= 0xdc00 && unit < 0xe000) unit = 0xfffd;
        value += String.fromCharCode(unit);
      } else this.#syntax("in string escape code");
      from = this.pos;
    }
    value += s.slice(from, this.pos);
    const raw = s.slice(start, this.pos);
    this.pos++;
    return { t: "string", value, raw };
  }

  #hex4(): number {
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.#peek();
      if (!isHex(c)) this.#syntax("in \\u hexadecimal character escape");
      v = v * 16 + parseInt(String.fromCharCode(c), 16);
      this.pos++;
    }
    return v;
  }

  #number(): JsonNode {
    const s = this.#s;
    const start = this.pos;
    // At the end of the text a number may still go on: the caller decides (Decoder vs Unmarshal).
    const at = () => (this.pos < s.length ? s.charCodeAt(this.pos) : -1);
    if (at() === 0x2d) {
      this.pos++;
      if (!isDigit(this.#peek())) this.#syntax("in numeric literal");
    }
    if (at() === 0x30) this.pos++;
    else while (isDigit(at())) this.pos++;
    if (at() === 0x2e) {
      this.pos++;
      if (!isDigit(this.#peek())) this.#syntax("after decimal point in numeric literal");
      while (isDigit(at())) this.pos++;
    }
    if (at() === 0x65 || at() === 0x45) {
      this.pos++;
      if (at() === 0x2b || at() === 0x2d) this.pos++;
      if (!isDigit(this.#peek())) this.#syntax("in exponent of numeric literal");
      while (isDigit(at())) this.pos++;
    }
    return { t: "number", raw: s.slice(start, this.pos) };
  }

  #literal(word: string, node: JsonNode): JsonNode {
    this.pos++;
    for (let i = 1; i < word.length; i++) {
      if (this.#peek() !== word.charCodeAt(i)) this.#syntax(`in literal ${word} (expecting ${quoteChar(word.charCodeAt(i))})`);
      this.pos++;
    }
    return node;
  }
}

const ESCAPES: Record<number, string> = { 0x22: '"', 0x5c: "\\", 0x2f: "/", 0x62: "\b", 0x66: "\f", 0x6e: "\n", 0x72: "\r", 0x74: "\t" };

export type NextValue =
  | { readonly kind: "value"; readonly node: JsonNode; readonly end: number }
  /** Only whitespace left. */
  | { readonly kind: "eof" }
  /** The value goes on past the text and more may come (only when !final). */
  | { readonly kind: "more" };

/**
 * json.Decoder.Decode: the next value of a stream of concatenated values, starting at `pos`.
 * With `final` (no more input will come), a truncated value is Go's "unexpected EOF".
 */
export function decodeNext(text: string, pos: number, final: boolean): NextValue {
  const r = new Reader(text, pos);
  r.skipSpace();
  if (r.pos >= text.length) return { kind: "eof" };
  try {
    const node = r.value();
    // A number touching the end may have more digits coming.
    if (node.t === "number" && r.pos >= text.length && !final) return { kind: "more" };
    return { kind: "value", node, end: r.pos };
  } catch (err) {
    if (err !== INCOMPLETE) throw err;
    if (final) throw new GoJsonError("unexpected EOF");
    return { kind: "more" };
  }
}

/** json.Unmarshal's parse: the whole text is one value (with Go's messages when it is not). */
export function parseWhole(text: string): JsonNode {
  const r = new Reader(text, 0);
  let node: JsonNode;
  try {
    node = r.value();
  } catch (err) {
    if (err === INCOMPLETE) throw new GoJsonError("unexpected end of JSON input");
    throw err;
  }
  r.skipSpace();
  if (r.pos < text.length) {
    throw new GoJsonError(`invalid character ${quoteChar(firstUtf8Byte(text.codePointAt(r.pos)!))} after top-level value`);
  }
  return node;
}

const HEX = "0123456789abcdef";

/** encoding/json's string encoding (HTML-safe, as json.Marshal and jsonpb write it). */
export function quoteJson(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      esc = c === 0x22 ? '\\"' : c === 0x5c ? "\\\\" : c === 0x0a ? "\\n" : c === 0x0d ? "\\r" : c === 0x09 ? "\\t" : `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    } else if (c === 0x2028 || c === 0x2029) esc = `\\u${c.toString(16)}`;
    else if (c >= 0xd800 && c < 0xe000) {
      // A lone surrogate is not valid UTF-8 for Go: it writes U+FFFD.
      const pair = c < 0xdc00 && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) < 0xe000;
      if (pair) {
        i++;
        continue;
      }
      esc = "\\ufffd";
    }
    if (esc === null) continue;
    out += s.slice(from, i) + esc;
    from = i + 1;
  }
  return out + s.slice(from) + '"';
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_DECODE[B64.charCodeAt(i)] = i;

/**
 * base64.StdEncoding.Decode (padded, '\r' and '\n' skipped), failing as Go does with
 * "illegal base64 data at input byte N". The input is text: base64 is ASCII, so the first non-ASCII
 * character is the error and character offsets before it equal byte offsets.
 */
export function base64DecodeGo(s: string): Uint8Array {
  const out = new Uint8Array(Math.floor(s.length / 4) * 3 + 3);
  let n = 0;
  let si = 0;
  const corrupt = (at: number): never => {
    throw new GoJsonError(`illegal base64 data at input byte ${at}`);
  };
  const isNewline = (i: number) => s.charCodeAt(i) === 0x0a || s.charCodeAt(i) === 0x0d;
  for (;;) {
    // One quantum: up to four symbols, as Go's decodeQuantum.
    const dbuf = [0, 0, 0, 0];
    let dlen = 4;
    let trailing = -1;
    let j = 0;
    for (; j < 4; j++) {
      if (si === s.length) {
        if (j === 0) return out.subarray(0, n);
        corrupt(si - j);
      }
      const c = s.charCodeAt(si++);
      const v = c < 128 ? B64_DECODE[c] : -1;
      if (v >= 0) {
        dbuf[j] = v;
        continue;
      }
      if (c === 0x0a || c === 0x0d) {
        j--;
        continue;
      }
      if (c !== 0x3d) corrupt(si - 1);
      // Padding: the quantum ends here.
      if (j < 2) corrupt(si - 1);
      if (j === 2) {
        while (si < s.length && isNewline(si)) si++;
        if (si === s.length) corrupt(s.length);
        if (s.charCodeAt(si) !== 0x3d) corrupt(si - 1);
        si++;
      }
      while (si < s.length && isNewline(si)) si++;
      if (si < s.length) trailing = si;
      dlen = j;
      break;
    }
    const val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3];
    const bytes = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
    for (let k = 0; k < dlen - 1; k++) out[n++] = bytes[k];
    if (trailing >= 0) corrupt(trailing);
    if (dlen < 4) return out.subarray(0, n);
  }
}

/** base64.StdEncoding.EncodeToString. */
export function base64Encode(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}
