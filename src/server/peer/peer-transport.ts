// Member-to-member Raft transport over raw TCP (docs/ARCHITECTURE.md, server/peer).
//
// Each peer gets ONE long-lived outbound connection, dialed lazily on the first send; messages
// to it wait in a queue bounded by bytes and go out in one batch per event-loop turn while the
// socket is writable. Each member accepts the other members' outbound connections on its listen
// URLs and hands every decoded message to onMessage. A connection is one-way after the handshake.
//
// Wire (handshake.ts, frame.ts): u32be length + payload frames. First frame each way: the
// 39-byte handshake record (magic, kind, cluster id, sender id, receiver id). On a Stream
// connection the dialer then sends one raftpb.Message per frame and the acceptor nothing more.
// Snapshots (snapshot-stream.ts) and requests (peer-request.ts) each get a connection of their own,
// so a database being shipped never delays heartbeats.
import { statSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import type { HeldListener } from "../../pkg/held-listener.ts";
import type { Logger } from "../../pkg/logger.ts";
import type { TlsSide } from "../../pkg/tls-options.ts";
import type { Counter, Histogram } from "../../pkg/metrics.ts";
import { decodeMessage, encodeMessage } from "../../raft/codec.ts";
import { type Message, MessageType } from "../../raft/types.ts";
import { Backoff } from "./backoff.ts";
import { connectPeer, describeSocketError } from "./connect.ts";
import { dialPeer } from "./dial.ts";
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameReader, FrameTooLargeError, frameHeader } from "./frame.ts";
import { ConnKind, decodeHandshake, decodeRefusal, encodeHandshakeFrame, encodeRefusalFrame, type Handshake, HANDSHAKE_MAX_FRAME_BYTES } from "./handshake.ts";
import {
  activePeers,
  disconnectedPeers,
  peerReceivedBytes,
  peerReceivedFailures,
  peerRoundTripSeconds,
  peerSentBytes,
  peerSentFailures,
  snapshotReceiveFailures,
  snapshotReceiveInflights,
  snapshotReceiveSeconds,
  snapshotReceiveSuccess,
  snapshotSendFailures,
  snapshotSendInflights,
  snapshotSendSeconds,
  snapshotSendSuccess,
} from "./metrics.ts";
import { MAX_REQUEST_FRAME_BYTES, peerRequest } from "./peer-request.ts";
import { SNAPSHOT_MAX_FRAME_BYTES, type SnapshotSource, SnapshotReceiver, sendSnapshot } from "./snapshot-stream.ts";
import { parsePeerUrl } from "./url.ts";

export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_DIAL_TIMEOUT_MS = 1000;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
/** etcd observes each peer's round trip every 30 s (rafthttp's statusMonitoringInterval). */
export const DEFAULT_PROBE_INTERVAL_MS = 30_000;
/** Payloads at least this large are written as they are instead of being copied into a batch. */
const LARGE_PAYLOAD_BYTES = 64 * 1024;
const MAX_MESSAGE_TYPE = MessageType.PreVoteResp;

export interface PeerTransportOptions {
  memberId: bigint;
  clusterId: bigint;
  /** http://host:port or https://host:port (needs tls); port 0 picks a free port (see listenAddresses()). */
  listenUrls: string[];
  /**
   * Listeners already bound for listenUrls, in the same order (main.ts binds them before it opens the
   * data directory, so a port in use leaves nothing behind); start() takes their waiting connections.
   * Without them start() binds listenUrls itself.
   */
  bound?: readonly HeldListener[];
  /**
   * Peer TLS (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth):
   * https:// listen URLs serve TLS with `server`, https:// peers are dialed with `client`.
   */
  tls?: TlsSide;
  onMessage: (m: Message) => void;
  log: Logger;
  /** A send to this peer failed (refused, reset, timed out, handshake refused); at most once per backoff period. */
  onUnreachable?: (id: bigint) => void;
  /** A snapshot sent to this peer was stored and verified there (true) or was lost (false). */
  onSnapshotStatus?: (id: bigint, ok: boolean) => void;
  /** Where snapshots from peers are received; required to accept them. */
  snapshotDir?: string;
  /** A snapshot arrived: the Snap message (no data) and the verified database file, now the callee's. */
  onSnapshot?: (m: Message, path: string) => void;
  /** Answers a peer's request (see peer-request.ts); `from` is 0 for a member still joining. */
  onRequest?: (req: { from: bigint; clusterId: bigint; body: Buffer }) => Uint8Array | Promise<Uint8Array>;
  /** A snapshot transfer with no progress for this long fails. Default 30 s. */
  snapshotIdleTimeoutMs?: number;
  /** Bound of each peer's send queue; when full, newer messages to that peer are dropped. Default 64 MiB. */
  maxQueueBytes?: number;
  /** TCP connect plus handshake reply. Default 1 s. */
  dialTimeoutMs?: number;
  /** How long an accepted connection may take to send its handshake. Default 5 s. */
  handshakeTimeoutMs?: number;
  /** Largest Raft message frame accepted or sent. Default 512 MiB. */
  maxFrameBytes?: number;
  /** Seed of the reconnect jitter; default derived from the member id. */
  seed?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** How often each peer's round trip is measured for etcd_network_peer_round_trip_time_seconds (0: never). Default 30 s. */
  probeIntervalMs?: number;
}

