import type { Backend, Statement } from "../backend/backend.ts";
import { Errors } from "../pkg/errors.ts";
import { EventType, tombstone, type HistoryEvent, type StoreEvent } from "./event.ts";
import { compareBytes, keyRange, type KeyRange, type KeyValue } from "./key-value.ts";
import { countRange, dbCompactionKeys, dbCompactionLast, dbCompactionPauseMs, dbCompactionTotalMs, hashRevSeconds, indexCompactionPauseMs, OpTally } from "./metrics.ts";

export interface RangeOptions {
  /** Revision to read at; 0 or absent means the current one. */
  rev?: bigint;
  /** At most this many keys (0 = all). */
  limit?: number;
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Keys in the range at that revision, regardless of limit. */
  count: number;
  /** The store's current revision (not the one read at), as etcd reports it in the header. */
  rev: bigint;
}

export interface DeleteResult {
  deleted: number;
  prevKvs: KeyValue[];
}

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

type Row = [Uint8Array, Uint8Array | null, bigint, bigint, bigint, bigint];
/** A history row read for changes(): id, rev, key, value, create_rev, version, lease, tomb, prev. */
type HistRow = [bigint, bigint, Uint8Array, Uint8Array | null, bigint, bigint, bigint, bigint, bigint | null];
/** A history row read for a chain walk: rev, value, create_rev, version, lease, tomb, prev. */
type ChainRow = [bigint, Uint8Array | null, bigint, bigint, bigint, bigint, bigint | null];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS hist (
  id INTEGER PRIMARY KEY,
  rev INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  tomb INTEGER NOT NULL,
  prev INTEGER
);
CREATE TABLE IF NOT EXISTS cur (
  key BLOB PRIMARY KEY,
  id INTEGER NOT NULL,
  live INTEGER NOT NULL,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** Keys per background compaction slice: a few milliseconds of work between event-loop turns. */
const COMPACT_SLICE_KEYS = 100;

const CUR_COLS = "h.key, h.value, h.create_rev, h.rev, h.version, h.lease";
/** Parameters are always ?1 = key, ?2 = end (null when unused), then ?3. */
const WHERE: Record<KeyRange["kind"], string> = {
  point: "c.key = ?1",
  range: "c.key >= ?1 AND c.key < ?2",
  from: "c.key >= ?1",
};

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
 */
export class MvccStore {
  #b: Backend;
  #rev: bigint;
  #compactRev: bigint;
  /** Physical compaction is done up to here; rows of revisions in (compactDone, compactRev] may linger. */
  #compactDone: bigint;
  /** A background pass deleting what compaction dropped: target revision and the last key done. */
  #pass: { target: bigint; after: Uint8Array | null; startMs: number } | null = null;
  #compacting: Promise<void> | null = null;
  #stmts = new Map<string, Statement<any>>();
  /**
   * Called after every write transaction that changed something, with its revision and its changes
   * in order (the watch hub's notify). It runs synchronously inside the caller's batch, so it must
   * not throw and must not write.
   */
  onEvents: ((rev: bigint, events: StoreEvent[]) => void) | null = null;

  constructor(backend: Backend) {
    this.#b = backend;
    backend.exec(SCHEMA);
    // A fresh store is at revision 1, as etcd's: the first write gets revision 2.
    this.#rev = (backend.getMeta("rev") as bigint | undefined) ?? 1n;
    this.#compactRev = (backend.getMeta("compact_rev") as bigint | undefined) ?? 0n;
    // Stores from before background compaction compacted synchronously: done up to compact_rev.
    this.#compactDone = (backend.getMeta("compact_done") as bigint | undefined) ?? this.#compactRev;
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
    return this.#rangeAt(keyRange(key, end), rev > 0n ? rev : this.#rev, this.#rev, opts);
  }

  /** Runs a write transaction: all its changes share revision rev+1, taken only if something changed. */
  write<T>(fn: (txn: WriteTxn) => T): T {
    return this.tally((ops) => {
      const txn = new WriteTxn(this, this.#rev, ops);
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
  *leasedKeys(): Generator<[Uint8Array, bigint]> {
    const stmt = this.#stmt("leased", "SELECT h.key, h.lease FROM cur c JOIN hist h ON h.id = c.id WHERE c.live = 1 AND h.lease != 0");
    for (const row of stmt.values() as [Uint8Array, bigint][]) yield row;
  }

  /** The key's value just before revision rev (at rev-1), or undefined if it had none or that is compacted. */
  kvBefore(key: Uint8Array, rev: bigint): KeyValue | undefined {
    const at = rev - 1n;
    if (at < this.#compactRev || at < 1n) return undefined;
    return this.#rangeAt({ kind: "point", key }, at < this.#rev ? at : this.#rev, this.#rev, {}).kvs[0];
  }

  /**
   * An event's prev_kv (etcd reads it only for watchers that ask): by primary key when the event
   * knows the key's previous row, else as kvBefore. Undefined for a create or once compacted away.
   */
  prevKv(ev: StoreEvent): KeyValue | undefined {
    if (ev.deleted) return ev.deleted;
    if (ev.prevId === null) return undefined;
    if (ev.prevId === undefined) return this.kvBefore(ev.kv.key, ev.kv.modRevision);
    const row = this.#stmt("byid", "SELECT rev, value, create_rev, version, lease, tomb, prev FROM hist WHERE id = ?1").values(ev.prevId)[0] as
      | ChainRow
      | undefined;
    if (!row || row[5] === 1n) return undefined;
    return { key: ev.kv.key, value: row[1] ?? EMPTY, createRevision: row[2], modRevision: row[0], version: row[3], lease: row[4] };
  }

  /**
   * The id of the first history row with revision ≥ rev (one past the last row if none). `hist` has
   * no index on rev, but ids grow with revision, so this is a binary search over ids: O(log n)
   * primary-key lookups, never a scan. Compaction leaves gaps, hence "first row with id ≥ probe".
   */
  historyStart(rev: bigint): bigint {
    const last = this.#stmt("hist-last", "SELECT id, rev FROM hist ORDER BY id DESC LIMIT 1").values()[0] as [bigint, bigint] | undefined;
    if (!last || last[1] < rev) return (last?.[0] ?? 0n) + 1n;
    const atOrAfter = this.#stmt("hist-probe", "SELECT id, rev FROM hist WHERE id >= ?1 ORDER BY id LIMIT 1");
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
   * The changes to keys in [key, end) (etcd's range convention) with revision in (after, to], one
   * bounded page at a time — the watch catch-up read. Throws `compacted` when revisions after
   * `after` are partly compacted away (etcd: a watcher whose next revision is below the compact
   * revision), `futureRev` when `to` is ahead of the store.
   */
  changes(key: Uint8Array, end: Uint8Array | null | undefined, opts: ChangesOptions): ChangesPage {
    const to = opts.to ?? this.#rev;
    if (to > this.#rev) throw Errors.futureRev;
    if (opts.after + 1n < this.#compactRev) throw Errors.compacted;
    const rowsMax = opts.rowsMax ?? 1000;
    if (!(rowsMax >= 1)) throw new Error(`changes: rowsMax must be at least 1, got ${rowsMax}`);
    const range = keyRange(key, end);
    if (opts.after >= to) return { events: [], next: null };
    const from = opts.cursor ?? this.historyStart(opts.after + 1n);
    // ids grow with revision, so "rev <= to" only trims the tail (rows of writes not yet notified).
    const rows = this.#stmt(
      "changes",
      "SELECT id, rev, key, value, create_rev, version, lease, tomb, prev FROM hist WHERE id >= ?1 AND rev <= ?2 ORDER BY id LIMIT ?3",
    ).values(from, to, rowsMax) as HistRow[];
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
      if (r[1] <= opts.after || !inRange(range, r[2])) continue;
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
      // Recorded with the new point, so a restart knows the deletion up to it is not done yet.
      this.#b.setMeta("compact_done", this.#compactDone);
    });
    indexCompactionPauseMs.observe(Math.trunc(performance.now() - startMs));
    if (opts.background) this.resumeCompaction();
    else this.finishCompaction();
  }

  /** Physical compaction done up to this revision (≤ compactRev). */
  get compactDone(): bigint {
    return this.#compactDone;
  }

  /** Resolves once the physical compaction has caught up with compactRev. */
  compacted(): Promise<void> {
    return this.#compacting ?? Promise.resolve();
  }

  /** Starts (or continues) deleting in the background what compaction dropped. */
  resumeCompaction(): void {
    if (this.#compacting || this.#compactDone >= this.#compactRev) return;
    this.#compacting = (async () => {
      try {
        // Never inside the caller's batch (an apply): each slice runs on its own turn and is committed
        // at once, so no commit gathers a large pile of deletions. A closed backend (the member
        // stopping) ends it; the recorded progress resumes it at the next start.
        for (;;) {
          await new Promise<void>((r) => setImmediate(r));
          if (this.#compactDone >= this.#compactRev || this.#b.closed) break;
          this.#compactSlice(COMPACT_SLICE_KEYS);
          this.#b.commit();
          this.#b.checkpointStep();
        }
      } finally {
        this.#compacting = null;
      }
    })();
  }

  /** Runs the outstanding physical compaction to its end, now (offline tools and tests). */
  finishCompaction(): void {
    while (this.#compactDone < this.#compactRev) this.#compactSlice(-1);
  }

  /** One slice of a pass: up to `keys` keys (-1: all) in key order, each chain trimmed at the pass's target. */
  #compactSlice(keys: number): void {
    if (!this.#pass) this.#pass = { target: this.#compactRev, after: null, startMs: performance.now() };
    const pass = this.#pass;
    const sliceStartMs = performance.now();
    this.#b.batch(() => {
      const heads = (
        pass.after === null
          ? this.#stmt("compact-keys-first", "SELECT key, id FROM cur ORDER BY key LIMIT ?1").values(keys)
          : this.#stmt("compact-keys-next", "SELECT key, id FROM cur WHERE key > ?1 ORDER BY key LIMIT ?2").values(pass.after, keys)
      ) as [Uint8Array, bigint][];
      for (const [key, head] of heads) this.#compactKey(key, head, pass.target);
      if (keys < 0 || heads.length < keys) {
        // The pass is complete: everything dropped at `target` is gone.
        this.#compactDone = pass.target;
        this.#b.setMeta("compact_done", pass.target);
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
  #compactKey(key: Uint8Array, head: bigint, target: bigint): void {
    const byId = this.#stmt("byid", "SELECT rev, value, create_rev, version, lease, tomb, prev FROM hist WHERE id = ?1");
    const del = this.#stmt("compact-del", "DELETE FROM hist WHERE id = ?1");
    let id: bigint | null = head;
    let row: ChainRow | undefined;
    while (id !== null) {
      row = byId.values(id)[0] as ChainRow | undefined;
      if (!row) return; // the chain was trimmed here by an earlier compaction
      if (row[0] <= target) break;
      id = row[6];
    }
    if (id === null || !row) return;
    // `row` is the key's newest at target: kept, unless it is a tombstone.
    let older = row[6];
    if (row[5] === 1n) {
      del.run(id);
      dbCompactionKeys.inc();
      // A key whose newest row was a dropped tombstone has no history left.
      if (id === head) this.#stmt("compact-cur", "DELETE FROM cur WHERE key = ?1").run(key);
    }
    while (older !== null) {
      const r = byId.values(older)[0] as ChainRow | undefined;
      if (!r) break;
      del.run(older);
      dbCompactionKeys.inc();
      older = r[6];
    }
  }

  /**
   * HashKV: a CRC-32 over every retained revision ≤ rev in revision order (key, value, create and
   * mod revision, version, lease, tombstone), equal on members with equal history. Read in pages of
   * pageRows with a yield between them, so a large history never stalls the process; rows ≤ rev
   * never change except by compaction, which makes this throw (the caller may ask again).
   */
  async hashKV(rev: bigint, pageRows = 20_000): Promise<{ hash: number; compactRevision: bigint }> {
    // Rows a compaction dropped may still be on disk while it runs: hash only the settled history.
    await this.compacted();
    const startMs = performance.now();
    const compactRevision = this.#compactRev;
    const head = Buffer.alloc(41);
    let hash = 0;
    for (let after = -1n; ; ) {
      const rows = this.#stmt(
        "hash-page",
        "SELECT id, key, value, create_rev, rev, version, lease, tomb FROM hist WHERE id > ?1 AND rev <= ?2 ORDER BY id LIMIT ?3",
      ).values(after, rev, pageRows) as [bigint, Uint8Array, Uint8Array | null, bigint, bigint, bigint, bigint, bigint][];
      for (const [, key, stored, createRev, modRev, version, lease, tomb] of rows) {
        const value = stored ?? EMPTY;
        head.writeBigInt64BE(createRev, 0);
        head.writeBigInt64BE(modRev, 8);
        head.writeBigInt64BE(tomb === 1n ? 0n : version, 16);
        head.writeBigInt64BE(lease, 24);
        head.writeUInt32BE(key.length, 32);
        head.writeUInt32BE(value.length, 36);
        head[40] = tomb === 1n ? 1 : 0;
        hash = Bun.hash.crc32(value, Bun.hash.crc32(key, Bun.hash.crc32(head, hash)));
      }
      if (rows.length < pageRows) break;
      after = rows[rows.length - 1][0];
      await new Promise<void>((r) => setImmediate(r));
      if (this.#compactRev !== compactRevision) throw Errors.compacted;
    }
    hashRevSeconds.observe((performance.now() - startMs) / 1000);
    return { hash: hash >>> 0, compactRevision };
  }

  // ---- internal, used by WriteTxn ----

  _rangeAt(range: KeyRange, rev: bigint, curRev: bigint, opts: RangeOptions): RangeResult {
    return this.#rangeAt(range, rev, curRev, opts);
  }

  /** The key's newest live revision, or undefined; `head` is its newest row id whatever it is. */
  _latest(key: Uint8Array): { kv: KeyValue | undefined; head: bigint | null } {
    const row = this.#stmt(
      "latest",
      `SELECT ${CUR_COLS}, c.live, c.id FROM cur c JOIN hist h ON h.id = c.id WHERE c.key = ?1`,
    ).values(key)[0] as [...Row, bigint, bigint] | undefined;
    if (!row) return { kv: undefined, head: null };
    return { kv: row[6] === 1n ? toKv(row.slice(0, 6) as Row) : undefined, head: row[7] };
  }

  /** What a put needs of the key's head: its row id and, when live, create revision and version. */
  _head(key: Uint8Array): { id: bigint; live: boolean; createRevision: bigint; version: bigint } | undefined {
    const row = this.#stmt("head", "SELECT id, live, create_rev, version FROM cur WHERE key = ?1").values(key)[0] as
      | [bigint, bigint, bigint, bigint]
      | undefined;
    return row ? { id: row[0], live: row[1] === 1n, createRevision: row[2], version: row[3] } : undefined;
  }

  _insert(kv: KeyValue, prev: bigint | null): void {
    const r = this.#stmt(
      "insert",
      "INSERT INTO hist(rev, key, value, create_rev, version, lease, tomb, prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)",
    ).run(kv.modRevision, kv.key, kv.value, kv.createRevision, kv.version, kv.lease, prev);
    this.#stmt(
      "setcur",
      `INSERT INTO cur(key, id, live, create_rev, version) VALUES (?1, ?2, 1, ?3, ?4)
       ON CONFLICT(key) DO UPDATE SET id = excluded.id, live = 1, create_rev = excluded.create_rev, version = excluded.version`,
    ).run(kv.key, r.lastInsertRowid, kv.createRevision, kv.version);
  }

  _tombstone(key: Uint8Array, rev: bigint): void {
    const r = this.#stmt(
      "tomb",
      `INSERT INTO hist(rev, key, value, create_rev, version, lease, tomb, prev)
       VALUES (?1, ?2, NULL, 0, 0, 0, 1, (SELECT id FROM cur WHERE key = ?2))`,
    ).run(rev, key);
    this.#stmt("killcur", "UPDATE cur SET id = ?2, live = 0 WHERE key = ?1").run(key, r.lastInsertRowid);
  }

  #rangeAt(range: KeyRange, at: bigint, rev: bigint, opts: RangeOptions): RangeResult {
    if (range.kind === "range" && compareBytes(range.key, range.end) >= 0) return { kvs: [], count: 0, rev };
    const key = range.key;
    const end = range.kind === "range" ? range.end : null;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;

    // `cur` holds the latest state, including a write transaction's own uncommitted writes.
    if (at >= this.#rev) {
      const count = Number(
        this.#stmt(`count:${range.kind}`, `SELECT COUNT(*) FROM cur c WHERE ${WHERE[range.kind]} AND ?2 IS ?2 AND c.live = 1`).values(
          key,
          end,
        )[0][0],
      );
      if (opts.countOnly || count === 0) return { kvs: [], count, rev };
      const rows = this.#stmt(
        `cur:${range.kind}`,
        `SELECT ${CUR_COLS} FROM cur c JOIN hist h ON h.id = c.id WHERE ${WHERE[range.kind]} AND ?2 IS ?2 AND c.live = 1
         ORDER BY c.key LIMIT ?3`,
      ).values(key, end, limit) as Row[];
      return { kvs: rows.map(toKv), count, rev };
    }

    // A past revision: walk each key's chain back to its newest row at or before `at`.
    const heads = this.#stmt(`heads:${range.kind}`, `SELECT c.key, c.id FROM cur c WHERE ${WHERE[range.kind]} AND ?2 IS ?2 ORDER BY c.key`).values(
      key,
      end,
    ) as [Uint8Array, bigint][];
    const byId = this.#stmt("byid", "SELECT rev, value, create_rev, version, lease, tomb, prev FROM hist WHERE id = ?1");
    const kvs: KeyValue[] = [];
    let count = 0;
    for (const [k, head] of heads) {
      let id: bigint | null = head;
      let row: ChainRow | undefined;
      while (id !== null) {
        row = byId.values(id)[0] as ChainRow | undefined;
        if (!row || row[0] <= at) break;
        id = row[6];
      }
      if (!row || id === null || row[0] > at || row[5] === 1n) continue;
      count++;
      if (!opts.countOnly && (limit < 0 || kvs.length < limit)) {
        kvs.push({ key: k, value: row[1] ?? EMPTY, createRevision: row[2], modRevision: row[0], version: row[3], lease: row[4] });
      }
    }
    return { kvs, count, rev };
  }

  #stmt(name: string, sql: string): Statement<any> {
    let s = this.#stmts.get(name);
    if (!s) {
      s = this.#b.prepare(sql);
      this.#stmts.set(name, s);
    }
    return s;
  }
}

