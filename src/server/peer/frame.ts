// Peer stream framing: every frame is a u32 big-endian payload length followed by the payload.
// After the handshake (handshake.ts) each payload is one raftpb.Message; an empty frame is a no-op.

export const FRAME_HEADER_BYTES = 4;
/**
 * A Raft message. Snapshots travel in chunks on their own connections; one entry can still be as
 * large as --max-request-bytes allows, so the bound stays generous.
 */
export const DEFAULT_MAX_FRAME_BYTES = 512 * 1024 * 1024;

export class FrameTooLargeError extends Error {
  constructor(
    readonly frameBytes: number,
    readonly limitBytes: number,
  ) {
    super(`peer frame of ${frameBytes} bytes exceeds the limit of ${limitBytes} bytes`);
    this.name = "FrameTooLargeError";
  }
}

export function frameHeader(payloadBytes: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32BE(payloadBytes, 0);
  return h;
}

/** Payloads at least this large are written as they are instead of being copied into a batch. */
const LARGE_PAYLOAD_BYTES = 64 * 1024;

/**
 * The frames of payloads as few buffers to write: small frames copied together (one write instead of
 * two per message), large payloads as they are (copying them would cost more than the write).
 */
export function frameBatch(payloads: readonly Buffer[]): Buffer[] {
  const parts: Buffer[] = [];
  let run: Buffer[] = [];
  for (const payload of payloads) {
    const header = frameHeader(payload.length);
    if (payload.length >= LARGE_PAYLOAD_BYTES) {
      run.push(header);
      parts.push(run.length === 1 ? header : Buffer.concat(run));
      run = [];
      parts.push(payload);
    } else {
      run.push(header, payload);
    }
  }
  if (run.length > 0) parts.push(Buffer.concat(run));
  return parts;
}

/**
 * Reassembles frames from stream chunks. Chunks are kept by reference until a frame is complete, so
 * a large frame costs one copy, not one per chunk. Payloads handed out are fresh buffers of exactly the
 * frame's size: decoded messages reference them, and must not pin (or see reuse of) socket chunks.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #first = 0; // index of the first unconsumed chunk
  #head = 0; // offset into #chunks[#first]
  #bytes = 0;
  #need = -1; // payload bytes of the current frame, -1 while reading a header

  constructor(public maxFrameBytes: number) {}

  get bufferedBytes(): number {
    return this.#bytes;
  }

  /**
   * Feeds a chunk; calls onFrame for each complete frame in order. onFrame returning false stops
   * parsing and discards what is buffered (the connection is going away). Throws FrameTooLargeError
   * as soon as a header announces more than maxFrameBytes.
   */
  push(chunk: Uint8Array, onFrame: (payload: Buffer) => boolean): void {
    if (chunk.length > 0) {
      this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#bytes += chunk.length;
    }
    for (;;) {
      if (this.#need < 0) {
        if (this.#bytes < FRAME_HEADER_BYTES) return;
        const len = this.#take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (len > this.maxFrameBytes) {
          this.#discard();
          throw new FrameTooLargeError(len, this.maxFrameBytes);
        }
        this.#need = len;
      }
      if (this.#bytes < this.#need) return;
      const payload = this.#take(this.#need);
      this.#need = -1;
      if (!onFrame(payload)) {
        this.#discard();
        return;
      }
    }
  }

  #discard(): void {
    this.#chunks = [];
    this.#first = 0;
    this.#head = 0;
    this.#bytes = 0;
    this.#need = -1;
  }

  /** Removes n bytes from the front into a new buffer. Caller checked n ≤ #bytes. */
  #take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[this.#first];
      const k = Math.min(c.length - this.#head, n - off);
      c.copy(out, off, this.#head, this.#head + k);
      off += k;
      this.#head += k;
      if (this.#head === c.length) {
        this.#first++;
        this.#head = 0;
      }
    }
    this.#bytes -= n;
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
    } else if (this.#first > 1024) {
      this.#chunks = this.#chunks.slice(this.#first);
      this.#first = 0;
    }
    return out;
  }
}
