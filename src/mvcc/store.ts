import type { Backend, Statement } from "../backend/backend.ts";
import { Errors } from "../pkg/errors.ts";
import { compareBytes, keyRange, type KeyRange, type KeyValue } from "./key-value.ts";

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

type Row = [Uint8Array, Uint8Array | null, bigint, bigint, bigint, bigint];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS hist (
  id INTEGER PRIMARY KEY,
  rev INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  tomb INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS hist_key_rev ON hist(key, rev);
CREATE TABLE IF NOT EXISTS cur (key BLOB PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;
`;

const CUR_COLS = "h.key, h.value, h.create_rev, h.rev, h.version, h.lease";
/** Parameters are always ?1 = key, ?2 = end (null when unused), then ?3, ?4. */
const WHERE: Record<KeyRange["kind"], string> = {
  point: "key = ?1",
  range: "key >= ?1 AND key < ?2",
  from: "key >= ?1",
};
const WHERE_CUR: Record<KeyRange["kind"], string> = {
  point: "c.key = ?1",
  range: "c.key >= ?1 AND c.key < ?2",
  from: "c.key >= ?1",
};

/**
 * Multi-version key-value store with etcd's semantics. Every write transaction that changes anything
 * takes the next global revision; `hist` keeps every revision of every key (etcd's key bucket) until
 * compaction, and `cur` points at each live key's latest revision (etcd's in-memory key index, kept in
 * SQLite so a million keys cost page cache, not heap).
 */
export class MvccStore {
  #b: Backend;
  #rev: bigint;
  #compactRev: bigint;
  #stmts = new Map<string, Statement<any>>();

  constructor(backend: Backend) {
    this.#b = backend;
    backend.exec(SCHEMA);
    // A fresh store is at revision 1, as etcd's: the first write gets revision 2.
    this.#rev = (backend.getMeta("rev") as bigint | undefined) ?? 1n;
    this.#compactRev = (backend.getMeta("compact_rev") as bigint | undefined) ?? 0n;
  }

  get rev(): bigint {
    return this.#rev;
  }

  get compactRev(): bigint {
    return this.#compactRev;
  }

  range(key: Uint8Array, end: Uint8Array | null | undefined, opts: RangeOptions = {}): RangeResult {
    const rev = opts.rev ?? 0n;
    if (rev > this.#rev) throw Errors.futureRev;
    if (rev > 0n && rev < this.#compactRev) throw Errors.compacted;
    return this.#rangeAt(keyRange(key, end), rev > 0n ? rev : this.#rev, this.#rev, opts);
  }

  /** Runs a write transaction: all its changes share revision rev+1, taken only if something changed. */
  write<T>(fn: (txn: WriteTxn) => T): T {
    return this.#b.batch(() => {
      const txn = new WriteTxn(this, this.#rev);
      const out = fn(txn);
      if (txn.changes > 0) this.#rev += 1n;
      return out;
    });
  }

  /** Stores the revision counters; the caller commits them in the same transaction as the data. */
  saveMeta(): void {
    this.#b.setMeta("rev", this.#rev);
    this.#b.setMeta("compact_rev", this.#compactRev);
  }

  /**
   * Drops every revision ≤ rev that is not the latest one of its key at rev (and that one too when it
   * is a tombstone). Reads at rev and later are unaffected.
   */
  compact(rev: bigint): void {
    if (rev <= this.#compactRev) throw Errors.compacted;
    if (rev > this.#rev) throw Errors.futureRev;
    this.#b.batch(() => {
      this.#stmt(
        "compact",
        `DELETE FROM hist WHERE rev <= ?1 AND (tomb = 1 OR rev < (
           SELECT MAX(h2.rev) FROM hist h2 WHERE h2.key = hist.key AND h2.rev <= ?1))`,
      ).run(rev);
      this.#compactRev = rev;
      this.saveMeta();
    });
  }

  /** Visits every retained revision ≤ rev in revision order (for HashKV). */
  forEachRevision(rev: bigint, fn: (kv: KeyValue, tombstone: boolean) => void): void {
    const stmt = this.#stmt(
      "hash",
      "SELECT key, value, create_rev, rev, version, lease, tomb FROM hist WHERE rev <= ?1 ORDER BY id",
    );
    for (const r of stmt.values(rev) as [...Row, bigint][]) fn(toKv(r.slice(0, 6) as Row), r[6] === 1n);
  }

  // ---- internal, used by WriteTxn ----

  _rangeAt(range: KeyRange, rev: bigint, curRev: bigint, opts: RangeOptions): RangeResult {
    return this.#rangeAt(range, rev, curRev, opts);
  }

  _latest(key: Uint8Array): KeyValue | undefined {
    const row = this.#stmt("latest", `SELECT ${CUR_COLS} FROM cur c JOIN hist h ON h.id = c.id WHERE c.key = ?1`).values(
      key,
    )[0] as Row | undefined;
    return row ? toKv(row) : undefined;
  }

  _insert(kv: KeyValue): void {
    const r = this.#stmt(
      "insert",
      "INSERT INTO hist(rev, key, value, create_rev, version, lease, tomb) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
    ).run(kv.modRevision, kv.key, kv.value, kv.createRevision, kv.version, kv.lease);
    this.#stmt("setcur", "INSERT INTO cur(key, id) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET id = excluded.id").run(
      kv.key,
      r.lastInsertRowid,
    );
  }

  _tombstone(key: Uint8Array, rev: bigint): void {
    this.#stmt("tomb", "INSERT INTO hist(rev, key, value, create_rev, version, lease, tomb) VALUES (?1, ?2, NULL, 0, 0, 0, 1)").run(
      rev,
      key,
    );
    this.#stmt("delcur", "DELETE FROM cur WHERE key = ?1").run(key);
  }

  #rangeAt(range: KeyRange, at: bigint, rev: bigint, opts: RangeOptions): RangeResult {
    // `cur` holds the latest state, including a write transaction's own uncommitted writes.
    const current = at >= this.#rev;
    if (range.kind === "range" && compareBytes(range.key, range.end) >= 0) return { kvs: [], count: 0, rev };
    const key = range.key;
    const end = range.kind === "range" ? range.end : null;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;

    if (current) {
      const count = Number(
        this.#stmt(`ccount:${range.kind}`, `SELECT COUNT(*) FROM cur WHERE ${WHERE[range.kind]} AND ?2 IS ?2`).values(
          key,
          end,
        )[0][0],
      );
      if (opts.countOnly || count === 0) return { kvs: [], count, rev };
      const rows = this.#stmt(
        `cur:${range.kind}`,
        `SELECT ${CUR_COLS} FROM cur c JOIN hist h ON h.id = c.id WHERE ${WHERE_CUR[range.kind]} AND ?2 IS ?2
         ORDER BY c.key LIMIT ?3`,
      ).values(key, end, limit) as Row[];
      return { kvs: rows.map(toKv), count, rev };
    }

    // A past revision: each key's newest row at or before rev, unless that row is a tombstone.
    const inner = `SELECT key, value, create_rev, MAX(rev) AS rev, version, lease, tomb FROM hist
                   WHERE ${WHERE[range.kind]} AND ?2 IS ?2 AND rev <= ?3 GROUP BY key`;
    const count = Number(
      this.#stmt(`hcount:${range.kind}`, `SELECT COUNT(*) FROM (${inner}) WHERE tomb = 0`).values(key, end, at)[0][0],
    );
    if (opts.countOnly || count === 0) return { kvs: [], count, rev };
    const rows = this.#stmt(
      `hist:${range.kind}`,
      `SELECT key, value, create_rev, rev, version, lease FROM (${inner}) WHERE tomb = 0 ORDER BY key LIMIT ?4`,
    ).values(key, end, at, limit) as Row[];
    return { kvs: rows.map(toKv), count, rev };
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
  #s: MvccStore;

  constructor(store: MvccStore, beginRev: bigint) {
    this.#s = store;
    this.beginRev = beginRev;
  }

  get rev(): bigint {
    return this.changes > 0 ? this.beginRev + 1n : this.beginRev;
  }

  range(key: Uint8Array, end: Uint8Array | null | undefined, opts: RangeOptions = {}): RangeResult {
    const rev = opts.rev && opts.rev > 0n ? opts.rev : this.rev;
    if (rev > this.rev) throw Errors.futureRev;
    if (rev < this.#s.compactRev) throw Errors.compacted;
    return this.#s._rangeAt(keyRange(key, end), rev, this.rev, opts);
  }

  latest(key: Uint8Array): KeyValue | undefined {
    return this.#s._latest(key);
  }

  /** Writes key at this transaction's revision; returns that revision. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint): bigint {
    const rev = this.beginRev + 1n;
    const prev = this.#s._latest(key);
    this.#s._insert({
      key,
      value,
      lease,
      modRevision: rev,
      createRevision: prev ? prev.createRevision : rev,
      version: prev ? prev.version + 1n : 1n,
    });
    this.changes++;
    return rev;
  }

  deleteRange(key: Uint8Array, end: Uint8Array | null | undefined): DeleteResult {
    const found = this.#s._rangeAt(keyRange(key, end), this.rev, this.rev, {});
    if (found.kvs.length === 0) return { deleted: 0, prevKvs: [] };
    const rev = this.beginRev + 1n;
    for (const kv of found.kvs) this.#s._tombstone(kv.key, rev);
    this.changes += found.kvs.length;
    return { deleted: found.kvs.length, prevKvs: found.kvs };
  }
}
