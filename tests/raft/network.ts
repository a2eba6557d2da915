// A deterministic in-memory cluster for Raft tests: every node persists instantly, messages go
// through a queue the test controls (drop, partition, isolate), and time is explicit ticks.
import { RawNode } from "../../src/raft/raw-node.ts";
import { MemoryStorage } from "../../src/raft/storage.ts";
import { type Entry, type Message, type NodeId, StateType } from "../../src/raft/types.ts";
import { seededRandom } from "../../src/pkg/prng.ts";

export interface NodeOptions {
  preVote?: boolean;
  checkQuorum?: boolean;
  unsafeCommitPreviousTerms?: boolean;
  electionTick?: number;
  maxSizePerMsg?: number;
  readOnlyOption?: "safe" | "lease";
}

export class Cluster {
  nodes = new Map<NodeId, RawNode>();
  storages = new Map<NodeId, MemoryStorage>();
  applied = new Map<NodeId, Entry[]>();
  queue: Message[] = [];
  /** Pairs "a-b" whose messages are dropped (directional). */
  cut = new Set<string>();
  /** Messages for which this returns false are dropped too. */
  allow: (m: Message) => boolean = () => true;
  /** Read states handed out by each node's readies. */
  reads = new Map<NodeId, { index: number; ctx: string }[]>();
  #rand: () => number;
  #opts: NodeOptions;

  constructor(ids: number[], opts: NodeOptions & { seed?: number; learners?: number[] } = {}) {
    this.#rand = seededRandom(opts.seed ?? 1);
    this.#opts = opts;
    const voters = ids.map(BigInt);
    const learners = (opts.learners ?? []).map(BigInt);
    for (const id of [...voters, ...learners]) this.add(id, voters, learners);
  }

  add(id: NodeId, voters: NodeId[], learners: NodeId[] = []): RawNode {
    const storage = new MemoryStorage();
    // Bootstrap membership as a snapshot at index 0 would: every node starts with the same conf state.
    (storage.snapshot.meta.confState as { voters: NodeId[]; learners: NodeId[] }).voters = [...voters];
    (storage.snapshot.meta.confState as { voters: NodeId[]; learners: NodeId[] }).learners = [...learners];
    const node = new RawNode({
      id,
      storage,
      electionTick: this.#opts.electionTick ?? 10,
      heartbeatTick: 1,
      preVote: this.#opts.preVote ?? true,
      checkQuorum: this.#opts.checkQuorum ?? true,
      random: this.#rand,
      unsafeCommitPreviousTerms: this.#opts.unsafeCommitPreviousTerms,
      maxSizePerMsg: this.#opts.maxSizePerMsg,
      readOnlyOption: this.#opts.readOnlyOption,
    });
    this.nodes.set(id, node);
    this.storages.set(id, storage);
    this.applied.set(id, []);
    this.reads.set(id, []);
    return node;
  }

  node(id: number): RawNode {
    return this.nodes.get(BigInt(id))!;
  }

  /** Handles every ready of every node until nothing moves (bounded). */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const [id, n] of this.nodes) {
        if (!n.hasReady()) continue;
        moved = true;
        const rd = n.ready();
        this.applied.get(id)!.push(...rd.committedEntries);
        for (const r of rd.readStates) this.reads.get(id)!.push({ index: r.index, ctx: new TextDecoder().decode(r.requestCtx) });
        for (const m of rd.messages) this.queue.push(m);
        n.advance(rd);
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
    const n = this.nodes.get(m.to);
    if (!n) return;
    try {
      n.step(m);
    } catch (err) {
      if ((err as Error).name !== "RaftError") throw err;
    }
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

  propose(id: number, text: string): boolean {
    try {
      this.node(id).propose(new TextEncoder().encode(text));
      this.stabilize();
      return true;
    } catch (err) {
      if ((err as Error).name === "RaftError") return false;
      throw err;
    }
  }

  leaders(): NodeId[] {
    return [...this.nodes].filter(([, n]) => n.raft.state === StateType.Leader).map(([id]) => id);
  }

  appliedData(id: number): string[] {
    return this.applied
      .get(BigInt(id))!
      .filter((e) => e.data.length > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }
}
