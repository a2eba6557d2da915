// HTTP/2 frame codec (RFC 9113 section 4 and 6): constants, the 9-byte frame header, and builders for
// the frames either side sends, shared by the server (server/grpc/h2/) and the client
// (client/grpc/h2-client.ts). Parsing of the byte stream into frames is FrameReader's job.

export const FRAME_HEADER_BYTES = 9;
export const CONNECTION_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum Flag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

export const enum ErrorCode {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  SETTINGS_TIMEOUT = 0x4,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  CONNECT_ERROR = 0xa,
  ENHANCE_YOUR_CALM = 0xb,
  INADEQUATE_SECURITY = 0xc,
  HTTP_1_1_REQUIRED = 0xd,
}

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

export const DEFAULT_WINDOW_SIZE = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_ALLOWED_FRAME_SIZE = 16_777_215;
export const MAX_WINDOW_SIZE = 2_147_483_647;

/** A connection error (RFC 9113 5.4.1): the connection ends with GOAWAY carrying `code`. */
export class H2ConnectionError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A stream error (RFC 9113 5.4.2): the stream ends with RST_STREAM carrying `code`; the connection lives. */
export class H2StreamError extends Error {
  constructor(
    readonly streamId: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function writeFrameHeader(out: Uint8Array, at: number, length: number, type: number, flags: number, streamId: number): void {
  out[at] = length >>> 16;
  out[at + 1] = length >>> 8;
  out[at + 2] = length;
  out[at + 3] = type;
  out[at + 4] = flags;
  out[at + 5] = (streamId >>> 24) & 0x7f;
  out[at + 6] = streamId >>> 16;
  out[at + 7] = streamId >>> 8;
  out[at + 8] = streamId;
}

/** A whole frame (header and payload) in one buffer. */
export function encodeFrame(type: number, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const len = payload ? payload.length : 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
  writeFrameHeader(out, 0, len, type, flags, streamId);
  if (payload) out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** DATA payloads up to this size are copied behind their frame header; larger ones are written as views. */
const COPY_PAYLOAD_MAX = 4096;

/**
 * One DATA frame, handed to `push` as written to the socket: a small payload copied behind its header
 * (one buffer), a large one as the header and then the payload itself (no copy). Both sides of the
 * connection send their DATA this way.
 */
export function pushDataFrame(push: (bytes: Uint8Array) => void, streamId: number, flags: number, payload: Uint8Array): void {
  const n = payload.length;
  if (n <= COPY_PAYLOAD_MAX) {
    const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
    writeFrameHeader(f, 0, n, FrameType.DATA, flags, streamId);
    if (n) f.set(payload, FRAME_HEADER_BYTES);
    push(f);
  } else {
    const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    writeFrameHeader(h, 0, n, FrameType.DATA, flags, streamId);
    push(h);
    push(payload);
  }
}

export function encodeSettings(settings: ReadonlyArray<readonly [Setting, number]>): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 6 * settings.length);
  writeFrameHeader(out, 0, 6 * settings.length, FrameType.SETTINGS, 0, 0);
  let at = FRAME_HEADER_BYTES;
  for (const [id, value] of settings) {
    out.writeUInt16BE(id, at);
    out.writeUInt32BE(value >>> 0, at + 2);
    at += 6;
  }
  return out;
}

export const SETTINGS_ACK_FRAME: Buffer = encodeFrame(FrameType.SETTINGS, Flag.ACK, 0);

export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  out.writeUInt32BE(increment & 0x7fffffff, FRAME_HEADER_BYTES);
  return out;
}

export function encodeRstStream(streamId: number, code: ErrorCode): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(out, 0, 4, FrameType.RST_STREAM, 0, streamId);
  out.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return out;
}

export function encodeGoaway(lastStreamId: number, code: ErrorCode, debug = ""): Buffer {
  const text = Buffer.from(debug, "utf8");
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 8 + text.length);
  writeFrameHeader(out, 0, 8 + text.length, FrameType.GOAWAY, 0, 0);
  out.writeUInt32BE(lastStreamId & 0x7fffffff, FRAME_HEADER_BYTES);
  out.writeUInt32BE(code, FRAME_HEADER_BYTES + 4);
  out.set(text, FRAME_HEADER_BYTES + 8);
  return out;
}