const EMPTY = new Uint8Array(0);

function inRange(r: KeyRange, key: Uint8Array): boolean {
  if (r.kind === "point") return compareBytes(key, r.key) === 0;
  if (compareBytes(key, r.key) < 0) return false;
  return r.kind === "from" || compareBytes(key, r.end) < 0;
}

function toKv(r: Row): KeyValue {
  return {
    key: r[0],
    value: r[1] ?? EMPTY,
    createRevision: r[2],
    modRevision: r[3],
    version: r[4],
    lease: r[5],
  };
}

/**
 * One write transaction. Reads see the transaction's own earlier writes, at revision beginRev+1 once
 * anything changed (as etcd's storeTxnWrite does).
 */
export class WriteTxn {
  readonly beginRev: bigint;
  changes = 0;
  /** What this transaction changed, in order: handed to MvccStore.onEvents when it ends. */
  readonly events: StoreEvent[] = [];
  #s: MvccStore;
  /** This transaction's operations, for etcd's counters (MvccStore.tally). */
  #ops: OpTally;

  constructor(store: MvccStore, beginRev: bigint, ops: OpTally) {
    this.#s = store;
    this.beginRev = beginRev;
    this.#ops = ops;
  }

  get rev(): bigint {
    return this.changes > 0 ? this.beginRev + 1n : this.beginRev;
  }

