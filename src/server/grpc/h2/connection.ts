// The server side of one HTTP/2 connection (RFC 9113) over any Duplex byte stream (a TCP socket after
// the preface sniffing, or later a TLS socket after ALPN "h2"): reads frames, keeps the HPACK decoder,
// streams, settings and both directions of flow control, and batches outgoing frames into one socket
// write per turn of the event loop.
import type { Duplex } from "node:stream";
import {
  CONNECTION_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  encodeGoaway,
  encodeHeaders,
  encodePingAck,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  H2ConnectionError,
  MAX_ALLOWED_FRAME_SIZE,
  MAX_WINDOW_SIZE,
  pushDataFrame,
  Setting,
  SETTINGS_ACK_FRAME,
  unpad,
} from "../../../pkg/h2/frames.ts";
import { HpackDecoder, HpackError } from "../../../pkg/h2/hpack.ts";
import { H2Stream, STREAM_HIGH_WATER, STREAM_LOW_WATER } from "./stream.ts";

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: more open streams are refused with RST_STREAM REFUSED_STREAM. */
  maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on one stream before we release it. */
  initialWindowSize: number;
  /** The connection receive window (replenished as DATA arrives; memory is bounded by maxHeldBytes). */
  connectionWindowSize: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: larger header lists are refused (RST_STREAM ENHANCE_YOUR_CALM). */
  maxHeaderListSize: number;
  /** Received body bytes the application may hold unreleased, over all streams, before the connection is dropped. */
  maxHeldBytes: number;
}

export interface H2ConnectionOptions extends H2Limits {
  onStream(stream: H2Stream): void;
  /** A connection ended because of a protocol error or an unexpected exception. */
  onError?(err: Error, fatal: boolean): void;
}

export const DEFAULT_LIMITS: H2Limits = {
  maxConcurrentStreams: 1000,
  initialWindowSize: 16 * 1024 * 1024,
  connectionWindowSize: 16 * 1024 * 1024,
  maxHeaderListSize: 64 * 1024,
  maxHeldBytes: 256 * 1024 * 1024,
};

/** Header blocks (compressed, across CONTINUATION frames) larger than this end the connection. */
const MAX_HEADER_BLOCK_BYTES = 256 * 1024;
const MAX_CONTINUATION_FRAMES = 256;
/** Stop turning queued DATA into frames while this much output waits for the socket. */
const OUT_HIGH_WATER = 256 * 1024;
/** A peer that leaves this much unread in our socket buffer (it sends but does not read) is dropped. */
const MAX_UNREAD_BYTES = 64 * 1024 * 1024;
const EMPTY = new Uint8Array(0);

/**
 * What the transport knows about the client of a connection, handed to every stream on it. Today: the
 * common name of the client certificate verified on a TLS port with --client-cert-auth.
 */
export interface ConnectionInfo {
  readonly tlsCommonName?: string;
}

const NO_INFO: ConnectionInfo = Object.freeze({});

export class H2Connection {
  readonly #socket: Duplex;
  /** See ConnectionInfo; set before the first stream. */
  readonly info: ConnectionInfo;
  readonly #opts: H2ConnectionOptions;
  readonly #onGone: (c: H2Connection) => void;
  readonly #reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  readonly #hpack: HpackDecoder;
  readonly #streams = new Map<number, H2Stream>();

  #prefaceLeft = CONNECTION_PREFACE.length;
  #settingsReceived = false;
  #lastStreamId = 0;
  #goawaySent = false;
  #goawayReceived = false;
  #destroyed = false;
  #ending = false;
  /** A connection error was sent: input is ignored from here on. */
  #failed = false;

  // header block being assembled from HEADERS + CONTINUATION
  #hbStream = 0;
  #hbFlags = 0;
  #hbChunks: Buffer[] = [];
  #hbBytes = 0;

  // peer's settings
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  #peerInitialWindow = DEFAULT_WINDOW_SIZE;

  // flow control
  #connSendWindow = DEFAULT_WINDOW_SIZE;
  #connRecvWindow: number;
  #connUnacked = 0;
  #held = 0;
  #sendList: H2Stream[] = [];

  // output
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #inRead = false;
  #flushScheduled = false;
  #socketBlocked = false;

