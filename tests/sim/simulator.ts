// Deterministic simulation of a Raft cluster: clock, network and crashes all come from one seed, so any
// failure replays exactly. Each member runs the server's own Ready loop (RaftNode) over memory; after
// every step the safety invariants are checked, and a violation is thrown with the seed and step.
import { seededRandom } from "../../src/pkg/prng.ts";
import { decodeConfChange, encodeConfChange } from "../../src/raft/codec.ts";
import type { Ready } from "../../src/raft/raw-node.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import { ConfChangeType, type Entry, EntryType, type Message, MessageType, type NodeId, type ReadState, type Snapshot, StateType } from "../../src/raft/types.ts";
import { RaftNode, type RaftNodeIO } from "../../src/server/core/raft-node.ts";

export interface SimOptions {
  seed: number;
  nodes: number;
  steps?: number;
  /** Probability that a message is lost / duplicated. */
  loss?: number;
  dup?: number;
  /** Test-only planted bugs that the checker must catch. */
  plantedBug?: "commit-previous-terms" | "vote-without-log-check";
}

export class Violation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Violation";
  }
}

/** Thrown by the failpoint hook to stop a member mid-Ready, as kill -9 would; never leaves the simulator. */
class SimCrash extends Error {
  constructor(readonly at: string) {
    super(`simulated crash at ${at}`);
    this.name = "SimCrash";
  }
}

/**
 * Chance of a crash per failpoint hit in the faulty phase: a Ready passes 3–8 of them, so a few crashes
 * per thousand Readies. Installing a leader's snapshot is rare (a few per run), so its two points crash
 * far more often, or a crash between installing and persisting one would hardly ever be tried.
 */
const CRASH_AT_FAILPOINT = 0.0005;
const CRASH_AT_SNAPSHOT_FAILPOINT = 0.05;

/**
 * A member's storage comes in two copies, as on a real member. `disk` is what its WAL and snapshot files
 * hold: io.persist writes each Ready's hard state, snapshot and entries there before returning (the
 * fsync), and a compaction records its snapshot there. `storage` is the in-memory log Raft reads (the
 * server's MemoryStorage): RawNode.advance fills it, and a crash loses it. A restart rebuilds `storage`
 * from `disk`, as the server replays its WAL — so a crash after raftAfterSave but before advance keeps
 * the Ready's entries and vote, and one before raftBeforeSave loses them.
 */
interface SimNode {
  id: NodeId;
  /** Taken out of the cluster by a conf change: stopped for good. */
  removed: boolean;
  raw: RaftNode | null; // null while crashed
  storage: MemoryStorage;
  disk: MemoryStorage;
  /** The state machine: data applied at each index (durable, as a consistent index would make it). */
  applied: (string | null)[];
  appliedIndex: number;
  /**
   * The leader's snapshot the state machine last took, kept with it (the server stamps it in the
   * database): a crash before the WAL records it resumes from it, as recover.ts does.
   */
  installed: Snapshot | null;
}

