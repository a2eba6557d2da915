// A deterministic in-memory cluster for Raft tests: every node runs the server's Ready loop (RaftNode)
// with instant persistence, messages go through a queue the test controls (drop, partition, isolate),
// and time is explicit ticks.
import { MemoryStorage } from "../../src/raft/storage.ts";
import type { Entry, Message, NodeId } from "../../src/raft/types.ts";
import { seededRandom } from "../../src/pkg/prng.ts";
import { RaftNode } from "../../src/server/core/raft-node.ts";

export interface NodeOptions {
  preVote?: boolean;
  checkQuorum?: boolean;
  unsafeCommitPreviousTerms?: boolean;
  unsafeVoteWithoutLogCheck?: boolean;
  electionTick?: number;
  maxSizePerMsg?: number;
  readOnlyOption?: "safe" | "lease";
}

const dec = new TextDecoder();

export class Cluster {
  nodes = new Map<NodeId, RaftNode>();
  /**
   * Each node's durable log. Persisting is instant here: RawNode.advance writes what a Ready made
   * durable, and a restart finds exactly that.
   */
  storages = new Map<NodeId, MemoryStorage>();
  /** Entries each node's state machine applied, in order (not those that came inside a snapshot). */
  applied = new Map<NodeId, Entry[]>();
  /** The last index each state machine holds, from entries or a snapshot: kept across restarts. */
  appliedIndex = new Map<NodeId, number>();
  queue: Message[] = [];
  /** Pairs "a-b" whose messages are dropped (directional). */
  cut = new Set<string>();
  /** Messages for which this returns false are dropped too. */
  allow: (m: Message) => boolean = () => true;
  /** Read states handed out by each node's readies. */
  reads = new Map<NodeId, { index: number; ctx: string }[]>();
  /** Proposals Raft refused (no leader), per node. */
  dropped = new Map<NodeId, string[]>();
  #rand: () => number;
  #opts: NodeOptions;

  constructor(ids: number[], opts: NodeOptions & { seed?: number; learners?: number[] } = {}) {
    this.#rand = seededRandom(opts.seed ?? 1);
    this.#opts = opts;
    const voters = ids.map(BigInt);
    const learners = (opts.learners ?? []).map(BigInt);
    for (const id of [...voters, ...learners]) this.add(id, voters, learners);
  }

  add(id: NodeId, voters: NodeId[], learners: NodeId[] = []): RaftNode {
    const storage = new MemoryStorage();
    // Bootstrap membership as a snapshot at index 0 would: every node starts with the same conf state.
    (storage.snapshot.meta.confState as { voters: NodeId[]; learners: NodeId[] }).voters = [...voters];
    (storage.snapshot.meta.confState as { voters: NodeId[]; learners: NodeId[] }).learners = [...learners];
    this.storages.set(id, storage);
    this.applied.set(id, []);
    this.appliedIndex.set(id, 0);
    this.reads.set(id, []);
    this.dropped.set(id, []);
    return this.#start(id);
  }

  /**
   * A process restart: a new node over the same storage (what the WAL would replay) and state machine.
   * Everything volatile goes — role, known leader, election timer, the leader's view of its followers.
   */
  restart(id: number): RaftNode {
    return this.#start(BigInt(id));
  }

  #start(id: NodeId): RaftNode {
    const applied = this.applied.get(id)!;
    const node = new RaftNode({
      id,
      storage: this.storages.get(id)!,
      // The state machine's applied index is durable (etcd's consistent index): Raft resumes after it.
      applied: this.appliedIndex.get(id)!,
      electionTick: this.#opts.electionTick ?? 10,
      heartbeatTick: 1,
      preVote: this.#opts.preVote ?? true,
      checkQuorum: this.#opts.checkQuorum ?? true,
      random: this.#rand,
      unsafeCommitPreviousTerms: this.#opts.unsafeCommitPreviousTerms,
      unsafeVoteWithoutLogCheck: this.#opts.unsafeVoteWithoutLogCheck,
      maxSizePerMsg: this.#opts.maxSizePerMsg,
      readOnlyOption: this.#opts.readOnlyOption,
      io: {
        persist: () => {},
        installSnapshot: (snap) => this.appliedIndex.set(id, snap.meta.index),
        apply: (entries) => {
          applied.push(...entries);
          this.appliedIndex.set(id, entries[entries.length - 1].index);
        },
        send: (msgs) => this.queue.push(...msgs),
        readStates: (rs) => this.reads.get(id)!.push(...rs.map((r) => ({ index: r.index, ctx: dec.decode(r.requestCtx) }))),
        dropped: (data) => this.dropped.get(id)!.push(...data.map((d) => dec.decode(d))),
      },
      failpoint: () => {},
    });
    this.nodes.set(id, node);
    return node;
  }

  node(id: number): RaftNode {
    return this.nodes.get(BigInt(id))!;
  }

  /** Handles every ready of every node until nothing moves (bounded). */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const n of this.nodes.values()) {
        // Synchronous io: processReady completes the Ready (or has none) before returning.
        if (n.processReady() === true) moved = true;
      }
      if (this.queue.length) {
        moved = true;
        const msgs = this.queue;
        this.queue = [];
        for (const m of msgs) this.deliver(m);
      }
      if (!moved) return;
    }
    throw new Error("cluster did not stabilize");
  }

  deliver(m: Message): void {
    if (this.cut.has(`${m.from}-${m.to}`) || !this.allow(m)) return;
    this.nodes.get(m.to)?.step(m);
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) {
      if (other === BigInt(id)) continue;
      this.cut.add(`${id}-${other}`);
      this.cut.add(`${other}-${id}`);
    }
  }

  partition(a: number[], b: number[]): void {
    for (const x of a) for (const y of b) {
      this.cut.add(`${x}-${y}`);
      this.cut.add(`${y}-${x}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  tick(n = 1, only?: number[]): void {
    for (let i = 0; i < n; i++) {
      for (const [id, node] of this.nodes) if (!only || only.includes(Number(id))) node.tick();
      this.stabilize();
    }
  }

  campaign(id: number): void {
    this.node(id).campaign();
    this.stabilize();
  }

  /** Proposes through node id and runs the cluster; false when Raft refused it (no leader known). */
  propose(id: number, text: string): boolean {
    const dropped = this.dropped.get(BigInt(id))!;
    const before = dropped.length;
    this.node(id).propose(new TextEncoder().encode(text));
    this.stabilize();
    return dropped.length === before;
  }

  leaders(): NodeId[] {
    return [...this.nodes].filter(([, n]) => n.isLeader).map(([id]) => id);
  }

  appliedData(id: number): string[] {
    return this.applied
      .get(BigInt(id))!
      .filter((e) => e.data.length > 0)
      .map((e) => dec.decode(e.data));
  }
}
