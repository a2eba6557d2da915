// The client side of one HTTP/2 connection (RFC 9113) over a byte stream from dial.ts (TCP, or TLS
// after ALPN "h2"): the preface, both sides' settings, streams opened in order and queued
// beyond the server's MAX_CONCURRENT_STREAMS, HPACK, both directions of flow control, PING, GOAWAY.
// Outgoing frames are gathered and written once per turn (a unary call's HEADERS, DATA and END_STREAM
// leave in one write). It replaces node:http2 in the client: that module alone took ~17 ms to load
// in a compiled binary, and its connect another 10-15 ms, on every etcdctl run.
import {
  CONNECTION_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  encodeGoaway,
  encodeHeaders,
  encodePing,
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
} from "../../pkg/h2/frames.ts";
import { encodeHeaderBlock, HpackDecoder, HpackError, type HeaderMap } from "../../pkg/h2/hpack.ts";
import type { ByteStream, ByteStreamEvents } from "./dial.ts";

/** Our stream window: what the server may send on one stream before we acknowledge it (a snapshot streams hundreds of MB). */
const STREAM_WINDOW = 4 * 1024 * 1024;
/** Our connection window, over all streams. */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** Response header lists larger than this (decoded) fail their stream. */
const MAX_HEADER_LIST_BYTES = 1024 * 1024;
/** Compressed header blocks (HEADERS + CONTINUATION) larger than this end the connection. */
const MAX_HEADER_BLOCK_BYTES = 1024 * 1024;
/** Stop turning queued DATA into frames while this much output waits for the socket. */
const OUT_HIGH_WATER = 256 * 1024;
const LAST_STREAM_ID = 0x7fffffff;
const NOT_H2 = "the server did not start with SETTINGS (is it an HTTP/2 server?)";

/** How a stream ended, as its sink hears it (once). */
export interface StreamEnd {
  /** The RST_STREAM code that ended it (the server's or ours); null when it ended with END_STREAM or with the connection. */
  rstCode: number | null;
  /** The server surely did not process it: REFUSED_STREAM, above a GOAWAY's last stream id, or never sent. */
  unprocessed: boolean;
  /** Why the connection ended it, when it did. */
  reason: string | null;
}

/** Receives one stream's response. One object per stream, no listener lists. */
export interface ResponseSink {
  /** The response headers (endStream: a trailers-only response), then the trailers (endStream true). 1xx headers are skipped. */
  onHeaders(headers: HeaderMap, endStream: boolean): void;
  /** A piece of the response body (a view, valid as long as the caller holds it). */
  onData(data: Buffer): void;
  onClose(end: StreamEnd): void;
}

export interface H2ClientOptions {
  /** The byte stream is up (TCP connected; TLS agreed on h2). */
  onOpen?(): void;
  /** The server sent GOAWAY: no new streams here; open ones up to its last stream id may still finish. */
  onGoaway?(code: number): void;
  /** The connection is over (the socket closed, failed, or a protocol error); called before the streams close. Once. */
  onClose(err: Error | null): void;
}

/** One request stream; its methods are no-ops once it is closed. */
export class ClientStream {
  /** 0 until its HEADERS go out (streams waiting for a concurrency slot have none yet). */
  id = 0;
  readonly sink: ResponseSink;
  /** The request header block, until it is sent. */
  block: Buffer | null;
  closed = false;
  /** Response headers (not 1xx) seen: the next header block is the trailers. */
  gotHeaders = false;
  /** END_STREAM received. */
  inputEnded = false;
  /** end() was called: END_STREAM goes out with (or after) the last queued DATA. */
  endQueued = false;
  /** END_STREAM sent. */
  outputEnded = false;
  inSendList = false;
  sendWindow = 0;
  queue: Uint8Array[] = [];
  queuedBytes = 0;
  recvWindow = STREAM_WINDOW;
  unacked = 0;
  readonly #conn: H2ClientConnection;

  constructor(conn: H2ClientConnection, block: Buffer, sink: ResponseSink) {
    this.#conn = conn;
    this.block = block;
    this.sink = sink;
  }

  /** Sends request bytes (as DATA, within the server's windows; queued until they open). */
  write(data: Uint8Array): void {
    this.#conn.write(this, data);
  }

  /** Half-closes: END_STREAM after what was written. */
  end(): void {
    this.#conn.end(this);
  }

  /** Resets the stream (RST_STREAM `code`); the sink hears onClose at once. */
  reset(code: ErrorCode = ErrorCode.CANCEL): void {
    this.#conn.reset(this, code);
  }
}

