// HPACK (RFC 7541), shared by the server and the client: the decoder of received header blocks (static
// and dynamic table, table size updates, Huffman strings) and a small encoder for the blocks we send
// (indexed static fields and literals without indexing; it never adds to the peer's dynamic table, so
// table size settings do not matter).
import { huffmanDecode, HuffmanError } from "./huffman.ts";

/** Header lists as the server hands them on: lowercase name → value; repeated names joined with ", ". */
export type HeaderMap = Record<string, string>;

/** RFC 7541 Appendix A. Index 1 is STATIC_TABLE[0]. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
const STATIC_COUNT = STATIC_TABLE.length; // 61
const ENTRY_OVERHEAD = 32;

export class HpackError extends Error {}

/**
 * The decoder's dynamic table (RFC 7541 2.3.2, 4): newest entry first, as a ring of names and values.
 * Sizes count octets; names and values are latin1 strings, so a string's length is its octet count.
 */
class DynamicTable {
  #names: string[] = new Array(16);
  #values: string[] = new Array(16);
  #head = 0; // slot of the newest entry
  count = 0;
  size = 0;
  maxSize: number;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  /** Entry i (0 = newest). */
  name(i: number): string {
    return this.#names[(this.#head + i) & (this.#names.length - 1)];
  }

  value(i: number): string {
    return this.#values[(this.#head + i) & (this.#values.length - 1)];
  }

  add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.maxSize) {
      // An entry larger than the table empties it and is not added (RFC 7541 4.4).
      this.count = 0;
      this.size = 0;
      return;
    }
    while (this.size + entrySize > this.maxSize) this.#evictOldest();
    if (this.count === this.#names.length) this.#grow();
    const cap = this.#names.length;
    this.#head = (this.#head - 1 + cap) & (cap - 1);
    this.#names[this.#head] = name;
    this.#values[this.#head] = value;
    this.count++;
    this.size += entrySize;
  }

  setMaxSize(maxSize: number): void {
    this.maxSize = maxSize;
    while (this.size > maxSize) this.#evictOldest();
  }

  #evictOldest(): void {
    const cap = this.#names.length;
    const slot = (this.#head + this.count - 1) & (cap - 1);
    this.size -= this.#names[slot].length + this.#values[slot].length + ENTRY_OVERHEAD;
    this.#names[slot] = this.#values[slot] = "";
    this.count--;
  }

  #grow(): void {
    const cap = this.#names.length;
    const names = new Array<string>(cap * 2);
    const values = new Array<string>(cap * 2);
    for (let i = 0; i < this.count; i++) {
      names[i] = this.#names[(this.#head + i) & (cap - 1)];
      values[i] = this.#values[(this.#head + i) & (cap - 1)];
    }
    this.#names = names;
    this.#values = values;
    this.#head = 0;
  }
}

export interface DecodeResult {
  headers: HeaderMap;
  /** The decoded list went over the size limit; `headers` is incomplete (the table is still in sync). */
  tooLarge: boolean;
  /** A field broke HTTP/2's rules for requests (uppercase name, pseudo-header after a regular one, ...). */
  malformed: string | null;
}

/**
 * Decodes header blocks of one connection, in order. Any HpackError is a COMPRESSION_ERROR for the
 * connection: the table can no longer be trusted.
 */
export class HpackDecoder {
  #table: DynamicTable;
  /** The most the table may be resized to (our SETTINGS_HEADER_TABLE_SIZE). */
  #limit: number;
  #maxListSize: number;
  #pos = 0;
  #block: Uint8Array = new Uint8Array(0);

  constructor(maxTableSize = 4096, maxHeaderListSize = 64 * 1024) {
    this.#table = new DynamicTable(maxTableSize);
    this.#limit = maxTableSize;
    this.#maxListSize = maxHeaderListSize;
  }

  get tableSize(): number {
    return this.#table.size;
  }

  get tableCount(): number {
    return this.#table.count;
  }