  range(key: Uint8Array, end: Uint8Array | null | undefined, opts: RangeOptions = {}): RangeResult {
    this.#ops.ranges++;
    const rev = opts.rev && opts.rev > 0n ? opts.rev : this.rev;
    if (rev > this.rev) throw Errors.futureRev;
    if (rev < this.#s.compactRev) throw Errors.compacted;
    return this.#s._rangeAt(keyRange(key, end), rev, this.rev, opts);
  }

  /** The key's current value (a range of one key, as etcd reads prev_kv and ignore_value/lease). */
  latest(key: Uint8Array): KeyValue | undefined {
    this.#ops.ranges++;
    return this.#s._latest(key).kv;
  }

  /** Writes key at this transaction's revision; returns that revision. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint): bigint {
    this.#ops.puts++;
    this.#ops.putBytes += key.length + value.length;
    const rev = this.beginRev + 1n;
    const head = this.#s._head(key);
    const live = head?.live === true;
    const kv: KeyValue = {
      key,
      value,
      lease,
      modRevision: rev,
      createRevision: live ? head.createRevision : rev,
      version: live ? head.version + 1n : 1n,
    };
    this.#s._insert(kv, head ? head.id : null);
    this.events.push({ type: EventType.PUT, kv, prevId: live ? head.id : null });
    this.changes++;
    return rev;
  }

  deleteRange(key: Uint8Array, end: Uint8Array | null | undefined): DeleteResult {
    this.#ops.deletes++;
    const found = this.#s._rangeAt(keyRange(key, end), this.rev, this.rev, {});
    if (found.kvs.length === 0) return { deleted: 0, prevKvs: [] };
    const rev = this.beginRev + 1n;
    for (const kv of found.kvs) {
      this.#s._tombstone(kv.key, rev);
      this.events.push({ type: EventType.DELETE, kv: tombstone(kv.key, rev), deleted: kv });
    }
    this.changes += found.kvs.length;
    return { deleted: found.kvs.length, prevKvs: found.kvs };
  }
}
