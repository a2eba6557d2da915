// Network faults between cluster members, for Jepsen-style tests: a TCP proxy in front of each
// member's peer port (node:net, loopback only).
//
// Topology. Member i listens for peers on its real port R_i and *advertises* the proxy's port P_i
// (--initial-advertise-peer-urls and --initial-cluster name the proxy), so every other member dials
// P_i to reach i and the proxy forwards to R_i. All traffic INTO member i therefore crosses proxy i.
//
// Directed links. The peer transport (src/server/peer) opens one connection per ordered pair: the
// dialer A sends a handshake frame (src/server/peer/handshake.ts: magic, connection kind, cluster id,
// sender id, receiver id), the acceptor B answers with its own handshake, and after that only A→B
// traffic flows on a Raft stream (snapshot and request connections carry one answer back). The proxy reads the sender id from that
// first frame (it never parses anything else), so proxy B can tell which member a connection comes
// from and apply a fault to the directed link A→B only. It also learns B's own id from the
// receiver field. Bytes that arrive before the handshake is complete are held, not forwarded.
//
// What a fault can express, per (source member → this target) link or for every source at once:
//   - blockUp:   blackhole the bytes flowing dialer → target (the A→B messages; one-way partition)
//   - blockDown: blackhole the bytes flowing target → dialer (for this transport that is only the
//                handshake reply, so new dials time out while established connections keep working)
//   - delayMs:   hold every chunk for delayMs before forwarding it, in both directions, order kept
//   - resetConnections(): close current connections at once (the dialer sees a reset and redials)
// Isolating a member, full and one-way partitions are compositions of these over all the proxies
// (see PeerNetwork below).
//
// What it cannot express: it works on TCP streams, never on single Raft messages, so it cannot drop,
// duplicate or reorder one message inside a live connection; a connection that has had bytes
// blackholed is "poisoned": it stays open and silently swallows everything (like a partition that TCP
// has not noticed yet) and is closed when the fault is lifted, so the receiver never sees a torn
// stream. Bytes are not corrupted. Client (gRPC) traffic does not cross the proxy, only peer traffic.
// A delay applies to the chunks as the proxy reads them (a large burst is held as one chunk), and
// held bytes are buffered in memory without backpressure.
import net from "node:net";
import { decodeHandshake, HANDSHAKE_BYTES } from "../../src/server/peer/handshake.ts";

const HOST = "127.0.0.1";
const HANDSHAKE_FRAME_BYTES = 4 + HANDSHAKE_BYTES;

export interface LinkFault {
  /** blackhole bytes from the dialing member into the target */
  blockUp?: boolean;
  /** blackhole bytes from the target back to the dialing member */
  blockDown?: boolean;
  /** added latency per chunk, both directions, ms */
  delayMs?: number;
}

export interface ProxyStats {
  accepted: number;
  open: number;
  bytesUp: number;
  bytesDown: number;
  droppedUp: number;
  droppedDown: number;
  resets: number;
}

type Dir = "up" | "down";

/** One direction of one proxied connection: writes chunks in order, each no earlier than its due time. */
class Pipe {
  #queue: { due: number; chunk: Buffer }[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  constructor(private readonly out: () => net.Socket | null) {}

  push(chunk: Buffer, delayMs: number): void {
    const now = Date.now();
    if (delayMs <= 0 && this.#queue.length === 0) {
      this.out()?.write(chunk);
      return;
    }
    const last = this.#queue.length ? this.#queue[this.#queue.length - 1].due : 0;
    this.#queue.push({ due: Math.max(now + Math.max(0, delayMs), last), chunk });
    this.#arm();
  }

  #arm(): void {
    if (this.#timer || this.#queue.length === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const now = Date.now();
      while (this.#queue.length && this.#queue[0].due <= now) this.out()?.write(this.#queue.shift()!.chunk);
      this.#arm();
    }, Math.max(0, this.#queue[0].due - Date.now()));
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue = [];
  }
}

class Conn {
  from: bigint | undefined;
  identified = false;
  /** bytes received from the dialer before the handshake frame was complete */
  pending: Buffer[] = [];
  pendingBytes = 0;
  upstream: net.Socket | null = null;
  poisoned = { up: false, down: false };
  closed = false;
  readonly up: Pipe;
  readonly down: Pipe;
  constructor(readonly downstream: net.Socket) {
    this.up = new Pipe(() => this.upstream);
    this.down = new Pipe(() => this.downstream);
  }
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.up.clear();
    this.down.clear();
    this.downstream.destroy();
    this.upstream?.destroy();
  }
}

