// The peer network of the whole-server simulation: every member's Transport (src/server/core/transport.ts)
// over one in-memory network that loses, duplicates, delays (and so reorders) and partitions, all from
// the run's seed. Raft messages cross it encoded (raftpb, as on the wire); a database snapshot is copied
// as a file into the receiver's snapshot directory, as the peer transport's receiver stores it.
import { copyFileSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { seededRandom } from "../../../src/pkg/prng.ts";
import { decodeMessage, encodeMessage } from "../../../src/raft/codec.ts";
import { type Message, MessageType, type NodeId } from "../../../src/raft/types.ts";
import type { EtcdServer, PeerSnapshot, Transport } from "../../../src/server/core/server.ts";
import type { Clock } from "../../../src/pkg/clock.ts";
import type { FakeClock } from "./fake-clock.ts";

/** The network's faults; each link draws from its own seeded sequence, so links do not perturb each other. */
export interface NetworkFaults {
  /** Chance that a message (or a request, or a snapshot) is lost. */
  loss: number;
  /** Chance that a message is delivered twice. */
  dup: number;
  /** Usual one-way delay range, ms. */
  delayMs: [number, number];
  /** Chance of a long delay (which reorders it behind later messages), and its range. */
  slow: number;
  slowDelayMs: [number, number];
}

export const DEFAULT_FAULTS: NetworkFaults = { loss: 0.02, dup: 0.02, delayMs: [0.2, 2], slow: 0.05, slowDelayMs: [5, 40] };
export const NO_FAULTS: NetworkFaults = { loss: 0, dup: 0, delayMs: [0.2, 1], slow: 0, slowDelayMs: [1, 1] };

/** What the network needs of a member: the running server, if any (none while down or starting). */
export interface Endpoint {
  id: NodeId;
  /** The incarnation's server, once it has started and while it is alive. */
  server(): EtcdServer | null;
  /** The incarnation's clock (request timeouts die with it). */
  clock(): Clock;
  /** Bumps on every restart: a reply meant for an old incarnation is dropped. */
  incarnation(): number;
}

export class MemoryNetwork {
  readonly #clock: FakeClock;
  readonly #seed: number;
  readonly #endpoints = new Map<NodeId, Endpoint>();
  readonly #links = new Map<string, () => number>();
  /** Partition groups: members talk only within their group. Empty: fully connected. */
  #group = new Map<NodeId, number>();
  faults: NetworkFaults;
  stats = { sent: 0, delivered: 0, lost: 0, duplicated: 0, cut: 0, snapshots: 0, snapshotsFailed: 0, requests: 0 };

  constructor(clock: FakeClock, seed: number, faults: NetworkFaults) {
    this.#clock = clock;
    this.#seed = seed;
    this.faults = faults;
  }

  add(e: Endpoint): void {
    this.#endpoints.set(e.id, e);
  }

  /** Splits the members into groups (each a list of ids); members left out form one more group. */
  partition(groups: NodeId[][]): void {
    this.#group = new Map();
    groups.forEach((g, i) => {
      for (const id of g) this.#group.set(id, i);
    });
  }

  heal(): void {
    this.#group = new Map();
  }

  get partitioned(): boolean {
    return this.#group.size > 0;
  }

  connected(a: NodeId, b: NodeId): boolean {
    return (this.#group.get(a) ?? -1) === (this.#group.get(b) ?? -1);
  }

  /** The Transport one member incarnation uses: once that incarnation is dead, what it sends goes nowhere. */
  transport(from: NodeId): Transport {
    const e = this.#endpoints.get(from);
    if (!e) throw new Error(`MemoryNetwork: unknown member ${from.toString(16)}`);
    const inc = e.incarnation();
    return new MemoryTransport(this, from, () => e.incarnation() === inc && e.server() !== null);
  }

  // ---- used by MemoryTransport

  _send(from: NodeId, m: Message): void {
    this.stats.sent++;
    const bytes = encodeMessage(m);
    // A forwarded proposal is never duplicated: the peer transport's TCP streams do not duplicate, and
    // Raft (like etcd's) would append a duplicated proposal twice; its other messages it must tolerate.
    const copies = this.#fate(from, m.to, m.type !== MessageType.Prop);
    for (const delay of copies) {
      this.#clock.after(delay, () => {
        const to = this.#reachable(from, m.to);
        if (!to) {
          this.#unreachable(from, m.to);
          return;
        }
        this.stats.delivered++;
        to.receive(decodeMessage(bytes));
      });
    }
  }

  _sendSnapshot(from: NodeId, m: Message, db: PeerSnapshot): void {
    this.stats.snapshots++;
    const sender = this.#endpoints.get(from)!;
    const inc = sender.incarnation();
    const report = (ok: boolean) => {
      if (!ok) this.stats.snapshotsFailed++;
      const s = sender.server();
      if (s && sender.incarnation() === inc) s.reportSnapshot(m.to, ok);
    };
    const bytes = encodeMessage(m);
    const [delay] = this.#fate(from, m.to);
    if (delay === undefined) {
      this.#clock.after(this.#delay(this.#link(from, m.to)), () => report(false));
      return;
    }
    this.#clock.after(delay, () => {
      const to = this.#reachable(from, m.to);
      // The sender may have replaced its copy meanwhile (a newer one, or its 30 s reuse ran out).
      if (!to || !existsSync(db.path) || statSync(db.path).size !== db.size) return report(false);
      const path = join(to.snapshotDir, `received-${from.toString(16)}-${m.snapshot?.meta.index ?? 0}.db`);
      copyFileSync(db.path, path);
      to.receiveSnapshot(decodeMessage(bytes), path);
      report(true);
    });
  }

  _request(from: NodeId, id: NodeId, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    this.stats.requests++;
    const sender = this.#endpoints.get(from)!;
    const inc = sender.incarnation();
    return new Promise<Uint8Array>((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        f();
      };
      sender.clock().after(timeoutMs, () => settle(() => reject(new Error(`request to ${id.toString(16)} timed out`))));
      const [there] = this.#fate(from, id);
      if (there === undefined) return;
      const body2 = new Uint8Array(body);
      this.#clock.after(there, () => {
        const to = this.#reachable(from, id);
        if (!to) return;
        to.answerPeer({ from, clusterId: to.clusterId, body: body2 }).then(
          (answer) => {
            const [back] = this.#fate(id, from);
            if (back === undefined) return;
            this.#clock.after(back, () => {
              if (sender.incarnation() === inc && this.connected(from, id)) settle(() => resolve(new Uint8Array(answer)));
            });
          },
          (err) => {
            const [back] = this.#fate(id, from);
            if (back === undefined) return;
            this.#clock.after(back, () => {
              if (sender.incarnation() === inc && this.connected(from, id)) settle(() => reject(err));
            });
          },
        );
      });
    });
  }

  /** The delays of the copies of one message on from→to (none: lost), drawn from that link's sequence. */
  #fate(from: NodeId, to: NodeId, mayDuplicate = false): number[] {
    const rnd = this.#link(from, to);
    const f = this.faults;
    if (rnd() < f.loss) {
      this.stats.lost++;
      return [];
    }
    const out = [this.#delay(rnd)];
    if (rnd() < f.dup && mayDuplicate) {
      this.stats.duplicated++;
      out.push(this.#delay(rnd));
    }
    return out;
  }

  #delay(rnd: () => number): number {
    const f = this.faults;
    const [lo, hi] = rnd() < f.slow ? f.slowDelayMs : f.delayMs;
    return lo + rnd() * (hi - lo);
  }

  #link(from: NodeId, to: NodeId): () => number {
    const key = `${from}>${to}`;
    let r = this.#links.get(key);
    if (!r) {
      r = seededRandom(hashLink(this.#seed, from, to));
      this.#links.set(key, r);
    }
    return r;
  }

  /** The receiving server when from and to are connected and to is up. */
  #reachable(from: NodeId, to: NodeId): EtcdServer | null {
    if (!this.connected(from, to)) {
      this.stats.cut++;
      return null;
    }
    return this.#endpoints.get(to)?.server() ?? null;
  }

  /** The peer transport tells Raft a peer it cannot reach (so it probes rather than streams to it). */
  #unreachable(from: NodeId, to: NodeId): void {
    this.#endpoints.get(from)?.server()?.reportUnreachable(to);
  }
}

class MemoryTransport implements Transport {
  readonly #net: MemoryNetwork;
  readonly #from: NodeId;
  readonly #alive: () => boolean;

  constructor(net: MemoryNetwork, from: NodeId, alive: () => boolean) {
    this.#net = net;
    this.#from = from;
    this.#alive = alive;
  }

  send(msgs: Message[]): void {
    if (!this.#alive()) return;
    for (const m of msgs) this.#net._send(this.#from, m);
  }

  sendSnapshot(m: Message, db: PeerSnapshot): void {
    if (this.#alive()) this.#net._sendSnapshot(this.#from, m, db);
  }

  request(id: NodeId, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (!this.#alive()) return new Promise(() => {});
    return this.#net._request(this.#from, id, body, timeoutMs);
  }

  addPeer(): void {}

  removePeer(): void {}
}

function hashLink(seed: number, from: NodeId, to: NodeId): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [from & 0xffffffffn, from >> 32n, to & 0xffffffffn, to >> 32n]) {
    h = Math.imul(h ^ Number(v & 0xffffffffn), 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
  }
  return h;
}
