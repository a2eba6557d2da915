/** gRPC length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length, the message. */
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import { type Encoder, encodeWithHeadroom } from "../../proto/encode.ts";

/** Encodes a message straight into a frame (one copy: the header is written into the headroom). */
export function encodeFrame<T>(type: Encoder<T>, message: T): Buffer {
  const out = encodeWithHeadroom(type, message, 5);
  out[0] = 0;
  out.writeUInt32BE(out.length - 5, 1);
  return out;
}

/**
 * Splits the response body into messages. The length is checked before the body arrives, so an
 * oversized message is refused without buffering it.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #buffered = 0;
  readonly #maxBytes: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Feeds a chunk; returns every message it completes. Throws EtcdError on a frame it cannot take. */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Buffer[] = [];
    while (this.#buffered >= 5) {
      const head = this.#contiguous(5);
      if (head[0] !== 0) throw new EtcdError(GrpcCode.Internal, "grpc: compressed messages are not supported");
      const len = head.readUInt32BE(1);
      if (len > this.#maxBytes) {
        throw new EtcdError(GrpcCode.ResourceExhausted, `grpc: received message larger than max (${len} vs. ${this.#maxBytes})`);
      }
      if (this.#buffered < 5 + len) break;
      out.push(this.#contiguous(5 + len).subarray(5, 5 + len));
      this.#drop(5 + len);
    }
    return out;
  }

  /** Bytes of an incomplete message still held (non-zero at the end of a body means a truncated message). */
  get pendingBytes(): number {
    return this.#buffered;
  }

  #contiguous(n: number): Buffer {
    if (this.#chunks[0].length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0];
  }

  #drop(n: number): void {
    this.#buffered -= n;
    while (n > 0) {
      const first = this.#chunks[0];
      if (first.length <= n) {
        this.#chunks.shift();
        n -= first.length;
      } else {
        this.#chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }
}

/** grpc-timeout header value for a deadline in ms (at most 8 digits, as the spec requires). */
export function grpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  if (m < 1e8) return `${m}m`;
  const s = Math.ceil(m / 1000);
  if (s < 1e8) return `${s}S`;
  return `${Math.min(99_999_999, Math.ceil(s / 3600))}H`;
}

/** grpc-message is percent-encoded (RFC 3986 style for bytes outside printable ASCII and '%'). */
export function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
