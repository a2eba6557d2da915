// In-process clusters on the fake clock: the fast tier's stand-in for the multi-process e2e clusters.
//
// 1, 3 or 5 real EtcdServers (src/server/core/server.ts) in this process, on the whole-server
// simulation's twins (tests/sim/server): one FakeClock (each member incarnation a scope of it),
// in-memory WALs that keep only what was fsynced, an in-memory peer network (no faults unless asked),
// and setImmediate turns run by the harness in order. SQLite files live in a temp dir (on /dev/shm
// when there is one). Nothing runs unless the test moves time: `advance(ms)`, `until(what, cond)`, or
// `run(promise)`, which moves time until a server call settles. No real timers, no sleeps; a test
// replays exactly.
//
// What a test does with it:
//   const c = await FakeCluster.start({ members: 3 });
//   const leader = c.leader();
//   await c.run(c.server(leader).put({ key: enc("k"), value: enc("v") }));
//   c.kill(leader);                                  // kill -9: only what was fsynced survives
//   const next = await c.awaitLeader();
//   await c.restart(leader);                          // on the same data dir and WAL
//   await c.close();
//
// Unlike the simulation (sim-cluster.ts), nothing here is random unless asked (`network` faults):
// fsyncs take `fsyncMs`, and messages the network's fault-free delays, drawn from `seed`.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Backend } from "../../src/backend/backend.ts";
import { bootstrapMembers } from "../../src/server/core/membership.ts";
import { decodeMembersAnswer, encodePeerRequest } from "../../src/server/core/peer-api.ts";
import { EtcdServer, MemberRemovedError, type RemoteCluster, type ServerOptions } from "../../src/server/core/server.ts";
import { FakeClock, type ScopedClock } from "../sim/server/fake-clock.ts";
import { checkpointIoPending, drainTurns, ImmediateQueue } from "../sim/server/immediates.ts";
import { describeError, runDir } from "../sim/server/temp-dir.ts";
import { MemoryNetwork, type NetworkFaults, NO_FAULTS } from "../sim/server/memory-transport.ts";
import { type MemoryWal, MemoryWalDisk } from "../sim/server/memory-wal.ts";
import { SimCrash } from "../sim/server/sim-cluster.ts";

export interface FakeClusterOptions {
  /** 1, 3 or 5 members (default 3). */
  members?: number;
  /** ServerOptions for every member, over the harness's defaults (etcd's 100 ms heartbeat, 1 s election). */
  options?: Partial<ServerOptions>;
  /** ServerOptions for one member, over `options`. */
  memberOptions?: (index: number) => Partial<ServerOptions>;
  /** The network's delays (and faults, if `network` has any) come from this seed. Default 1. */
  seed?: number;
  /** Default: no loss, no duplication, delays of 0.2–1 ms. */
  network?: NetworkFaults;
  /** How long an fsync of the WAL takes, in fake ms (default 0.5). */
  fsyncMs?: number;
  /** Fake ms the members may take to start and agree on a leader (default 10 s). */
  startMs?: number;
}

/** Where a member is: "starting", "up" (serving or about to), "down" (killed or stopped), "removed" (a conf change took it out and it stopped). */
export type MemberLife = "starting" | "up" | "down" | "removed";

interface Incarnation {
  no: number;
  clock: ScopedClock;
  backends: Backend[];
  wal: MemoryWal | null;
  server: EtcdServer | null;
  state: MemberLife;
  /** The Ready loop ended (fatal was called): nothing of this incarnation runs any more. */
  loopDead: boolean;
  /** Between raftBeforeSaveSnap and raftAfterWALRelease a checkpoint writes real .snap files. */
  ioWindow: boolean;
}

interface Slot {
  index: number;
  name: string;
  id: bigint;
  peerUrl: string;
  clientUrl: string;
  dataDir: string;
  disk: MemoryWalDisk;
  /** What its starts add to the defaults (a joiner: --initial-cluster-state existing). */
  startOptions: Partial<ServerOptions>;
  inc: Incarnation | null;
  incNo: number;
  /** Every incarnation so far (the current one last): a killed one's loop runs until its next failpoint. */
  incs: Incarnation[];
  /** Lines the member logged, `level msg {fields}` (bounded: the last LOG_LINES_MAX). */
  logs: string[];
}