export class H2ClientConnection {
  readonly #socket: ByteStream;
  readonly #opts: H2ClientOptions;
  readonly #reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  readonly #hpack = new HpackDecoder(4096, MAX_HEADER_LIST_BYTES);
  readonly #streams = new Map<number, ClientStream>();
  /** Streams waiting for the server's concurrency limit to let them start, in order. */
  #waiting: ClientStream[] = [];
  #nextId = 1;
  #settingsReceived = false;
  /** GOAWAY received: no new streams. */
  #goaway = false;
  #destroyed = false;
  /** We closed our side of the socket (after GOAWAY, once no stream was left). */
  #ending = false;

  // header block being assembled from HEADERS + CONTINUATION
  #hbStream = 0;
  #hbFlags = 0;
  #hbChunks: Buffer[] = [];
  #hbBytes = 0;

  // the server's settings
  #peerMaxStreams = Infinity; // no limit until its SETTINGS say one (RFC 9113 5.1.2)
  #peerInitialWindow = DEFAULT_WINDOW_SIZE;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;

  // flow control
  #connSendWindow = DEFAULT_WINDOW_SIZE;
  #connRecvWindow = CONNECTION_WINDOW;
  #connUnacked = 0;
  #sendList: ClientStream[] = [];

  // pings we sent, by opaque payload
  #pings = new Map<string, () => void>();
  #pingSeq = 0;

  // output
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #inRead = false;
  #flushScheduled = false;
  #socketBlocked = false;

