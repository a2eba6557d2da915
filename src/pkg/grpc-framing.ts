// gRPC's wire pieces shared by the server (server/grpc) and the client (client/grpc): length-prefixed
// messages, grpc-timeout and grpc-message.
import { EtcdError, GrpcCode } from "./errors.ts";

/** gRPC length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length, the message. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/**
 * Splits a byte stream into gRPC messages. The length is checked before the body arrives, so an
 * oversized message is refused without buffering it.
 */
export class MessageReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #maxBytes: number;
  #compressedCode: GrpcCode;

  /**
   * A compressed message is refused with `compressedCode`: a server says Unimplemented (the peer may
   * resend uncompressed), a client Internal (the server broke what it was asked).
   */
  constructor(maxBytes: number, compressedCode: GrpcCode = GrpcCode.Unimplemented) {
    this.#maxBytes = maxBytes;
    // The error is made only when needed: an Error captures a stack, and a reader is made per call.
    this.#compressedCode = compressedCode;
  }

  /** Feeds a chunk; returns every message completed by it (views into the chunks). Throws EtcdError on a bad frame. */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.#buffered < 5) return out;
      const head = this.#peek(5);
      if (head[0] !== 0) throw new EtcdError(this.#compressedCode, "grpc: compressed messages are not supported (send with identity encoding)");
      const len = head.readUInt32BE(1);
      if (len > this.#maxBytes) {
        throw new EtcdError(GrpcCode.ResourceExhausted, `grpc: received message larger than max (${len} vs. ${this.#maxBytes})`);
      }
      if (this.#buffered < 5 + len) return out;
      const all = this.#take(5 + len);
      out.push(all.subarray(5));
    }
  }

  get pendingBytes(): number {
    return this.#buffered;
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0].length >= n) return this.#chunks[0];
    const merged = Buffer.concat(this.#chunks);
    this.#chunks = [merged];
    return merged;
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      const merged = Buffer.concat(this.#chunks);
      out = merged.subarray(0, n);
      this.#chunks = merged.length > n ? [merged.subarray(n)] : [];
    }
    this.#buffered -= n;
    return out;
  }
}

/**
 * What a server adds to a call's grpc-timeout before it ends the call itself. It must never answer
 * DeadlineExceeded while the client's own deadline still runs: clientv3 (3.4 and 3.5) takes such an
 * answer for its per-attempt timeout and sends the call again, so a Put that was already proposed is
 * applied twice (the robustness suite caught exactly that with etcdctl). A timer fires by the event
 * loop's clock, which lags the real one by a busy turn, so the exact deadline could come early; the
 * client cancels at its own deadline anyway, and this end is only the backstop for one that does not.
 */
export const SERVER_DEADLINE_GRACE_MS = 250;

/** When a server ends a call with DeadlineExceeded: grpc-timeout plus the grace; undefined = never. */
export function serverDeadlineMs(value: string | undefined): number | undefined {
  const ms = parseGrpcTimeoutMs(value);
  return ms === undefined ? undefined : ms + SERVER_DEADLINE_GRACE_MS;
}

/** grpc-timeout: an integer of at most 8 digits and a unit (H, M, S, m, u, n). */
export function parseGrpcTimeoutMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const factor = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as "H"];
  return n * factor;
}

/** grpc-message is percent-encoded UTF-8 (printable ASCII except '%' passes as is). */
export function encodeGrpcMessage(msg: string): string {
  let out = "";
  for (const byte of Buffer.from(msg, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** grpc-timeout header value for a deadline in ms (at most 8 digits, as the spec requires). */
export function formatGrpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  if (m < 1e8) return `${m}m`;
  const s = Math.ceil(m / 1000);
  if (s < 1e8) return `${s}S`;
  return `${Math.min(99_999_999, Math.ceil(s / 3600))}H`;
}

/** The reverse of encodeGrpcMessage (a malformed escape is kept as written). */
export function decodeGrpcMessage(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
