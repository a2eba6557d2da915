import { type Entry, type HardState, NONE, RaftError, type Snapshot } from "./types.ts";

/**
 * What this node has made durable: hard state, a snapshot and the entries after it. The ready loop
 * appends here only after its WAL write returned; the Raft core reads it and never writes it.
 * Index 0 of `#ents` is a dummy holding the snapshot's index and term.
 */
export class MemoryStorage {
  hardState: HardState = { term: 0, vote: NONE, commit: 0 };
  #snapshot: Snapshot = { meta: { index: 0, term: 0, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) };
  #ents: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];

  get snapshot(): Snapshot {
    return this.#snapshot;
  }

  firstIndex(): number {
    return this.#ents[0].index + 1;
  }

  lastIndex(): number {
    return this.#ents[0].index + this.#ents.length - 1;
  }

  term(i: number): number {
    const offset = this.#ents[0].index;
    if (i < offset) throw new RaftError("Compacted");
    if (i - offset >= this.#ents.length) throw new RaftError("Unavailable");
    return this.#ents[i - offset].term;
  }

  /** Entries [lo, hi), at most maxBytes of data (always at least one). */
  entries(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    const offset = this.#ents[0].index;
    if (lo <= offset) throw new RaftError("Compacted");
    if (hi > this.lastIndex() + 1) throw new Error(`assertion failed: entries hi ${hi} beyond last index ${this.lastIndex()}`);
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxBytes);
  }

  /** Appends entries, replacing any conflicting suffix. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // all already compacted
    if (first > entries[0].index) entries = entries.slice(first - entries[0].index);
    const offset = entries[0].index - this.#ents[0].index;
    if (offset > this.#ents.length) throw new Error(`assertion failed: missing log entry [last: ${this.lastIndex()}, append at: ${entries[0].index}]`);
    this.#ents.length = offset;
    for (const e of entries) this.#ents.push(e);
  }

  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.#snapshot.meta.index) throw new RaftError("SnapshotTemporarilyUnavailable", "snapshot out of date");
    this.#snapshot = snap;
    this.#ents = [{ term: snap.meta.term, index: snap.meta.index, type: 0, data: new Uint8Array(0) }];
  }

  /** Records a snapshot of the applied state at index i; entries up to i may then be compacted. */
  createSnapshot(i: number, confState: Snapshot["meta"]["confState"], data: Uint8Array): Snapshot {
    if (i <= this.#snapshot.meta.index) throw new RaftError("SnapshotTemporarilyUnavailable", "snapshot out of date");
    if (i > this.lastIndex()) throw new Error(`assertion failed: snapshot ${i} beyond last index ${this.lastIndex()}`);
    this.#snapshot = { meta: { index: i, term: this.term(i), confState }, data };
    return this.#snapshot;
  }

  /** Drops entries before compactIndex (which becomes the dummy). */
  compact(compactIndex: number): void {
    const offset = this.#ents[0].index;
    if (compactIndex <= offset) throw new RaftError("Compacted");
    if (compactIndex > this.lastIndex()) throw new Error(`assertion failed: compact ${compactIndex} beyond last index ${this.lastIndex()}`);
    const i = compactIndex - offset;
    const dummy = { term: this.#ents[i].term, index: this.#ents[i].index, type: 0 as const, data: new Uint8Array(0) };
    this.#ents = [dummy, ...this.#ents.slice(i + 1)];
  }
}

export function entryBytes(e: Entry): number {
  return e.data.length + 16;
}

export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0 || maxBytes === Infinity) return ents;
  let size = entryBytes(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entryBytes(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}
