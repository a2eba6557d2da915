// The whole-server simulation: 3 or 5 real EtcdServers in this process, driven by one seeded
// scheduler over a fake clock (fake-clock.ts), in-memory WALs that lose their unsynced tail in a crash
// (memory-wal.ts), SQLite files in a temp dir, and an in-memory peer network with loss, duplication,
// delay and partitions (memory-transport.ts). Simulated clients (clients.ts) call the servers' API and
// the run is recorded as a History (history.ts) for the checkers.
//
// Determinism: nothing in the servers runs unless the scheduler lets it. Each step is one decision
// drawn from the seed (fire the next timer — a tick, a message delivery, an fsync completion —, a
// client operation, a crash, a partition...), and after each the scheduler drains: every microtask,
// then the server's setImmediate work one callback at a time (immediates.ts), and — the only real
// I/O left, the .snap files a checkpoint writes — waits for that before anything else runs.
//
// Crashes: the failpoint hook (ServerOptions.failpoint) throws a SimCrash at the failpoint armed for
// the member; the Ready loop then calls `fatal`, and the member dies as kill -9 would leave it: its
// database's open transaction rolled back (Backend.abandon), its WAL cut back to what was fsynced
// (plus, sometimes, a torn prefix of the rest), its timers gone. It restarts later on the same files.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { Backend } from "../../../src/backend/backend.ts";
import { EventType } from "../../../src/mvcc/event.ts";
import { seededRandom } from "../../../src/pkg/prng.ts";
import { RAFT_NODE_FAILPOINTS } from "../../../src/server/core/raft-node.ts";
import { bootstrapMembers } from "../../../src/server/core/membership.ts";
import { EtcdServer, type ServerOptions } from "../../../src/server/core/server.ts";
import { kv as kvValue, SimClients } from "./clients.ts";
import { FakeClock, type ScopedClock } from "./fake-clock.ts";
import type { FaultRecord, History, KvValue, MemberSnapshot, Operation } from "./history.ts";
import { checkpointIoPending, drainTurns, ImmediateQueue } from "./immediates.ts";
import { describeError, runDir } from "./temp-dir.ts";
import { DEFAULT_FAULTS, MemoryNetwork, NO_FAULTS } from "./memory-transport.ts";
import { type MemoryWal, MemoryWalDisk } from "./memory-wal.ts";

export type UnsafeBug = NonNullable<ServerOptions["unsafeBug"]>;
export const UNSAFE_BUGS: readonly UnsafeBug[] = ["ack-before-fsync", "apply-twice-after-restart", "watch-skip-on-compaction"];

/** Every named point where the simulation may crash a member (raft-node, apply, checkpoint, WAL fsync). */
export const SIM_FAILPOINTS: readonly string[] = [
  ...RAFT_NODE_FAILPOINTS,
  "applyBeforeCommit",
  "applyAfterCommit",
  "raftBeforeSaveSnap",
  "raftAfterSaveSnap",
  "raftAfterWALRelease",
  "wal-before-sync",
  "wal-after-sync",
];

export interface ServerSimOptions {
  seed: number;
  /** 3 or 5. */
  members?: number;
  /** Scheduler decisions before the faults stop and the cluster settles. */
  steps?: number;
  /** TESTS ONLY: a planted server bug (ServerOptions.unsafeBug) the run should expose. */
  bug?: UnsafeBug;
  /** Lines about what happens (crashes, restarts, partitions, violations), for reading one seed. */
  trace?: (line: string) => void;
}

export interface ServerSimResult {
  seed: number;
  members: number;
  steps: number;
  history: History;
  /** sha256 of the history in a canonical form: the same seed gives the same digest. */
  digest: string;
  /** What the simulation itself saw go wrong (a member that died of a real error, a failed restart, divergence...). */
  violations: string[];
  /** Final state of the keys (one member's, after settling), for the smoke check. */
  finalKvs: KvValue[];
  stats: Record<string, unknown>;
}

/** Thrown by the failpoint hook (and fed to a failing fsync) to kill a member there; never leaves the simulation. */
export class SimCrash extends Error {
  constructor(readonly at: string) {
    super(`simulated crash at ${at}`);
    this.name = "SimCrash";
  }
}

const HEARTBEAT_MS = 20;
export const ELECTION_MS = 200;
/** Starting the fake clock at a real-looking epoch keeps request and lease ids like production's. */
const EPOCH_MS = 1_700_000_000_000;
/** The settle phase: how long the healed cluster may take to agree, in fake ms. */
const SETTLE_MS = 6_000;
/** After agreeing, how long the clients' last operations may take to come back, in fake ms. */
const SETTLE_PENDING_MS = 500;
/** Events one step may fire at most (a bound on every loop). */
const EVENTS_PER_STEP_MAX = 5_000;

