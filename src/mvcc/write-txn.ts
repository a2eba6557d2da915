import { Errors } from "../pkg/errors.ts";
import { EventType, tombstone, type StoreEvent } from "./event.ts";
import { keyRange, type KeyValue } from "./key-value.ts";
import type { OpTally } from "./metrics.ts";
import { latest, rangeAt, type RangeOptions, type RangeResult } from "./range.ts";
import type { Tables } from "./tables.ts";

export interface DeleteResult {
  deleted: number;
  prevKvs: KeyValue[];
}

/** The store's counters, as a transaction checks its reads against them. */
interface Revisions {
  readonly rev: bigint;
  readonly compactRev: bigint;
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
  #s: Revisions;
  #t: Tables;
  /** This transaction's operations, for etcd's counters (MvccStore.tally). */
  #ops: OpTally;

  constructor(store: Revisions, tables: Tables, beginRev: bigint, ops: OpTally) {
    this.#s = store;
    this.#t = tables;
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
    return rangeAt(this.#t, keyRange(key, end), rev, this.#s.rev, this.rev, opts);
  }

  /** The key's current value (a range of one key, as etcd reads prev_kv and ignore_value/lease). */
  latest(key: Uint8Array): KeyValue | undefined {
    this.#ops.ranges++;
    return latest(this.#t, key).kv;
  }

  /** Writes key at this transaction's revision; returns that revision. */
  put(key: Uint8Array, value: Uint8Array, lease: bigint): bigint {
    this.#ops.puts++;
    this.#ops.putBytes += key.length + value.length;
    const rev = this.beginRev + 1n;
    const head = this.#head(key);
    const live = head?.live === true;
    const kv: KeyValue = {
      key,
      value,
      lease,
      modRevision: rev,
      createRevision: live ? head.createRevision : rev,
      version: live ? head.version + 1n : 1n,
    };
    this.#insert(kv, head ? head.id : null);
    this.events.push({ type: EventType.PUT, kv, prevId: live ? head.id : null });
    this.changes++;
    return rev;
  }

  deleteRange(key: Uint8Array, end: Uint8Array | null | undefined): DeleteResult {
    this.#ops.deletes++;
    const found = rangeAt(this.#t, keyRange(key, end), this.rev, this.#s.rev, this.rev, {});
    if (found.kvs.length === 0) return { deleted: 0, prevKvs: [] };
    const rev = this.beginRev + 1n;
    for (const kv of found.kvs) {
      this.#tombstone(kv.key, rev);
      this.events.push({ type: EventType.DELETE, kv: tombstone(kv.key, rev), deleted: kv });
    }
    this.changes += found.kvs.length;
    return { deleted: found.kvs.length, prevKvs: found.kvs };
  }

  /** What a put needs of the key's head: its row id and, when live, create revision and version. */
  #head(key: Uint8Array): { id: bigint; live: boolean; createRevision: bigint; version: bigint } | undefined {
    const row = this.#t.stmt("head", "SELECT id, live, create_rev, version FROM cur WHERE key = ?1").values(key)[0] as
      | [bigint, bigint, bigint, bigint]
      | undefined;
    return row ? { id: row[0], live: row[1] === 1n, createRevision: row[2], version: row[3] } : undefined;
  }

  #insert(kv: KeyValue, prev: bigint | null): void {
    const r = this.#t
      .stmt("insert", "INSERT INTO hist(rev, key, value, create_rev, version, lease, tomb, prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)")
      .run(kv.modRevision, kv.key, kv.value, kv.createRevision, kv.version, kv.lease, prev);
    this.#t
      .stmt(
        "setcur",
        `INSERT INTO cur(key, id, live, create_rev, version) VALUES (?1, ?2, 1, ?3, ?4)
       ON CONFLICT(key) DO UPDATE SET id = excluded.id, live = 1, create_rev = excluded.create_rev, version = excluded.version`,
      )
      .run(kv.key, r.lastInsertRowid, kv.createRevision, kv.version);
  }

  #tombstone(key: Uint8Array, rev: bigint): void {
    const r = this.#t
      .stmt(
        "tomb",
        `INSERT INTO hist(rev, key, value, create_rev, version, lease, tomb, prev)
       VALUES (?1, ?2, NULL, 0, 0, 0, 1, (SELECT id FROM cur WHERE key = ?2))`,
      )
      .run(rev, key);
    this.#t.stmt("killcur", "UPDATE cur SET id = ?2, live = 0 WHERE key = ?1").run(key, r.lastInsertRowid);
  }
}
