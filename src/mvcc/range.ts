// Reads of keys: a range at the current revision joins `cur` to `hist`; one in the past walks each
// key's chain back to the revision asked for.
import { compareBytes, type KeyRange, type KeyValue } from "./key-value.ts";
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