const EPOCH_MS = 1_700_000_000_000;
/** Timers one advance() may fire at most (a bound on every loop; a livelock fails rather than hangs). */
const EVENTS_PER_ADVANCE_MAX = 200_000;
/** The step of until(): conditions are checked at least this often, in fake ms. */
const UNTIL_STEP_MS = 5;
const LOG_LINES_MAX = 5_000;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : "");

export class FakeCluster {
  readonly #o: Required<Omit<FakeClusterOptions, "memberOptions">> & Pick<FakeClusterOptions, "memberOptions">;
  readonly #clock = new FakeClock(EPOCH_MS);
  readonly #immediates = new ImmediateQueue();
  readonly #net: MemoryNetwork;
  readonly #slots: Slot[] = [];
  readonly #root: string;
  readonly #token = "etcd-ts-fake-cluster";
  /** Real errors (a member that died of one, a timer or callback that threw): the next advance throws them. */
  readonly #errors: string[] = [];
  readonly #onUnhandled = (err: unknown) => {
    if (!(err instanceof SimCrash)) this.#errors.push(`unhandled rejection: ${describeError(err)}`);
  };
  #closed = false;

  private constructor(o: FakeClusterOptions) {
    const members = o.members ?? 3;
    if (![1, 3, 5].includes(members)) throw new Error(`FakeCluster: members must be 1, 3 or 5, not ${members}`);
    this.#o = { members, options: {}, seed: 1, network: NO_FAULTS, fsyncMs: 0.5, startMs: 10_000, ...o };
    this.#net = new MemoryNetwork(this.#clock, this.#o.seed, this.#o.network);
    this.#root = runDir("etcd-ts-fake-cluster");
    this.#immediates.onError = (err) => this.#errors.push(`a setImmediate callback threw: ${describeError(err)}`);
  }

  /** Starts the members together and waits (in fake time) until every one serves and all agree on a leader. */
  static async start(o: FakeClusterOptions = {}): Promise<FakeCluster> {
    const c = new FakeCluster(o);
    try {
      c.#immediates.install();
    } catch {
      rmSync(c.#root, { recursive: true, force: true });
      throw new Error("FakeCluster: setImmediate is already taken over (another FakeCluster not closed, or a simulation running): close it first");
    }
    process.on("unhandledRejection", c.#onUnhandled);
    try {
      const names = Array.from({ length: c.#o.members }, (_, i) => `m${i}`);
      const initialCluster = new Map(names.map((n, i) => [n, [`http://127.0.0.1:${23800 + i}`]]));
      const boot = bootstrapMembers(initialCluster, c.#token);
      for (const [i, name] of names.entries()) {
        const slot = c.#addSlot(name, boot.members[i].id, initialCluster.get(name)![0], { initialCluster });
        c.#startIncarnation(slot);
      }
      await c.until("every member up, serving, with one leader", () => c.#slots.every((s) => s.inc?.state === "up" && s.inc.server!.isReady) && c.#agreedLeader() >= 0, c.#o.startMs);
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  // ---- members

  /** How many members the harness knows (joined ones included, removed ones too). */
  get size(): number {
    return this.#slots.length;
  }

  /** Member i's running server; throws when it is not up (a client would find no process there). */
  server(i: number): EtcdServer {
    const s = this.#slot(i);
    if (s.inc?.state !== "up" || !s.inc.server) throw new Error(`FakeCluster: member ${i} (${s.name}) is ${s.inc?.state ?? "not started"}, it has no server to call`);
    return s.inc.server;
  }

  state(i: number): MemberLife {
    return this.#slot(i).inc?.state ?? "down";
  }

  id(i: number): bigint {
    return this.#slot(i).id;
  }

  name(i: number): string {
    return this.#slot(i).name;
  }

  /** The member's advertised peer URL (the network routes by member id; the URL is what joiners and member lists show). */
  peerUrl(i: number): string {
    return this.#slot(i).peerUrl;
  }

  /** The member's data dir (its database is member/snap/db; its WAL is in memory). */
  dataDir(i: number): string {
    return this.#slot(i).dataDir;
  }

  /** What member i logged so far, across its incarnations, one `level msg {fields}` line each. */
  logs(i: number): string {
    return this.#slot(i).logs.join("\n");
  }

  /** The indexes of the members that are up. */
  live(): number[] {
    return this.#slots.filter((s) => s.inc?.state === "up").map((s) => s.index);
  }

  /** The index of the member with this id, or -1. */
  indexOf(id: bigint): number {
    return this.#slots.find((s) => s.id === id)?.index ?? -1;
  }

  /** The leader every live member agrees on, by index; throws when they do not agree (see awaitLeader). */
  leader(): number {
    const i = this.#agreedLeader();
    if (i < 0) throw new Error(`FakeCluster: no leader all live members agree on (${this.#describeMembers()})`);
    return i;
  }

  /** Moves time until the live members agree on a leader; returns its index. */
  async awaitLeader(maxMs = 10_000): Promise<number> {
    await this.until("a leader all live members agree on", () => this.#agreedLeader() >= 0, maxMs);
    return this.#agreedLeader();
  }

  /** Indexes of the live members other than the leader. */
  followers(): number[] {
    const l = this.leader();
    return this.live().filter((i) => i !== l);
  }

  /**
   * kill -9: the member dies where it stands. Its WAL keeps only what was fsynced, its database only
   * what was committed; its timers stop, the network stops reaching it, its pending calls fail as
   * the Ready loop dies.
   */
  kill(i: number): void {
    const s = this.#slot(i);
    const inc = s.inc;
    if (!inc || inc.state === "down") throw new Error(`FakeCluster: member ${i} (${s.name}) is already down`);
    inc.wal?.failPending(new SimCrash("kill"));
    this.#teardown(s, inc);
  }

  /** A graceful stop (SIGTERM): a leader hands over first; the WAL and database are closed. */
  async stop(i: number, maxMs = 10_000): Promise<void> {
    const s = this.#slot(i);
    const inc = s.inc;
    if (!inc || inc.state === "down") throw new Error(`FakeCluster: member ${i} (${s.name}) is already down`);
    await this.run(inc.server!.stop(), maxMs);
    this.#stopped(s, inc);
  }

  /**
   * Starts member i again on its data dir and WAL. Waits until it is up and, unless `ready` is false
   * (it cannot publish itself without a quorum), until it serves clients.
   */
  async restart(i: number, o: { ready?: boolean; maxMs?: number; options?: Partial<ServerOptions> } = {}): Promise<void> {
    const s = this.#slot(i);
    if (s.inc && s.inc.state !== "down") throw new Error(`FakeCluster: member ${i} (${s.name}) is ${s.inc.state}; kill or stop it first`);
    if (o.options) s.startOptions = { ...s.startOptions, ...o.options };
    const inc = this.#startIncarnation(s);
    const ready = o.ready ?? true;
    await this.until(`${s.name} ${ready ? "serving" : "up"} again`, () => {
      if (inc.state === "down" || inc.state === "removed") throw new Error(`FakeCluster: ${s.name} ${inc.state === "down" ? "died" : "was removed"} while restarting:\n${s.logs.slice(-5).join("\n")}`);
      return inc.state === "up" && (!ready || inc.server!.isReady);
    }, o.maxMs ?? 10_000);
  }

  /**
   * member add through member `via` (default: the leader), then starts the new member with
   * --initial-cluster-state existing, as an operator does; waits until it serves. Returns its index.
   */
  async join(name: string, o: { learner?: boolean; via?: number; peerUrl?: string; maxMs?: number; options?: Partial<ServerOptions> } = {}): Promise<number> {
    const peerUrl = o.peerUrl ?? `http://127.0.0.1:${23800 + this.#slots.length}`;
    const via = o.via ?? this.leader();
    const added = await this.run(this.server(via).memberAdd([peerUrl], o.learner ?? false));
    const initialCluster = new Map<string, string[]>();
    for (const m of added.members) if (m.name) initialCluster.set(m.name, [...m.peerURLs]);
    initialCluster.set(name, [peerUrl]);
    const slot = this.#addSlot(name, added.member.id, peerUrl, { initialCluster, initialClusterState: "existing", ...o.options });
    const inc = this.#startIncarnation(slot);
    await this.until(`${name} joined and serving`, () => {
      if (inc.state === "down" || inc.state === "removed") throw new Error(`FakeCluster: ${name} failed to join (${inc.state}):\n${slot.logs.slice(-5).join("\n")}`);
      return inc.state === "up" && inc.server!.isReady;
    }, o.maxMs ?? 10_000);
    return slot.index;
  }

  /** Splits the network: members talk only within their group (indexes); members left out form one more group. */
  partition(...groups: number[][]): void {
    this.#net.partition(groups.map((g) => g.map((i) => this.#slot(i).id)));
  }

  heal(): void {
    this.#net.heal();
  }

  // ---- time

  /** Fake ms since the cluster was created. */
  now(): number {
    return this.#clock.now() - EPOCH_MS;
  }

  /** Fires every timer due within the next ms (Raft ticks, deliveries, fsyncs, lease expiry...), draining after each. */
  async advance(ms: number): Promise<void> {
    this.#throwErrors();
    const end = this.#clock.now() + ms;
    for (let n = 0; ; n++) {
      if (n >= EVENTS_PER_ADVANCE_MAX) throw new Error(`FakeCluster: more than ${EVENTS_PER_ADVANCE_MAX} timers fired within ${ms} ms (a livelock?)`);
      if (!this.#clock.fireNext(end)) break;
      await this.#drain();
      this.#throwErrors();
    }
    this.#clock.advanceTo(end);
    await this.#drain();
    this.#throwErrors();
  }

  /** Moves time until cond() holds; fails after maxMs fake ms, naming `what` and each member's state. */
  async until(what: string, cond: () => boolean, maxMs = 10_000): Promise<void> {
    const end = this.#clock.now() + maxMs;
    await this.#drain();
    while (!cond()) {
      if (this.#clock.now() >= end) throw new Error(`FakeCluster: ${what}: not reached within ${maxMs} ms of fake time (${this.#describeMembers()})`);
      await this.advance(Math.min(UNTIL_STEP_MS, end - this.#clock.now()));
    }
  }

  /**
   * Moves time until p settles (a server call: it needs fsyncs, messages, ticks); returns its value
   * or throws its error (etcd's, e.g. Errors.timeout).
   */
  async run<T>(p: Promise<T>, maxMs = 30_000): Promise<T> {
    let out: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
    p.then(
      (value) => (out = { ok: true, value }),
      (error) => (out = { ok: false, error }),
    );
    await this.until("a call to settle", () => out !== null, maxMs);
    const r = out as unknown as { ok: true; value: T } | { ok: false; error: unknown };
    if (!r.ok) throw r.error;
    return r.value;
  }

  // ---- conveniences for string keys

  /** Put key=value through member i. */
  async put(i: number, key: string, value: string, o: { lease?: bigint } = {}): Promise<bigint> {
    const r = await this.run(this.server(i).put({ key: enc(key), value: enc(value), lease: o.lease ?? 0n }));
    return r.header.revision;
  }

  /** The value of key through member i (linearizable unless serializable), or null. */
  async get(i: number, key: string, o: { serializable?: boolean } = {}): Promise<string | null> {
    const r = await this.run(this.server(i).range({ key: enc(key), serializable: o.serializable ?? false }));
    return r.kvs.length ? dec(r.kvs[0].value) : null;
  }

  /** Stops the live members gracefully, then drops everything (timers, database handles, files). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      // Every server whose Ready loop still runs: the live members, and a killed incarnation that has not
      // reached a failpoint since — stop() unregisters it too (its metrics would read a closed database).
      const running = this.#slots.flatMap((s) => s.incs).filter((inc) => inc.server && !inc.loopDead);
      if (running.length) {
        const stops = Promise.all(running.map((inc) => inc.server!.stop().then(() => (inc.loopDead = true))));
        await this.run(stops, 30_000).catch(() => {});
      }
    } finally {
      for (const inc of this.#slots.flatMap((s) => s.incs)) {
        inc.clock.cancelAll();
        for (const b of inc.backends) b.abandon();
      }
      this.#immediates.uninstall();
      process.off("unhandledRejection", this.#onUnhandled);
      rmSync(this.#root, { recursive: true, force: true });
    }
  }

  // ---- inside

  #slot(i: number): Slot {
    const s = this.#slots[i];
    if (!s) throw new Error(`FakeCluster: no member ${i} (there are ${this.#slots.length})`);
    return s;
  }

  #addSlot(name: string, id: bigint, peerUrl: string, startOptions: Partial<ServerOptions>): Slot {
    const index = this.#slots.length;
    const dataDir = join(this.#root, name);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const slot: Slot = { index, name, id, peerUrl, clientUrl: `http://127.0.0.1:${23900 + index}`, dataDir, disk: new MemoryWalDisk(1 << 20), startOptions, inc: null, incNo: 0, incs: [], logs: [] };
    this.#slots.push(slot);
    this.#net.add({
      id,
      server: () => (slot.inc?.state === "up" ? slot.inc.server : null),
      clock: () => slot.inc?.clock ?? this.#clock,
      incarnation: () => slot.incNo,
    });
    return slot;
  }

  #options(slot: Slot, inc: Incarnation): ServerOptions {
    return {
      name: slot.name,
      dataDir: slot.dataDir,
      initialAdvertisePeerUrls: [slot.peerUrl],
      advertiseClientUrls: [slot.clientUrl],
      initialClusterToken: this.#token,
      heartbeatIntervalMs: 100,
      electionTimeoutMs: 1000,
      maxRequestBytes: 1.5 * 1024 * 1024,
      maxTxnOps: 128,
      snapshotCount: 10_000,
      // The lowest cost: each start hashes a dummy password (in setImmediate slices).
      auth: { bcryptCost: 4 },
      fetchCluster: (urls) => this.#fetchCluster(urls),
      ...this.#o.options,
      ...this.#o.memberOptions?.(slot.index),
      ...slot.startOptions,
      // The harness's own: time, the WAL, the database handles, crash points and the log.
      log: (level, msg, fields) => {
        slot.logs.push(`${level} ${msg}${fields ? ` ${JSON.stringify(fields, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}` : ""}`);
        if (slot.logs.length > LOG_LINES_MAX) slot.logs.splice(0, slot.logs.length - LOG_LINES_MAX);
      },
      clock: inc.clock,
      failpoint: (name) => this.#failpoint(inc, name),
      openWal: async (_dir, opts) => {
        const r = slot.disk.open(opts, () => this.#clock.after(this.#o.fsyncMs, () => this.#sync(inc)));
        inc.wal = r.wal;
        return r;
      },
      openBackend: (path) => {
        const b = new Backend(path, { clock: inc.clock });
        inc.backends.push(b);
        return b;
      },
    };
  }

  #startIncarnation(slot: Slot): Incarnation {
    const inc: Incarnation = { no: ++slot.incNo, clock: this.#clock.scope(), backends: [], wal: null, server: null, state: "starting", loopDead: false, ioWindow: false };
    slot.inc = inc;
    slot.incs.push(inc);
    inc.clock.onError = (err) => {
      if (inc.state !== "down") this.#errors.push(`${slot.name}: a timer threw: ${describeError(err)}`);
    };
    EtcdServer.start(this.#options(slot, inc), (err) => this.#fatal(slot, inc, err)).then(
      (server) => {
        inc.server = server;
        if (inc.state !== "starting") return; // killed while starting
        inc.state = "up";
        server.setTransport(this.#net.transport(slot.id));
      },
      (err) => {
        slot.logs.push(`error failed to start: ${describeError(err)}`);
        if (!(err instanceof SimCrash)) this.#errors.push(`${slot.name} failed to ${inc.no > 1 ? "restart" : "start"}: ${describeError(err)}`);
        this.#teardown(slot, inc);
        inc.clock.cancelAll();
      },
    );
    return inc;
  }

  /** The failpoint hook: a killed member's Ready loop dies at its next step; a checkpoint's real file I/O is tracked. */
  #failpoint(inc: Incarnation, name: string): void {
    if (inc.state === "down") throw new SimCrash(name);
    if (name === "raftBeforeSaveSnap") inc.ioWindow = true;
    if (name === "raftAfterWALRelease") inc.ioWindow = false;
  }

  /** The fsync completes: the queued appends are durable and resolve. */
  #sync(inc: Incarnation): void {
    const wal = inc.wal;
    if (inc.state === "down" || !wal || wal.dead) return;
    wal.sync()?.ack();
  }

  #fatal(slot: Slot, inc: Incarnation, err: unknown): void {
    if (err instanceof MemberRemovedError) {
      // As the binary: a removed member stops itself (and its process exits 0).
      slot.logs.push(`warn ${err.message}`);
      if (inc.state === "up") inc.state = "removed";
      void inc.server?.stop().then(() => this.#stopped(slot, inc, "removed"));
      return;
    }
    inc.loopDead = true;
    if (!(err instanceof SimCrash) && inc.state !== "down") {
      slot.logs.push(`error fatal: ${describeError(err)}`);
      this.#errors.push(`${slot.name} stopped on an error: ${describeError(err)}`);
    }
    this.#teardown(slot, inc);
    inc.clock.cancelAll();
  }

  /** What kill -9 leaves: nothing of the member runs for the world; the disk holds what was durable. */
  #teardown(slot: Slot, inc: Incarnation): void {
    if (inc.state === "down") return;
    inc.state = "down";
    inc.ioWindow = false;
    try {
      inc.server?.watchHub.close();
    } catch {}
    for (const b of inc.backends) b.abandon();
    // No torn tail: a process kill loses what the WAL had not fsynced (never acknowledged), nothing more.
    slot.disk.crash(() => 1, 0);
    // A loop still running dies at its next failpoint; until then its timers run, so that it gets there.
    if (inc.loopDead || !inc.server) inc.clock.cancelAll();
  }

  /** After a graceful stop: the WAL handle is released so the member can start again. */
  #stopped(slot: Slot, inc: Incarnation, state: MemberLife = "down"): void {
    inc.loopDead = true;
    inc.state = state === "removed" ? "removed" : "down";
    inc.clock.cancelAll();
    // Closed with nothing pending: "crashing" the disk only releases the handle.
    slot.disk.crash(() => 1, 0);
  }

  /** A joiner asks the members at its --initial-cluster URLs for the member list (peer-api.ts's request). */
  async #fetchCluster(urls: string[]): Promise<RemoteCluster> {
    for (const url of urls) {
      const s = this.#slots.find((x) => x.peerUrl === url && x.inc?.state === "up");
      if (!s) continue;
      return decodeMembersAnswer(await s.inc!.server!.answerPeer({ from: 0n, clusterId: 0n, body: encodePeerRequest({ op: "members" }) }));
    }
    throw new Error(`no member at ${urls.join(", ")} is up`);
  }

  /** Everything that can run without time passing (immediates.ts). */
  #drain(): Promise<void> {
    const live = () => this.#slots.map((s) => (s.inc && s.inc.state !== "down" ? s.inc : null));
    return drainTurns(this.#immediates, () => checkpointIoPending(live()), () => {
      throw new Error("FakeCluster: a checkpoint's file I/O did not finish");
    });
  }

  #agreedLeader(): number {
    const live = this.#slots.filter((s) => s.inc?.state === "up");
    if (!live.length) return -1;
    const lead = live[0].inc!.server!.leader;
    if (lead === 0n || live.some((s) => s.inc!.server!.leader !== lead)) return -1;
    const l = live.find((s) => s.id === lead);
    return l ? l.index : -1;
  }

  #throwErrors(): void {
    if (this.#errors.length) throw new Error(`FakeCluster: ${this.#errors.join("; ")}`);
  }

  #describeMembers(): string {
    return this.#slots
      .map((s) => {
        const inc = s.inc;
        if (inc?.state !== "up" || !inc.server) return `${s.name}: ${inc?.state ?? "not started"}`;
        const st = inc.server.status();
        return `${s.name}: leader ${this.#slots.find((x) => x.id === st.leader)?.name ?? "none"}, term ${st.raftTerm}, commit ${st.raftIndex}, applied ${st.raftAppliedIndex}, revision ${st.header.revision}${inc.server.isReady ? "" : ", not ready"}`;
      })
      .join("; ");
  }
}

export { enc, dec };