export interface PeerStats {
  id: bigint;
  urls: string[];
  /** the outbound connection is up (handshake done) */
  connected: boolean;
  queuedMsgs: number;
  queuedBytes: number;
  /** messages handed to the socket */
  sentMsgs: number;
  sentBytes: number;
  /** messages dropped: queue full, too large, or lost with a failed dial */
  droppedMsgs: number;
  /** messages received from this peer (over its connections to us) */
  receivedMsgs: number;
  /** round trip of the last handshake (connect excluded), ms */
  handshakeRttMs?: number;
  lastError?: string;
}

interface Queued {
  payload: Buffer;
  snap: boolean;
}

/** Snap messages written in one batch, waiting for the write callback. */
interface SnapBatch {
  count: number;
  done: boolean;
}

class OutConn {
  established = false;
  blocked = false;
  closed = false;
  timer: ReturnType<typeof setTimeout> | null = null;
  handshakeSentAt = 0;
  readonly reader = new FrameReader(HANDSHAKE_MAX_FRAME_BYTES);
  readonly snaps = new Set<SnapBatch>();
  error: string | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly url: string,
  ) {}
}

class Peer {
  urlIndex = 0;
  queue: Queued[] = [];
  queuedBytes = 0;
  conn: OutConn | null = null;
  timer: ReturnType<typeof setTimeout> | null = null;
  nextDialAt = 0;
  quietUntil = 0; // no onUnreachable report before this time
  active = false;
  failing = false;
  dropping = false;
  flushScheduled = false;
  removed = false;
  sentMsgs = 0;
  sentBytes = 0;
  droppedMsgs = 0;
  handshakeRttMs: number | undefined;
  lastError: string | undefined;
  probing = false;
  /** This peer's series, looked up once. */
  readonly sentBytesMetric: Counter;
  readonly rttMetric: Histogram;

  constructor(
    readonly id: bigint,
    public urls: string[],
    readonly backoff: Backoff,
  ) {
    this.sentBytesMetric = peerSentBytes.with(hex(id));
    this.rttMetric = peerRoundTripSeconds.with(hex(id));
  }
}

const hex = (id: bigint) => id.toString(16);
const fileSize = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};
const now = () => performance.now();
const messageTypeName = (t: number) => `Msg${Object.entries(MessageType).find(([, v]) => v === t)?.[0] ?? t}`;

export class PeerTransport {
  /** Called when a peer refuses this member because it was removed from the cluster. */
  onRemoved: (() => void) | undefined;
  onUnreachable: ((id: bigint) => void) | undefined;
  onSnapshotStatus: ((id: bigint, ok: boolean) => void) | undefined;

  readonly #memberId: bigint;
  #clusterId: bigint;
  readonly #listenUrls: string[];
  readonly #bound: readonly HeldListener[] | undefined;
  readonly #tls: TlsSide | undefined;
  readonly #onMessage: (m: Message) => void;
  readonly #log: Logger;
  readonly #maxQueueBytes: number;
  readonly #dialTimeoutMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #maxFrameBytes: number;
  readonly #seed: number;
  readonly #backoffMinMs: number;
  readonly #backoffMaxMs: number;
  readonly #snapshotDir: string | undefined;
  readonly #onSnapshot: PeerTransportOptions["onSnapshot"];
  readonly #onRequest: PeerTransportOptions["onRequest"];
  readonly #snapshotIdleTimeoutMs: number;
  /** snapshot transfers in flight, by receiving peer */
  readonly #snapSends = new Map<bigint, AbortController>();

