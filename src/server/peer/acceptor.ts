// The acceptor's side of every peer connection (etcd's peer HTTP handlers): check the dialer's
// handshake and answer it, then serve the connection by its kind. A Raft stream's messages go to
// onMessage one by one, a snapshot to snapshot-receiver.ts, a request to onRequest.
import type net from "node:net";
import { decodeMessage } from "../../raft/codec.ts";
import { type Message, MessageType } from "../../raft/types.ts";
import type { Counter } from "../../pkg/metrics.ts";
import { FRAME_HEADER_BYTES, FrameReader, FrameTooLargeError, frameHeader } from "./frame.ts";
import { ConnKind, decodeHandshake, decodeRefusal, encodeHandshakeFrame, type Handshake, HANDSHAKE_MAX_FRAME_BYTES } from "./handshake.ts";
import { peerReceivedBytes, peerReceivedFailures } from "./metrics.ts";
import { MAX_REQUEST_FRAME_BYTES } from "./peer-request.ts";
import { receiveSnapshot } from "./snapshot-receiver.ts";
import { SNAPSHOT_MAX_FRAME_BYTES, type SnapshotReceiver } from "./snapshot-stream.ts";
import { hex, messageTypeName, type TransportContext } from "./transport-context.ts";

const MAX_MESSAGE_TYPE = MessageType.PreVoteResp;

/** Answers a peer's request (see peer-request.ts); `from` is 0 for a member still joining. */
export type RequestHandler = (req: { from: bigint; clusterId: bigint; body: Buffer }) => Uint8Array | Promise<Uint8Array>;

export interface AcceptorOptions {
  /** How long an accepted connection may take to send its handshake. */
  handshakeTimeoutMs: number;
  /** Largest Raft message frame accepted. */
  maxFrameBytes: number;
  onMessage: (m: Message) => void;
  /** Where snapshots from peers are received; required to accept them. */
  snapshotDir: string | undefined;
  /** A snapshot transfer with no progress for this long fails. */
  snapshotIdleTimeoutMs: number;
  onSnapshot: ((m: Message, path: string) => void) | undefined;
  onRequest: RequestHandler | undefined;
  /** A peer opened its Raft stream to this member: it is up. */
  peerCalled: (id: bigint) => void;
}

export class Acceptor {
  readonly #inbound = new Set<net.Socket>();
  /** each peer's current Raft stream to us */
  readonly #inboundByPeer = new Map<bigint, net.Socket>();
  /** messages received, by peer */
  readonly #received = new Map<bigint, number>();
  readonly #removedMembers = new Set<bigint>();

  constructor(
    readonly ctx: TransportContext,
    readonly opts: AcceptorOptions,
  ) {}

  /** Accepted connections currently open (handshake done or pending). */
  get connections(): number {
    return this.#inbound.size;
  }

  /** Messages received from this peer (over its connections to us). */
  received(id: bigint): number {
    return this.#received.get(id) ?? 0;
  }

  memberRemoved(id: bigint): void {
    // A removed member that calls again is told so in the handshake (etcd answers it 410 Gone):
    // close its current connection so that it has to call again.
    this.#removedMembers.add(id);
    this.#inboundByPeer.get(id)?.destroy();
  }

  closeAll(): void {
    for (const s of this.#inbound) s.destroy();
    this.#inbound.clear();
    this.#inboundByPeer.clear();
  }

  /** Serves an accepted connection (TLS already done): the handshake, then whatever its kind carries. */
  accept(socket: net.Socket): void {
    if (this.ctx.stopped) return void socket.destroy();
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
      this.ctx.log("warn", "peer connection sent no handshake in time; closing", { "remote-addr": remoteAddr, timeout: this.opts.handshakeTimeoutMs });
      close();
    }, this.opts.handshakeTimeoutMs);