  /**
   * `open` dials the byte stream with the events it must report to this connection (dial.ts's dial,
   * bound to a target). The preface goes at once: a stream still connecting holds it until it is up.
   */
  constructor(open: (events: ByteStreamEvents) => ByteStream, opts: H2ClientOptions) {
    this.#opts = opts;
    this.#socket = open({
      onOpen: () => this.#destroyed || opts.onOpen?.(),
      onData: this.#onSocketData,
      onDrain: this.#onDrain,
      onClose: this.#onSocketClose,
    });
    this.#push(CONNECTION_PREFACE);
    this.#push(
      encodeSettings([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
        [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES],
      ]),
    );
    this.#push(encodeWindowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW_SIZE));
  }

  /** No new streams can open here: the connection is gone or going away. */
  get closed(): boolean {
    return this.#destroyed || this.#goaway;
  }

  /** Streams open or waiting for a slot. */
  get streamCount(): number {
    return this.#streams.size + this.#waiting.length;
  }

  /**
   * Opens a stream with the given request header fields (lowercase names, pseudo-headers first).
   * The sink never hears from it before this returns.
   */
  request(fields: ReadonlyArray<readonly [string, string]>, sink: ResponseSink): ClientStream {
    const s = new ClientStream(this, encodeHeaderBlock(fields), sink);
    if (this.closed) {
      const reason = this.#destroyed ? "the connection is closed" : "the connection is going away";
      queueMicrotask(() => this.#closeStream(s, { rstCode: null, unprocessed: true, reason }));
      return s;
    }
    if (this.#streams.size < this.#peerMaxStreams && this.#waiting.length === 0) this.#start(s);
    else this.#waiting.push(s);
    return s;
  }

  /** Sends a PING; `onAck` runs when the server answers it (never, if the connection ends first). */
  ping(onAck: () => void): void {
    if (this.#destroyed) return;
    const opaque = Buffer.alloc(8);
    opaque.writeUInt32BE(++this.#pingSeq >>> 0, 4);
    this.#pings.set(opaque.toString("hex"), onAck);
    this.#push(encodePing(opaque));
  }

  /** Ends at once: onClose hears `err`, then every stream closes. */
  destroy(err: Error | null = null): void {
    if (this.#destroyed) return;
    this.#flushNow();
    this.#destroyed = true;
    this.#socket.destroy();
    this.#teardown(err);
  }

  // ------------------------------------------------------------------ stream operations

  write(s: ClientStream, data: Uint8Array): void {
    if (s.closed || s.endQueued || data.length === 0) return;
    const n = data.length;
    if (s.id !== 0 && s.queuedBytes === 0 && n <= s.sendWindow && n <= this.#connSendWindow && n <= this.#peerMaxFrameSize && !this.#socketBlocked) {
      // Fast path: it all fits the windows now.
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      this.#pushData(s.id, 0, data);
      return;
    }
    s.queue.push(data);
    s.queuedBytes += n;
    if (s.id !== 0) {
      this.#wantSend(s);
      this.#pump();
    }
  }

  end(s: ClientStream): void {
    if (s.closed || s.endQueued) return;
    s.endQueued = true;
    if (s.id !== 0 && s.queuedBytes === 0) this.#sendEnd(s);
  }

  reset(s: ClientStream, code: ErrorCode): void {
    if (s.closed) return;
    if (s.id !== 0) this.#push(encodeRstStream(s.id, code));
    this.#closeStream(s, { rstCode: code, unprocessed: s.id === 0, reason: null });
  }

  // ------------------------------------------------------------------ input

  #onSocketData = (chunk: Buffer): void => {
    if (this.#destroyed) return;
    this.#inRead = true;
    try {
      if (!this.#settingsReceived && this.#reader.pendingBytes === 0 && chunk.length > 3 && chunk[3] !== FrameType.SETTINGS) {
        // Checked before the frame reader: an HTTP/1.1 answer would read as an oversized frame.
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, NOT_H2);
      }
      this.#reader.push(chunk, this.#onFrame);
      // Data is handed on as it arrives, so the connection window is given back at once, in big steps.
      if (this.#connUnacked >= CONNECTION_WINDOW >>> 2) {
        this.#push(encodeWindowUpdate(0, this.#connUnacked));
        this.#connRecvWindow += this.#connUnacked;
        this.#connUnacked = 0;
      }
    } catch (err) {
      this.#inRead = false;
      this.#fail(err);
      // Anything but a protocol error is a bug (ours, or a sink's): the connection is gone, and the
      // error goes on up as node:http2's listeners would have let it.
      if (!(err instanceof H2ConnectionError)) throw err;
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
      throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, NOT_H2);
    }
    switch (type) {
      case FrameType.DATA:
        return this.#onData(flags, id, payload);
      case FrameType.HEADERS:
        return this.#onHeaders(flags, id, payload);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, id, payload);
      case FrameType.PRIORITY:
        return; // advisory; ignored
      case FrameType.RST_STREAM:
        return this.#onRstStream(id, payload);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, id, payload);
      case FrameType.PUSH_PROMISE:
        throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE although push is disabled");
      case FrameType.PING:
        return this.#onPing(flags, id, payload);
      case FrameType.GOAWAY:
        return this.#onGoaway(id, payload);
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
      if (id >= this.#nextId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      return; // a stream we closed: counted above, otherwise dropped
    }
    if (!s.gotHeaders) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR, "DATA before the response headers");
    s.recvWindow -= len;
    if (s.recvWindow < 0) return this.#streamError(s, ErrorCode.FLOW_CONTROL_ERROR, "stream receive window exceeded");
    const data = unpad(payload, flags, 0, id);
    // Handed on at once, so consumed: the window reopens in big steps.
    s.unacked += len;
    if (data.length) s.sink.onData(data);
    if (s.closed) return;
    if (flags & Flag.END_STREAM) return this.#endInput(s);
    if (s.unacked >= STREAM_WINDOW >>> 2) {
      this.#push(encodeWindowUpdate(s.id, s.unacked));
      s.recvWindow += s.unacked;
      s.unacked = 0;
    }
  }

  #onHeaders(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
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
    if (this.#hbBytes > MAX_HEADER_BLOCK_BYTES) throw new H2ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    if (!(flags & Flag.END_HEADERS)) return;
    const block = Buffer.concat(this.#hbChunks, this.#hbBytes);
    const hbFlags = this.#hbFlags;
    this.#hbStream = 0;
    this.#hbChunks = [];
    this.#hbBytes = 0;
    this.#onHeaderBlock(id, hbFlags, block);
  }

  #onHeaderBlock(id: number, flags: number, block: Uint8Array): void {
    // Decoded even for a stream we closed: the table must stay in step with the server's.
    let decoded;
    try {
      decoded = this.#hpack.decode(block);
    } catch (err) {
      if (err instanceof HpackError) throw new H2ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const s = this.#streams.get(id);
    if (s === undefined) {
      if (id >= this.#nextId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
      return;
    }
    if (decoded.tooLarge) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR, `response header list larger than ${MAX_HEADER_LIST_BYTES} bytes`);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const h = decoded.headers;
    if (!s.gotHeaders) {
      const status = h[":status"];
      if (status === undefined) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR, "response without :status");
      if (status.length === 3 && status[0] === "1") {
        if (endStream) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR, "informational response ends the stream");
        return; // 1xx: the real response follows
      }
      s.gotHeaders = true;
    } else if (!endStream) {
      return this.#streamError(s, ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM");
    }
    s.sink.onHeaders(h, endStream);
    if (endStream && !s.closed) this.#endInput(s);
  }

  /** The server ended its side: for gRPC the call is over, so the stream closes (reset if we are still sending). */
  #endInput(s: ClientStream): void {
    s.inputEnded = true;
    if (!s.outputEnded) this.#push(encodeRstStream(s.id, ErrorCode.NO_ERROR));
    this.#closeStream(s, { rstCode: null, unprocessed: false, reason: null });
  }

  #onRstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes");
    if (id >= this.#nextId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
    const s = this.#streams.get(id);
    if (s === undefined) return;
    const code = payload.readUInt32BE(0);
    this.#closeStream(s, { rstCode: code, unprocessed: code === ErrorCode.REFUSED_STREAM, reason: null });
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
        case Setting.MAX_CONCURRENT_STREAMS:
          this.#peerMaxStreams = value;
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW_SIZE) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE too large");
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          if (delta === 0) break;
          for (const s of this.#streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW_SIZE) throw new H2ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow");
            if (delta > 0) this.#wantSend(s);
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
            throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
          }
          this.#peerMaxFrameSize = value;
          break;
        // HEADER_TABLE_SIZE: our encoder never uses the dynamic table. ENABLE_PUSH, MAX_HEADER_LIST_SIZE
        // (our request headers are small), unknown settings: nothing to do.
      }
    }
    this.#push(SETTINGS_ACK_FRAME);
    this.#startWaiting();
    this.#pump();
  }

  #onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
    if (payload.length !== 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING payload is not 8 bytes");
    if (!(flags & Flag.ACK)) return this.#push(encodePingAck(payload));
    const key = payload.toString("hex");
    const onAck = this.#pings.get(key);
    if (onAck === undefined) return;
    this.#pings.delete(key);
    onAck();
  }

  #onGoaway(id: number, payload: Buffer): void {
    if (id !== 0) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
    if (payload.length < 8) throw new H2ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes");
    const lastId = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    const first = !this.#goaway;
    this.#goaway = true;
    if (first) this.#opts.onGoaway?.(code);
    // Streams above its last id and those never started were not processed: safe to send elsewhere.
    const reason = `the server is going away (GOAWAY code ${code})`;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const s of waiting) this.#closeStream(s, { rstCode: null, unprocessed: true, reason });
    for (const s of [...this.#streams.values()]) if (s.id > lastId) this.#closeStream(s, { rstCode: null, unprocessed: true, reason });
    if (this.#streams.size === 0) this.#endSocket();
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
    if (id >= this.#nextId) throw new H2ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
    const s = this.#streams.get(id);
    if (s === undefined) return;
    if (inc === 0) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW_SIZE) return this.#streamError(s, ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow");
    this.#wantSend(s);
    this.#pump();
  }

  // ------------------------------------------------------------------ streams

  /** Sends the stream's HEADERS under the next id, then whatever it queued meanwhile. */
  #start(s: ClientStream): void {
    if (this.#nextId > LAST_STREAM_ID) {
      // Stream ids are used up: this connection can open no more, as after a GOAWAY (a new one will).
      this.#goaway = true;
      this.#opts.onGoaway?.(ErrorCode.NO_ERROR);
      const refused = [s, ...this.#waiting];
      this.#waiting = [];
      queueMicrotask(() => {
        for (const r of refused) this.#closeStream(r, { rstCode: null, unprocessed: true, reason: "stream ids are used up" });
        if (this.#streams.size === 0) this.#endSocket();
      });
      return;
    }
    s.id = this.#nextId;
    this.#nextId += 2;
    s.sendWindow = this.#peerInitialWindow;
    this.#streams.set(s.id, s);
    const endNow = s.endQueued && s.queuedBytes === 0;
    this.#push(encodeHeaders(s.id, s.block!, endNow, this.#peerMaxFrameSize));
    s.block = null;
    if (endNow) s.outputEnded = true;
    else if (s.queuedBytes > 0) {
      this.#wantSend(s);
      this.#pump();
    }
  }

  /** Starts waiting streams while the server's concurrency limit allows. */
  #startWaiting(): void {
    while (this.#waiting.length > 0 && this.#streams.size < this.#peerMaxStreams && !this.#goaway && !this.#destroyed) {
      this.#start(this.#waiting.shift()!);
    }
  }

  /** Resets a stream we can no longer use for a protocol fault of the server's; its sink hears why. */
  #streamError(s: ClientStream, code: ErrorCode, why: string): void {
    this.#push(encodeRstStream(s.id, code));
    this.#closeStream(s, { rstCode: code, unprocessed: false, reason: why });
  }

  /** Closes a stream (open, waiting, or never placed) and tells its sink, once. */
  #closeStream(s: ClientStream, end: StreamEnd): void {
    if (s.closed) return;
    s.closed = true;
    const wasOpen = s.id !== 0 && this.#streams.delete(s.id);
    if (s.id === 0) {
      const i = this.#waiting.indexOf(s);
      if (i >= 0) this.#waiting.splice(i, 1);
    }
    s.queue = [];
    s.queuedBytes = 0;
    s.block = null;
    s.sink.onClose(end);
    if (wasOpen) {
      if (this.#goaway && this.#streams.size === 0) this.#endSocket();
      else this.#startWaiting();
    }
  }

  #wantSend(s: ClientStream): void {
    if (!s.inSendList && !s.closed && s.id !== 0 && s.queuedBytes > 0 && s.sendWindow > 0) {
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

  #sendQueued(s: ClientStream, budget: number): void {
    const q = s.queue;
    while (s.queuedBytes > 0 && budget > 0) {
      const head = q[0];
      const n = Math.min(head.length, s.sendWindow, this.#connSendWindow, this.#peerMaxFrameSize, budget);
      if (n <= 0) break;
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      budget -= n;
      s.queuedBytes -= n;
      const last = s.queuedBytes === 0 && s.endQueued;
      if (n === head.length) {
        q.shift();
        this.#pushData(s.id, last ? Flag.END_STREAM : 0, head);
      } else {
        this.#pushData(s.id, last ? Flag.END_STREAM : 0, head.subarray(0, n));
        q[0] = head.subarray(n);
      }
      if (last) s.outputEnded = true;
    }
  }

  #sendEnd(s: ClientStream): void {
    s.outputEnded = true;
    this.#pushData(s.id, Flag.END_STREAM, EMPTY);
  }

  // ------------------------------------------------------------------ output

  #pushData(id: number, flags: number, payload: Uint8Array): void {
    pushDataFrame(this.#pushBound, id, flags, payload);
  }

  #pushBound = (bytes: Uint8Array): void => this.#push(bytes);

  #push(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (!this.#inRead && !this.#flushScheduled) {
      // A microtask, not setImmediate: what the caller writes in this turn leaves together, and soon.
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#destroyed) {
      this.#out = [];
      this.#outBytes = 0;
      return;
    }
    for (let rounds = 0; this.#outBytes > 0 && rounds < 64; rounds++) {
      if (!this.#writeOut()) return;
      if (this.#sendList.length > 0) this.#pump();
    }
  };

  /** Writes what is gathered; false when the socket asks us to wait for 'drain'. */
  #writeOut(): boolean {
    const out = this.#out.length === 1 ? this.#out[0] : Buffer.concat(this.#out, this.#outBytes);
    this.#out = [];
    this.#outBytes = 0;
    if (this.#ending) return false;
    if (this.#socket.write(out)) return true;
    this.#socketBlocked = true;
    return false;
  }

  /** Before destroying: a GOAWAY or RST just pushed should still reach the server. */
  #flushNow(): void {
    if (this.#outBytes > 0 && !this.#destroyed) this.#writeOut();
  }

  #onDrain = (): void => {
    this.#socketBlocked = false;
    this.#pump();
    this.#flush();
  };

  // ------------------------------------------------------------------ ending

  /** After GOAWAY, once no stream is left: close our side; the socket's 'close' ends the rest. */
  #endSocket(): void {
    if (this.#ending || this.#destroyed) return;
    this.#flushNow();
    this.#ending = true;
    this.#socket.end();
    // If the server does not close its side, do not wait for it forever.
    const t = setTimeout(() => this.destroy(), 2000);
    (t as { unref?: () => void }).unref?.();
  }

  /** A connection error of ours (RFC 9113 5.4.1): GOAWAY with its code, then the connection ends. */
  #fail(err: unknown): void {
    if (this.#destroyed) return;
    if (err instanceof H2ConnectionError) {
      this.#push(encodeGoaway(0, err.code, err.message));
      this.destroy(new Error(`HTTP/2 protocol error from the server: ${err.message}`));
      return;
    }
    this.destroy(err instanceof Error ? err : new Error(String(err)));
  }

  #teardown(err: Error | null): void {
    this.#pings.clear();
    this.#sendList = [];
    try {
      this.#opts.onClose(err);
    } finally {
      const reason = err ? err.message : "the connection closed";
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const s of waiting) this.#closeStream(s, { rstCode: null, unprocessed: true, reason });
      for (const s of [...this.#streams.values()]) this.#closeStream(s, { rstCode: null, unprocessed: false, reason });
    }
  }

  #onSocketClose = (err: Error | null): void => {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#teardown(err);
  };
}

const EMPTY = new Uint8Array(0);