  readonly #peers = new Map<bigint, Peer>();
  readonly #servers: net.Server[] = [];
  /** Listeners bound before start (opts.bound), which hand their connections to this transport. */
  readonly #heldListeners: { held: HeldListener; secure: boolean }[] = [];
  readonly #inbound = new Set<net.Socket>();
  readonly #inboundByPeer = new Map<bigint, net.Socket>();
  readonly #received = new Map<bigint, number>();
  #started = false;
  #stopped = false;
  #droppedUnknown = 0;
  readonly #probeIntervalMs: number;
  #probeTimer: ReturnType<typeof setInterval> | undefined;
  #firstProbe: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: PeerTransportOptions) {
    this.#memberId = opts.memberId;
    this.#clusterId = opts.clusterId;
    this.#listenUrls = [...opts.listenUrls];
    this.#bound = opts.bound;
    if (opts.bound && opts.bound.length !== opts.listenUrls.length) throw new Error("peer transport: one bound listener per listen URL is needed");
    this.#tls = opts.tls;
    this.#onMessage = opts.onMessage;
    this.#log = opts.log;
    this.onUnreachable = opts.onUnreachable;
    this.onSnapshotStatus = opts.onSnapshotStatus;
    this.#maxQueueBytes = opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.#dialTimeoutMs = opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.#handshakeTimeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.#maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#seed = opts.seed ?? Number(BigInt.asUintN(32, opts.memberId ^ (opts.memberId >> 32n)));
    this.#backoffMinMs = opts.backoffMinMs ?? 50;
    this.#backoffMaxMs = opts.backoffMaxMs ?? 2000;
    this.#snapshotDir = opts.snapshotDir;
    this.#onSnapshot = opts.onSnapshot;
    this.#onRequest = opts.onRequest;
    this.#snapshotIdleTimeoutMs = opts.snapshotIdleTimeoutMs ?? 30_000;
    this.#probeIntervalMs = opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Listens on every listen URL (https:// with TLS). Rejects, listening on none, if any fails. */
  async start(): Promise<void> {
    if (this.#started) throw new Error("peer transport already started");
    this.#started = true;
    const targets = this.#listenUrls.map((u) => ({ url: u, ...parsePeerUrl(u, "listen") }));
    try {
      for (const [i, t] of targets.entries()) {
        const server = t.secure ? this.#tlsServer(t.url) : net.createServer({ noDelay: true }, (s) => this.#accept(s));
        const bound = this.#bound?.[i];
        if (bound) {
          // Bound earlier: the server only handles what the listener accepts (TLS handshake included).
          this.#heldListeners.push({ held: bound, secure: t.secure });
          bound.release(server);
          this.#log("info", "listening for peers", { address: t.url, "local-member-id": hex(this.#memberId) });
          continue;
        }
        this.#servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(t.path !== undefined ? { path: t.path } : { host: t.host, port: t.port }, () => {
            server.off("error", reject);
            server.on("error", (e) => this.#log("warn", "peer listener error", { address: t.url, error: String(e) }));
            resolve();
          });
        });
        this.#log("info", "listening for peers", { address: t.url, "local-member-id": hex(this.#memberId) });
      }
    } catch (e) {
      await this.#closeServers();
      throw new Error(`cannot listen for peers: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (this.#probeIntervalMs > 0) {
      // A first measurement a second after start (the peers are known by then), then etcd's period.
      this.#firstProbe = setTimeout(() => this.#probe(), Math.min(1000, this.#probeIntervalMs));
      this.#probeTimer = setInterval(() => this.#probe(), this.#probeIntervalMs);
      this.#firstProbe.unref?.();
      this.#probeTimer.unref?.();
    }
  }

  /**
   * A TLS listener around the same accept path. A handshake that fails (no certificate, one from
   * another CA, expired, plaintext) is logged with its reason: that member cannot reach this one.
   */
  #tlsServer(url: string): net.Server {
    if (!this.#tls) throw new Error(`${url} is https:// but no peer certificate is configured (--peer-cert-file and --peer-key-file, or --peer-auto-tls)`);
    const side = this.#tls;
    const server = tls.createServer(side.server, (s) => {
      s.setNoDelay(true);
      // Revoked (--peer-crl-file) or not allowed (--peer-cert-allowed-cn/-hostname): the dialer is told
      // with a refusal frame, so that it logs the TLS alert as etcd members do.
      const refused = side.acceptRefusal(s);
      if (refused) {
        const remoteAddr = `${s.remoteAddress}:${s.remotePort}`;
        if (!this.#stopped) this.#log("warn", "rejected a peer connection: its certificate is not accepted", { address: url, "remote-addr": remoteAddr, error: refused.message });
        // The dialer may be refusing ours at the same moment (it checks the server's certificate first,
        // as etcd's does in the handshake): read its refusal frame too, so this side says why.
        const reader = new FrameReader(HANDSHAKE_MAX_FRAME_BYTES);
        s.on("data", (chunk: Buffer) => {
          try {
            reader.push(chunk, (payload) => {
              const theirs = decodeRefusal(payload);
              if (theirs !== null && !this.#stopped) this.#log("warn", "rejected a peer connection: the dialing member refused this member's certificate", { "remote-addr": remoteAddr, error: theirs });
              return false;
            });
          } catch {}
        });
        s.on("error", () => {});
        s.end(encodeRefusalFrame(refused.alert));
        setTimeout(() => s.destroy(), 1000).unref?.();
        return;
      }
      this.#accept(s);
    });
    server.on("tlsClientError", (e: Error & { code?: string }, socket: tls.TLSSocket) => {
      if (!this.#stopped) {
        this.#log("warn", "rejected a peer connection: TLS handshake failed", {
          address: url,
          "remote-addr": `${socket?.remoteAddress}:${socket?.remotePort}`,
          error: describeSocketError(e),
        });
      }
      socket?.destroy();
    });
    return server;
  }

  /** The URLs actually listened on (with the port the kernel chose for port 0). */
  listenAddresses(): string[] {
    const url = (secure: boolean, a: ReturnType<net.Server["address"]>) =>
      a === null || typeof a === "string" ? String(a) : `${secure ? "https" : "http"}://${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.port}`;
    return [...this.#heldListeners.map((h) => url(h.secure, h.held.server.address())), ...this.#servers.map((s) => url(s instanceof tls.Server, s.address()))];
  }

  /** Closes listeners and every connection; queued messages are dropped, no callbacks follow. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#firstProbe);
    clearInterval(this.#probeTimer);
    for (const peer of this.#peers.values()) this.#forget(peer);
    for (const ac of this.#snapSends.values()) ac.abort();
    for (const s of this.#inbound) s.destroy();
    this.#inbound.clear();
    this.#inboundByPeer.clear();
    await this.#closeServers();
  }

  async #closeServers(): Promise<void> {
    for (const h of this.#heldListeners.splice(0)) h.held.close();
    const servers = this.#servers.splice(0);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }

  // ---- membership --------------------------------------------------------------------------

  addPeer(id: bigint, urls: string[]): void {
    if (this.#peers.has(id)) return this.updatePeer(id, urls);
    this.#checkUrls(id, urls);
    const seed = (this.#seed ^ Number(BigInt.asUintN(32, id))) >>> 0;
    this.#peers.set(id, new Peer(id, [...urls], new Backoff(seed, this.#backoffMinMs, this.#backoffMaxMs)));
  }

  updatePeer(id: bigint, urls: string[]): void {
    const peer = this.#peers.get(id);
    if (!peer) return this.addPeer(id, urls);
    this.#checkUrls(id, urls);
    peer.urls = [...urls];
    peer.urlIndex = 0;
    const conn = peer.conn;
    if (conn && !urls.includes(conn.url)) {
      // Reconnect to a current URL; what was queued stays queued.
      this.#closeConn(peer, conn, !this.#stopped);
      peer.nextDialAt = 0;
      if (peer.queue.length > 0) this.#ensureConnection(peer);
    }
  }

  removePeer(id: bigint): void {
    // A removed member that calls again is told so in the handshake (etcd answers it 410 Gone):
    // close its current connection so that it has to call again.
    this.#removedMembers.add(id);
    this.#inboundByPeer.get(id)?.destroy();
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#peers.delete(id);
    this.#forget(peer);
  }

  #removedMembers = new Set<bigint>();

  #checkUrls(id: bigint, urls: string[]): void {
    if (urls.length === 0) throw new Error(`peer ${hex(id)} has no URLs`);
    for (const u of urls) parsePeerUrl(u, "dial");
  }

  /** Drops everything of a peer that is going away (removed, or the transport stops): no reports. */
  #forget(peer: Peer): void {
    peer.removed = true;
    this.#snapSends.get(peer.id)?.abort();
    if (peer.timer) clearTimeout(peer.timer);
    peer.timer = null;
    if (peer.conn) this.#closeConn(peer, peer.conn, false);
    peer.queue = [];
    peer.queuedBytes = 0;
  }

  // ---- sending -----------------------------------------------------------------------------

  /** Queues messages for their `to` peers and returns at once; never blocks on a slow peer. */
  send(msgs: readonly Message[]): void {
    if (this.#stopped) return;
    const touched = new Set<Peer>();
    for (const m of msgs) {
      const peer = this.#peers.get(m.to);
      const snap = m.type === MessageType.Snap;
      if (snap && peer) {
        this.#log("error", "a snapshot must go through sendSnapshot, not send; dropped", { "remote-peer-id": hex(peer.id) });
        this.#drop(peer, snap);
        continue;
      }
      if (!peer) {
        this.#droppedUnknown++;
        this.#log("debug", "ignored message send request; unknown remote peer target", { "message-type": messageTypeName(m.type), "unknown-target-peer-id": hex(m.to) });
        if (snap) this.onSnapshotStatus?.(m.to, false);
        continue;
      }
      let payload: Buffer;
      try {
        const u8 = encodeMessage(m);
        payload = Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
      } catch (e) {
        this.#log("error", "failed to encode raft message", { "message-type": messageTypeName(m.type), "remote-peer-id": hex(peer.id), error: String(e) });
        this.#drop(peer, snap);
        continue;
      }
      if (payload.length > this.#maxFrameBytes) {
        this.#log("warn", "dropped raft message larger than the peer frame limit", { "message-type": messageTypeName(m.type), "remote-peer-id": hex(peer.id), bytes: payload.length, limit: this.#maxFrameBytes });
        this.#drop(peer, snap);
        continue;
      }
      const bytes = payload.length + FRAME_HEADER_BYTES;
      // One message always fits an empty queue (a snapshot may exceed the bound on its own).
      if (peer.queuedBytes > 0 && peer.queuedBytes + bytes > this.#maxQueueBytes) {
        if (!peer.dropping) {
          peer.dropping = true;
          this.#log("warn", "dropped internal Raft message since sending buffer is full (overloaded network)", {
            "message-type": messageTypeName(m.type),
            "local-member-id": hex(this.#memberId),
            "remote-peer-id": hex(peer.id),
            "remote-peer-active": peer.active,
            "queued-bytes": peer.queuedBytes,
          });
        }
        this.#drop(peer, snap);
        continue;
      }
      peer.queue.push({ payload, snap });
      peer.queuedBytes += bytes;
      touched.add(peer);
    }
    for (const peer of touched) this.#ensureConnection(peer);
  }

  #drop(peer: Peer, snap: boolean): void {
    peer.droppedMsgs++;
    peerSentFailures.with(hex(peer.id)).inc();
    if (snap) this.onSnapshotStatus?.(peer.id, false);
  }

  /** Drops the whole queue (after a failed dial: Raft retries; stale messages help nobody). */
  #dropQueue(peer: Peer): void {
    const q = peer.queue;
    peer.queue = [];
    peer.queuedBytes = 0;
    for (const item of q) this.#drop(peer, item.snap);
  }

  #ensureConnection(peer: Peer): void {
    if (peer.removed || this.#stopped) return;
    const conn = peer.conn;
    if (conn) {
      if (conn.established) this.#scheduleFlush(peer);
      return; // dialing: the handshake reply flushes
    }
    if (peer.timer) return;
    const wait = peer.nextDialAt - now();
    if (wait <= 0) return this.#dial(peer);
    peer.timer = setTimeout(() => {
      peer.timer = null;
      if (!peer.conn && peer.queue.length > 0) this.#ensureConnection(peer);
    }, Math.ceil(wait));
  }

  #scheduleFlush(peer: Peer): void {
    if (peer.flushScheduled) return;
    peer.flushScheduled = true;
    queueMicrotask(() => {
      peer.flushScheduled = false;
      this.#flush(peer);
    });
  }

  /** Everything queued goes out in one batch: small frames copied together, large payloads as they are. */
  #flush(peer: Peer): void {
    const conn = peer.conn;
    if (!conn || !conn.established || conn.blocked || conn.closed || peer.queue.length === 0) return;
    const items = peer.queue;
    const bytes = peer.queuedBytes;
    peer.queue = [];
    peer.queuedBytes = 0;
    peer.dropping = false;

    const parts: Buffer[] = [];
    let run: Buffer[] = [];
    let snaps = 0;
    for (const item of items) {
      if (item.snap) snaps++;
      const header = frameHeader(item.payload.length);
      if (item.payload.length >= LARGE_PAYLOAD_BYTES) {
        run.push(header);
        parts.push(run.length === 1 ? header : Buffer.concat(run));
        run = [];
        parts.push(item.payload);
      } else {
        run.push(header, item.payload);
      }
    }
    if (run.length > 0) parts.push(Buffer.concat(run));

    let callback: ((err?: Error | null) => void) | undefined;
    if (snaps > 0) {
      const batch: SnapBatch = { count: snaps, done: false };
      conn.snaps.add(batch);
      callback = (err) => {
        if (batch.done) return;
        batch.done = true;
        conn.snaps.delete(batch);
        if (!this.#stopped && !peer.removed) for (let i = 0; i < batch.count; i++) this.onSnapshotStatus?.(peer.id, !err);
      };
    }
    let writable = true;
    for (let i = 0; i < parts.length; i++) writable = conn.socket.write(parts[i], i === parts.length - 1 ? callback : undefined);
    if (!writable) conn.blocked = true;
    peer.sentMsgs += items.length;
    peer.sentBytes += bytes;
    peer.sentBytesMetric.inc(bytes);
  }

  /**
   * Ships a database to a peer on a connection of its own, in chunks; onSnapshotStatus reports
   * whether the peer stored and verified it. One transfer per peer at a time: while one is in
   * flight, another request for the same peer is ignored (the one in flight will report).
   */
  sendSnapshot(m: Message, src: SnapshotSource): void {
    if (this.#stopped) return;
    const peer = this.#peers.get(m.to);
    if (!peer || !m.snapshot) {
      this.onSnapshotStatus?.(m.to, false);
      return;
    }
    if (this.#snapSends.has(peer.id)) return;
    const ac = new AbortController();
    this.#snapSends.set(peer.id, ac);
    const url = peer.urls[peer.urlIndex % peer.urls.length];
    const bare = encodeMessage({ ...m, snapshot: { ...m.snapshot, data: new Uint8Array(0) } });
    const fields = { "remote-peer-id": hex(peer.id), "snapshot-index": m.snapshot.meta.index, bytes: src.size };
    this.#log("info", "sending database snapshot", fields);
    const started = now();
    const to = hex(peer.id);
    snapshotSendInflights.with(to).inc();
    const opts = { url, clusterId: this.#clusterId, from: this.#memberId, to: peer.id, dialTimeoutMs: this.#dialTimeoutMs, idleTimeoutMs: this.#snapshotIdleTimeoutMs, signal: ac.signal, tls: this.#tls?.client };
    sendSnapshot(opts, bare, src)
      .then(
        () => {
          this.#log("info", "sent database snapshot", { ...fields, "took-ms": Math.round(now() - started) });
          peer.sentBytesMetric.inc(src.size);
          snapshotSendSuccess.with(to).inc();
          snapshotSendSeconds.with(to).observe((now() - started) / 1000);
          return true;
        },
        (e: Error & { removed?: boolean }) => {
          if (e.removed) this.onRemoved?.();
          if (!ac.signal.aborted) this.#log("warn", "failed to send database snapshot", { ...fields, error: e.message });
          snapshotSendFailures.with(to).inc();
          return false;
        },
      )
      .then((ok) => {
        snapshotSendInflights.with(to).dec();
        if (this.#snapSends.get(peer.id) === ac) this.#snapSends.delete(peer.id);
        if (!this.#stopped && !peer.removed) this.onSnapshotStatus?.(peer.id, ok);
      });
  }

  /** Sends a request to a peer (trying each of its URLs) and resolves with its answer. */
  async request(id: bigint, body: Uint8Array, timeoutMs: number): Promise<Buffer> {
    const peer = this.#peers.get(id);
    if (!peer) throw new Error(`unknown peer ${hex(id)}`);
    let last: unknown;
    for (const url of peer.urls) {
      try {
        return await peerRequest({ url, clusterId: this.#clusterId, from: this.#memberId, to: id, tls: this.#tls?.client }, body, timeoutMs);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  // ---- outbound connections ----------------------------------------------------------------

  #dial(peer: Peer): void {
    const url = peer.urls[peer.urlIndex % peer.urls.length];
    const { socket, ready } = connectPeer(url, this.#tls?.client);
    socket.setNoDelay(true);
    const conn = new OutConn(socket, url);
    peer.conn = conn;
    conn.timer = setTimeout(() => this.#connFailed(peer, conn, `dial timeout after ${this.#dialTimeoutMs} ms`), this.#dialTimeoutMs);
    socket.setKeepAlive?.(true, 10_000);
    socket.once(ready, () => {
      conn.handshakeSentAt = now();
      socket.write(encodeHandshakeFrame({ clusterId: this.#clusterId, from: this.#memberId, to: peer.id }));
    });
    socket.on("data", (chunk: Buffer) => {
      if (conn.closed || conn.established) return; // nothing is expected after the handshake reply
      try {
        conn.reader.push(chunk, (payload) => {
          this.#onHandshakeReply(peer, conn, payload);
          return false;
        });
      } catch (e) {
        this.#connFailed(peer, conn, `bad handshake reply: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    socket.on("drain", () => {
      conn.blocked = false;
      this.#flush(peer);
    });
    socket.on("error", (e: Error & { code?: string }) => {
      conn.error ??= describeSocketError(e);
    });
    socket.on("close", () => this.#connFailed(peer, conn, conn.error ?? "connection closed by peer"));
  }

  #onHandshakeReply(peer: Peer, conn: OutConn, payload: Buffer): void {
    const refused = decodeRefusal(payload);
    if (refused !== null) return this.#connFailed(peer, conn, refused);
    const h = decodeHandshake(payload);
    if (typeof h === "string") return this.#connFailed(peer, conn, `bad handshake reply: ${h}`);
    if (h.clusterId !== this.#clusterId) {
      this.#log("warn", "cluster ID mismatch", {
        "local-member-id": hex(this.#memberId),
        "local-member-cluster-id": hex(this.#clusterId),
        "remote-peer-id": hex(h.from),
        "remote-peer-cluster-id": hex(h.clusterId),
        "remote-peer-url": conn.url,
      });
      return this.#connFailed(peer, conn, `cluster ID mismatch (local ${hex(this.#clusterId)}, remote ${hex(h.clusterId)})`);
    }
    if (h.from === peer.id && h.to === 0n && h.clusterId === this.#clusterId) {
      this.#log("warn", "this member was removed from the cluster (a peer refused it)", { "remote-peer-id": hex(h.from) });
      this.onRemoved?.();
      return this.#connFailed(peer, conn, "this member was removed from the cluster");
    }
    if (h.from !== peer.id || h.to !== this.#memberId) {
      this.#log("warn", `peer URL ${conn.url} belongs to member ${hex(h.from)}, not member ${hex(peer.id)}`, {
        "local-member-id": hex(this.#memberId),
        "remote-peer-id": hex(peer.id),
        "answering-member-id": hex(h.from),
      });
      return this.#connFailed(peer, conn, `member ID mismatch (expected ${hex(peer.id)}, reached ${hex(h.from)})`);
    }
    conn.established = true;
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
    peer.handshakeRttMs = now() - conn.handshakeSentAt;
    peer.rttMetric.observe(peer.handshakeRttMs / 1000);
    peer.backoff.reset();
    peer.failing = false;
    if (!peer.active) {
      peer.active = true;
      activePeers.with(hex(this.#memberId), hex(peer.id)).inc();
      this.#log("info", "peer became active", { "local-member-id": hex(this.#memberId), "remote-peer-id": hex(peer.id), "remote-peer-url": conn.url });
    }
    this.#flush(peer);
  }

  /** Closes an outbound connection; reports its unwritten snapshots as failed when asked to. */
  #closeConn(peer: Peer, conn: OutConn, report: boolean): void {
    if (conn.closed) return;
    conn.closed = true;
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
    conn.socket.destroy();
    if (peer.conn === conn) peer.conn = null;
    for (const batch of conn.snaps) {
      batch.done = true;
      if (report) for (let i = 0; i < batch.count; i++) this.onSnapshotStatus?.(peer.id, false);
    }
    conn.snaps.clear();
  }

  #connFailed(peer: Peer, conn: OutConn, reason: string): void {
    if (conn.closed) return;
    const reporting = !this.#stopped && !peer.removed;
    this.#closeConn(peer, conn, reporting);
    if (!reporting) return;
    peer.lastError = reason;
    const fields = { "local-member-id": hex(this.#memberId), "remote-peer-id": hex(peer.id), "remote-peer-url": conn.url, error: reason };
    if (peer.active) {
      peer.active = false;
      activePeers.with(hex(this.#memberId), hex(peer.id)).dec();
      disconnectedPeers.with(hex(this.#memberId), hex(peer.id)).inc();
      this.#log("warn", "peer became inactive (message send to peer failed)", fields);
    } else if (!peer.failing) {
      this.#log("warn", "failed to connect to peer", fields);
    } else {
      this.#log("debug", "failed to connect to peer", fields);
    }
    peer.failing = true;
    if (!conn.established) {
      this.#dropQueue(peer);
      peer.urlIndex++;
    }
    const t = now();
    const delay = peer.backoff.next();
    peer.nextDialAt = t + delay;
    if (t >= peer.quietUntil) {
      peer.quietUntil = t + delay;
      this.onUnreachable?.(peer.id);
    }
    if (peer.queue.length > 0) this.#ensureConnection(peer);
  }

  // ---- inbound connections -----------------------------------------------------------------

  #accept(socket: net.Socket): void {
    if (this.#stopped) return void socket.destroy();
    this.#inbound.add(socket);
    socket.setNoDelay(true);
    const remoteAddr = `${socket.remoteAddress}:${socket.remotePort}`;
    const reader = new FrameReader(HANDSHAKE_MAX_FRAME_BYTES);
    let remote: bigint | null = null;
    let kind: ConnKind = ConnKind.Stream;
    let receiver: SnapshotReceiver | null = null;
    let closed = false;
    let wrongTo = false;
    let receivedBytes: Counter | null = null;
    const close = (graceful = false) => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      if (!graceful) return void socket.destroy();
      socket.end(); // after the handshake reply; destroy if the dialer does not close its side
      setTimeout(() => socket.destroy(), 1000).unref?.();
    };
    const timer = setTimeout(() => {
      this.#log("warn", "peer connection sent no handshake in time; closing", { "remote-addr": remoteAddr, timeout: this.#handshakeTimeoutMs });
      close();
    }, this.#handshakeTimeoutMs);

    const onFrame = (payload: Buffer): boolean => {
      if (closed || this.#stopped) return false;
      if (remote === null) {
        const h = this.#acceptHandshake(socket, payload, remoteAddr);
        if (!h) {
          close(true);
          return false;
        }
        remote = h.from;
        kind = h.kind;
        clearTimeout(timer);
        if (kind === ConnKind.Snapshot) {
          reader.maxFrameBytes = SNAPSHOT_MAX_FRAME_BYTES;
          receiver = this.#snapshotReceiver(socket, h.from, remoteAddr);
          return true;
        }
        if (kind === ConnKind.Request) {
          reader.maxFrameBytes = MAX_REQUEST_FRAME_BYTES;
          return true;
        }
        reader.maxFrameBytes = this.#maxFrameBytes;
        receivedBytes = peerReceivedBytes.with(hex(remote));
        const older = this.#inboundByPeer.get(remote);
        if (older && older !== socket) older.destroy(); // the peer reconnected: its old stream is dead
        this.#inboundByPeer.set(remote, socket);
        this.#peerCalled(remote);
        return true;
      }
      if (receiver) return receiver.onFrame(payload);
      if (kind === ConnKind.Request) {
        this.#answer(socket, remote, payload, remoteAddr);
        return false;
      }
      receivedBytes?.inc(payload.length + FRAME_HEADER_BYTES);
      if (payload.length === 0) return true; // keepalive
      let m: Message;
      try {
        m = decodeMessage(payload);
        if (!Number.isInteger(m.type) || m.type < 0 || m.type > MAX_MESSAGE_TYPE) throw new Error(`unknown message type ${m.type}`);
      } catch (e) {
        peerReceivedFailures.with(hex(remote)).inc();
        this.#log("warn", "failed to decode raft message from peer; closing connection", { "remote-peer-id": hex(remote), "remote-addr": remoteAddr, bytes: payload.length, error: e instanceof Error ? e.message : String(e) });
        close();
        return false;
      }
      if (m.type === MessageType.Snap) {
        // Snapshots come on connections of their own, verified; one inline would carry no database.
        this.#log("warn", "dropped a snapshot message sent on the Raft stream", { "remote-peer-id": hex(remote) });
        return true;
      }
      if (m.to !== this.#memberId) {
        if (!wrongTo) {
          wrongTo = true;
          this.#log("warn", `message for member ${hex(m.to)} received by member ${hex(this.#memberId)}; dropped`, { "remote-peer-id": hex(remote), "message-type": messageTypeName(m.type) });
        }
        return true;
      }
      this.#received.set(remote, (this.#received.get(remote) ?? 0) + 1);
      try {
        this.#onMessage(m);
      } catch (e) {
        this.#log("error", "raft message handler failed", { "remote-peer-id": hex(remote), "message-type": messageTypeName(m.type), error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      }
      return !closed && !this.#stopped;
    };

    socket.on("data", (chunk: Buffer) => {
      if (closed) return;
      try {
        reader.push(chunk, onFrame);
      } catch (e) {
        if (!(e instanceof FrameTooLargeError)) throw e;
        if (remote === null) {
          this.#log("warn", "rejected peer connection: not an etcd-ts peer handshake", { "remote-addr": remoteAddr, error: e.message });
        } else {
          peerReceivedFailures.with(hex(remote)).inc();
          this.#log("warn", "peer frame too large; closing connection", { "remote-peer-id": hex(remote), "remote-addr": remoteAddr, bytes: e.frameBytes, limit: e.limitBytes });
        }
        close();
      }
    });
    socket.on("error", () => {}); // the close that follows does the cleanup
    socket.on("close", () => {
      receiver?.closed();
      closed = true;
      clearTimeout(timer);
      this.#inbound.delete(socket);
      if (remote !== null && this.#inboundByPeer.get(remote) === socket) this.#inboundByPeer.delete(remote);
    });
  }

  /** Checks a dialer's handshake and answers it (also when refusing, so the dialer can log why). */
  #acceptHandshake(socket: net.Socket, payload: Buffer, remoteAddr: string): Required<Handshake> | null {
    const refused = decodeRefusal(payload);
    if (refused !== null) {
      this.#log("warn", "rejected a peer connection: the dialing member refused this member's certificate", { "remote-addr": remoteAddr, error: refused });
      return null;
    }
    const h = decodeHandshake(payload);
    if (typeof h === "string") {
      this.#log("warn", "rejected peer connection: not an etcd-ts peer handshake", { "remote-addr": remoteAddr, error: h });
      return null;
    }
    // A member joining an existing cluster asks for the member list before it knows the cluster or its own id.
    const joining = h.kind === ConnKind.Request && h.clusterId === 0n && h.from === 0n;
    if (h.from !== 0n && this.#removedMembers.has(h.from)) {
      // Receiver id 0 in the reply: "you were removed from this cluster".
      socket.write(encodeHandshakeFrame({ kind: h.kind, clusterId: this.#clusterId, from: this.#memberId, to: 0n }));
      this.#log("warn", "rejected a connection from a removed member", { "remote-peer-id": hex(h.from), "remote-addr": remoteAddr });
      return null;
    }
    socket.write(encodeHandshakeFrame({ kind: h.kind, clusterId: this.#clusterId, from: this.#memberId, to: h.from }));
    if (h.clusterId !== this.#clusterId && !joining) {
      this.#log("warn", "cluster ID mismatch", {
        "local-member-id": hex(this.#memberId),
        "local-member-cluster-id": hex(this.#clusterId),
        "remote-peer-id": hex(h.from),
        "remote-peer-cluster-id": hex(h.clusterId),
        "remote-addr": remoteAddr,
      });
      return null;
    }
    if (h.to !== this.#memberId && !(h.kind === ConnKind.Request && h.to === 0n)) {
      this.#log("warn", `message for member ${hex(h.to)} received by member ${hex(this.#memberId)}`, { "remote-peer-id": hex(h.from), "remote-addr": remoteAddr });
      return null;
    }
    if (h.kind === ConnKind.Snapshot && (!this.#snapshotDir || !this.#onSnapshot)) {
      this.#log("warn", "refused a snapshot: this member takes no snapshots from peers", { "remote-peer-id": hex(h.from) });
      return null;
    }
    if (h.kind === ConnKind.Request && !this.#onRequest) return null;
    return h;
  }

  /**
   * A peer dialed us, so it is up: if our own dials to it were failing, retry now instead of when
   * the backoff says (up to 2 s after a restarted member is back, otherwise).
   */
  #peerCalled(id: bigint): void {
    const peer = this.#peers.get(id);
    if (!peer || !peer.failing || peer.conn) return;
    peer.backoff.reset();
    peer.nextDialAt = 0;
    if (peer.timer) clearTimeout(peer.timer);
    peer.timer = null;
    if (peer.queue.length > 0) this.#ensureConnection(peer);
  }

  #snapshotReceiver(socket: net.Socket, from: bigint, remoteAddr: string): SnapshotReceiver {
    const fields = { "remote-peer-id": hex(from), "remote-addr": remoteAddr };
    this.#log("info", "receiving database snapshot", fields);
    // A sender that vanished without closing must not hold the socket and the partial file forever.
    socket.setTimeout(this.#snapshotIdleTimeoutMs, () => socket.destroy());
    const started = now();
    const fromLabel = hex(from);
    snapshotReceiveInflights.with(fromLabel).inc();
    // In flight until the receiver reports (stored and verified, or failed) or the connection closes.
    let inflight = true;
    const ended = () => {
      if (inflight) snapshotReceiveInflights.with(fromLabel).dec();
      inflight = false;
    };
    socket.once("close", ended);
    return new SnapshotReceiver({
      dir: this.#snapshotDir as string,
      from,
      memberId: this.#memberId,
      socket,
      onSnapshot: (m, path) => {
        this.#log("info", "received database snapshot", { ...fields, "snapshot-index": m.snapshot?.meta.index, "took-ms": Math.round(now() - started) });
        ended();
        snapshotReceiveSuccess.with(fromLabel).inc();
        snapshotReceiveSeconds.with(fromLabel).observe((now() - started) / 1000);
        if (this.#stopped) return;
        this.#received.set(from, (this.#received.get(from) ?? 0) + 1);
        peerReceivedBytes.with(hex(from)).inc(fileSize(path));
        this.#onSnapshot?.(m, path);
      },
      onError: (reason) => {
        ended();
        snapshotReceiveFailures.with(fromLabel).inc();
        this.#log("warn", "failed to receive database snapshot", { ...fields, error: reason });
      },
    });
  }

  #answer(socket: net.Socket, from: bigint, body: Buffer, remoteAddr: string): void {
    Promise.resolve()
      .then(() => (this.#onRequest as NonNullable<PeerTransportOptions["onRequest"]>)({ from, clusterId: this.#clusterId, body }))
      .then(
        (answer) => {
          if (!socket.destroyed) socket.end(Buffer.concat([frameHeader(answer.length), answer]));
        },
        (e) => {
          this.#log("warn", "failed to answer a peer request", { "remote-peer-id": hex(from), "remote-addr": remoteAddr, error: e instanceof Error ? e.message : String(e) });
          socket.destroy();
        },
      );
  }

  // ---- observation -------------------------------------------------------------------------

  /**
   * Measures each peer's round trip as etcd's prober does, on a connection of its own: the time from
   * our handshake to the peer's reply on a fresh request connection, closed at once (the peer logs nothing).
   */
  #probe(): void {
    for (const peer of this.#peers.values()) {
      if (peer.probing || peer.removed) continue;
      peer.probing = true;
      const url = peer.urls[peer.urlIndex % peer.urls.length];
      const hs = { kind: ConnKind.Request, clusterId: this.#clusterId, from: this.#memberId, to: peer.id };
      dialPeer(url, hs, this.#dialTimeoutMs, HANDSHAKE_MAX_FRAME_BYTES, this.#tls?.client).then(
        (d) => {
          d.socket.destroy();
          peer.probing = false;
          if (!peer.removed && !this.#stopped) peer.rttMetric.observe(d.rttMs / 1000);
        },
        () => (peer.probing = false), // an unreachable peer has no round trip; the stream reports it
      );
    }
  }

  stats(): Map<bigint, PeerStats> {
    const out = new Map<bigint, PeerStats>();
    for (const p of this.#peers.values()) {
      out.set(p.id, {
        id: p.id,
        urls: [...p.urls],
        connected: p.conn?.established === true && !p.conn.closed,
        queuedMsgs: p.queue.length,
        queuedBytes: p.queuedBytes,
        sentMsgs: p.sentMsgs,
        sentBytes: p.sentBytes,
        droppedMsgs: p.droppedMsgs,
        receivedMsgs: this.#received.get(p.id) ?? 0,
        handshakeRttMs: p.handshakeRttMs,
        lastError: p.lastError,
      });
    }
    return out;
  }

  /** Messages dropped because their `to` is not a known peer. */
  get droppedUnknownMsgs(): number {
    return this.#droppedUnknown;
  }

  /** Accepted connections currently open (handshake done or pending). */
  get inboundConnections(): number {
    return this.#inbound.size;
  }
}