  /** Dynamic table entry i (0 = newest), for tests. */
  tableEntry(i: number): [string, string] {
    return [this.#table.name(i), this.#table.value(i)];
  }

  decode(block: Uint8Array): DecodeResult {
    this.#block = block;
    this.#pos = 0;
    const headers: HeaderMap = Object.create(null);
    let listSize = 0;
    let tooLarge = false;
    let malformed: string | null = null;
    let sawRegular = false;
    let first = true;
    const end = block.length;
    try {
      while (this.#pos < end) {
        const b = block[this.#pos];
        let name: string;
        let value: string;
        if (b & 0x80) {
          // Indexed header field.
          const index = this.#integer(7);
          if (index === 0) throw new HpackError("indexed header field with index 0");
          if (index <= STATIC_COUNT) {
            const e = STATIC_TABLE[index - 1];
            name = e[0];
            value = e[1];
          } else {
            const i = index - STATIC_COUNT - 1;
            if (i >= this.#table.count) throw new HpackError(`header index ${index} is not in the table`);
            name = this.#table.name(i);
            value = this.#table.value(i);
          }
        } else if ((b & 0xe0) === 0x20) {
          // Dynamic table size update: only at the start of a block.
          if (!first) throw new HpackError("dynamic table size update after a header field");
          const size = this.#integer(5);
          if (size > this.#limit) throw new HpackError(`dynamic table size update to ${size} exceeds the limit ${this.#limit}`);
          this.#table.setMaxSize(size);
          continue;
        } else {
          // Literal: with incremental indexing (01), without indexing (0000) or never indexed (0001).
          const indexing = (b & 0xc0) === 0x40;
          const index = this.#integer(indexing ? 6 : 4);
          if (index === 0) {
            name = this.#string();
            if (!malformed && !validName(name)) malformed = `invalid header name ${JSON.stringify(name)}`;
          } else if (index <= STATIC_COUNT) {
            name = STATIC_TABLE[index - 1][0];
          } else {
            const i = index - STATIC_COUNT - 1;
            if (i >= this.#table.count) throw new HpackError(`header index ${index} is not in the table`);
            name = this.#table.name(i);
          }
          value = this.#string();
          if (indexing) this.#table.add(name, value);
        }
        first = false;
        if (tooLarge) continue;
        listSize += name.length + value.length + ENTRY_OVERHEAD;
        if (listSize > this.#maxListSize) {
          tooLarge = true;
          continue;
        }
        if (name.charCodeAt(0) === 0x3a /* : */) {
          if (sawRegular && !malformed) malformed = `pseudo-header ${name} after regular headers`;
          if (headers[name] !== undefined && !malformed) malformed = `duplicate pseudo-header ${name}`;
        } else {
          sawRegular = true;
        }
        const prev = headers[name];
        headers[name] = prev === undefined ? value : name === "cookie" ? `${prev}; ${value}` : `${prev}, ${value}`;
      }
    } finally {
      this.#block = EMPTY;
    }
    return { headers, tooLarge, malformed };
  }

  /** An integer with an n-bit prefix (RFC 7541 5.1), at most 2^31-1. */
  #integer(n: number): number {
    const block = this.#block;
    const mask = (1 << n) - 1;
    let value = block[this.#pos++] & mask;
    if (value < mask) return value;
    let shift = 0;
    for (;;) {
      if (this.#pos >= block.length) throw new HpackError("truncated integer");
      const b = block[this.#pos++];
      value += (b & 0x7f) * 2 ** shift;
      if (value > 0x7fffffff) throw new HpackError("integer too large");
      if (!(b & 0x80)) return value;
      shift += 7;
    }
  }

  /** A string literal (RFC 7541 5.2), as latin1. */
  #string(): string {
    const block = this.#block;
    if (this.#pos >= block.length) throw new HpackError("truncated string");
    const huffman = (block[this.#pos] & 0x80) !== 0;
    const len = this.#integer(7);
    const start = this.#pos;
    const end = start + len;
    if (end > block.length) throw new HpackError("string runs past the end of the header block");
    this.#pos = end;
    if (huffman) {
      try {
        return huffmanDecode(block, start, end);
      } catch (err) {
        if (err instanceof HuffmanError) throw new HpackError(err.message);
        throw err;
      }
    }
    return latin1(block, start, end);
  }
}

const EMPTY = new Uint8Array(0);

function latin1(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 32) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(b[i]);
    return s;
  }
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString("latin1");
}

/** Field names must be non-empty lowercase tokens; a leading ':' marks a pseudo-header. */
function validName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return false; // uppercase
    if (c <= 0x20 || c >= 0x7f) return false;
    if (c === 0x3a && i > 0) return false;
  }
  return true;
}

// ---------------------------------------------------------------- encoder

const STATIC_EXACT = new Map<string, number>();
const STATIC_NAME = new Map<string, number>();
STATIC_TABLE.forEach(([n, v], i) => {
  if (!STATIC_EXACT.has(`${n}\0${v}`)) STATIC_EXACT.set(`${n}\0${v}`, i + 1);
  if (!STATIC_NAME.has(n)) STATIC_NAME.set(n, i + 1);
});

function pushInteger(out: number[], value: number, n: number, firstByteBits: number): void {
  const mask = (1 << n) - 1;
  if (value < mask) {
    out.push(firstByteBits | value);
    return;
  }
  out.push(firstByteBits | mask);
  value -= mask;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, "latin1");
  pushInteger(out, bytes.length, 7, 0); // H = 0: no Huffman
  for (const b of bytes) out.push(b);
}

/**
 * Encodes a header list: exact static-table matches as indexed fields, everything else as literals
 * without indexing (static name index when there is one), no Huffman. Names must be lowercase.
 */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const exact = STATIC_EXACT.get(`${name}\0${value}`);
    if (exact !== undefined) {
      pushInteger(out, exact, 7, 0x80);
      continue;
    }
    const nameIndex = STATIC_NAME.get(name);
    if (nameIndex !== undefined) {
      pushInteger(out, nameIndex, 4, 0x00);
    } else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return Buffer.from(out);
}