/** A TCP proxy in front of one member's peer port, with faults settable at runtime. */
export class FaultProxy {
  #server: net.Server;
  #conns = new Set<Conn>();
  #defaultFault: LinkFault = {};
  #bySource = new Map<bigint, LinkFault>();
  #targetId: bigint | undefined;
  #sources = new Set<bigint>();
  #stats: ProxyStats = { accepted: 0, open: 0, bytesUp: 0, bytesDown: 0, droppedUp: 0, droppedDown: 0, resets: 0 };

  private constructor(
    readonly listenPort: number,
    readonly targetPort: number,
    server: net.Server,
  ) {
    this.#server = server;
    server.on("connection", (s) => this.#accept(s));
  }

  /** Listens on 127.0.0.1:listenPort (0 = any free port) and forwards to 127.0.0.1:targetPort. */
  static async start(opts: { listenPort?: number; targetPort: number }): Promise<FaultProxy> {
    const server = net.createServer({ pauseOnConnect: false });
    const port = await new Promise<number>((res, rej) => {
      server.once("error", rej);
      server.listen(opts.listenPort ?? 0, HOST, () => res((server.address() as net.AddressInfo).port));
    });
    return new FaultProxy(port, opts.targetPort, server);
  }

  /** The target member's id, learned from the receiver field of the handshakes it was sent. */
  get targetId(): bigint | undefined {
    return this.#targetId;
  }

  /** The member ids that have dialed through this proxy. */
  get sources(): bigint[] {
    return [...this.#sources];
  }

  stats(): ProxyStats {
    return { ...this.#stats, open: this.#conns.size };
  }

  /** Sets the fault for the link from one source member (by id), or for every source (from omitted). */
  setFault(fault: LinkFault, from?: bigint): void {
    if (from === undefined) this.#defaultFault = { ...fault };
    else this.#bySource.set(from, { ...fault });
    this.#closeHealedPoisoned();
  }

  /** Lifts every fault; connections that swallowed bytes are closed so that they are redialed cleanly. */
  heal(): void {
    this.#defaultFault = {};
    this.#bySource.clear();
    this.#closeHealedPoisoned();
  }

  /** Closes the current connections (of one source, or all): the dialers see a reset and redial. */
  resetConnections(from?: bigint): number {
    let n = 0;
    for (const c of [...this.#conns]) {
      if (from !== undefined && c.from !== from) continue;
      c.destroy();
      this.#conns.delete(c);
      n++;
    }
    this.#stats.resets += n;
    return n;
  }

  async close(): Promise<void> {
    this.resetConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  /** The fault that applies to a connection now: the default, overridden field by field by its source's. */
  faultFor(from: bigint | undefined): LinkFault {
    return { ...this.#defaultFault, ...(from !== undefined ? this.#bySource.get(from) : undefined) };
  }

  #closeHealedPoisoned(): void {
    for (const c of [...this.#conns]) {
      const f = this.faultFor(c.from);
      if ((c.poisoned.up && !f.blockUp) || (c.poisoned.down && !f.blockDown)) {
        c.destroy();
        this.#conns.delete(c);
      }
    }
  }

  #accept(downstream: net.Socket): void {
    const c = new Conn(downstream);
    this.#conns.add(c);
    this.#stats.accepted++;
    const drop = () => {
      c.destroy();
      this.#conns.delete(c);
    };
    downstream.setNoDelay(true);
    downstream.on("error", drop);
    downstream.on("close", drop);
    downstream.on("data", (chunk: Buffer) => {
      if (c.closed) return;
      if (!c.identified) {
        c.pending.push(chunk);
        c.pendingBytes += chunk.length;
        if (c.pendingBytes < HANDSHAKE_FRAME_BYTES) return;
        this.#identify(c, drop);
        return;
      }
      this.#forward(c, "up", chunk);
    });
  }

  /** Reads the sender from the first frame, then connects upstream (unless the link is blackholed). */
  #identify(c: Conn, drop: () => void): void {
    c.identified = true;
    const head = Buffer.concat(c.pending);
    c.pending = [];
    const h = head.readUInt32BE(0) === HANDSHAKE_BYTES ? decodeHandshake(head.subarray(4, HANDSHAKE_FRAME_BYTES)) : "not a handshake";
    if (typeof h !== "string" && h.from !== 0n) {
      c.from = h.from;
      this.#sources.add(c.from);
      if (h.to !== 0n) this.#targetId = h.to;
    }
    if (this.faultFor(c.from).blockUp) {
      // A blackholed dial: nothing reaches the target and no reply comes back; the dialer times out.
      c.poisoned.up = true;
      this.#stats.droppedUp += head.length;
      return;
    }
    const upstream = net.connect({ host: HOST, port: this.targetPort });
    c.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on("error", drop);
    upstream.on("close", drop);
    upstream.on("data", (chunk: Buffer) => {
      if (!c.closed) this.#forward(c, "down", chunk);
    });
    // Writes before "connect" are buffered by net.Socket.
    this.#forward(c, "up", head);
  }

  #forward(c: Conn, dir: Dir, chunk: Buffer): void {
    const f = this.faultFor(c.from);
    const blocked = dir === "up" ? f.blockUp : f.blockDown;
    if (blocked || c.poisoned[dir]) {
      // Once bytes were swallowed the stream can never be resumed intact: keep swallowing until healed.
      c.poisoned[dir] = true;
      if (dir === "up") this.#stats.droppedUp += chunk.length;
      else this.#stats.droppedDown += chunk.length;
      return;
    }
    if (dir === "up") this.#stats.bytesUp += chunk.length;
    else this.#stats.bytesDown += chunk.length;
    (dir === "up" ? c.up : c.down).push(chunk, f.delayMs ?? 0);
  }
}

/**
 * One FaultProxy per member, addressed by member index: the faults a nemesis needs, expressed as
 * rules on the directed links. Member ids are learned from the handshakes (see FaultProxy.targetId);
 * faults on specific links need them, so call waitForIds() once the cluster has formed.
 */
export class PeerNetwork {
  private constructor(readonly proxies: FaultProxy[]) {}

  /** Starts one proxy per real peer port; proxies[i].listenPort is the port member i must advertise. */
  static async start(realPeerPorts: number[], proxyPorts?: number[]): Promise<PeerNetwork> {
    const proxies: FaultProxy[] = [];
    for (let i = 0; i < realPeerPorts.length; i++) proxies.push(await FaultProxy.start({ targetPort: realPeerPorts[i], listenPort: proxyPorts?.[i] }));
    return new PeerNetwork(proxies);
  }

  get size(): number {
    return this.proxies.length;
  }

  get ports(): number[] {
    return this.proxies.map((p) => p.listenPort);
  }

  id(i: number): bigint {
    const id = this.proxies[i].targetId;
    if (id === undefined) throw new Error(`member ${i}'s id is not known yet (no handshake has reached proxy ${i})`);
    return id;
  }

  /** Waits (bounded) until every proxy has seen a handshake naming its member. */
  async waitForIds(timeoutMs = 10_000): Promise<bigint[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.proxies.some((p) => p.targetId === undefined)) {
      if (Date.now() > deadline) throw new Error(`member ids not learned within ${timeoutMs} ms: ${this.proxies.map((p) => p.targetId)}`);
      await Bun.sleep(50);
    }
    return this.proxies.map((p) => p.targetId!);
  }

  /** Drops the messages from member a to member b only (b → a keeps working). */
  partitionOneWay(from: number, to: number): void {
    this.proxies[to].setFault({ blockUp: true }, this.id(from));
  }

  /** Cuts the link between a and b both ways. */
  partition(a: number, b: number): void {
    this.partitionOneWay(a, b);
    this.partitionOneWay(b, a);
  }

  /** Member i neither hears from nor reaches anyone. */
  isolate(i: number): void {
    for (let j = 0; j < this.size; j++) if (j !== i) this.partition(i, j);
  }

  /** Member i hears nobody but can still send (inbound = true), or can still hear but not send. */
  isolateOneWay(i: number, inbound: boolean): void {
    for (let j = 0; j < this.size; j++) if (j !== i) (inbound ? this.partitionOneWay(j, i) : this.partitionOneWay(i, j));
  }

  /** Adds latency on every link into `to` (or on every link when omitted). */
  delay(ms: number, to?: number): void {
    for (let j = 0; j < this.size; j++) {
      if (to !== undefined && j !== to) continue;
      this.proxies[j].setFault({ ...this.proxies[j].faultFor(undefined), delayMs: ms });
    }
  }

  /** Closes every current peer connection (into `to`, or everywhere). */
  resetConnections(to?: number): number {
    let n = 0;
    for (let j = 0; j < this.size; j++) if (to === undefined || j === to) n += this.proxies[j].resetConnections();
    return n;
  }

  heal(): void {
    for (const p of this.proxies) p.heal();
  }

  stats(): ProxyStats[] {
    return this.proxies.map((p) => p.stats());
  }

  async close(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}