  constructor(socket: Duplex, opts: H2ConnectionOptions, head: Buffer | null, onGone: (c: H2Connection) => void, info: ConnectionInfo = NO_INFO) {
    this.#socket = socket;
    this.info = info;
    this.#opts = opts;
    this.#onGone = onGone;
    this.#hpack = new HpackDecoder(4096, opts.maxHeaderListSize);
    this.#connRecvWindow = Math.max(DEFAULT_WINDOW_SIZE, opts.connectionWindowSize);

    // Our SETTINGS must be the first frame we send (RFC 9113 3.4).
    this.#push(
      encodeSettings([
        [Setting.MAX_CONCURRENT_STREAMS, opts.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, opts.initialWindowSize],
        [Setting.MAX_HEADER_LIST_SIZE, opts.maxHeaderListSize],
      ]),
    );
    if (this.#connRecvWindow > DEFAULT_WINDOW_SIZE) this.#push(encodeWindowUpdate(0, this.#connRecvWindow - DEFAULT_WINDOW_SIZE));

    socket.on("data", this.#onSocketData);
    socket.on("drain", this.#onDrain);
    socket.on("error", this.#onSocketError);
    socket.on("close", this.#onSocketClose);
    socket.on("end", this.#onSocketEnd);
    if (head && head.length) this.#onSocketData(head);
    else this.#flush();
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Graceful shutdown: GOAWAY now, the socket ends once the open streams are done. */
  close(): void {
    if (this.#destroyed) return;
    this.#sendGoaway(ErrorCode.NO_ERROR, "");
    if (this.#streams.size === 0) this.#endSocket();
    else this.#flush();
  }

  /** Ends at once: open streams are closed (their sinks see onClose). */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#closeAllStreams();
    this.#socket.destroy();
    this.#onGone(this);
  }

  // ------------------------------------------------------------------ input

  #onSocketData = (chunk: Buffer): void => {
    if (this.#destroyed || this.#failed) return;
    this.#inRead = true;
    try {
      if (this.#prefaceLeft > 0) {
        const off = CONNECTION_PREFACE.length - this.#prefaceLeft;
        const n = Math.min(this.#prefaceLeft, chunk.length);
        for (let i = 0; i < n; i++) {
          if (chunk[i] !== CONNECTION_PREFACE[off + i]) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "invalid connection preface");
        }
        this.#prefaceLeft -= n;
        chunk = chunk.subarray(n);
      }
      if (chunk.length) this.#reader.push(chunk, this.#onFrame);
      // The connection window is given back as data arrives (memory is bounded by maxHeldBytes).
      if (this.#connUnacked >= this.#opts.connectionWindowSize >>> 2 || (this.#connUnacked > 0 && this.#connRecvWindow < DEFAULT_WINDOW_SIZE)) {
        this.#push(encodeWindowUpdate(0, this.#connUnacked));
        this.#connRecvWindow += this.#connUnacked;
        this.#connUnacked = 0;
      }
    } catch (err) {
      this.#inRead = false;
      this.#fail(err);
      return;
    }
    this.#inRead = false;
    this.#flush();
  };

  #onFrame = (type: number, flags: number, id: number, payload: Buffer): void => {
    if (this.#destroyed) return;
    if (this.#hbStream !== 0 && type !== FrameType.CONTINUATION) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${type} inside a header block`);
    }
    if (!this.#settingsReceived && type !== FrameType.SETTINGS) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "the connection must start with SETTINGS");
    }
    switch (type) {
      case FrameType.DATA:
        return this.#onData(flags, id, payload);
      case FrameType.HEADERS:
        return this.#onHeaders(flags, id, payload);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, id, payload);
      case FrameType.PRIORITY:
        if (id === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (payload.length !== 5) return this.#streamError(id, ErrorCode.FRAME_SIZE_ERROR);
        return; // priorities are advisory; ignored
      case FrameType.RST_STREAM:
        return this.#onRstStream(id, payload);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, id, payload);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FrameType.PING:
        if (id !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
        if (payload.length !== 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING payload is not 8 bytes");
        if (!(flags & Flag.ACK)) this.#push(encodePingAck(payload));
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (payload.length < 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes");
        this.#goawayReceived = true;
        if (this.#streams.size === 0) this.#endSocket();
        return;
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(id, payload);
      default:
        return; // unknown frame types are ignored (RFC 9113 4.1)
    }
  };

  #onData(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    const len = payload.length;
    this.#connRecvWindow -= len;
    if (this.#connRecvWindow < 0) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection receive window exceeded");
    this.#connUnacked += len;
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (id > this.#lastStreamId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      return; // a stream we closed (reset, or answered early): counted above, otherwise dropped
    }
    if (s.inputEnded) return this.#streamError(id, ErrorCode.STREAM_CLOSED);
    s.recvWindow -= len;
    if (s.recvWindow < 0) return this.#streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
    const data = unpad(payload, flags, 0, id);
    const padding = len - data.length;
    if (padding) s.unacked += padding;
    if (data.length) {
      s.held += data.length;
      this.#held += data.length;
      if (this.#held > this.#opts.maxHeldBytes) {
        throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `more than ${this.#opts.maxHeldBytes} bytes of request bodies buffered`);
      }
      if (s.sink) s.sink.onData(data);
      else this.release(s, data.length);
    }
    if (flags & Flag.END_STREAM && !s.closed) this.#endInput(s);
  }

  #onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || (id & 1) === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id} (clients use odd ids)`);
    const block = unpad(payload, flags, flags & Flag.PRIORITY ? 5 : 0, id);
    if (flags & Flag.END_HEADERS) return this.#onHeaderBlock(id, flags, block);
    this.#hbStream = id;
    this.#hbFlags = flags;
    this.#hbChunks = [block];
    this.#hbBytes = block.length;
  }

  #onContinuation(flags: number, id: number, payload: Buffer): void {
    if (this.#hbStream === 0 || id !== this.#hbStream) {
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `unexpected CONTINUATION on stream ${id}`);
    }
    this.#hbChunks.push(payload);
    this.#hbBytes += payload.length;
    if (this.#hbBytes > MAX_HEADER_BLOCK_BYTES || this.#hbChunks.length > MAX_CONTINUATION_FRAMES) {
      throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    }
    if (!(flags & Flag.END_HEADERS)) return;
    const block = Buffer.concat(this.#hbChunks, this.#hbBytes);
    const hbFlags = this.#hbFlags;
    this.#hbStream = 0;
    this.#hbChunks = [];
    this.#hbBytes = 0;
    this.#onHeaderBlock(id, hbFlags, block);
  }

  #onHeaderBlock(id: number, flags: number, block: Uint8Array): void {
    let decoded;
    try {
      decoded = this.#hpack.decode(block);
    } catch (err) {
      if (err instanceof HpackError) throw new H2ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.#streams.get(id);
    if (existing !== undefined) {
      // Trailers from the client: they must end its side.
      if (existing.inputEnded) return this.#streamError(id, ErrorCode.STREAM_CLOSED);
      if (!endStream) return this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
      return this.#endInput(existing);
    }
    if (id <= this.#lastStreamId) return; // a stream we already closed; the block kept HPACK in step
    this.#lastStreamId = id;
    if (this.#goawaySent) return this.#streamError(id, ErrorCode.REFUSED_STREAM);
    if (this.#streams.size >= this.#opts.maxConcurrentStreams) return this.#streamError(id, ErrorCode.REFUSED_STREAM);
    if (decoded.tooLarge) return this.#streamError(id, ErrorCode.ENHANCE_YOUR_CALM);
    if (decoded.malformed !== null) return this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
    const s = new H2Stream(this, id, decoded.headers, this.#peerInitialWindow, this.#opts.initialWindowSize);
    this.#streams.set(id, s);
    if (endStream) s.inputEnded = true;
    this.#opts.onStream(s);
    if (endStream && !s.closed) s.sink?.onEnd();
  }

  #onRstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes");
    if (id > this.#lastStreamId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
    const s = this.#streams.get(id);
    if (s !== undefined) this.#closeStream(s);
  }

  #onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % 6 !== 0) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS payload is not a multiple of 6");
    this.#settingsReceived = true;
    for (let at = 0; at < payload.length; at += 6) {
      const key = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      switch (key) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH is not 0 or 1");
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW_SIZE) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE too large");
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          if (delta !== 0) {
            for (const s of this.#streams.values()) {
              s.sendWindow += delta;
              if (s.sendWindow > MAX_WINDOW_SIZE) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow");
              if (delta > 0) this.#wantSend(s);
            }
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
            throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
          }
          this.#peerMaxFrameSize = value;
          break;
        // HEADER_TABLE_SIZE: our encoder never uses the dynamic table, so any size is fine.
        // MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_SIZE, unknown settings: nothing to do.
      }
    }
    this.#push(SETTINGS_ACK_FRAME);
    this.#pump();
  }

  #onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes");
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.#connSendWindow += inc;
      if (this.#connSendWindow > MAX_WINDOW_SIZE) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
      this.#pump();
      return;
    }
    if (id > this.#lastStreamId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
    const s = this.#streams.get(id);
    if (s === undefined) return;
    if (inc === 0) return this.#streamError(id, ErrorCode.PROTOCOL_ERROR);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW_SIZE) return this.#streamError(id, ErrorCode.FLOW_CONTROL_ERROR);
    this.#wantSend(s);
    this.#pump();
  }

  #endInput(s: H2Stream): void {
    s.inputEnded = true;
    if (s.sink) s.sink.onEnd();
  }

  // ------------------------------------------------------------------ output (called by H2Stream)

  sendHeaders(s: H2Stream, block: Uint8Array, endStream: boolean): void {
    if (s.closed || s.outputEnded) return;
    s.headersSent = true;
    this.#push(encodeHeaders(s.id, block, endStream, this.#peerMaxFrameSize));
    if (endStream) {
      s.outputEnded = true;
      this.#outputDone(s);
    }
  }

  writeData(s: H2Stream, data: Uint8Array): boolean {
    if (s.closed || s.outputEnded) return false;
    if (data.length === 0) return true;
    if (s.queuedBytes === 0) {
      // Fast path: it all fits the windows now.
      const n = data.length;
      if (n <= s.sendWindow && n <= this.#connSendWindow && n <= this.#peerMaxFrameSize && !this.#socketBlocked) {
        s.sendWindow -= n;
        this.#connSendWindow -= n;
        this.#pushData(s.id, 0, data);
        return true;
      }
    }
    (s.queue ??= []).push(data);
    s.queuedBytes += data.length;
    this.#wantSend(s);
    this.#pump();
    return s.queuedBytes < STREAM_HIGH_WATER;
  }

  endStream(s: H2Stream, trailers: Uint8Array | null): void {
    if (s.closed || s.outputEnded) return;
    s.outputEnded = true;
    if (s.queuedBytes > 0) {
      s.pendingEnd = trailers ?? EMPTY;
      return;
    }
    this.#sendEnd(s, trailers ?? EMPTY);
  }

  resetStream(s: H2Stream, code: ErrorCode): void {
    if (s.closed) return;
    this.#push(encodeRstStream(s.id, code));
    this.#closeStream(s);
  }

  release(s: H2Stream, n: number): void {
    if (n <= 0 || s.closed) return;
    s.held -= n;
    this.#held -= n;
    if (s.inputEnded) return;
    s.unacked += n;
    // Announce in big steps: the window is large, so the client never waits for these.
    if (s.unacked >= this.#opts.initialWindowSize >>> 2 || s.recvWindow < DEFAULT_WINDOW_SIZE) {
      this.#push(encodeWindowUpdate(s.id, s.unacked));
      s.recvWindow += s.unacked;
      s.unacked = 0;
    }
  }

  // ------------------------------------------------------------------ output internals

  #sendEnd(s: H2Stream, trailers: Uint8Array): void {
    if (trailers.length === 0) this.#pushData(s.id, Flag.END_STREAM, EMPTY);
    else this.#push(encodeHeaders(s.id, trailers, true, this.#peerMaxFrameSize));
    this.#outputDone(s);
  }

  /** END_STREAM went out: the stream closes, after RST_STREAM NO_ERROR if the client is still sending. */
  #outputDone(s: H2Stream): void {
    if (!s.inputEnded) this.#push(encodeRstStream(s.id, ErrorCode.NO_ERROR));
    this.#closeStream(s);
  }

  #streamError(id: number, code: ErrorCode): void {
    this.#push(encodeRstStream(id, code));
    const s = this.#streams.get(id);
    if (s !== undefined) this.#closeStream(s);
  }

  #closeStream(s: H2Stream): void {
    if (s.closed) return;
    s.closed = true;
    this.#streams.delete(s.id);
    this.#held -= s.held;
    s.held = 0;
    s.queue = null;
    s.queuedBytes = 0;
    s.pendingEnd = null;
    const waiter = s.drainWaiter;
    if (waiter) {
      s.drainWaiter = null;
      waiter();
    }
    const sink = s.sink;
    if (sink) sink.onClose();
    if (this.#streams.size === 0 && (this.#goawaySent || this.#goawayReceived)) this.#endSocket();
  }

  #wantSend(s: H2Stream): void {
    if (!s.inSendList && !s.closed && s.queuedBytes > 0 && s.sendWindow > 0) {
      s.inSendList = true;
      this.#sendList.push(s);
    }
  }

  /** Turns queued DATA into frames, round robin over the streams, as far as windows and the socket allow. */
  #pump(): void {
    const list = this.#sendList;
    while (list.length > 0 && this.#connSendWindow > 0 && !this.#socketBlocked && this.#outBytes < OUT_HIGH_WATER) {
      const s = list.shift()!;
      s.inSendList = false;
      if (s.closed) continue;
      this.#sendQueued(s, 4 * this.#peerMaxFrameSize);
      this.#wantSend(s);
    }
  }

  #sendQueued(s: H2Stream, budget: number): void {
    const q = s.queue!;
    while (s.queuedBytes > 0 && budget > 0) {
      const head = q[0];
      const n = Math.min(head.length, s.sendWindow, this.#connSendWindow, this.#peerMaxFrameSize, budget);
      if (n <= 0) break;
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      budget -= n;
      s.queuedBytes -= n;
      if (n === head.length) {
        q.shift();
        this.#pushData(s.id, 0, head);
      } else {
        this.#pushData(s.id, 0, head.subarray(0, n));
        q[0] = head.subarray(n);
      }
    }
    if (s.queuedBytes <= STREAM_LOW_WATER && s.drainWaiter) {
      const w = s.drainWaiter;
      s.drainWaiter = null;
      w();
    }
    if (s.queuedBytes === 0 && s.pendingEnd !== null) {
      const end = s.pendingEnd;
      s.pendingEnd = null;
      this.#sendEnd(s, end);
    }
  }

  #pushData(id: number, flags: number, payload: Uint8Array): void {
    pushDataFrame(this.#pushBound, id, flags, payload);
  }

  #pushBound = (bytes: Uint8Array): void => this.#push(bytes);

  #push(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (!this.#inRead && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#destroyed || this.#socket.writableEnded) {
      this.#out = [];
      this.#outBytes = 0;
      return;
    }
    for (let rounds = 0; this.#outBytes > 0 && rounds < 64; rounds++) {
      const out = this.#out.length === 1 ? this.#out[0] : Buffer.concat(this.#out, this.#outBytes);
      this.#out = [];
      this.#outBytes = 0;
      const ok = this.#socket.write(out);
      if (!ok) {
        this.#socketBlocked = true;
        if (this.#socket.writableLength > MAX_UNREAD_BYTES) {
          this.#opts.onError?.(new Error("peer does not read its responses"), true);
          this.destroy();
        }
        return;
      }
      if (this.#sendList.length > 0) this.#pump();
    }
  };

  #onDrain = (): void => {
    this.#socketBlocked = false;
    this.#pump();
    this.#flush();
  };

  // ------------------------------------------------------------------ ending

  #sendGoaway(code: ErrorCode, debug: string): void {
    if (this.#goawaySent) return;
    this.#goawaySent = true;
    this.#push(encodeGoaway(this.#lastStreamId, code, debug));
  }

  #endSocket(): void {
    if (this.#ending || this.#destroyed) return;
    this.#ending = true;
    this.#sendGoaway(ErrorCode.NO_ERROR, "");
    this.#flush();
    this.#socket.end();
    // If the peer does not close its side, do not wait for it forever.
    const t = setTimeout(() => this.destroy(), 2000);
    (t as { unref?: () => void }).unref?.();
  }

  #fail(err: unknown): void {
    if (this.#destroyed || this.#failed) return;
    this.#failed = true;
    const protocol = err instanceof H2ConnectionError;
    this.#opts.onError?.(err instanceof Error ? err : new Error(String(err)), !protocol);
    this.#goawaySent = false; // an error overrides an earlier graceful GOAWAY
    this.#sendGoaway(protocol ? err.code : ErrorCode.INTERNAL_ERROR, protocol ? err.message : "internal error");
    this.#closeAllStreams();
    this.#endSocket();
  }

  #closeAllStreams(): void {
    for (const s of [...this.#streams.values()]) {
      try {
        this.#closeStream(s);
      } catch (err) {
        this.#opts.onError?.(err as Error, true);
      }
    }
  }

  #onSocketError = (): void => {
    this.destroy();
  };

  #onSocketEnd = (): void => {
    // The client closed its side: nothing more will arrive; streams it left open cannot finish.
    if (this.#destroyed) return;
    this.#closeAllStreams();
    this.#endSocket();
  };

  #onSocketClose = (): void => {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#closeAllStreams();
    this.#onGone(this);
  };
}
