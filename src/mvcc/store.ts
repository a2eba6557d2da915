import type { Backend } from "../backend/backend.ts";
import { Errors } from "../pkg/errors.ts";
import { Compactor } from "./compaction.ts";
import type { StoreEvent } from "./event.ts";
import { hashHistory } from "./hash.ts";
import { changesPage, historyStart, type ChangesOptions, type ChangesPage } from "./history.ts";
import { keyRange, type KeyValue } from "./key-value.ts";
import { countRange, indexCompactionPauseMs, OpTally } from "./metrics.ts";
import type { ChunkWriter } from "../proto/chunk-writer.ts";
import { encodeCurrent, leasedKeys, rangeAt, type RangeOptions, type RangeResult } from "./range.ts";
import { chainKv, Tables } from "./tables.ts";
import { WriteTxn } from "./write-txn.ts";

export type { ChangesOptions, ChangesPage } from "./history.ts";
export type { RangeOptions, RangeResult } from "./range.ts";
export { type DeleteResult, WriteTxn } from "./write-txn.ts";

/**
 * Multi-version key-value store with etcd's semantics. Every write transaction that changes anything
 * takes the next global revision.
 *
 * `hist` is append-only in revision order (etcd's key bucket): each row is one revision of one key and
 * points at the key's previous revision (`prev`), so writes never touch a random page of an index.
 * `cur` maps every key that has history to its newest row (`live` = 0 when that row is a tombstone),
 * with the live key's create revision and version so a put needs no join — etcd's in-memory key index,
 * kept in SQLite so a million keys cost page cache, not heap. Reads at the current revision join the
 * two; reads in the past walk a key's chain back to the revision asked for.
 *
 * This class keeps the revision counters and checks requests against them; reads (range.ts,
 * history.ts), writes (write-txn.ts), compaction (compaction.ts) and HashKV (hash.ts) are apart.
 */
export class MvccStore {
  #b: Backend;
  #t: Tables;
  #rev: bigint;
  #compactRev: bigint;
  #compactor: Compactor;
  /**
   * Called after every write transaction that changed something, with its revision and its changes
   * in order (the watch hub's notify). It runs synchronously inside the caller's batch, so it must
   * not throw and must not write.
   */
  onEvents: ((rev: bigint, events: StoreEvent[]) => void) | null = null;

  constructor(backend: Backend) {
    this.#b = backend;
    this.#t = new Tables(backend);
    // A fresh store is at revision 1, as etcd's: the first write gets revision 2.
    this.#rev = (backend.getMeta("rev") as bigint | undefined) ?? 1n;
    this.#compactRev = (backend.getMeta("compact_rev") as bigint | undefined) ?? 0n;
    this.#compactor = new Compactor(this.#t, () => this.#compactRev);
  }

  get rev(): bigint {
    return this.#rev;
  }

  get compactRev(): bigint {
    return this.#compactRev;
  }