/** PING with ACK set, echoing the 8 opaque bytes. */
export function encodePingAck(opaque: Uint8Array): Buffer {
  return encodeFrame(FrameType.PING, Flag.ACK, 0, opaque);
}

/** A PING asking for an ACK; `opaque` is 8 bytes the peer echoes. */
export function encodePing(opaque: Uint8Array): Buffer {
  return encodeFrame(FrameType.PING, 0, 0, opaque);
}

/**
 * HEADERS (+ CONTINUATION frames when the block exceeds the peer's frame size) for one header block,
 * in one buffer.
 */
export function encodeHeaders(streamId: number, block: Uint8Array, endStream: boolean, maxFrameSize: number): Buffer {
  const endFlag = endStream ? Flag.END_STREAM : 0;
  if (block.length <= maxFrameSize) {
    const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
    writeFrameHeader(out, 0, block.length, FrameType.HEADERS, endFlag | Flag.END_HEADERS, streamId);
    out.set(block, FRAME_HEADER_BYTES);
    return out;
  }
  const frames = Math.ceil(block.length / maxFrameSize);
  const out = Buffer.allocUnsafe(frames * FRAME_HEADER_BYTES + block.length);
  let at = 0;
  for (let i = 0, off = 0; i < frames; i++, off += maxFrameSize) {
    const len = Math.min(maxFrameSize, block.length - off);
    const last = i === frames - 1;
    const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (i === 0 ? endFlag : 0) | (last ? Flag.END_HEADERS : 0);
    writeFrameHeader(out, at, len, type, flags, streamId);
    out.set(block.subarray(off, off + len), at + FRAME_HEADER_BYTES);
    at += FRAME_HEADER_BYTES + len;
  }
  return out;
}

/** One parsed frame; `payload` is a view into the received bytes (valid until the handler returns). */
export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/**
 * Splits a byte stream into frames. Frames larger than `maxFrameSize` are a FRAME_SIZE_ERROR (checked
 * from the header, before the payload is buffered), so at most one frame is ever held back.
 */
export class FrameReader {
  #pending: Buffer | null = null;
  maxFrameSize: number;

  constructor(maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
    this.maxFrameSize = maxFrameSize;
  }

  /** Calls `onFrame` for each complete frame in `chunk` (plus what was left over before). */
  push(chunk: Buffer, onFrame: (type: number, flags: number, streamId: number, payload: Buffer) => void): void {
    let buf = chunk;
    if (this.#pending) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = null;
    }
    let off = 0;
    const end = buf.length;
    while (end - off >= FRAME_HEADER_BYTES) {
      const len = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      if (len > this.maxFrameSize) {
        throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds the maximum frame size ${this.maxFrameSize}`);
      }
      if (end - off < FRAME_HEADER_BYTES + len) break;
      const type = buf[off + 3];
      const flags = buf[off + 4];
      const streamId = ((buf[off + 5] & 0x7f) << 24 | (buf[off + 6] << 16) | (buf[off + 7] << 8) | buf[off + 8]) >>> 0;
      const start = off + FRAME_HEADER_BYTES;
      off = start + len;
      onFrame(type, flags, streamId, buf.subarray(start, off));
    }
    if (off < end) this.#pending = buf.subarray(off);
  }

  /** Bytes held back waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.#pending ? this.#pending.length : 0;
  }
}

/** Removes padding (RFC 9113 6.1/6.2) from a DATA or HEADERS payload; `skip` bytes precede the data. */
export function unpad(payload: Buffer, flags: number, skip: number, streamId: number): Buffer {
  if (!(flags & Flag.PADDED)) {
    if (skip === 0) return payload;
    if (payload.length < skip) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of stream ${streamId} too short for its fields`);
    return payload.subarray(skip);
  }
  if (payload.length < 1) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "padded frame without pad length");
  const padLength = payload[0];
  const start = 1 + skip;
  if (start + padLength > payload.length) {
    throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `padding of stream ${streamId} is longer than the frame`);
  }
  return payload.subarray(start, payload.length - padLength);
}
