// One HTTP/2 stream of a server connection (RFC 9113 section 5.1), as the application sees it: the
// request headers, a sink for the request body, and calls to answer. State and flow control live here;
// the connection does the framing.
import type { ConnectionInfo, H2Connection } from "./connection.ts";
import { ErrorCode } from "../../../pkg/h2/frames.ts";
import type { HeaderMap } from "../../../pkg/h2/hpack.ts";

/** Receives a stream's request body. One object per stream, no listener lists. */
export interface StreamSink {
  /** A piece of the request body. Call stream.release(n) once its bytes are no longer held. */
  onData(chunk: Buffer): void;
  /** The client ended its side (END_STREAM). */
  onEnd(): void;
  /** The stream is over: answered and closed, reset by the client, or the connection is gone. Once. */
  onClose(): void;
}

/** write() reports false once this much is queued for the stream... */
export const STREAM_HIGH_WATER = 256 * 1024;
/** ...and waitWritable() resolves once the queue is back at or below this. */
export const STREAM_LOW_WATER = 64 * 1024;

export class H2Stream {
  readonly id: number;
  readonly headers: HeaderMap;
  sink: StreamSink | null = null;

  // ---- state (read by the connection; the application uses the getters and methods below)
  /** END_STREAM received. */
  inputEnded = false;
  /** END_STREAM sent or queued behind data: nothing more may be written. */
  outputEnded = false;
  closed = false;
  headersSent = false;

  // ---- send side: the peer's window for this stream and the data waiting for it
  sendWindow: number;
  queue: Uint8Array[] | null = null;
  queuedBytes = 0;
  /** Trailers (a header block) to send with END_STREAM once the queue is empty; EMPTY_TRAILERS = empty DATA. */
  pendingEnd: Uint8Array | null = null;
  inSendList = false;
  drainWaiter: (() => void) | null = null;

  // ---- receive side: what the peer may still send, and released bytes not yet announced
  recvWindow: number;
  unacked = 0;
  /** Bytes handed to the sink and not yet released. */
  held = 0;

  readonly #conn: H2Connection;

  constructor(conn: H2Connection, id: number, headers: HeaderMap, sendWindow: number, recvWindow: number) {
    this.#conn = conn;
    this.id = id;
    this.headers = headers;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** What the listener knows about the client of this stream's connection (see ConnectionInfo). */
  get connectionInfo(): ConnectionInfo {
    return this.#conn.info;
  }

  /** Sends the response headers (a pre-encoded HPACK block); with endStream, that is the whole answer. */
  respond(block: Uint8Array, endStream = false): void {
    this.#conn.sendHeaders(this, block, endStream);
  }

  /**
   * Queues response body bytes (sent as the flow-control windows allow; the bytes must not change
   * afterwards). Returns false when the stream's queue is over its high-water mark: wait with
   * waitWritable() before writing more. False too when the stream is closed.
   */
  write(data: Uint8Array): boolean {
    return this.#conn.writeData(this, data);
  }

  /** Resolves when the queue is at or below the low-water mark, or the stream is closed. */
  waitWritable(): Promise<void> {
    if (this.closed || this.queuedBytes <= STREAM_LOW_WATER) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const prev = this.drainWaiter;
      this.drainWaiter = prev ? () => (prev(), resolve()) : resolve;
    });
  }

  /** Ends the response after the queued data: with trailers (a HEADERS block), or with an empty DATA frame. */
  end(trailers: Uint8Array | null): void {
    this.#conn.endStream(this, trailers);
  }

  /** Abandons the stream with RST_STREAM. */
  reset(code: ErrorCode = ErrorCode.CANCEL): void {
    this.#conn.resetStream(this, code);
  }

  /** Gives back n bytes of received body (no longer buffered), reopening the flow-control windows. */
  release(n: number): void {
    this.#conn.release(this, n);
  }
}