    const onFrame = (payload: Buffer): boolean => {
      if (closed || this.ctx.stopped) return false;
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
          receiver = this.#receiveSnapshot(socket, h.from, remoteAddr);
          return true;
        }
        if (kind === ConnKind.Request) {
          reader.maxFrameBytes = MAX_REQUEST_FRAME_BYTES;
          return true;
        }
        reader.maxFrameBytes = this.opts.maxFrameBytes;
        receivedBytes = peerReceivedBytes.with(hex(remote));
        const older = this.#inboundByPeer.get(remote);
        if (older && older !== socket) older.destroy(); // the peer reconnected: its old stream is dead
        this.#inboundByPeer.set(remote, socket);
        this.opts.peerCalled(remote);
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
        this.ctx.log("warn", "failed to decode raft message from peer; closing connection", { "remote-peer-id": hex(remote), "remote-addr": remoteAddr, bytes: payload.length, error: e instanceof Error ? e.message : String(e) });
        close();
        return false;
      }
      if (m.type === MessageType.Snap) {
        // Snapshots come on connections of their own, verified; one inline would carry no database.
        this.ctx.log("warn", "dropped a snapshot message sent on the Raft stream", { "remote-peer-id": hex(remote) });
        return true;
      }
      if (m.to !== this.ctx.memberId) {
        if (!wrongTo) {
          wrongTo = true;
          this.ctx.log("warn", `message for member ${hex(m.to)} received by member ${hex(this.ctx.memberId)}; dropped`, { "remote-peer-id": hex(remote), "message-type": messageTypeName(m.type) });
        }
        return true;
      }
      this.#count(remote);
      try {
        this.opts.onMessage(m);
      } catch (e) {
        this.ctx.log("error", "raft message handler failed", { "remote-peer-id": hex(remote), "message-type": messageTypeName(m.type), error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
      }
      return !closed && !this.ctx.stopped;
    };

    socket.on("data", (chunk: Buffer) => {
      if (closed) return;
      try {
        reader.push(chunk, onFrame);
      } catch (e) {
        if (!(e instanceof FrameTooLargeError)) throw e;
        if (remote === null) {
          this.ctx.log("warn", "rejected peer connection: not an etcd-ts peer handshake", { "remote-addr": remoteAddr, error: e.message });
        } else {
          peerReceivedFailures.with(hex(remote)).inc();
          this.ctx.log("warn", "peer frame too large; closing connection", { "remote-peer-id": hex(remote), "remote-addr": remoteAddr, bytes: e.frameBytes, limit: e.limitBytes });
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
      this.ctx.log("warn", "rejected a peer connection: the dialing member refused this member's certificate", { "remote-addr": remoteAddr, error: refused });
      return null;
    }
    const h = decodeHandshake(payload);
    if (typeof h === "string") {
      this.ctx.log("warn", "rejected peer connection: not an etcd-ts peer handshake", { "remote-addr": remoteAddr, error: h });
      return null;
    }
    // A member joining an existing cluster asks for the member list before it knows the cluster or its own id.
    const joining = h.kind === ConnKind.Request && h.clusterId === 0n && h.from === 0n;
    if (h.from !== 0n && this.#removedMembers.has(h.from)) {
      // Receiver id 0 in the reply: "you were removed from this cluster".
      socket.write(encodeHandshakeFrame({ kind: h.kind, clusterId: this.ctx.clusterId, from: this.ctx.memberId, to: 0n }));
      this.ctx.log("warn", "rejected a connection from a removed member", { "remote-peer-id": hex(h.from), "remote-addr": remoteAddr });
      return null;
    }
    socket.write(encodeHandshakeFrame({ kind: h.kind, clusterId: this.ctx.clusterId, from: this.ctx.memberId, to: h.from }));
    if (h.clusterId !== this.ctx.clusterId && !joining) {
      this.ctx.log("warn", "cluster ID mismatch", {
        "local-member-id": hex(this.ctx.memberId),
        "local-member-cluster-id": hex(this.ctx.clusterId),
        "remote-peer-id": hex(h.from),
        "remote-peer-cluster-id": hex(h.clusterId),
        "remote-addr": remoteAddr,
      });
      return null;
    }
    if (h.to !== this.ctx.memberId && !(h.kind === ConnKind.Request && h.to === 0n)) {
      this.ctx.log("warn", `message for member ${hex(h.to)} received by member ${hex(this.ctx.memberId)}`, { "remote-peer-id": hex(h.from), "remote-addr": remoteAddr });
      return null;
    }
    if (h.kind === ConnKind.Snapshot && (!this.opts.snapshotDir || !this.opts.onSnapshot)) {
      this.ctx.log("warn", "refused a snapshot: this member takes no snapshots from peers", { "remote-peer-id": hex(h.from) });
      return null;
    }
    if (h.kind === ConnKind.Request && !this.opts.onRequest) return null;
    return h;
  }


  #answer(socket: net.Socket, from: bigint, body: Buffer, remoteAddr: string): void {
    Promise.resolve()
      .then(() => (this.opts.onRequest as RequestHandler)({ from, clusterId: this.ctx.clusterId, body }))
      .then(
        (answer) => {
          if (!socket.destroyed) socket.end(Buffer.concat([frameHeader(answer.length), answer]));
        },
        (e) => {
          this.ctx.log("warn", "failed to answer a peer request", { "remote-peer-id": hex(from), "remote-addr": remoteAddr, error: e instanceof Error ? e.message : String(e) });
          socket.destroy();
        },
      );
  }

  #receiveSnapshot(socket: net.Socket, from: bigint, remoteAddr: string): SnapshotReceiver {
    return receiveSnapshot(this.ctx, {
      socket,
      from,
      remoteAddr,
      dir: this.opts.snapshotDir as string,
      idleTimeoutMs: this.opts.snapshotIdleTimeoutMs,
      onSnapshot: (m, path) => {
        this.#count(from);
        this.opts.onSnapshot?.(m, path);
      },
    });
  }

  #count(from: bigint): void {
    this.#received.set(from, (this.#received.get(from) ?? 0) + 1);
  }
}
