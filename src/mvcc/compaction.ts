// Physical compaction: deleting, a slice of keys at a time, the history rows a compaction dropped.
import { failpoint } from "../pkg/failpoint.ts";
import { dbCompactionKeys, dbCompactionLast, dbCompactionPauseMs, dbCompactionTotalMs } from "./metrics.ts";
import type { Tables } from "./tables.ts";

/** Keys per background compaction slice: a few milliseconds of work between event-loop turns. */
const COMPACT_SLICE_KEYS = 100;

/**
 * Catches the history up with the store's compaction point (MvccStore.compact says why rows may
 * linger until it does). Its progress is recorded, so a restart resumes it.
 */
export class Compactor {
  #t: Tables;
  /** The store's compaction point: what the deletion catches up with. */
  #target: () => bigint;
  /** Physical compaction is done up to here; rows of revisions in (done, target] may linger. */
  #done: bigint;
  /** A background pass deleting what compaction dropped: target revision and the last key done. */
  #pass: { target: bigint; after: Uint8Array | null; startMs: number } | null = null;
  #running: Promise<void> | null = null;

  constructor(t: Tables, target: () => bigint) {
    this.#t = t;
    this.#target = target;
    // Stores from before background compaction compacted synchronously: done up to compact_rev.
    this.#done = (t.backend.getMeta("compact_done") as bigint | undefined) ?? target();
  }

  get done(): bigint {
    return this.#done;
  }

  /** Recorded with a new compaction point, so a restart knows the deletion up to it is not done yet. */
  saveProgress(): void {
    this.#t.backend.setMeta("compact_done", this.#done);
  }

  /** Resolves once the deletion has caught up. */
  settled(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Starts (or continues) the deletion in the background. */
  resume(): void {
    if (this.#running || this.#done >= this.#target()) return;
    const b = this.#t.backend;
    this.#running = (async () => {
      try {
        // Never inside the caller's batch (an apply): each slice runs on its own turn and is committed
        // at once, so no commit gathers a large pile of deletions. A closed backend (the member
        // stopping) ends it; the recorded progress resumes it at the next start.
        for (;;) {
          await new Promise<void>((r) => setImmediate(r));
          if (this.#done >= this.#target() || b.closed) break;
          this.#slice(COMPACT_SLICE_KEYS);
          // etcd's gofail names: a crash between deleting history and recording how far it got.
          failpoint("compactBeforeCommitBatch");
          b.commit();
          failpoint("compactAfterCommitBatch");
          b.checkpointStep();
        }
      } finally {
        this.#running = null;
      }
    })();
  }

  /** Runs the deletion to its end, now. */
  finish(): void {
    while (this.#done < this.#target()) this.#slice(-1);
  }

  /** One slice of a pass: up to `keys` keys (-1: all) in key order, each chain trimmed at the pass's target. */
  #slice(keys: number): void {
    if (!this.#pass) this.#pass = { target: this.#target(), after: null, startMs: performance.now() };
    const pass = this.#pass;
    const sliceStartMs = performance.now();
    const t = this.#t;
    t.backend.batch(() => {
      const heads = (
        pass.after === null
          ? t.stmt("compact-keys-first", "SELECT key, id FROM cur ORDER BY key LIMIT ?1").values(keys)
          : t.stmt("compact-keys-next", "SELECT key, id FROM cur WHERE key > ?1 ORDER BY key LIMIT ?2").values(pass.after, keys)
      ) as [Uint8Array, bigint][];
      for (const [key, head] of heads) this.#trimKey(key, head, pass.target);
      if (keys < 0 || heads.length < keys) {
        // The pass is complete: everything dropped at `target` is gone.
        this.#done = pass.target;
        t.backend.setMeta("compact_done", pass.target);
        this.#pass = null;
        // As etcd's: whole milliseconds, the pass from its first slice to its last.
        dbCompactionTotalMs.observe(Math.trunc(performance.now() - pass.startMs));
        dbCompactionLast.set(Math.floor(Date.now() / 1000));
      } else {
        pass.after = heads[heads.length - 1][0];
        dbCompactionPauseMs.observe(Math.trunc(performance.now() - sliceStartMs));
      }
    });
  }

  /** Deletes the rows of one key that compaction at `target` dropped (they never change again). */
  #trimKey(key: Uint8Array, head: bigint, target: bigint): void {
    const t = this.#t;
    const del = t.stmt("compact-del", "DELETE FROM hist WHERE id = ?1");
    const found = t.rowAt(head, target);
    if (!found) return;
    const { id, row } = found;
    // `row` is the key's newest at target: kept, unless it is a tombstone from before target. A
    // tombstone AT target stays until a later compaction: a watch from the compaction revision must
    // still get that delete (etcd-io/etcd#18274, fixed in etcd 3.4.34 and 3.5.16).
    let older = row[6];
    if (row[5] === 1n && row[0] < target) {
      del.run(id);
      dbCompactionKeys.inc();
      // A key whose newest row was a dropped tombstone has no history left.
      if (id === head) t.stmt("compact-cur", "DELETE FROM cur WHERE key = ?1").run(key);
    }
    while (older !== null) {
      const r = t.row(older);
      if (!r) break;
      del.run(older);
      dbCompactionKeys.inc();
      older = r[6];
    }
  }
}
