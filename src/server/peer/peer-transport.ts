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
//
// This class only routes between the parts, as etcd's rafthttp transport does: listeners.ts and
// acceptor.ts take the other members' connections; outbound-stream.ts (with stream-conn.ts and
// peer-status.ts) is one peer's queue and connection; snapshot-sender.ts ships databases and
// prober.ts measures round trips.
import type { HeldListener } from "../../pkg/held-listener.ts";
import type { Logger } from "../../pkg/logger.ts";
import type { TlsSide } from "../../pkg/tls-options.ts";
import { type Message, MessageType } from "../../raft/types.ts";
import { Acceptor, type RequestHandler } from "./acceptor.ts";
import { Backoff } from "./backoff.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "./frame.ts";
import { PeerListeners } from "./listeners.ts";
import { OutboundStream } from "./outbound-stream.ts";
import { peerRequest } from "./peer-request.ts";
import { Prober } from "./prober.ts";
import { SnapshotSender } from "./snapshot-sender.ts";
import type { SnapshotSource } from "./snapshot-stream.ts";
import { hex, messageTypeName, type TransportContext } from "./transport-context.ts";
import { parsePeerUrl } from "./url.ts";

export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_DIAL_TIMEOUT_MS = 1000;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
/** etcd observes each peer's round trip every 30 s (rafthttp's statusMonitoringInterval). */
export const DEFAULT_PROBE_INTERVAL_MS = 30_000;

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
  onRequest?: RequestHandler;
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

export class PeerTransport {
  /** Called when a peer refuses this member because it was removed from the cluster. */
  onRemoved: (() => void) | undefined;
  onUnreachable: ((id: bigint) => void) | undefined;
  onSnapshotStatus: ((id: bigint, ok: boolean) => void) | undefined;

  readonly #ctx: TransportContext;
  readonly #maxQueueBytes: number;
  readonly #maxFrameBytes: number;
  readonly #seed: number;
  readonly #backoffMinMs: number;
  readonly #backoffMaxMs: number;
  readonly #peers = new Map<bigint, OutboundStream>();
  readonly #listeners: PeerListeners;
  readonly #acceptor: Acceptor;
  readonly #snapshots: SnapshotSender;
  readonly #prober: Prober;
  #started = false;
  #droppedUnknown = 0;

