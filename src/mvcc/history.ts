// Reads of the history in revision order (the watch catch-up read), by row id: ids grow with revision.
import { EventType, tombstone, type HistoryEvent } from "./event.ts";
import { compareBytes, type KeyRange } from "./key-value.ts";
import { EMPTY, type Tables } from "./tables.ts";

export interface ChangesOptions {
  /** Changes after this revision (exclusive)... */
  after: bigint;
  /** ...up to this one (inclusive); absent means the current revision. */
  to?: bigint;
  /** History rows examined per call (matching or not), so one call's work and memory are bounded. */
  rowsMax?: number;
  /** Resume where the previous page stopped (its `next.id`) instead of searching for `after`. */
  cursor?: bigint;
}

export interface ChangesPage {
  /** In revision order (and, within a revision, in the order the write made them). */
  events: HistoryEvent[];
  /**
   * Where the rest starts, or null when (after, to] is exhausted. A page ends on a revision boundary
   * unless one revision alone has more than rowsMax rows; `rev` is the first revision not yet complete.
   */
  next: { id: bigint; rev: bigint } | null;
}

/** A history row read for changes(): id, rev, key, value, create_rev, version, lease, tomb, prev. */
type HistRow = [bigint, bigint, Uint8Array, Uint8Array | null, bigint, bigint, bigint, bigint, bigint | null];

/**
 * The id of the first history row with revision ≥ rev (one past the last row if none). `hist` has
 * no index on rev, but ids grow with revision, so this is a binary search over ids: O(log n)
 * primary-key lookups, never a scan. Compaction leaves gaps, hence "first row with id ≥ probe".
 */
export function historyStart(t: Tables, rev: bigint): bigint {
  const last = t.stmt("hist-last", "SELECT id, rev FROM hist ORDER BY id DESC LIMIT 1").values()[0] as [bigint, bigint] | undefined;
  if (!last || last[1] < rev) return (last?.[0] ?? 0n) + 1n;
  const atOrAfter = t.stmt("hist-probe", "SELECT id, rev FROM hist WHERE id >= ?1 ORDER BY id LIMIT 1");
  // Invariants: every row with id ≤ lo is before rev; `found`, the first row with id ≥ hi, is not.
  let lo = 0n;
  let hi = last[0];
  let found = last[0];
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    const [id, r] = atOrAfter.values(mid)[0] as [bigint, bigint]; // exists: mid < hi ≤ last id
    if (r >= rev) {
      hi = mid;
      found = id;
    } else lo = id; // id < hi, else the row at hi would be before rev
  }
  return found;
}

/**
 * One page of the changes to keys in range with revision in (after, to]; the caller has checked
 * `to` and `after` against the store's revision and compaction point.
 */
export function changesPage(t: Tables, range: KeyRange, opts: ChangesOptions & { to: bigint }): ChangesPage {
  const { after, to } = opts;
  const rowsMax = opts.rowsMax ?? 1000;
  if (!(rowsMax >= 1)) throw new Error(`changes: rowsMax must be at least 1, got ${rowsMax}`);
  if (after >= to) return { events: [], next: null };
  const from = opts.cursor ?? historyStart(t, after + 1n);
  // ids grow with revision, so "rev <= to" only trims the tail (rows of writes not yet notified).
  const rows = t
    .stmt("changes", "SELECT id, rev, key, value, create_rev, version, lease, tomb, prev FROM hist WHERE id >= ?1 AND rev <= ?2 ORDER BY id LIMIT ?3")
    .values(from, to, rowsMax) as HistRow[];
  let next: ChangesPage["next"] = null;
  let n = rows.length;
  if (n === rowsMax) {
    const lastRev = rows[n - 1][1];
    // Keep whole revisions: drop the last one's rows unless it is all there is.
    if (rows[0][1] < lastRev) while (rows[n - 1][1] === lastRev) n--;
    next = n < rows.length ? { id: rows[n][0], rev: lastRev } : { id: rows[n - 1][0] + 1n, rev: lastRev };
  }
  const events: HistoryEvent[] = [];
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    if (r[1] <= after || !inRange(range, r[2])) continue;
    events.push(
      r[7] === 1n
        ? { type: EventType.DELETE, kv: tombstone(r[2], r[1]), prevId: r[8], id: r[0] }
        : {
            type: EventType.PUT,
            kv: { key: r[2], value: r[3] ?? EMPTY, createRevision: r[4], modRevision: r[1], version: r[5], lease: r[6] },
            prevId: r[8],
            id: r[0],
          },
    );
  }
  return { events, next };
}

function inRange(r: KeyRange, key: Uint8Array): boolean {
  if (r.kind === "point") return compareBytes(key, r.key) === 0;
  if (compareBytes(key, r.key) < 0) return false;
  return r.kind === "from" || compareBytes(key, r.end) < 0;
}
