// Deterministic simulation of a Raft cluster: clock, network and crashes all come from one seed, so any
// failure replays exactly. After every step the safety invariants are checked; a violation is thrown
// with the seed and step.
import { seededRandom } from "../../src/pkg/prng.ts";
import { decodeConfChange, encodeConfChange } from "../../src/raft/codec.ts";
import { RawNode, type Ready } from "../../src/raft/raw-node.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import { ConfChangeType, type Entry, EntryType, type Message, MessageType, type NodeId, StateType } from "../../src/raft/types.ts";

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

interface SimNode {
  id: NodeId;
  /** Taken out of the cluster by a conf change: stopped for good. */
  removed: boolean;
  raw: RawNode | null; // null while crashed
  storage: MemoryStorage;
  /** The state machine: data applied at each index (durable, as a consistent index would make it). */
  applied: (string | null)[];
  appliedIndex: number;
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

  constructor(opts: SimOptions) {
    this.opts = { steps: 3000, loss: 0.05, dup: 0.02, ...opts };
    this.#rand = seededRandom(opts.seed);
    const ids = Array.from({ length: opts.nodes }, (_, i) => BigInt(i + 1));
    for (const id of ids) {
      // Bootstrap as etcd does: the initial members are conf change entries 1..n, committed in term 1.
      const storage = new MemoryStorage();
      storage.append(ids.map((m, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: m }) })));
      storage.hardState = { term: 1, vote: 0n, commit: ids.length };
      this.#nodes.set(id, { id, removed: false, raw: null, storage, applied: [null], appliedIndex: 0 });
      this.#start(id);
    }
    this.#nextId = BigInt(ids.length + 1);
  }

  #nextId: bigint;

  /** Adds a member that starts empty and learns everything (config included) from the leader. */
  #spawn(id: NodeId): void {
    if (this.#nodes.has(id)) return;
    this.#nodes.set(id, { id, removed: false, raw: null, storage: new MemoryStorage(), applied: [null], appliedIndex: 0 });
    this.#start(id);
    this.stats.membersAdded++;
    this.#event(`spawn ${id}`);
  }

  #changeMembership(): void {
    const leader = [...this.#nodes.values()].find((n) => n.raw?.raft.state === StateType.Leader);
    if (!leader) return;
    const r = leader.raw!.raft;
    const voters = [...r.voters];
    const learners = [...r.learners];
    const x = this.#rand();
    let cc: { type: ConfChangeType; nodeId: NodeId } | undefined;
    if (x < 0.35 && voters.length + learners.length < 7) cc = { type: ConfChangeType.AddLearnerNode, nodeId: this.#nextId++ };
    else if (x < 0.6 && learners.length) cc = { type: ConfChangeType.AddNode, nodeId: learners[0] };
    else if (x < 0.8 && voters.length + learners.length < 7) cc = { type: ConfChangeType.AddNode, nodeId: this.#nextId++ };
    else if (voters.length > 3) cc = { type: ConfChangeType.RemoveNode, nodeId: voters[Math.floor(this.#rand() * voters.length)] };
    if (!cc) return;
    // The operator starts a new member when asking for it, as with etcdctl member add.
    if (cc.type !== ConfChangeType.RemoveNode) this.#spawn(cc.nodeId);
    try {
      leader.raw!.proposeConfChange(encodeConfChange(cc));
      this.#event(`propose conf change ${cc.type} ${cc.nodeId}`);
    } catch (err) {
      if ((err as Error).name !== "RaftError") throw err;
    }
  }

  #start(id: NodeId): void {
    const n = this.#nodes.get(id)!;
    n.raw = new RawNode({
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
    });
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
      const leader = [...this.#nodes.values()].find((n) => n.raw?.raft.state === StateType.Leader);
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
      const r = n.raw!.raft;
      return `${n.id}: state ${r.state} term ${r.term} lead ${r.lead} last ${r.log.lastIndex()} committed ${r.log.committed} applied ${n.appliedIndex} first ${r.log.firstIndex()} prs ${[...r.prs].map(([id, p]) => `${id}:${p.match}/${p.next}/${p.state}${p.isPaused() ? "P" : ""}`).join(",")}`;
    });
    this.#fail(`no progress after healing: ${proposed ? "the final write did not apply everywhere" : "no leader"} within 2000 steps\n  ${states.join("\n  ")}`);
  }

  #step(faulty: boolean): void {
    this.#time++;
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
    this.#deliverDue(faulty);
    for (const n of this.#nodes.values()) this.#handleReady(n, faulty);
    this.#check();
  }

  #deliverDue(faulty: boolean): void {
    const due = this.#net.filter((f) => f.at <= this.#time);
    this.#net = this.#net.filter((f) => f.at > this.#time);
    for (const { m } of due) {
      const n = this.#nodes.get(m.to);
      const lost = this.#cut.has(`${m.from}-${m.to}`) || (faulty && this.#rand() < this.opts.loss) || !n?.raw;
      // The transport tells the sender whether a snapshot got through, as etcd's does.
      if (m.type === MessageType.Snap) this.#nodes.get(m.from)?.raw?.reportSnapshot(m.to, !lost);
      if (lost || !n?.raw) continue;
      try {
        n.raw.step(m);
      } catch (err) {
        if ((err as Error).name !== "RaftError") throw err;
      }
    }
  }

  #send(m: Message, faulty: boolean): void {
    const delay = 1 + Math.floor(this.#rand() * (faulty ? 6 : 2));
    this.#net.push({ at: this.#time + delay, m });
    if (faulty && this.#rand() < this.opts.dup) this.#net.push({ at: this.#time + delay + 1 + Math.floor(this.#rand() * 4), m });
  }

  #handleReady(n: SimNode, faulty: boolean): void {
    const raw = n.raw;
    if (!raw || !raw.hasReady()) return;
    const rd: Ready = raw.ready();
    const leader = raw.raft.state === StateType.Leader;
    // A leader may send before persisting; a follower only after.
    if (leader) for (const m of rd.messages) this.#send(m, faulty);
    if (faulty && this.#rand() < 0.002) {
      // Crash before persisting this ready: nothing of it survives.
      this.#crash(n, "before persisting a ready");
      return;
    }
    if (rd.softState?.state === StateType.Leader) {
      this.stats.elections++;
      const term = raw.raft.term;
      const prev = this.#leaderOfTerm.get(term);
      if (prev !== undefined && prev !== n.id) this.#fail(`two leaders in term ${term}: ${prev} and ${n.id}`);
      this.#leaderOfTerm.set(term, n.id);
      this.#event(`${n.id} leads term ${term}`);
      this.#checkLeaderCompleteness(n);
    }
    raw.advance(rd); // persists entries, hard state and snapshot into n.storage
    if (rd.snapshot) {
      const state = JSON.parse(dec.decode(rd.snapshot.data)) as (string | null)[];
      n.applied = state;
      n.appliedIndex = rd.snapshot.meta.index;
      this.#event(`${n.id} installed snapshot at ${rd.snapshot.meta.index}`);
    }
    if (!leader) for (const m of rd.messages) this.#send(m, faulty);
    for (const e of rd.committedEntries) this.#apply(n, e);
    for (const rs of rd.readStates) this.#pendingReads.push({ node: n.id, ctx: dec.decode(rs.requestCtx), index: rs.index });
    this.#serveReads();
  }

  #apply(n: SimNode, e: Entry): void {
    if (e.index <= n.appliedIndex) {
      if (e.type === EntryType.ConfChange) n.raw!.applyConfChange(decodeConfChange(e.data));
      return;
    }
    if (e.index !== n.appliedIndex + 1) this.#fail(`${n.id} applies index ${e.index} after ${n.appliedIndex}`);
    const data = entryKey(e);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      n.raw!.applyConfChange(cc);
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

  #checkLeaderCompleteness(n: SimNode): void {
    // A new leader's log holds every entry applied anywhere (applied ⇒ committed).
    const log = n.raw!.raft.log;
    for (const other of this.#nodes.values()) {
      for (let i = Math.max(log.firstIndex(), 1); i <= other.appliedIndex; i++) {
        if (i > log.lastIndex()) this.#fail(`leader ${n.id} of term ${n.raw!.raft.term} lacks committed index ${i} (last ${log.lastIndex()})`);
        const data = entryKey(log.slice(i, i + 1)[0]);
        if (other.applied[i] !== undefined && other.applied[i] !== data) {
          this.#fail(`leader ${n.id} of term ${n.raw!.raft.term} has ${JSON.stringify(data)} at committed index ${i}, ${other.id} applied ${JSON.stringify(other.applied[i])}`);
        }
      }
    }
  }

  #check(): void {
    // Log matching over committed prefixes is implied by state-machine safety; check the raft logs too:
    // two nodes with the same term at an index agree on the entry there.
    const live = [...this.#nodes.values()].filter((n) => n.raw);
    for (let a = 0; a < live.length; a++) {
      for (let b = a + 1; b < live.length; b++) {
        const la = live[a].raw!.raft.log;
        const lb = live[b].raw!.raft.log;
        const hi = Math.min(la.lastIndex(), lb.lastIndex());
        const lo = Math.max(la.firstIndex(), lb.firstIndex());
        // Sampled: checking every index every step would be quadratic in the log length.
        for (let k = 0; k < 3 && hi >= lo; k++) {
          const i = lo + Math.floor(this.#rand() * (hi - lo + 1));
          if (la.term(i) === lb.term(i) && la.term(i) !== 0) {
            const ea = la.slice(i, i + 1)[0];
            const eb = lb.slice(i, i + 1)[0];
            if (entryKey(ea) !== entryKey(eb)) this.#fail(`log matching: ${live[a].id} and ${live[b].id} differ at index ${i} term ${la.term(i)}`);
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
    try {
      n.raw!.propose(enc.encode(data));
    } catch (err) {
      if ((err as Error).name !== "RaftError") throw err;
    }
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

  #compactRandom(): void {
    const n = this.#randomLiveNode();
    if (!n || n.appliedIndex <= n.storage.snapshot.meta.index + 5) return;
    const at = n.appliedIndex;
    const data = enc.encode(JSON.stringify(n.applied.slice(0, at + 1)));
    n.storage.createSnapshot(at, n.raw!.raft.confState(), data);
    n.storage.compact(at);
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

  #isMember(id: NodeId): boolean {
    const leader = [...this.#nodes.values()].find((n) => n.raw?.raft.state === StateType.Leader);
    if (!leader) return true;
    const r = leader.raw!.raft;
    return r.voters.has(id) || r.learners.has(id);
  }

  #crashRandom(): void {
    const n = this.#randomLiveNode();
    if (n) this.#crash(n, "at random");
  }

  #crash(n: SimNode, why: string): void {
    this.#event(`crash ${n.id} (${why})`);
    this.stats.crashes++;
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

