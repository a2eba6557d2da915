import { assert } from "../pkg/assert.ts";
import { entryBytes, limitSize, type MemoryStorage } from "./storage.ts";
import { type Entry, RaftError, type Snapshot } from "./types.ts";

/**
 * The log as Raft sees it: durable entries in storage, then `unstable` ones not yet handed to the
 * ready loop for persisting (or handed but not yet acknowledged). Invariants:
 * applied ≤ committed ≤ lastIndex, and storage never holds an entry that unstable contradicts.
 */
export class RaftLog {
  readonly storage: MemoryStorage;
  committed: number;
  applied: number;
  /** Unstable entries start at this index. */
  #offset: number;
  #unstable: Entry[] = [];
  /** A snapshot received from the leader and not yet persisted. */
  pendingSnapshot: Snapshot | undefined;

  constructor(storage: MemoryStorage) {
    this.storage = storage;
    const first = storage.firstIndex();
    this.#offset = storage.lastIndex() + 1;
    this.committed = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    if (this.pendingSnapshot) return this.pendingSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.#unstable.length) return this.#offset + this.#unstable.length - 1;
    if (this.pendingSnapshot) return this.pendingSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** The term of entry i, or 0 when i is outside the log (before the first or after the last). */
  term(i: number): number {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return 0;
    if (i >= this.#offset && this.#unstable.length) return this.#unstable[i - this.#offset].term;
    if (this.pendingSnapshot && i === this.pendingSnapshot.meta.index) return this.pendingSnapshot.meta.term;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof RaftError) return 0;
      throw err;
    }
  }

  matchTerm(i: number, term: number): boolean {
    if (i > this.lastIndex() || i < this.firstIndex() - 1) return false;
    return this.term(i) === term;
  }

  /** A follower's append: returns the new last index, or undefined when (index, logTerm) does not match. */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.#findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) throw new Error(`assertion failed: entry ${ci} conflicts with committed entry [committed(${this.committed})]`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    if (after < this.committed) throw new Error(`assertion failed: after(${after}) is out of range [committed(${this.committed})]`);
    this.#truncateAndAppend(ents);
    return this.lastIndex();
  }

  #truncateAndAppend(ents: Entry[]): void {
    const after = ents[0].index;
    if (after === this.#offset + this.#unstable.length) {
      for (const e of ents) this.#unstable.push(e);
    } else if (after <= this.#offset) {
      // Replaces everything unstable; storage's conflicting suffix is overwritten when this persists.
      this.#offset = after;
      this.#unstable = ents.slice();
    } else {
      this.#unstable = this.#unstable.slice(0, after - this.#offset).concat(ents);
    }
  }

  #findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index ≤ index whose term ≤ term, so a rejected append can skip a
   * whole term of mismatching entries at once.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.term(index);
      if (t === 0 && index >= this.firstIndex()) break;
      if (t <= term) return { index, term: t };
    }
    return { index, term: this.term(index) };
  }

  unstableEntries(): Entry[] {
    return this.#unstable;
  }

  /** Committed entries not yet handed out for applying, at most maxBytes. */
  nextCommittedEnts(maxBytes = Infinity): Entry[] {
    // Relied on here, made in appliedTo/commitTo: what is handed out for applying was committed.
    assert(this.applied <= this.committed, () => `applied(${this.applied}) is past committed(${this.committed})`);
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  hasNextCommittedEnts(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo > hi) throw new Error(`assertion failed: invalid slice ${lo} > ${hi}`);
    if (lo < this.firstIndex()) throw new RaftError("Compacted");
    if (hi > this.lastIndex() + 1) throw new Error(`assertion failed: slice[${lo},${hi}) out of bound [${this.firstIndex()},${this.lastIndex()}]`);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    if (lo < this.#offset) {
      ents = this.storage.entries(lo, Math.min(hi, this.#offset), maxBytes);
      if (ents.length < Math.min(hi, this.#offset) - lo) return ents; // hit the size limit
    }
    if (hi > this.#offset) {
      const start = Math.max(lo, this.#offset);
      const more = this.#unstable.slice(start - this.#offset, hi - this.#offset);
      ents = ents.length ? ents.concat(more) : more;
    }
    return limitSize(ents, maxBytes);
  }

  entriesFrom(i: number, maxBytes: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** Commits up to maxIndex only if that entry is of the leader's current term (Raft §5.4.2, figure 8). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  commitTo(c: number): void {
    if (c <= this.committed) return; // the commit index never moves back
    assert(c <= this.lastIndex(), () => `tocommit(${c}) is out of range [lastIndex(${this.lastIndex()})]`);
    this.committed = c;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, () => `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`);
    this.applied = i;
  }

  /** The ready loop persisted entries up to (i, t): they leave the unstable list. */
  stableTo(i: number, t: number): void {
    if (i < this.#offset || this.#unstable.length === 0) return;
    const gt = this.term(i);
    if (gt !== t) return; // replaced meanwhile by a newer leader's entries
    const n = i - this.#offset + 1;
    if (n > this.#unstable.length) return;
    this.#unstable = this.#unstable.slice(n);
    this.#offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.pendingSnapshot && this.pendingSnapshot.meta.index === i) this.pendingSnapshot = undefined;
  }

  restore(snap: Snapshot): void {
    // The caller checked it (Raft's #restore); a snapshot at or below commit would move commit back.
    assert(snap.meta.index > this.committed, () => `restoring snapshot ${snap.meta.index} at or below committed(${this.committed})`);
    this.committed = snap.meta.index;
    this.pendingSnapshot = snap;
    this.#offset = snap.meta.index + 1;
    this.#unstable = [];
  }

  /** Whether a candidate's log (lastIndex, lastTerm) is at least as up to date as ours (§5.4.1). */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ours = this.lastTerm();
    return term > ours || (term === ours && lastIndex >= this.lastIndex());
  }

  unstableBytes(): number {
    let n = 0;
    for (const e of this.#unstable) n += entryBytes(e);
    return n;
  }
}