interface InFlight {
  at: number;
  m: Message;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Simulation {
  readonly opts: Required<Omit<SimOptions, "plantedBug">> & { plantedBug?: SimOptions["plantedBug"] };
  #rand: () => number;
  #time = 0;
  /** Whether the current step is in the faulty phase: failpoints crash members only then. */
  #faulty = false;
  #nodes = new Map<NodeId, SimNode>();
  #net: InFlight[] = [];
  /** Directed links that drop everything: "from-to". */
  #cut = new Set<string>();
  #leaderOfTerm = new Map<number, NodeId>();
  #proposalSeq = 0;
  /** data → time its application was first observed (the client's acknowledgement). */
  #acked = new Map<string, { at: number; index: number }>();
  #reads = new Map<string, { node: NodeId; startedAt: number }>();
  #pendingReads: { node: NodeId; ctx: string; index: number }[] = [];
  #log: string[] = [];
  stats = { proposals: 0, acked: 0, reads: 0, readsChecked: 0, crashes: 0, elections: 0, snapshots: 0, membersAdded: 0, membersRemoved: 0 };
  /** Crashes by where they struck: a RaftNode failpoint's name, or "between steps". */
  crashesAt = new Map<string, number>();

  constructor(opts: SimOptions) {
    this.opts = { steps: 3000, loss: 0.05, dup: 0.02, ...opts };
    this.#rand = seededRandom(opts.seed);
    const ids = Array.from({ length: opts.nodes }, (_, i) => BigInt(i + 1));
    for (const id of ids) {
      // Bootstrap as etcd does: the initial members are conf change entries 1..n, committed in term 1.
      const disk = new MemoryStorage();
      disk.append(ids.map((m, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: m }) })));
      disk.hardState = { term: 1, vote: 0n, commit: ids.length };
      this.#nodes.set(id, { id, removed: false, raw: null, storage: disk, disk, applied: [null], appliedIndex: 0, installed: null });
      this.#start(id);
    }
    this.#nextId = BigInt(ids.length + 1);
  }

  #nextId: bigint;

  /** Adds a member that starts empty and learns everything (config included) from the leader. */
  #spawn(id: NodeId): void {
    if (this.#nodes.has(id)) return;
    const disk = new MemoryStorage();
    this.#nodes.set(id, { id, removed: false, raw: null, storage: disk, disk, applied: [null], appliedIndex: 0, installed: null });
    this.#start(id);
    this.stats.membersAdded++;
    this.#event(`spawn ${id}`);
  }

  #changeMembership(): void {
    const leader = this.#leader();
    if (!leader) return;
    const st = leader.raw!.status();
    const voters = [...st.voters];
    const learners = [...st.learners];
    const x = this.#rand();
    let cc: { type: ConfChangeType; nodeId: NodeId } | undefined;
    if (x < 0.35 && voters.length + learners.length < 7) cc = { type: ConfChangeType.AddLearnerNode, nodeId: this.#nextId++ };
    else if (x < 0.6 && learners.length) cc = { type: ConfChangeType.AddNode, nodeId: learners[0] };
    else if (x < 0.8 && voters.length + learners.length < 7) cc = { type: ConfChangeType.AddNode, nodeId: this.#nextId++ };
    else if (voters.length > 3) cc = { type: ConfChangeType.RemoveNode, nodeId: voters[Math.floor(this.#rand() * voters.length)] };
    if (!cc) return;
    // The operator starts a new member when asking for it, as with etcdctl member add.
    if (cc.type !== ConfChangeType.RemoveNode) this.#spawn(cc.nodeId);
    // Queued for the leader's next Ready; Raft may still refuse it there (one change at a time).
    leader.raw!.proposeConfChange(encodeConfChange(cc));
    this.#event(`propose conf change ${cc.type} ${cc.nodeId}`);
  }

  /** Starts (or restarts) a member from what its disk holds. */
  #start(id: NodeId): void {
    const n = this.#nodes.get(id)!;
    // The database came from the leader as a snapshot and the crash came before the WAL said so: the
    // log resumes after that snapshot (recover.ts), so Raft and the state machine agree again.
    const stamp = n.installed;
    if (stamp && stamp.meta.index > n.disk.snapshot.meta.index && n.disk.lastIndex() < n.appliedIndex) {
      n.disk.applySnapshot(stamp);
      this.#event(`${n.id} resumes from the snapshot at ${stamp.meta.index} it installed before the crash`);
    }
    n.storage = replay(n.disk);
    // A snapshot persisted but not yet installed when the member crashed is installed now, as etcd's
    // restart opens the snapshot's database when it is ahead of the backend's consistent index.
    if (n.disk.snapshot.meta.index > n.appliedIndex) this.#loadState(n, n.disk.snapshot);
    // The io of this incarnation: every callback acts on `node`, never on whatever n.raw is by then.
    let node: RaftNode;
    const io: RaftNodeIO = {
      persist: (rd) => persist(n.disk, rd),
      installSnapshot: (snap) => this.#installSnapshot(n, snap),
      apply: (entries) => {
        for (const e of entries) this.#apply(n, node, e);
      },
      send: (msgs) => {
        for (const m of msgs) this.#send(m);
      },
      readStates: (rs) => this.#queueReads(n, rs),
      stateChanged: (soft, term) => {
        if (soft.state === StateType.Leader) this.#noteLeader(n, node, term);
      },
    };
    node = new RaftNode({
      id,
      storage: n.storage,
      electionTick: 10,
      heartbeatTick: 1,
      // As etcd restarts: Raft re-hands every committed entry after the snapshot, and the state machine
      // skips what it already has — but still feeds conf changes back to Raft, whose config is not durable.
      applied: n.storage.snapshot.meta.index,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 4096,
      maxInflightMsgs: 16,
      random: seededRandom(Math.floor(this.#rand() * 2 ** 31)),
      unsafeCommitPreviousTerms: this.opts.plantedBug === "commit-previous-terms",
      unsafeVoteWithoutLogCheck: this.opts.plantedBug === "vote-without-log-check",
      io,
      failpoint: (name) => {
        if (!this.#faulty) return;
        const p = name === "raftBeforeApplySnap" || name === "raftAfterApplySnap" ? CRASH_AT_SNAPSHOT_FAILPOINT : CRASH_AT_FAILPOINT;
        if (this.#rand() < p) throw new SimCrash(name);
      },
    });
    n.raw = node;
  }

  #fail(what: string): never {
    throw new Violation(`seed ${this.opts.seed} step ${this.#time}: ${what}\n  replay: npm run sim -- --seed ${this.opts.seed} --nodes ${this.opts.nodes} --steps ${this.opts.steps}${this.opts.plantedBug ? ` --bug ${this.opts.plantedBug}` : ""}\n  last events:\n    ${this.#log.slice(-15).join("\n    ")}`);
  }

  #event(s: string): void {
    this.#log.push(`[${this.#time}] ${s}`);
    if (this.#log.length > 200) this.#log.splice(0, 100);
  }

  /** Runs the faulty phase, then heals everything and checks that the cluster makes progress. */
  run(): void {
    for (let i = 0; i < this.opts.steps; i++) this.#step(true);
    // Heal: every node up, no partitions, no loss — a leader must appear and a new write must commit.
    this.#cut.clear();
    for (const n of this.#nodes.values()) if (!n.raw && !n.removed) this.#start(n.id);
    const marker = `final-${this.opts.seed}`;
    let proposed = false;
    let lastTry = -Infinity;
    for (let i = 0; i < 2000; i++) {
      this.#step(false);
      const leader = this.#leader();
      // A client retries: a proposal taken by a leader that lost its term before replicating is gone.
      if (leader && i - lastTry >= 200 && ![...this.#nodes.values()].some((n) => n.applied.includes(marker))) {
        try {
          leader.raw!.propose(enc.encode(marker));
          proposed = true;
          lastTry = i;
        } catch {}
      }
      if (proposed && [...this.#nodes.values()].every((n) => n.removed || !this.#isMember(n.id) || n.applied.includes(marker))) return;
    }
    const states = [...this.#nodes.values()].filter((n) => n.raw).map((n) => {
      const s = n.raw!.status();
      const prs = [...s.progress].map(([id, p]) => `${id}:${p.match}/${p.next}/${p.state}${p.paused ? "P" : ""}`).join(",");
      return `${n.id}: state ${s.state} term ${s.term} lead ${s.lead} last ${s.lastIndex} committed ${s.commit} applied ${n.appliedIndex} first ${s.firstIndex} prs ${prs}`;
    });
    this.#fail(`no progress after healing: ${proposed ? "the final write did not apply everywhere" : "no leader"} within 2000 steps\n  ${states.join("\n  ")}`);
  }

  #step(faulty: boolean): void {
    this.#time++;
    this.#faulty = faulty;
    const r = this.#rand;
    if (faulty) {
      const x = r();
      if (x < 0.004) this.#crashRandom();
      else if (x < 0.012) this.#partitionRandom();
      else if (x < 0.02) this.#cut.clear();
      if (r() < 0.15) this.#proposeRandom();
      if (r() < 0.04) this.#readRandom();
      if (r() < 0.01) this.#compactRandom();
      if (r() < 0.003) this.#changeMembership();
    }
    for (const n of this.#nodes.values()) {
      if (!n.raw) {
        if (faulty && !n.removed && r() < 0.02) {
          this.#event(`restart ${n.id}`);
          this.#start(n.id);
        }
        continue;
      }
      if (this.#time % 2 === 0) n.raw.tick();
    }
    this.#deliverDue();
    // Leaders are elected while messages are stepped in: note them before a Ready could crash one.
    for (const n of this.#nodes.values()) if (n.raw?.isLeader) this.#noteLeader(n, n.raw, n.raw.term);
    for (const n of this.#nodes.values()) this.#processReady(n);
    this.#check();
  }

  #deliverDue(): void {
    const due = this.#net.filter((f) => f.at <= this.#time);
    this.#net = this.#net.filter((f) => f.at > this.#time);
    for (const { m } of due) {
      const n = this.#nodes.get(m.to);
      const lost = this.#cut.has(`${m.from}-${m.to}`) || (this.#faulty && this.#rand() < this.opts.loss) || !n?.raw;
      // The transport tells the sender whether a snapshot got through, as etcd's does.
      if (m.type === MessageType.Snap) this.#nodes.get(m.from)?.raw?.reportSnapshot(m.to, !lost);
      if (lost || !n?.raw) continue;
      n.raw.step(m);
    }
  }

  #send(m: Message): void {
    const delay = 1 + Math.floor(this.#rand() * (this.#faulty ? 6 : 2));
    this.#net.push({ at: this.#time + delay, m });
    if (this.#faulty && this.#rand() < this.opts.dup) this.#net.push({ at: this.#time + delay + 1 + Math.floor(this.#rand() * 4), m });
  }

  /** One Ready of one member through RaftNode; a failpoint may crash the member at any step of it. */
  #processReady(n: SimNode): void {
    const node = n.raw;
    if (!node) return;
    try {
      if (node.processReady() === false) return;
    } catch (err) {
      if (!(err instanceof SimCrash)) throw err;
      this.#crash(n, err.at);
      return;
    }
    this.#serveReads();
  }

  /** A new leader: one per term, and its log holds everything applied anywhere. Checked once per term. */
  #noteLeader(n: SimNode, node: RaftNode, term: number): void {
    const prev = this.#leaderOfTerm.get(term);
    if (prev === n.id) return;
    if (prev !== undefined) this.#fail(`two leaders in term ${term}: ${prev} and ${n.id}`);
    this.#leaderOfTerm.set(term, n.id);
    this.stats.elections++;
    this.#event(`${n.id} leads term ${term}`);
    this.#checkLeaderCompleteness(n, node, term);
  }

  #installSnapshot(n: SimNode, snap: Snapshot): void {
    n.installed = snap;
    // As the server (member-io.ts): a snapshot not newer than what the state machine applied is not
    // loaded — the state machine already holds it, and going back would lose what it served.
    if (snap.meta.index <= n.appliedIndex) {
      this.#event(`${n.id} kept its state (at ${n.appliedIndex}) over a snapshot at ${snap.meta.index}`);
      return;
    }
    const before = n.appliedIndex;
    this.#loadState(n, snap);
    if (n.appliedIndex < before) this.#fail(`${n.id}'s state machine went back from ${before} to ${n.appliedIndex}`);
    this.#event(`${n.id} installed snapshot at ${snap.meta.index}`);
  }

  #loadState(n: SimNode, snap: Snapshot): void {
    n.applied = JSON.parse(dec.decode(snap.data)) as (string | null)[];
    n.appliedIndex = snap.meta.index;
  }

  #apply(n: SimNode, node: RaftNode, e: Entry): void {
    if (e.index <= n.appliedIndex) {
      if (e.type === EntryType.ConfChange) node.applyConfChange(decodeConfChange(e.data));
      return;
    }
    if (e.index !== n.appliedIndex + 1) this.#fail(`${n.id} applies index ${e.index} after ${n.appliedIndex}`);
    const data = entryKey(e);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      node.applyConfChange(cc);
      if (cc.type === ConfChangeType.RemoveNode) this.#remove(cc.nodeId);
    }
    n.applied[e.index] = data;
    n.appliedIndex = e.index;
    // State machine safety: every node that applied this index applied the same entry.
    for (const other of this.#nodes.values()) {
      if (other === n || other.appliedIndex < e.index) continue;
      if (other.applied[e.index] !== data) {
        this.#fail(`${n.id} applied ${JSON.stringify(data)} at index ${e.index} but ${other.id} applied ${JSON.stringify(other.applied[e.index])}`);
      }
    }
    if (data && !this.#acked.has(data)) {
      this.#acked.set(data, { at: this.#time, index: e.index });
      this.stats.acked++;
    }
  }

  #queueReads(n: SimNode, rs: ReadState[]): void {
    for (const r of rs) this.#pendingReads.push({ node: n.id, ctx: dec.decode(r.requestCtx), index: r.index });
  }

  #serveReads(): void {
    const still: { node: NodeId; ctx: string; index: number }[] = [];
    for (const p of this.#pendingReads) {
      const n = this.#nodes.get(p.node)!;
      if (!n.raw) continue; // the client gives up
      if (n.appliedIndex < p.index) {
        still.push(p);
        continue;
      }
      const read = this.#reads.get(p.ctx);
      if (!read) continue;
      this.#reads.delete(p.ctx);
      this.stats.readsChecked++;
      // Linearizable: every write acknowledged before the read started is visible at the read index.
      for (const [data, ack] of this.#acked) {
        if (ack.at < read.startedAt && ack.index > p.index) {
          this.#fail(`read ${p.ctx} on ${p.node} at index ${p.index} misses ${data} acknowledged at index ${ack.index} before the read started`);
        }
      }
    }
    this.#pendingReads = still;
  }

  #checkLeaderCompleteness(n: SimNode, node: RaftNode, term: number): void {
    // A new leader's log holds every entry applied anywhere (applied ⇒ committed).
    const { firstIndex, lastIndex } = node;
    for (const other of this.#nodes.values()) {
      for (let i = Math.max(firstIndex, 1); i <= other.appliedIndex; i++) {
        if (i > lastIndex) this.#fail(`leader ${n.id} of term ${term} lacks committed index ${i} (last ${lastIndex})`);
        const data = entryKey(node.logEntries(i, i + 1)[0]);
        if (other.applied[i] !== undefined && other.applied[i] !== data) {
          this.#fail(`leader ${n.id} of term ${term} has ${JSON.stringify(data)} at committed index ${i}, ${other.id} applied ${JSON.stringify(other.applied[i])}`);
        }
      }
    }
  }

  #check(): void {
    // Log matching over committed prefixes is implied by state-machine safety; check the raft logs too:
    // two nodes with the same term at an index agree on the entry there.
    const live = [...this.#nodes.values()].filter((n) => n.raw).map((n) => ({ id: n.id, node: n.raw!, status: { firstIndex: n.raw!.firstIndex, lastIndex: n.raw!.lastIndex } }));
    for (let a = 0; a < live.length; a++) {
      for (let b = a + 1; b < live.length; b++) {
        const la = live[a];
        const lb = live[b];
        const hi = Math.min(la.status.lastIndex, lb.status.lastIndex);
        const lo = Math.max(la.status.firstIndex, lb.status.firstIndex);
        // Sampled: checking every index every step would be quadratic in the log length.
        for (let k = 0; k < 3 && hi >= lo; k++) {
          const i = lo + Math.floor(this.#rand() * (hi - lo + 1));
          const term = la.node.logTerm(i);
          if (term === lb.node.logTerm(i) && term !== 0) {
            const ea = la.node.logEntries(i, i + 1)[0];
            const eb = lb.node.logEntries(i, i + 1)[0];
            if (!sameEntry(ea, eb)) this.#fail(`log matching: ${la.id} and ${lb.id} differ at index ${i} term ${term}`);
          }
        }
      }
    }
  }

  #proposeRandom(): void {
    const n = this.#randomLiveNode();
    if (!n) return;
    const data = `p${this.opts.seed}-${++this.#proposalSeq}`;
    this.stats.proposals++;
    // Queued for the next Ready; one Raft refuses (no leader) is dropped there, as a client's would be.
    n.raw!.propose(enc.encode(data));
  }

  #readRandom(): void {
    const n = this.#randomLiveNode();
    if (!n) return;
    const ctx = `r${this.#time}-${n.id}`;
    this.#reads.set(ctx, { node: n.id, startedAt: this.#time });
    this.stats.reads++;
    try {
      n.raw!.readIndex(enc.encode(ctx));
    } catch (err) {
      if ((err as Error).name !== "RaftError") throw err;
      this.#reads.delete(ctx);
    }
  }

  /** The member snapshots its applied state and drops the log before it, on disk and in memory alike. */
  #compactRandom(): void {
    const n = this.#randomLiveNode();
    if (!n) return;
    // Raft's applied index, not the state machine's: after a crash that followed installSnapshot but
    // preceded persisting it, the state machine is ahead of the log and its config.
    const at = Math.min(n.appliedIndex, n.raw!.applied);
    if (at <= n.storage.snapshot.meta.index + 5) return;
    const data = enc.encode(JSON.stringify(n.applied.slice(0, at + 1)));
    const confState = n.raw!.confState();
    for (const s of [n.disk, n.storage]) {
      s.createSnapshot(at, confState, data);
      s.compact(at);
    }
    this.stats.snapshots++;
  }

  /** A removed member is shut down for good once the removal applies anywhere (the operator stops it). */
  #remove(id: NodeId): void {
    const n = this.#nodes.get(id);
    if (!n || n.removed) return;
    n.removed = true;
    n.raw = null;
    this.stats.membersRemoved++;
    this.#event(`removed ${id}`);
  }

  #leader(): SimNode | undefined {
    for (const n of this.#nodes.values()) if (n.raw?.isLeader) return n;
    return undefined;
  }

  #isMember(id: NodeId): boolean {
    const leader = this.#leader();
    if (!leader) return true;
    const st = leader.raw!.status();
    return st.voters.has(id) || st.learners.has(id);
  }

  #crashRandom(): void {
    const n = this.#randomLiveNode();
    if (n) this.#crash(n, "between steps");
  }

  #crash(n: SimNode, where: string): void {
    this.#event(`crash ${n.id} (${where})`);
    this.stats.crashes++;
    this.crashesAt.set(where, (this.crashesAt.get(where) ?? 0) + 1);
    n.raw = null;
  }

  #partitionRandom(): void {
    const ids = [...this.#nodes.keys()];
    const a = ids[Math.floor(this.#rand() * ids.length)];
    const oneWay = this.#rand() < 0.3;
    for (const b of ids) {
      if (a === b || this.#rand() < 0.3) continue;
      this.#cut.add(`${a}-${b}`);
      if (!oneWay) this.#cut.add(`${b}-${a}`);
    }
    this.#event(`partition around ${a}${oneWay ? " (one-way)" : ""}`);
  }

  #randomLiveNode(): SimNode | undefined {
    const live = [...this.#nodes.values()].filter((n) => n.raw);
    return live.length ? live[Math.floor(this.#rand() * live.length)] : undefined;
  }
}

/** io.persist of a simulated member: the Ready's hard state, snapshot and entries reach its disk at once. */
function persist(disk: MemoryStorage, rd: Ready): void {
  if (rd.hardState) disk.hardState = rd.hardState;
  if (rd.snapshot) disk.applySnapshot(rd.snapshot);
  disk.append(rd.entries);
}

/** The in-memory log a restarted member starts from: its disk's snapshot, entries and hard state. */
function replay(disk: MemoryStorage): MemoryStorage {
  const s = new MemoryStorage();
  if (disk.snapshot.meta.index > 0) s.applySnapshot(disk.snapshot);
  if (disk.lastIndex() >= disk.firstIndex()) s.append(disk.entries(disk.firstIndex(), disk.lastIndex() + 1));
  s.hardState = disk.hardState;
  return s;
}

/** Same type and bytes (entries travel as shared objects here, so usually the very same one). */
function sameEntry(a: Entry, b: Entry): boolean {
  if (a === b) return true;
  if (a.type !== b.type || a.data.length !== b.data.length) return false;
  for (let j = 0; j < a.data.length; j++) if (a.data[j] !== b.data[j]) return false;
  return true;
}

/** What the state machine records for an entry: its data, a conf change spelled out, or null for no-ops. */
function entryKey(e: Entry): string | null {
  if (e.type === EntryType.ConfChange) {
    const cc = decodeConfChange(e.data);
    return `cc:${cc.type}:${cc.nodeId}`;
  }
  return e.data.length ? dec.decode(e.data) : null;
}

export function runSeed(opts: SimOptions): Simulation {
  const sim = new Simulation(opts);
  sim.run();
  return sim;
}