  constructor(opts: PeerTransportOptions) {
    if (opts.bound && opts.bound.length !== opts.listenUrls.length) throw new Error("peer transport: one bound listener per listen URL is needed");
    this.onUnreachable = opts.onUnreachable;
    this.onSnapshotStatus = opts.onSnapshotStatus;
    this.#ctx = {
      memberId: opts.memberId,
      clusterId: opts.clusterId,
      log: opts.log,
      tls: opts.tls,
      dialTimeoutMs: opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      stopped: false,
      reportUnreachable: (id) => this.onUnreachable?.(id),
      reportSnapshot: (id, ok) => this.onSnapshotStatus?.(id, ok),
      reportRemoved: () => this.onRemoved?.(),
    };
    this.#maxQueueBytes = opts.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES;
    this.#maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#seed = opts.seed ?? Number(BigInt.asUintN(32, opts.memberId ^ (opts.memberId >> 32n)));
    this.#backoffMinMs = opts.backoffMinMs ?? 50;
    this.#backoffMaxMs = opts.backoffMaxMs ?? 2000;
    const snapshotIdleTimeoutMs = opts.snapshotIdleTimeoutMs ?? 30_000;
    this.#acceptor = new Acceptor(this.#ctx, {
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      maxFrameBytes: this.#maxFrameBytes,
      onMessage: opts.onMessage,
      snapshotDir: opts.snapshotDir,
      snapshotIdleTimeoutMs,
      onSnapshot: opts.onSnapshot,
      onRequest: opts.onRequest,
      peerCalled: (id) => this.#peers.get(id)?.peerCalled(),
    });
    this.#listeners = new PeerListeners(this.#ctx, { urls: [...opts.listenUrls], bound: opts.bound, accept: (s) => this.#acceptor.accept(s) });
    this.#snapshots = new SnapshotSender(this.#ctx, snapshotIdleTimeoutMs);
    this.#prober = new Prober(this.#ctx, opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS, () => this.#peers.values());
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Listens on every listen URL (https:// with TLS). Rejects, listening on none, if any fails. */
  async start(): Promise<void> {
    if (this.#started) throw new Error("peer transport already started");
    this.#started = true;
    await this.#listeners.listen();
    this.#prober.start();
  }

  /** The URLs actually listened on (with the port the kernel chose for port 0). */
  listenAddresses(): string[] {
    return this.#listeners.addresses();
  }

  /** Closes listeners and every connection; queued messages are dropped, no callbacks follow. */
  async stop(): Promise<void> {
    if (this.#ctx.stopped) return;
    this.#ctx.stopped = true;
    this.#prober.stop();
    for (const peer of this.#peers.values()) this.#forget(peer);
    this.#snapshots.abortAll();
    this.#acceptor.closeAll();
    await this.#listeners.close();
  }

  // ---- membership --------------------------------------------------------------------------

  addPeer(id: bigint, urls: string[]): void {
    if (this.#peers.has(id)) return this.updatePeer(id, urls);
    checkUrls(id, urls);
    const seed = (this.#seed ^ Number(BigInt.asUintN(32, id))) >>> 0;
    const backoff = new Backoff(seed, this.#backoffMinMs, this.#backoffMaxMs);
    this.#peers.set(id, new OutboundStream(this.#ctx, id, urls, { maxQueueBytes: this.#maxQueueBytes, maxFrameBytes: this.#maxFrameBytes, backoff }));
  }

  updatePeer(id: bigint, urls: string[]): void {
    const peer = this.#peers.get(id);
    if (!peer) return this.addPeer(id, urls);
    checkUrls(id, urls);
    peer.setUrls(urls);
  }

  removePeer(id: bigint): void {
    this.#acceptor.memberRemoved(id);
    const peer = this.#peers.get(id);
    if (!peer) return;
    this.#peers.delete(id);
    this.#forget(peer);
  }

  /** Drops everything of a peer that is going away (removed, or the transport stops): no reports. */
  #forget(peer: OutboundStream): void {
    peer.close();
    this.#snapshots.abort(peer.id);
  }

  // ---- sending -----------------------------------------------------------------------------

  /** Queues messages for their `to` peers and returns at once; never blocks on a slow peer. */
  send(msgs: readonly Message[]): void {
    if (this.#ctx.stopped) return;
    const log = this.#ctx.log;
    const touched = new Set<OutboundStream>();
    for (const m of msgs) {
      const peer = this.#peers.get(m.to);
      const snap = m.type === MessageType.Snap;
      if (snap && peer) {
        log("error", "a snapshot must go through sendSnapshot, not send; dropped", { "remote-peer-id": hex(peer.id) });
        peer.drop();
        this.onSnapshotStatus?.(peer.id, false);
        continue;
      }
      if (!peer) {
        this.#droppedUnknown++;
        log("debug", "ignored message send request; unknown remote peer target", { "message-type": messageTypeName(m.type), "unknown-target-peer-id": hex(m.to) });
        if (snap) this.onSnapshotStatus?.(m.to, false);
        continue;
      }
      if (peer.enqueue(m)) touched.add(peer);
    }
    for (const peer of touched) peer.ensureConnection();
  }

  /**
   * Ships a database to a peer on a connection of its own, in chunks; onSnapshotStatus reports
   * whether the peer stored and verified it. One transfer per peer at a time: while one is in
   * flight, another request for the same peer is ignored (the one in flight will report).
   */
  sendSnapshot(m: Message, src: SnapshotSource): void {
    if (this.#ctx.stopped) return;
    const peer = this.#peers.get(m.to);
    if (!peer) return void this.onSnapshotStatus?.(m.to, false);
    this.#snapshots.send(peer, m, src);
  }

  /** Sends a request to a peer (trying each of its URLs) and resolves with its answer. */
  async request(id: bigint, body: Uint8Array, timeoutMs: number): Promise<Buffer> {
    const peer = this.#peers.get(id);
    if (!peer) throw new Error(`unknown peer ${hex(id)}`);
    const { clusterId, memberId } = this.#ctx;
    let last: unknown;
    for (const url of peer.urls) {
      try {
        return await peerRequest({ url, clusterId, from: memberId, to: id, tls: this.#ctx.tls?.client }, body, timeoutMs);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  // ---- observation -------------------------------------------------------------------------

  stats(): Map<bigint, PeerStats> {
    const out = new Map<bigint, PeerStats>();
    for (const p of this.#peers.values()) {
      out.set(p.id, {
        id: p.id,
        urls: [...p.urls],
        connected: p.connected,
        queuedMsgs: p.queuedMsgs,
        queuedBytes: p.queuedBytes,
        sentMsgs: p.sentMsgs,
        sentBytes: p.sentBytes,
        droppedMsgs: p.droppedMsgs,
        receivedMsgs: this.#acceptor.received(p.id),
        handshakeRttMs: p.status.handshakeRttMs,
        lastError: p.status.lastError,
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
    return this.#acceptor.connections;
  }
}

function checkUrls(id: bigint, urls: string[]): void {
  if (urls.length === 0) throw new Error(`peer ${hex(id)} has no URLs`);
  for (const u of urls) parsePeerUrl(u, "dial");
}
