// Protobuf wire format written straight into a list of fixed-size buffers, for answers built row by
// row (a Range of a million keys): no message object per row, no array of rows, and no final copy —
// the chunks go to the socket as they are. protobufjs's Writer keeps an operation object per field
// until finish() and then copies everything into one buffer, which tripled a big Range's memory.

/** Values up to 2^53 − 1 are varint-encoded with number arithmetic: each BigInt step allocates. */
const SAFE_INT_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Chunks start small (most answers are one key) and double up to CHUNK_BYTES. */
const FIRST_CHUNK_BYTES = 512;
const CHUNK_BYTES = 256 * 1024;

export const WireType = { VARINT: 0, LEN: 2 } as const;

/** Bytes of a varint holding n (a non-negative safe integer). */
export function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Bytes of a varint holding v as int64 (negative values take ten, as protobuf's two's complement). */
export function varint64Bytes(v: bigint): number {
  if (v >= 0n && v <= SAFE_INT_MAX) return varintBytes(Number(v));
  let u = BigInt.asUintN(64, v);
  let bytes = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    bytes++;
  }
  return bytes;
}

/** Writes n (a non-negative safe integer) as a varint at buf[pos…]; returns where it ends. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Writes v as an int64/uint64 varint (at most ten bytes) at buf[pos…]; returns where it ends. */
export function writeVarint64(buf: Uint8Array, pos: number, v: bigint): number {
  if (v >= 0n && v <= SAFE_INT_MAX) return writeVarint(buf, pos, Number(v));
  let u = BigInt.asUintN(64, v);
  while (u >= 0x80n) {
    buf[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}

export class ChunkWriter {
  readonly #chunks: Buffer[] = [];
  #cur: Buffer;
  #pos = 0;
  /** Bytes in the chunks before the current one. */
  #done = 0;

  /** `headroom` bytes are left at the start of the first chunk (a gRPC message prefix goes there). */
  constructor(readonly headroom = 0) {
    this.#cur = Buffer.allocUnsafe(Math.max(FIRST_CHUNK_BYTES, headroom));
    this.#pos = headroom;
  }

  /** Bytes written, headroom not counted. */
  get length(): number {
    return this.#done + this.#pos - this.headroom;
  }

  /** The written bytes, the first chunk starting with the headroom. The writer is done with. */
  finish(): Buffer[] {
    this.#chunks.push(this.#cur.subarray(0, this.#pos));
    this.#cur = Buffer.alloc(0);
    return this.#chunks;
  }

  /**
   * finish(), with `prefix` put at the end of the headroom and the first chunk starting where it does:
   * for what must come first but is known only once the rest is written (a gRPC message's length, a
   * RangeResponse's header).
   */
  finishWithPrefix(prefix: Uint8Array): Buffer[] {
    if (prefix.length > this.headroom) throw new Error(`assertion failed: a prefix of ${prefix.length} bytes in ${this.headroom} bytes of headroom`);
    const chunks = this.finish();
    const start = this.headroom - prefix.length;
    chunks[0].set(prefix, start);
    chunks[0] = chunks[0].subarray(start);
    return chunks;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#cur.length) return;
    this.#chunks.push(this.#cur.subarray(0, this.#pos));
    this.#done += this.#pos;
    this.#cur = Buffer.allocUnsafe(Math.max(Math.min(CHUNK_BYTES, this.#cur.length * 2), n));
    this.#pos = 0;
  }

  varint(n: number): void {
    this.#room(10);
    this.#pos = writeVarint(this.#cur, this.#pos, n);
  }

  varint64(v: bigint): void {
    this.#room(10);
    this.#pos = writeVarint64(this.#cur, this.#pos, v);
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  raw(bytes: Uint8Array): void {
    if (bytes.length > CHUNK_BYTES / 4) {
      // A big value goes in as its own chunk rather than being copied.
      this.#chunks.push(this.#cur.subarray(0, this.#pos));
      this.#done += this.#pos;
      this.#chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      this.#done += bytes.length;
      this.#cur = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, this.#cur.length * 2));
      this.#pos = 0;
      return;
    }
    this.#room(bytes.length);
    this.#cur.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** A length-delimited field (proto3: an empty one is left out). */
  bytesField(field: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.tag(field, WireType.LEN);
    this.varint(bytes.length);
    this.raw(bytes);
  }

  /** An int64 field (proto3: zero is left out). */
  int64Field(field: number, v: bigint): void {
    if (v === 0n) return;
    this.tag(field, WireType.VARINT);
    this.varint64(v);
  }

  boolField(field: number, v: boolean): void {
    if (!v) return;
    this.tag(field, WireType.VARINT);
    this.varint(1);
  }
}
