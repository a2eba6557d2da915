// One peer's outbound Raft stream (etcd's peer plus its stream writer): the send queue, bounded by
// bytes, flushed in one batch per event-loop turn while the socket is writable, and the one long-lived
// connection it goes out on, dialed lazily and redialed after a backoff when it fails.
import type { Counter } from "../../pkg/metrics.ts";
import { encodeMessage } from "../../raft/codec.ts";
import type { Message } from "../../raft/types.ts";
import type { Backoff } from "./backoff.ts";
import { FRAME_HEADER_BYTES, frameBatch } from "./frame.ts";
import { peerSentBytes, peerSentFailures } from "./metrics.ts";
import { PeerStatus } from "./peer-status.ts";
import { StreamConn, type StreamConnOwner } from "./stream-conn.ts";
import { hex, messageTypeName, now, type TransportContext } from "./transport-context.ts";

export interface OutboundStreamOptions {
  /** Bound of the send queue; when full, newer messages are dropped. */
  maxQueueBytes: number;
  /** Largest message frame sent. */
  maxFrameBytes: number;
  /** Delays between failed dials. */
  backoff: Backoff;
}

export class OutboundStream implements StreamConnOwner {
  urls: string[];
  conn: StreamConn | null = null;
  queuedBytes = 0;
  /** messages handed to the socket */
  sentMsgs = 0;
  sentBytes = 0;
  /** messages dropped: queue full, too large, or lost with a failed dial */
  droppedMsgs = 0;
  /** the peer was removed or the transport stopped: nothing is dialed or reported any more */
  removed = false;
  readonly status: PeerStatus;
  /** This peer's series, looked up once. */
  readonly sentBytesMetric: Counter;
  #urlIndex = 0;
  #queue: Buffer[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  #nextDialAt = 0;
  #quietUntil = 0; // no onUnreachable report before this time
  #dropping = false;
  #flushScheduled = false;

  constructor(
    readonly ctx: TransportContext,
    readonly id: bigint,
    urls: string[],
    readonly opts: OutboundStreamOptions,
  ) {
    this.urls = [...urls];
    this.status = new PeerStatus(ctx, id);
    this.sentBytesMetric = peerSentBytes.with(hex(id));
  }

  /** The URL the next connection to this peer goes to (a failed dial moves on to the next one). */
  get url(): string {
    return this.urls[this.#urlIndex % this.urls.length];
  }

  get queuedMsgs(): number {
    return this.#queue.length;
  }

  /** the connection is up (handshake done) */
  get connected(): boolean {
    return this.conn?.established === true && !this.conn.closed;
  }

  /** Queues m for the next flush (call ensureConnection after a batch); false when it was dropped. */
  enqueue(m: Message): boolean {
    const log = this.ctx.log;
    let payload: Buffer;
    try {
      const u8 = encodeMessage(m);
      payload = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    } catch (e) {
      log("error", "failed to encode raft message", { "message-type": messageTypeName(m.type), "remote-peer-id": hex(this.id), error: String(e) });
      this.drop();
      return false;
    }
    if (payload.length > this.opts.maxFrameBytes) {
      log("warn", "dropped raft message larger than the peer frame limit", { "message-type": messageTypeName(m.type), "remote-peer-id": hex(this.id), bytes: payload.length, limit: this.opts.maxFrameBytes });
      this.drop();
      return false;
    }
    const bytes = payload.length + FRAME_HEADER_BYTES;
    // One message always fits an empty queue (one large entry may exceed the bound on its own).
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > this.opts.maxQueueBytes) {
      if (!this.#dropping) {
        this.#dropping = true;
        log("warn", "dropped internal Raft message since sending buffer is full (overloaded network)", {
          "message-type": messageTypeName(m.type),
          "local-member-id": hex(this.ctx.memberId),
          "remote-peer-id": hex(this.id),
          "remote-peer-active": this.status.active,
          "queued-bytes": this.queuedBytes,
        });
      }
      this.drop();
      return false;
    }
    this.#queue.push(payload);
    this.queuedBytes += bytes;
    return true;
  }