interface Incarnation {
  no: number;
  clock: ScopedClock;
  backends: Backend[];
  wal: MemoryWal | null;
  server: EtcdServer | null;
  state: "starting" | "up" | "dead";
  /**
   * It published itself (server.ready): only then do clients reach it, as the binary holds client
   * connections until then (server/embed.ts). Before, a restarted member may not have re-applied what
   * it served before the crash, and a client would see its revision go back.
   */
  serving: boolean;
  /** The Ready loop ended (fatal was called): nothing of this incarnation runs any more. */
  loopDead: boolean;
  armed: { name: string; skip: number } | null;
  /** Between raftBeforeSaveSnap and raftAfterWALRelease: the checkpoint writes real .snap files. */
  ioWindow: boolean;
  /** Leases this incarnation has shown, with its revision when it last did (gone after that: revoked here). */
  leasesSeen: Map<bigint, bigint>;
  /**
   * Lease → revisions at which only keys it held were deleted, from an internal watch: a revoke
   * deletes all of a lease's keys in one revision, and nothing else.
   */
  leaseDeletes: Map<bigint, bigint[]>;
}

interface Slot {
  index: number;
  name: string;
  id: bigint;
  dataDir: string;
  disk: MemoryWalDisk;
  diskRandom: () => number;
  inc: Incarnation | null;
  /** Every incarnation so far (the current one last). */
  incs: Incarnation[];
  incNo: number;
  cancelRestart: (() => void) | null;
}

export async function runServerSim(o: ServerSimOptions): Promise<ServerSimResult> {
  const sim = new SimCluster(o);
  return sim.run();
}

export class SimCluster {
  readonly #o: Required<Omit<ServerSimOptions, "bug" | "trace">> & Pick<ServerSimOptions, "bug" | "trace">;
  readonly #rng: () => number;
  readonly #clock = new FakeClock(EPOCH_MS);
  readonly #immediates = new ImmediateQueue();
  readonly #net: MemoryNetwork;
  readonly #slots: Slot[] = [];
  readonly #history: History;
  readonly #clients: SimClients;
  readonly #violations: string[] = [];
  readonly #faults: FaultRecord[] = [];
  #root = "";
  /**
   * How hard this seed's faults come (per step): drawn from the seed, so some runs are calm enough
   * for leases to expire and watches to live long, others crash a member every few steps.
   */
  readonly #profile: { crash: number; powerLoss: number; partition: number; slowDisk: number };
  #initialCluster = new Map<string, string[]>();
  #cancelHeal: (() => void) | null = null;
  #faultsOn = true;
  readonly #leases = new Map<bigint, { grantedAtMs: number; ttlSeconds: number; lastKeepAliveMs: number; revokedByClient: boolean; expired: boolean }>();
  #stats = { steps: 0, events: 0, crashes: 0, restarts: 0, partitions: 0, failpointHits: {} as Record<string, number>, crashesAt: {} as Record<string, number>, settleMs: 0, settleEvents: 0, phaseMs: {} as Record<string, number> };