  range(key: Uint8Array, end: Uint8Array | null | undefined, opts: RangeOptions = {}): RangeResult {
    if (this.#tally) this.#tally.ranges++;
    else countRange();
    const rev = opts.rev ?? 0n;
    if (rev > this.#rev) throw Errors.futureRev;
    if (rev > 0n && rev < this.#compactRev) throw Errors.compacted;
    return rangeAt(this.#t, keyRange(key, end), rev > 0n ? rev : this.#rev, this.#rev, this.#rev, opts);
  }

  /**
   * A Range at the current revision written to `w` as RangeResponse's kvs (see encodeCurrent), for
   * answers too big to build as objects. Counted as a range, as range() is.
   */
  encodeRange(key: Uint8Array, end: Uint8Array | null | undefined, opts: { limit: number; keysOnly: boolean }, w: ChunkWriter): { written: number; count: number; rev: bigint } {
    if (this.#tally) this.#tally.ranges++;
    else countRange();
    return { ...encodeCurrent(this.#t, keyRange(key, end), opts.limit, opts.keysOnly, w), rev: this.#rev };
  }

  /** Runs a write transaction: all its changes share revision rev+1, taken only if something changed. */
  write<T>(fn: (txn: WriteTxn) => T): T {
    return this.tally((ops) => {
      const txn = new WriteTxn(this, this.#t, this.#rev, ops);
      const out = this.#b.batch(() => {
        const out = fn(txn);
        if (txn.changes > 0) this.#rev += 1n;
        return out;
      });
      // Reached only if the batch succeeded (a failed one throws before this).
      if (txn.changes > 0 && this.onEvents !== null) this.onEvents(this.#rev, txn.events);
      return out;
    });
  }

  /**
   * Runs fn as one transaction for etcd's operation counters (etcd_mvcc_*_total): the ranges, puts
   * and deletes made inside it, reads and a write alike, are counted together when it ends, and as
   * one txn if there was more than one (a Txn request's compares and operations, a put with prev_kv).
   */
  tally<T>(fn: (ops: OpTally) => T): T {
    if (this.#tally) return fn(this.#tally);
    const ops = (this.#tally = new OpTally());
    try {
      return fn(ops);
    } finally {
      this.#tally = null;
      ops.end();
    }
  }

  #tally: OpTally | null = null;

  /** Live keys held by a lease, with the lease: how the lessor rebuilds its key sets at startup. */
  leasedKeys(): Generator<[Uint8Array, bigint]> {
    return leasedKeys(this.#t);
  }

  /** The key's value just before revision rev (at rev-1), or undefined if it had none or that is compacted. */
  kvBefore(key: Uint8Array, rev: bigint): KeyValue | undefined {
    const at = rev - 1n;
    if (at < this.#compactRev || at < 1n) return undefined;
    return rangeAt(this.#t, { kind: "point", key }, at < this.#rev ? at : this.#rev, this.#rev, this.#rev, {}).kvs[0];
  }

  /**
   * An event's prev_kv (etcd reads it only for watchers that ask): by primary key when the event
   * knows the key's previous row, else as kvBefore. Undefined for a create or once compacted away.
   */
  prevKv(ev: StoreEvent): KeyValue | undefined {
    if (ev.deleted) return ev.deleted;
    if (ev.prevId === null) return undefined;
    if (ev.prevId === undefined) return this.kvBefore(ev.kv.key, ev.kv.modRevision);
    const row = this.#t.row(ev.prevId);
    if (!row || row[5] === 1n) return undefined;
    return chainKv(ev.kv.key, row);
  }

  /** The id of the first history row with revision ≥ rev (one past the last row if none), found in O(log n). */
  historyStart(rev: bigint): bigint {
    return historyStart(this.#t, rev);
  }

  /**
   * The changes to keys in [key, end) (etcd's range convention) with revision in (after, to], one
   * bounded page at a time — the watch catch-up read. Throws `compacted` when revisions after
   * `after` are partly compacted away (etcd: a watcher whose next revision is below the compact
   * revision), `futureRev` when `to` is ahead of the store.
   */
  changes(key: Uint8Array, end: Uint8Array | null | undefined, opts: ChangesOptions): ChangesPage {
    const to = opts.to ?? this.#rev;
    if (to > this.#rev) throw Errors.futureRev;
    if (opts.after + 1n < this.#compactRev) throw Errors.compacted;
    return changesPage(this.#t, keyRange(key, end), { ...opts, to });
  }

  /** Stores the revision counters; the caller commits them in the same transaction as the data. */
  saveMeta(): void {
    this.#b.setMeta("rev", this.#rev);
    this.#b.setMeta("compact_rev", this.#compactRev);
  }

  /**
   * Compacts at rev: reads before it fail from now on, and every revision ≤ rev that is not the latest
   * one of its key at rev (and that one too when it is a tombstone) is deleted. The deletion walks
   * the keys' chains in slices; with `background` the slices yield to the event loop between them,
   * as etcd's compactor does (a whole-history DELETE blocked for ~0.7 s per 400k revisions). Rows
   * left for a while change no answer: reads at rev and later stop at the newest row ≤ rev, changes
   * start above rev, and HashKV waits for the deletion to finish. Restarting resumes it
   * (`resumeCompaction`) from the recorded progress.
   */
  compact(rev: bigint, opts: { background?: boolean } = {}): void {
    if (rev <= this.#compactRev) throw Errors.compacted;
    if (rev > this.#rev) throw Errors.futureRev;
    const startMs = performance.now();
    this.#b.batch(() => {
      this.#compactRev = rev;
      this.saveMeta();
      this.#compactor.saveProgress();
    });
    indexCompactionPauseMs.observe(Math.trunc(performance.now() - startMs));
    if (opts.background) this.resumeCompaction();
    else this.finishCompaction();
  }

  /** Physical compaction done up to this revision (≤ compactRev). */
  get compactDone(): bigint {
    return this.#compactor.done;
  }

  /** Resolves once the physical compaction has caught up with compactRev. */
  compacted(): Promise<void> {
    return this.#compactor.settled();
  }

  /** Starts (or continues) deleting in the background what compaction dropped. */
  resumeCompaction(): void {
    this.#compactor.resume();
  }

  /** Runs the outstanding physical compaction to its end, now (offline tools and tests). */
  finishCompaction(): void {
    this.#compactor.finish();
  }

  /**
   * HashKV (hash.ts): a CRC-32 over every retained revision ≤ rev in revision order, equal on
   * members with equal history; throws `compacted` if a compaction starts while it reads.
   */
  async hashKV(rev: bigint, pageRows = 20_000): Promise<{ hash: number; compactRevision: bigint }> {
    // Rows a compaction dropped may still be on disk while it runs: hash only the settled history.
    await this.compacted();
    return hashHistory(this.#t, rev, { pageRows, compactRev: () => this.#compactRev });
  }
}
