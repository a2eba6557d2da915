/** A log entry (raftpb.Entry's fields; type 0 = normal, 1 = conf change). */
export interface Entry {
  term: bigint;
  index: bigint;
  type: number;
  data: Uint8Array;
}

/** What the ready loop must do next, in this order: persist, then apply, then advance(). */
export interface Ready {
  /** Entries to append to the WAL before they may count as committed. */
  entries: Entry[];
  /** Term, vote and commit to record with them (undefined: unchanged). */
  hardState?: { term: bigint; vote: bigint; commit: bigint };
  /** Entries known committed and not yet handed out for applying, in index order. */
  committedEntries: Entry[];
}

/**
 * The consensus seam for a one-member cluster: an entry is committed once it is durable in this
 * member's WAL, because this member is the whole quorum. It has the shape of a Raft node (propose,
 * ready, advance, no I/O, no clock) so the Raft core can replace it without touching the ready loop.
 */
export class SingleNode {
  readonly id: bigint;
  #term: bigint;
  #lastIndex: bigint;
  #committed: bigint;
  #handedOut: bigint;
  #unstable: Entry[] = [];
  #stable: Entry[] = []; // persisted, not yet handed out for applying
  #hardStateDirty = true;

  /** Starts after a restart (or fresh), at lastIndex with everything durable, in a new term. */
  constructor(opts: { id: bigint; lastTerm: bigint; lastIndex: bigint; appliedIndex: bigint; replay: Entry[] }) {
    this.id = opts.id;
    // A restart is a new election that this member wins alone: a new term, as etcd's raft would have.
    this.#term = opts.lastTerm + 1n;
    this.#lastIndex = opts.lastIndex;
    this.#committed = opts.lastIndex;
    this.#handedOut = opts.appliedIndex;
    this.#stable = opts.replay.filter((e) => e.index > opts.appliedIndex);
    // The new leader's empty entry, as Raft appends at the start of every term.
    this.propose(new Uint8Array(0));
  }

  get term(): bigint {
    return this.#term;
  }
  get lastIndex(): bigint {
    return this.#lastIndex;
  }
  get committed(): bigint {
    return this.#committed;
  }
  get leader(): bigint {
    return this.id;
  }

  propose(data: Uint8Array): bigint {
    const index = ++this.#lastIndex;
    this.#unstable.push({ term: this.#term, index, type: 0, data });
    return index;
  }

  hasReady(): boolean {
    return this.#unstable.length > 0 || this.#stable.length > 0 || this.#hardStateDirty;
  }

  ready(): Ready {
    const rd: Ready = { entries: this.#unstable, committedEntries: this.#stable };
    if (this.#hardStateDirty || this.#unstable.length > 0) {
      rd.hardState = { term: this.#term, vote: this.id, commit: this.#committed };
    }
    this.#unstable = [];
    this.#stable = [];
    this.#hardStateDirty = false;
    return rd;
  }

  /** The ready's entries are durable: with a quorum of one, that commits them. */
  advance(rd: Ready): void {
    if (rd.committedEntries.length > 0) this.#handedOut = rd.committedEntries[rd.committedEntries.length - 1].index;
    if (rd.entries.length > 0) {
      this.#committed = rd.entries[rd.entries.length - 1].index;
      this.#stable.push(...rd.entries);
    }
    if (this.#handedOut > this.#committed) throw new Error("assertion failed: applied index beyond commit");
  }
}