  /** Counts a message for this peer that will not be sent. */
  drop(): void {
    this.droppedMsgs++;
    peerSentFailures.with(hex(this.id)).inc();
  }

  /** Gets what is queued moving: a flush on a live connection, else a dial (now or after the backoff). */
  ensureConnection(): void {
    if (this.removed || this.ctx.stopped) return;
    const conn = this.conn;
    if (conn) {
      if (conn.established) this.#scheduleFlush();
      return; // dialing: the handshake reply flushes
    }
    if (this.#timer) return;
    const wait = this.#nextDialAt - now();
    if (wait <= 0) {
      this.conn = new StreamConn(this.ctx, this.id, this.url, this);
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.conn && this.#queue.length > 0) this.ensureConnection();
    }, Math.ceil(wait));
  }

  setUrls(urls: string[]): void {
    this.urls = [...urls];
    this.#urlIndex = 0;
    const conn = this.conn;
    if (conn && !urls.includes(conn.url)) {
      // Reconnect to a current URL; what was queued stays queued.
      this.#closeConn(conn);
      this.#nextDialAt = 0;
      if (this.#queue.length > 0) this.ensureConnection();
    }
  }

  /**
   * The peer dialed us, so it is up: if our own dials to it were failing, retry now instead of when
   * the backoff says (up to 2 s after a restarted member is back, otherwise).
   */
  peerCalled(): void {
    if (!this.status.failing || this.conn) return;
    this.opts.backoff.reset();
    this.#nextDialAt = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#queue.length > 0) this.ensureConnection();
  }

  /** Drops everything of a peer that is going away (removed, or the transport stops): no reports. */
  close(): void {
    this.removed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.conn) this.#closeConn(this.conn);
    this.#queue = [];
    this.queuedBytes = 0;
  }

  established(conn: StreamConn, rttMs: number): void {
    this.status.connected(conn.url, rttMs);
    this.opts.backoff.reset();
    this.#flush();
  }

  drained(): void {
    this.#flush();
  }

  failed(conn: StreamConn, reason: string): void {
    if (conn.closed) return;
    const reporting = !this.ctx.stopped && !this.removed;
    this.#closeConn(conn);
    if (!reporting) return;
    this.status.failed(conn.url, reason);
    if (!conn.established) {
      this.#dropQueue();
      this.#urlIndex++;
    }
    const t = now();
    const delay = this.opts.backoff.next();
    this.#nextDialAt = t + delay;
    if (t >= this.#quietUntil) {
      this.#quietUntil = t + delay;
      this.ctx.reportUnreachable(this.id);
    }
    if (this.#queue.length > 0) this.ensureConnection();
  }

  #closeConn(conn: StreamConn): void {
    if (conn.closed) return;
    conn.close();
    if (this.conn === conn) this.conn = null;
  }

  /** Drops the whole queue (after a failed dial: Raft retries; stale messages help nobody). */
  #dropQueue(): void {
    const q = this.#queue;
    this.#queue = [];
    this.queuedBytes = 0;
    for (let i = 0; i < q.length; i++) this.drop();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  /** Everything queued goes out in one batch. */
  #flush(): void {
    const conn = this.conn;
    if (!conn || !conn.established || conn.blocked || conn.closed || this.#queue.length === 0) return;
    const payloads = this.#queue;
    const bytes = this.queuedBytes;
    this.#queue = [];
    this.queuedBytes = 0;
    this.#dropping = false;
    let writable = true;
    for (const part of frameBatch(payloads)) writable = conn.socket.write(part);
    if (!writable) conn.blocked = true;
    this.sentMsgs += payloads.length;
    this.sentBytes += bytes;
    this.sentBytesMetric.inc(bytes);
  }
}
