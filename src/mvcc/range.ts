// Reads of keys: a range at the current revision joins `cur` to `hist`; one in the past walks each
// key's chain back to the revision asked for.
import { compareBytes, type KeyRange, type KeyValue } from "./key-value.ts";
import { type ChunkWriter, varint64Bytes, varintBytes, WireType } from "../proto/chunk-writer.ts";
import { chainKv, EMPTY, type Tables } from "./tables.ts";

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

type Row = [Uint8Array, Uint8Array | null, bigint, bigint, bigint, bigint];

const CUR_COLS = "h.key, h.value, h.create_rev, h.rev, h.version, h.lease";
/** Parameters are always ?1 = key, ?2 = end (null when unused), then ?3. */
const WHERE: Record<KeyRange["kind"], string> = {
  point: "c.key = ?1",
  range: "c.key >= ?1 AND c.key < ?2",
  from: "c.key >= ?1",
};

/**
 * The keys in range at revision `at`, reporting `rev` in the result. `current` is the store's
 * revision: from there on `cur` has the answer.
 */
export function rangeAt(t: Tables, range: KeyRange, at: bigint, current: bigint, rev: bigint, opts: RangeOptions): RangeResult {
  if (range.kind === "range" && compareBytes(range.key, range.end) >= 0) return { kvs: [], count: 0, rev };
  const key = range.key;
  const end = range.kind === "range" ? range.end : null;
  const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;

  // `cur` holds the latest state, including a write transaction's own uncommitted writes.
  if (at >= current) {
    const count = Number(
      t.stmt(`count:${range.kind}`, `SELECT COUNT(*) FROM cur c WHERE ${WHERE[range.kind]} AND ?2 IS ?2 AND c.live = 1`).values(key, end)[0][0],
    );
    if (opts.countOnly || count === 0) return { kvs: [], count, rev };
    const rows = t
      .stmt(
        `cur:${range.kind}`,
        `SELECT ${CUR_COLS} FROM cur c JOIN hist h ON h.id = c.id WHERE ${WHERE[range.kind]} AND ?2 IS ?2 AND c.live = 1
         ORDER BY c.key LIMIT ?3`,
      )
      .values(key, end, limit) as Row[];
    return { kvs: rows.map(toKv), count, rev };
  }

  // A past revision: walk each key's chain back to its newest row at or before `at`.
  const heads = t
    .stmt(`heads:${range.kind}`, `SELECT c.key, c.id FROM cur c WHERE ${WHERE[range.kind]} AND ?2 IS ?2 ORDER BY c.key`)
    .values(key, end) as [Uint8Array, bigint][];
  const kvs: KeyValue[] = [];
  let count = 0;
  for (const [k, head] of heads) {
    const found = t.rowAt(head, at);
    if (!found || found.row[5] === 1n) continue;
    count++;
    if (!opts.countOnly && (limit < 0 || kvs.length < limit)) kvs.push(chainKv(k, found.row));
  }
  return { kvs, count, rev };
}

/** The key's newest live revision, or undefined; `head` is its newest row id whatever it is. */
export function latest(t: Tables, key: Uint8Array): { kv: KeyValue | undefined; head: bigint | null } {
  const row = t.stmt("latest", `SELECT ${CUR_COLS}, c.live, c.id FROM cur c JOIN hist h ON h.id = c.id WHERE c.key = ?1`).values(key)[0] as
    | [...Row, bigint, bigint]
    | undefined;
  if (!row) return { kv: undefined, head: null };
  return { kv: row[6] === 1n ? toKv(row.slice(0, 6) as Row) : undefined, head: row[7] };
}

/** Live keys held by a lease, with the lease. */
export function* leasedKeys(t: Tables): Generator<[Uint8Array, bigint]> {
  const stmt = t.stmt("leased", "SELECT h.key, h.lease FROM cur c JOIN hist h ON h.id = c.id WHERE c.live = 1 AND h.lease != 0");
  for (const row of stmt.values() as [Uint8Array, bigint][]) yield row;
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
 * A Range at the current revision written straight to the wire: each live key in range, in key
 * order, as RangeResponse's field 2 (a KeyValue), at most `limit` (0 = all) of them; values left out
 * with keysOnly. Rows are read one at a time, so a million keys never exist as objects at once.
 * Returns how many were written and how many keys the range holds (for count and more).
 */
export function encodeCurrent(t: Tables, range: KeyRange, limit: number, keysOnly: boolean, w: ChunkWriter): { written: number; count: number } {
  if (range.kind === "range" && compareBytes(range.key, range.end) >= 0) return { written: 0, count: 0 };
  const key = range.key;
  const end = range.kind === "range" ? range.end : null;
  // Without a limit that can cut the answer short (a single key never is), the keys written are the
  // count: the separate COUNT(*) is needed only when a limit may leave keys out.
  const counted = limit > 0 && range.kind !== "point";
  const count = counted
    ? Number(t.stmt(`count:${range.kind}`, `SELECT COUNT(*) FROM cur c WHERE ${WHERE[range.kind]} AND ?2 IS ?2 AND c.live = 1`).values(key, end)[0][0])
    : -1;
  if (count === 0) return { written: 0, count };
  const rows = t
    .stmt(
      `curobj:${range.kind}`,
      `SELECT h.key AS k, h.value AS v, h.create_rev AS c, h.rev AS m, h.version AS n, h.lease AS l FROM cur c JOIN hist h ON h.id = c.id
       WHERE ${WHERE[range.kind]} AND ?2 IS ?2 AND c.live = 1 ORDER BY c.key LIMIT ?3`,
    )
    .iterate(key, end, limit > 0 ? limit : -1) as IterableIterator<{ k: Uint8Array; v: Uint8Array | null; c: bigint; m: bigint; n: bigint; l: bigint }>;
  let written = 0;
  for (const r of rows) {
    const value = keysOnly || r.v === null ? EMPTY : r.v;
    w.tag(2, WireType.LEN);
    w.varint(keyValueBytes(r.k, value, r.c, r.m, r.n, r.l));
    w.bytesField(1, r.k);
    w.int64Field(2, r.c);
    w.int64Field(3, r.m);
    w.int64Field(4, r.n);
    w.bytesField(5, value);
    w.int64Field(6, r.l);
    written++;
  }
  return { written, count: counted ? count : written };
}

/** The encoded size of a KeyValue (mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6). */
function keyValueBytes(key: Uint8Array, value: Uint8Array, create: bigint, mod: bigint, version: bigint, lease: bigint): number {
  const len = (b: Uint8Array) => (b.length === 0 ? 0 : 1 + varintBytes(b.length) + b.length);
  const int = (v: bigint) => (v === 0n ? 0 : 1 + varint64Bytes(v));
  return len(key) + int(create) + int(mod) + int(version) + len(value) + int(lease);
}