  constructor(o: ServerSimOptions) {
    this.#o = { members: 3, steps: 400, ...o };
    this.#rng = seededRandom(o.seed);
    const pick = <T>(xs: T[]) => xs[Math.floor(this.#rng() * xs.length)];
    this.#profile = {
      crash: pick([0.005, 0.02, 0.05]),
      powerLoss: pick([0, 0.003, 0.01]),
      partition: pick([0.005, 0.02, 0.04]),
      slowDisk: pick([0.05, 0.2, 0.5]),
    };
    this.#net = new MemoryNetwork(this.#clock, o.seed, DEFAULT_FAULTS);
    this.#history = { seed: o.seed, operations: [], watches: [], leaseExpiries: [], members: [], faults: this.#faults };
    this.#clients = new SimClients({
      random: seededRandom(o.seed ^ 0x5eed),
      now: () => this.#clock.now(),
      history: this.#history,
      clients: this.#o.members + 2,
      keys: ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"],
      members: () => this.#up().filter((s) => s.inc!.serving).map((s) => ({ id: s.id, server: s.inc!.server! })),
      changed: (op) => this.#leaseOp(op),
      after: (ms, fn) => void this.#clock.after(ms, fn),
      deadlineMs: [ELECTION_MS * 2, ELECTION_MS * 6],
    });
    this.#immediates.onError = (err) => this.#violation(`uncaught error in a setImmediate callback: ${describeError(err)}`);
  }

  async run(): Promise<ServerSimResult> {
    const t0 = performance.now();
    this.#root = runDir("etcd-ts-server-sim");
    const onUnhandled = (err: unknown) => {
      if (!(err instanceof SimCrash)) this.#violation(`unhandled rejection: ${describeError(err)}`);
    };
    process.on("unhandledRejection", onUnhandled);
    this.#immediates.install();
    let finalKvs: KvValue[] = [];
    try {
      this.#createSlots();
      const phase = (name: string, t: number) => (this.#stats.phaseMs[name] = Math.round(performance.now() - t));
      let t = performance.now();
      for (const s of this.#slots) this.#start(s);
      await this.#runFor(ELECTION_MS * 3, () => this.#slots.every((s) => s.inc?.state === "up"));
      phase("start", t);
      t = performance.now();
      for (let step = 0; step < this.#o.steps && !this.#stopEarly(); step++) {
        this.#stats.steps++;
        await this.#step();
      }
      phase("steps", t);
      t = performance.now();
      if (!this.#stopEarly()) finalKvs = await this.#settle();
      this.#clients.finish();
      phase("settle", t);
      t = performance.now();
      await this.#stopAll();
      phase("stop", t);
    } finally {
      this.#immediates.uninstall();
      process.off("unhandledRejection", onUnhandled);
      this.#killAll();
      rmSync(this.#root, { recursive: true, force: true });
    }
    this.#history.leaseExpiries.sort((a, b) => (a.leaseId < b.leaseId ? -1 : a.leaseId > b.leaseId ? 1 : 0));
    const wal = { syncs: 0, tornTails: 0, repairs: 0 };
    for (const s of this.#slots) for (const k of Object.keys(wal) as (keyof typeof wal)[]) wal[k] += s.disk.stats[k];
    return {
      seed: this.#o.seed,
      members: this.#o.members,
      steps: this.#o.steps,
      history: this.#history,
      digest: digest(this.#history),
      violations: this.#violations,
      finalKvs,
      stats: { ...this.#stats, profile: this.#profile, clients: this.#clients.stats, net: this.#net.stats, wal, fakeMs: this.#clock.now() - EPOCH_MS, realMs: Math.round(performance.now() - t0) },
    };
  }

  // ---- members

  #createSlots(): void {
    const names = Array.from({ length: this.#o.members }, (_, i) => `m${i}`);
    const initialCluster = new Map(names.map((n, i) => [n, [`http://127.0.0.1:${23800 + i}`]]));
    const boot = bootstrapMembers(initialCluster, "etcd-ts-sim");
    for (const [i, name] of names.entries()) {
      const dataDir = join(this.#root, name);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const slot: Slot = {
        index: i,
        name,
        id: boot.members[i].id,
        dataDir,
        disk: new MemoryWalDisk(4096),
        diskRandom: seededRandom(this.#o.seed * 31 + i + 1),
        inc: null,
        incs: [],
        incNo: 0,
        cancelRestart: null,
      };
      this.#slots.push(slot);
      this.#net.add({
        id: slot.id,
        server: () => (slot.inc?.state === "up" ? slot.inc.server : null),
        clock: () => slot.inc?.clock ?? this.#clock,
        incarnation: () => slot.incNo,
      });
    }
    this.#initialCluster = initialCluster;
  }

  #options(slot: Slot, inc: Incarnation): ServerOptions {
    return {
      name: slot.name,
      dataDir: slot.dataDir,
      initialAdvertisePeerUrls: this.#initialCluster.get(slot.name)!,
      advertiseClientUrls: [`http://127.0.0.1:${23900 + slot.index}`],
      initialClusterToken: "etcd-ts-sim",
      initialCluster: this.#initialCluster,
      heartbeatIntervalMs: HEARTBEAT_MS,
      electionTimeoutMs: ELECTION_MS,
      maxRequestBytes: 1 << 20,
      maxTxnOps: 128,
      // Small, so checkpoints, WAL purges and snapshots to lagging followers happen in every run.
      snapshotCount: 30,
      snapshotCatchupEntries: 10,
      walSegmentBytes: 4096,
      maxWals: 2,
      maxSnapshots: 2,
      log: () => {},
      // The lowest cost: each start hashes a dummy password (in setImmediate slices).
      auth: { bcryptCost: 4 },
      clock: inc.clock,
      failpoint: (name) => this.#failpoint(slot, inc, name),
      openWal: async (_dir, opts) => {
        const r = slot.disk.open(opts, () => this.#walPending(slot, inc));
        inc.wal = r.wal;
        return r;
      },
      openBackend: (path) => {
        const b = new Backend(path, { clock: inc.clock });
        inc.backends.push(b);
        return b;
      },
      unsafeBug: this.#o.bug,
    };
  }

  #start(slot: Slot): void {
    slot.cancelRestart?.();
    slot.cancelRestart = null;
    if (slot.inc && slot.inc.state !== "dead") return;
    const inc: Incarnation = {
      no: ++slot.incNo,
      clock: this.#clock.scope(),
      backends: [],
      wal: null,
      server: null,
      state: "starting",
      serving: false,
      loopDead: false,
      armed: null,
      ioWindow: false,
      leasesSeen: new Map(),
      leaseDeletes: new Map(),
    };
    slot.inc = inc;
    slot.incs.push(inc);
    inc.clock.onError = (err) => {
      if (inc.state !== "dead") this.#violation(`${slot.name}: a timer threw: ${describeError(err)}`);
    };
    if (slot.incNo > 1) {
      this.#stats.restarts++;
      this.#fault({ kind: "restart", member: slot.id });
    }
    EtcdServer.start(this.#options(slot, inc), (err) => this.#fatal(slot, inc, err)).then(
      (server) => {
        inc.server = server;
        if (inc.state === "dead") {
          // Killed while starting (an fsync of its bootstrap failed): it never served anyone.
          return;
        }
        inc.state = "up";
        this.#trace(`${slot.name} is up (incarnation ${inc.no}, applied ${server.status().raftAppliedIndex}, revision ${server.header().revision})`);
        server.setTransport(this.#net.transport(slot.id));
        void server.ready.then(() => (inc.serving = true));
        this.#watchLeaseDeletes(inc);
      },
      (err) => {
        if (err instanceof SimCrash) return this.#teardown(slot, inc, err.at);
        this.#violation(`${slot.name} failed to ${slot.incNo > 1 ? "restart" : "start"}: ${describeError(err)}`);
        this.#teardown(slot, inc, "failed start", false);
        inc.clock.cancelAll();
      },
    );
  }

  /** The member's failpoint hook: counts the hit, tracks the checkpoint's real-I/O window, crashes when armed. */
  #failpoint(slot: Slot, inc: Incarnation, name: string): void {
    this.#stats.failpointHits[name] = (this.#stats.failpointHits[name] ?? 0) + 1;
    // A member already dead for the world (its fsync failed) stops at the first step it takes.
    if (inc.state === "dead") throw new SimCrash(name);
    if (name === "raftBeforeSaveSnap") inc.ioWindow = true;
    if (name === "raftAfterApplySnap") this.#trace(`${slot.name} installed a snapshot from the leader (applied ${inc.server?.status().raftAppliedIndex})`);
    if (name === "raftAfterWALRelease") inc.ioWindow = false;
    const a = inc.armed;
    if (a && a.name === name && a.skip-- <= 0) {
      inc.armed = null;
      inc.ioWindow = false;
      this.#stats.crashesAt[name] = (this.#stats.crashesAt[name] ?? 0) + 1;
      this.#trace(`${slot.name} crashes at ${name}`);
      // A kill is instant: nothing this member still had buffered (watch events of the apply being
      // cut short, replies) reaches a client, although the simulated process unwinds a little longer.
      this.#clients.memberDown(slot.id, `member crashed (${name})`);
      throw new SimCrash(name);
    }
  }

  /** An append waits for an fsync: it completes after a short (seeded) disk latency. */
  #walPending(slot: Slot, inc: Incarnation): void {
    // Usually fast; sometimes slow (tens of ms: much written, not yet durable), how often by the seed's profile.
    const r = slot.diskRandom;
    const latency = r() >= this.#profile.slowDisk ? 0.1 + r() * 2 : 2 + r() * 40;
    this.#clock.after(latency, () => this.#sync(slot, inc));
  }

  #sync(slot: Slot, inc: Incarnation): void {
    const wal = inc.wal;
    if (inc.state === "dead" || !wal || wal.dead) return;
    const a = inc.armed;
    const crashHere = (name: string) => {
      if (!a || a.name !== name || a.skip-- > 0) return false;
      inc.armed = null;
      this.#stats.crashesAt[name] = (this.#stats.crashesAt[name] ?? 0) + 1;
      this.#trace(`${slot.name} crashes at ${name}`);
      return true;
    };
    this.#stats.failpointHits["wal-before-sync"] = (this.#stats.failpointHits["wal-before-sync"] ?? 0) + 1;
    // The fsync fails under the member: its Ready loop dies of it (and calls fatal); the world sees it dead now.
    if (crashHere("wal-before-sync")) {
      wal.failPending(new SimCrash("wal-before-sync"));
      return this.#teardown(slot, inc, "wal-before-sync");
    }
    const done = wal.sync();
    if (!done) return;
    this.#stats.failpointHits["wal-after-sync"] = (this.#stats.failpointHits["wal-after-sync"] ?? 0) + 1;
    if (crashHere("wal-after-sync")) {
      done.fail(new SimCrash("wal-after-sync"));
      return this.#teardown(slot, inc, "wal-after-sync");
    }
    done.ack();
  }

  /** The Ready loop ended: by a SimCrash (a simulated kill) or by a real error (a server bug). */
  #fatal(slot: Slot, inc: Incarnation, err: unknown): void {
    inc.loopDead = true;
    // A member already killed may trip over its own closed files on the way down.
    if (!(err instanceof SimCrash) && inc.state !== "dead") this.#violation(`${slot.name} stopped on an error: ${describeError(err)}`);
    this.#teardown(slot, inc, err instanceof SimCrash ? err.at : "error");
    inc.clock.cancelAll();
  }

  /** What kill -9 leaves of the member: nothing runs for the world, the disk holds what was durable. */
  #teardown(slot: Slot, inc: Incarnation, at: string, restart = true): void {
    if (inc.state === "dead") return;
    inc.state = "dead";
    inc.ioWindow = false;
    inc.armed = null;
    this.#stats.crashes++;
    this.#fault({ kind: "crash", member: slot.id, detail: at });
    this.#clients.memberDown(slot.id, `member crashed (${at})`);
    try {
      inc.server?.watchHub.close();
    } catch {}
    for (const b of inc.backends) b.abandon();
    slot.disk.crash(slot.diskRandom, 0.5);
    // A loop still running (a server that does not wait for its fsyncs) dies at its next failpoint;
    // until then its timers run, so that it gets there.
    if (inc.loopDead || !inc.server) inc.clock.cancelAll();
    if (restart && this.#faultsOn) {
      slot.cancelRestart = this.#clock.after(20 + this.#rng() * 300, () => this.#start(slot));
    } else if (restart) this.#start(slot);
  }

  /** An internal watch (all keys, deletes only, with previous values) that tells which revision each lease's revoke took its keys at. */
  #watchLeaseDeletes(inc: Incarnation): void {
    const stream = inc.server!.watchHub.newStream();
    stream.watch({ key: new Uint8Array([0]), end: new Uint8Array([0]), noPut: true, prevKv: true });
    let scheduled = false;
    const take = () => {
      scheduled = false;
      for (let b = stream.take(); b; b = stream.take()) {
        const leases = new Set(b.events.map((ev) => (ev.type === EventType.DELETE ? (ev.prevKv?.lease ?? 0n) : 0n)));
        const [lease] = leases;
        if (leases.size !== 1 || lease === 0n || b.events.length === 0) continue;
        const revs = inc.leaseDeletes.get(lease) ?? [];
        revs.push(b.events[0].kv.modRevision);
        inc.leaseDeletes.set(lease, revs);
      }
    };
    stream.onReady = () => {
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(take);
    };
  }

  #up(): Slot[] {
    return this.#slots.filter((s) => s.inc?.state === "up");
  }

  // ---- the scheduler

  async #step(): Promise<void> {
    const p = this.#profile;
    let r = this.#rng();
    if ((r -= 0.5) < 0) await this.#advance(1 + this.#rng() * 25);
    else if ((r -= 0.28) < 0) this.#clients.issue();
    else if ((r -= 0.06) < 0) this.#clients.watch();
    else if ((r -= 0.01) < 0) this.#clients.cancelWatch();
    else if ((r -= p.crash) < 0) this.#armCrash();
    else if ((r -= p.powerLoss) < 0) this.#powerLoss();
    else if ((r -= p.partition) < 0) this.#partition();
    else await this.#advance(this.#rng() * 3);
    await this.#drain();
  }

  /** Fires every timer up to now + ms, one at a time, draining after each. */
  async #advance(ms: number): Promise<void> {
    const until = this.#clock.now() + ms;
    for (let n = 0; n < EVENTS_PER_STEP_MAX; n++) {
      let fired: boolean;
      try {
        fired = this.#clock.fireNext(until);
      } catch (err) {
        this.#violation(`a delivery or timer threw: ${describeError(err)}`);
        fired = true;
      }
      if (!fired) break;
      this.#stats.events++;
      await this.#drain();
    }
    this.#clock.advanceTo(until);
    this.#observeLeases();
  }

  /** Runs time forward until done() or ms pass. */
  async #runFor(ms: number, done: () => boolean): Promise<boolean> {
    const until = this.#clock.now() + ms;
    while (this.#clock.now() < until) {
      if (done()) return true;
      await this.#advance(Math.min(HEARTBEAT_MS, until - this.#clock.now()));
    }
    return done();
  }

  /** Lets everything that can run without time passing run, in a fixed order (immediates.ts). */
  #drain(): Promise<void> {
    const live = () => this.#slots.map((s) => (s.inc && s.inc.state !== "dead" ? s.inc : null));
    return drainTurns(this.#immediates, () => checkpointIoPending(live()), () => this.#violation("a checkpoint's file I/O did not finish"));
  }

  #armCrash(): void {
    if (!this.#faultsOn) return;
    const candidates = this.#slots.filter((s) => s.inc && s.inc.state !== "dead" && !s.inc.armed);
    if (!candidates.length) return;
    const s = candidates[Math.floor(this.#rng() * candidates.length)];
    const name = SIM_FAILPOINTS[Math.floor(this.#rng() * SIM_FAILPOINTS.length)];
    s.inc!.armed = { name, skip: Math.floor(this.#rng() * 3) };
  }

  /**
   * Several members lose power at once (a rack): each dies where it stands, keeping only what it had
   * fsynced. Their Ready loops, if running, stop at their next failpoint.
   */
  #powerLoss(): void {
    if (!this.#faultsOn) return;
    const live = this.#slots.filter((s) => s.inc && s.inc.state !== "dead");
    if (!live.length) return;
    for (let i = live.length - 1; i > 0; i--) {
      const j = Math.floor(this.#rng() * (i + 1));
      [live[i], live[j]] = [live[j], live[i]];
    }
    // Half the time the whole cluster (a data centre's power), else some of it (a rack).
    const hit = this.#rng() < 0.5 ? live : live.slice(0, 1 + Math.floor(this.#rng() * live.length));
    this.#trace(`power loss: ${hit.map((s) => s.name).join(", ")}`);
    for (const s of hit) {
      this.#stats.crashesAt["power-loss"] = (this.#stats.crashesAt["power-loss"] ?? 0) + 1;
      s.inc!.wal?.failPending(new SimCrash("power-loss"));
      this.#teardown(s, s.inc!, "power-loss");
    }
  }

  #partition(): void {
    if (!this.#faultsOn || this.#net.partitioned) return;
    const ids = this.#slots.map((s) => s.id);
    let groups: bigint[][];
    if (this.#rng() < 0.5) {
      const lone = ids[Math.floor(this.#rng() * ids.length)];
      groups = [[lone], ids.filter((x) => x !== lone)];
    } else {
      const a: bigint[] = [];
      const b: bigint[] = [];
      for (const id of ids) (this.#rng() < 0.5 ? a : b).push(id);
      groups = [a, b];
    }
    this.#net.partition(groups);
    this.#stats.partitions++;
    const detail = groups.map((g) => g.map((id) => this.#name(id)).join(",")).join(" | ");
    this.#fault({ kind: "partition", detail });
    this.#trace(`partition ${detail}`);
    this.#cancelHeal = this.#clock.after(50 + this.#rng() * 400, () => this.#heal());
  }

  #heal(): void {
    this.#cancelHeal?.();
    this.#cancelHeal = null;
    if (!this.#net.partitioned) return;
    this.#net.heal();
    this.#fault({ kind: "heal" });
    this.#trace("heal");
  }

  // ---- leases

  /** A client operation went out or came back: what the lease bookkeeping needs of it. */
  #leaseOp(op: Operation): void {
    const o = op.op;
    if (o.kind === "leaseGrant") {
      const id = o.leaseId!;
      let l = this.#leases.get(id);
      if (!l) this.#leases.set(id, (l = { grantedAtMs: op.startMs, ttlSeconds: o.ttlSeconds, lastKeepAliveMs: op.startMs, revokedByClient: false, expired: false }));
      if (op.outcome?.type === "ok" && op.outcome.result.kind === "leaseGrant") l.ttlSeconds = op.outcome.result.ttlSeconds;
      if (op.outcome?.type === "error") this.#leases.delete(id); // surely never granted
    } else if (o.kind === "leaseRevoke") {
      const l = this.#leases.get(o.leaseId);
      if (l) l.revokedByClient = true; // from the moment it is sent, a revoke may take it away
    } else if (o.kind === "leaseKeepAlive" && op.outcome?.type === "ok" && op.outcome.result.kind === "leaseKeepAlive" && op.outcome.result.ttlSeconds > 0) {
      const l = this.#leases.get(o.leaseId);
      if (l && op.startMs > l.lastKeepAliveMs) l.lastKeepAliveMs = op.startMs;
    }
  }

  /**
   * After every stretch of time (at most 25 ms of simulated time: an expiry is seen at most that
   * late): a lease that no client revoked expired when a member shows it no more that showed it
   * before, or that deleted its keys since it came up (it may have replayed the revoke).
   */
  #observeLeases(): void {
    let watched = false;
    for (const l of this.#leases.values()) if (!l.expired && !l.revokedByClient) watched = true;
    if (!watched) return;
    for (const s of this.#up()) {
      const inc = s.inc!;
      const present = new Set(inc.server!.leaseIds());
      const rev = inc.server!.header().revision;
      for (const [id, l] of this.#leases) {
        if (l.expired || l.revokedByClient) continue;
        if (present.has(id)) {
          inc.leasesSeen.set(id, rev);
          continue;
        }
        const seenAt = inc.leasesSeen.get(id) ?? 0n;
        // Its keys, deleted since it was last seen, went with its revoke; a revoke of a lease without keys makes no revision.
        const deletedAt = (inc.leaseDeletes.get(id) ?? []).filter((r) => r > seenAt).at(-1);
        if (!inc.leasesSeen.has(id) && deletedAt === undefined) continue;
        l.expired = true;
        this.#history.leaseExpiries.push({
          leaseId: id,
          grantedAtMs: l.grantedAtMs,
          ttlSeconds: l.ttlSeconds,
          lastKeepAliveMs: l.lastKeepAliveMs,
          expiredRevision: deletedAt ?? rev,
          expiredAtMs: this.#clock.now(),
        });
      }
    }
  }

  // ---- the end

  /** No more faults: heal, restart everyone, and let the cluster agree; then record each member. */
  async #settle(): Promise<KvValue[]> {
    this.#faultsOn = false;
    this.#net.faults = NO_FAULTS;
    this.#heal();
    for (const s of this.#slots) {
      if (s.inc) s.inc.armed = null;
      if (!s.inc || s.inc.state === "dead") this.#start(s);
    }
    const t0 = this.#clock.now();
    const events0 = this.#stats.events;
    const agreed = () => {
      if (this.#slots.some((s) => s.inc?.state !== "up")) return false;
      const st = this.#slots.map((s) => s.inc!.server!.status());
      const leader = st.find((x) => x.leader !== 0n && x.leader === x.header.memberId);
      return !!leader && st.every((x) => x.leader === leader.leader && x.raftAppliedIndex === BigInt(leader.raftIndex) && x.raftAppliedIndex === st[0].raftAppliedIndex);
    };
    // Agreeing on the leader's commit is not enough: a new leader may not have committed an entry of
    // its term yet, and entries of earlier terms it holds (acknowledged writes among them) commit only
    // with one. A linearizable read waits for exactly that (ReadIndex), then everyone must catch up.
    // A read that fails (leadership moved while it waited) is tried again, as a client would.
    const deadline = this.#clock.now() + SETTLE_MS;
    let ok = false;
    while (!ok && this.#clock.now() < deadline) {
      if (!(await this.#runFor(deadline - this.#clock.now(), agreed))) break;
      const leader = this.#slots.find((s) => s.inc!.server!.leader === s.id)?.inc!.server;
      const read = leader ? await this.#await(leader.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), countOnly: true })) : { ok: false };
      if (read.ok) ok = await this.#runFor(Math.max(0, deadline - this.#clock.now()), agreed);
      else await this.#runFor(HEARTBEAT_MS, () => false);
    }
    // The clients' last operations may still come back (or time out); a little longer for them.
    if (ok && this.#clients.pending > 0) {
      await this.#runFor(SETTLE_PENDING_MS, () => this.#clients.pending === 0);
      ok = await this.#runFor(SETTLE_MS, agreed); // what they wrote meanwhile must reach everyone too
    }
    this.#stats.settleMs = this.#clock.now() - t0;
    this.#stats.settleEvents = this.#stats.events - events0;
    if (!ok) {
      const st = this.#slots.map((s) => (s.inc?.state === "up" ? `${s.name}: applied ${s.inc.server!.status().raftAppliedIndex} commit ${s.inc.server!.status().raftIndex} leader ${this.#name(s.inc.server!.leader)}` : `${s.name}: ${s.inc?.state ?? "never started"}`));
      this.#violation(`the cluster did not settle within ${SETTLE_MS} ms after the faults stopped (${st.join("; ")})`);
      return [];
    }
    // Members that applied the same index hold the same revision; each is hashed at it (time moves on
    // while the hashes are computed, and a lease may expire meanwhile).
    const servers = this.#slots.map((s) => s.inc!.server!);
    // Asked for in one synchronous stretch, so each hashes (and the read sees) the revision it holds now.
    const hashing = Promise.all(servers.map((x) => x.hashKV(0n)));
    const reading = servers[0].range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), serializable: true });
    const hashes = await this.#await(hashing);
    if (!hashes.ok) {
      this.#violation(`HashKV failed: ${describeError(hashes.error)}`);
      return [];
    }
    const snaps: MemberSnapshot[] = hashes.value.map((h, i) => ({ member: this.#slots[i].id, revision: h.header.revision, compactRevision: h.compactRevision, hash: h.hash }));
    this.#history.members = snaps;
    // Members that applied the same index must hold the same revision and data.
    if (snaps.some((m) => m.revision !== snaps[0].revision || m.hash !== snaps[0].hash || m.compactRevision !== snaps[0].compactRevision)) {
      const each = snaps.map((x) => `${this.#name(x.member)} revision ${x.revision} hash ${x.hash} compacted at ${x.compactRevision}`).join(", ");
      this.#violation(`members diverged at one applied index: ${each}; ${await this.#divergence(servers, snaps)}`);
    }
    const all = await this.#await(reading);
    if (!all.ok) {
      this.#violation(`final read failed: ${describeError(all.error)}`);
      return [];
    }
    return all.value.kvs.map(kvValue);
  }

  /** Where diverged members first differ: the first revision whose key-values are not the same on all. */
  async #divergence(servers: EtcdServer[], snaps: MemberSnapshot[]): Promise<string> {
    const from = snaps.reduce((a, m) => (m.compactRevision > a ? m.compactRevision : a), 0n) + 1n;
    const to = snaps.reduce((a, m) => (m.revision > a ? m.revision : a), 0n);
    const show = (kvs: KvValue[]) => kvs.map((k) => `${k.key}=${k.value}@${k.modRevision}(create ${k.createRevision}, version ${k.version}, lease ${k.lease})`).join(" ") || "(none)";
    for (let rev = from; rev <= to; rev++) {
      const states: string[] = [];
      for (const [i, x] of servers.entries()) {
        if (rev > snaps[i].revision) {
          states.push(`${this.#slots[i].name}: (at ${snaps[i].revision})`);
          continue;
        }
        const got = await this.#await(x.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]), serializable: true, revision: rev }));
        states.push(`${this.#slots[i].name}: ${got.ok ? show(got.value.kvs.map(kvValue)) : describeError(got.error)}`);
      }
      const bodies = states.map((x) => x.slice(x.indexOf(":")));
      if (bodies.some((b) => b !== bodies[0])) return `first difference at revision ${rev}: ${states.join("; ")}`;
    }
    const leases = servers.map((x, i) => `${this.#slots[i].name}: ${x.leaseIds().sort().join(",") || "(none)"}`);
    return `the same key-values in revisions ${from}..${to}; leases ${leases.join("; ")}`;
  }

  /** Waits for p while the simulation keeps running (time passes), at most a settle period. */
  async #await<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
    let out: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
    p.then(
      (value) => (out = { ok: true, value }),
      (error) => (out = { ok: false, error }),
    );
    await this.#runFor(SETTLE_MS, () => out !== null);
    return out ?? { ok: false, error: new Error("no answer within the settle period") };
  }

  /** Stops the live members gracefully (stop() hands leadership over, closes WAL and database). */
  async #stopAll(): Promise<void> {
    this.#faultsOn = false;
    for (const s of this.#slots) s.cancelRestart?.();
    // Every server whose Ready loop still runs: the live members, and a killed one that has not
    // reached a failpoint since (a server that ignored its failed fsync) — stop() unregisters it too.
    const running = this.#slots.flatMap((s) => s.incs.map((inc) => ({ s, inc }))).filter(({ inc }) => inc.server && !inc.loopDead);
    const stopped = await this.#await(
      Promise.all(
        running.map(({ inc }) =>
          inc.server!.stop().then(() => {
            inc.loopDead = true;
            inc.state = "dead";
            inc.clock.cancelAll();
          }),
        ),
      ),
    );
    if (!stopped.ok) this.#violation(`the members did not stop: ${describeError(stopped.error)}`);
  }

  /** Whatever is left (a member that never stopped): its timers and files go. */
  #killAll(): void {
    for (const s of this.#slots) {
      s.cancelRestart?.();
      for (const inc of s.incs) {
        inc.clock.cancelAll();
        for (const b of inc.backends) b.abandon();
      }
    }
  }

  // ---- bookkeeping

  #stopEarly(): boolean {
    return this.#violations.length > 0;
  }

  #violation(msg: string): void {
    const line = `seed ${this.#o.seed} (${this.#o.members} members) at ${this.#clock.now() - EPOCH_MS} ms, step ${this.#stats.steps}: ${msg}`;
    this.#violations.push(line);
    this.#trace(`VIOLATION ${line}`);
  }

  #fault(f: Omit<FaultRecord, "atMs">): void {
    this.#faults.push({ atMs: this.#clock.now(), ...f });
  }

  #trace(line: string): void {
    this.#o.trace?.(`[${(this.#clock.now() - EPOCH_MS).toFixed(1)} ms] ${line}`);
  }

  #name(id: bigint): string {
    return this.#slots.find((s) => s.id === id)?.name ?? (id === 0n ? "none" : id.toString(16));
  }
}



/** sha256 of the history with bigints as strings, keys in insertion order (the history is built in a fixed order). */
export function digest(h: History): string {
  const json = JSON.stringify(h, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
  return createHash("sha256").update(json).digest("hex");
}
