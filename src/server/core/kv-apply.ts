import { Errors } from "../../pkg/errors.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import type { KeyValue } from "../../mvcc/key-value.ts";
import { compareBytes } from "../../mvcc/key-value.ts";
import type { MvccStore, RangeResult, WriteTxn } from "../../mvcc/store.ts";
import type { ChunkWriter } from "../../proto/chunk-writer.ts";

type RangeRequest = etcdserverpb.RangeRequest.$Properties;
type PutRequest = etcdserverpb.PutRequest.$Properties;
type DeleteRangeRequest = etcdserverpb.DeleteRangeRequest.$Properties;
type TxnRequest = etcdserverpb.TxnRequest.$Properties;
type Compare = etcdserverpb.Compare.$Properties;
type RequestOp = etcdserverpb.RequestOp.$Properties;

/** A response body before the server fills in the header's ids and term. */
export interface RangeOut {
  header: { revision: bigint };
  kvs: KeyValue[];
  more: boolean;
  count: bigint;
}
export interface PutOut {
  header: { revision: bigint };
  prevKv?: KeyValue;
}
export interface DeleteOut {
  header: { revision: bigint };
  deleted: bigint;
  prevKvs: KeyValue[];
}
export interface TxnOut {
  header: { revision: bigint };
  succeeded: boolean;
  responses: ResponseOpOut[];
}
export type ResponseOpOut =
  | { responseRange: RangeOut }
  | { responsePut: PutOut }
  | { responseDeleteRange: DeleteOut }
  | { responseTxn: TxnOut };

/** Reads through either the store (outside a write) or a write transaction (seeing its own writes). */
interface Reader {
  range(key: Uint8Array, end: Uint8Array | null | undefined, opts?: { rev?: bigint; limit?: number; countOnly?: boolean }): RangeResult;
}

const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;

const num = (v: bigint | number | null | undefined): bigint => (v == null ? 0n : BigInt(v));

/**
 * A Range's limit as a number SQLite can bind: etcd takes any int64, and a client asking for
 * "no limit" with Go's math.MaxInt64 must get every key, not a datatype error.
 */
function rangeLimit(r: RangeRequest): number {
  return Math.min(Number(num(r.limit)), 2 ** 50);
}

/** etcd's Range apply: filters and sorting force a full fetch, then sort, then truncate to limit. */
export function applyRange(reader: Reader, r: RangeRequest): RangeOut {
  const limit = rangeLimit(r);
  const minMod = num(r.minModRevision);
  const maxMod = num(r.maxModRevision);
  const minCreate = num(r.minCreateRevision);
  const maxCreate = num(r.maxCreateRevision);
  const sortOrder = r.sortOrder ?? SortOrder.NONE;
  const sortTarget = r.sortTarget ?? SortTarget.KEY;
  const fetchAll = sortOrder !== SortOrder.NONE || minMod !== 0n || maxMod !== 0n || minCreate !== 0n || maxCreate !== 0n;
  const fetchLimit = fetchAll ? 0 : limit > 0 ? limit + 1 : 0;

  const rr = reader.range(r.key ?? new Uint8Array(0), r.rangeEnd, { rev: num(r.revision), limit: fetchLimit, countOnly: !!r.countOnly });
  let kvs = rr.kvs;
  if (maxMod !== 0n) kvs = kvs.filter((kv) => kv.modRevision <= maxMod);
  if (minMod !== 0n) kvs = kvs.filter((kv) => kv.modRevision >= minMod);
  if (maxCreate !== 0n) kvs = kvs.filter((kv) => kv.createRevision <= maxCreate);
  if (minCreate !== 0n) kvs = kvs.filter((kv) => kv.createRevision >= minCreate);

  // The store returns keys ascending; any other target sorts ascending unless told otherwise.
  const order = sortTarget !== SortTarget.KEY && sortOrder === SortOrder.NONE ? SortOrder.ASCEND : sortOrder;
  if (order !== SortOrder.NONE) {
    const cmp = comparatorFor(sortTarget);
    kvs = [...kvs].sort(order === SortOrder.DESCEND ? (a, b) => cmp(b, a) : cmp);
  }
  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs = kvs.slice(0, limit);
    more = true;
  }
  if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: new Uint8Array(0) }));
  return { header: { revision: rr.rev }, kvs, more, count: BigInt(rr.count) };
}

/**
 * Whether a Range can be written straight to the wire (MvccStore.encodeRange): at the current
 * revision, in key order, without revision filters — what nearly every Range asks. The others need
 * their rows as objects (sorting, filtering, a walk back in history) and take applyRange.
 */
export function encodableRange(r: RangeRequest, currentRev: bigint): boolean {
  const order = r.sortOrder ?? SortOrder.NONE;
  const target = r.sortTarget ?? SortTarget.KEY;
  const keyOrder = target === SortTarget.KEY && order !== SortOrder.DESCEND;
  const rev = num(r.revision);
  return (
    keyOrder && !r.countOnly && (rev === 0n || rev === currentRev) &&
    num(r.minModRevision) === 0n && num(r.maxModRevision) === 0n && num(r.minCreateRevision) === 0n && num(r.maxCreateRevision) === 0n
  );
}

/** applyRange's answer for an encodable Range, its kvs written to w: the rest of the RangeResponse. */
export function applyRangeEncoded(store: MvccStore, r: RangeRequest, w: ChunkWriter): { revision: bigint; count: bigint; more: boolean; written: number } {
  const limit = rangeLimit(r);
  const out = store.encodeRange(r.key ?? new Uint8Array(0), r.rangeEnd, { limit: limit > 0 ? limit : 0, keysOnly: !!r.keysOnly }, w);
  return { revision: out.rev, count: BigInt(out.count), more: limit > 0 && out.count > limit, written: out.written };
}

function comparatorFor(target: number): (a: KeyValue, b: KeyValue) => number {
  const big = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);
  switch (target) {
    case SortTarget.VERSION:
      return (a, b) => big(a.version, b.version);
    case SortTarget.CREATE:
      return (a, b) => big(a.createRevision, b.createRevision);
    case SortTarget.MOD:
      return (a, b) => big(a.modRevision, b.modRevision);
    case SortTarget.VALUE:
      return (a, b) => compareBytes(a.value, b.value);
    default:
      return (a, b) => compareBytes(a.key, b.key);
  }
}

export interface LeaseLookup {
  exists(id: bigint): boolean;
}

export function applyPut(txn: WriteTxn, p: PutRequest, leases: LeaseLookup): PutOut {
  const key = p.key ?? new Uint8Array(0);
  let value = p.value ?? new Uint8Array(0);
  let lease = num(p.lease);
  const prev = p.ignoreValue || p.ignoreLease || p.prevKv ? txn.latest(key) : undefined;
  if ((p.ignoreValue || p.ignoreLease) && !prev) throw Errors.keyNotFound;
  if (p.ignoreValue) value = prev!.value;
  if (p.ignoreLease) lease = prev!.lease;
  if (lease !== 0n && !leases.exists(lease)) throw Errors.leaseNotFound;
  const out: PutOut = { header: { revision: txn.put(key, value, lease) } };
  if (p.prevKv && prev) out.prevKv = prev;
  return out;
}

export function applyDeleteRange(txn: WriteTxn, d: DeleteRangeRequest): DeleteOut {
  const res = txn.deleteRange(d.key ?? new Uint8Array(0), d.rangeEnd);
  return {
    header: { revision: txn.rev },
    deleted: BigInt(res.deleted),
    prevKvs: d.prevKv ? res.prevKvs : [],
  };
}

// ---- Txn ----

const CompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
const CompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;

export function isTxnReadOnly(t: TxnRequest): boolean {
  const ops = [...(t.success ?? []), ...(t.failure ?? [])];
  return ops.every((op) =>
    op.requestRange ? true : op.requestTxn ? isTxnReadOnly(op.requestTxn) : !(op.requestPut || op.requestDeleteRange),
  );
}

/**
 * Every compare, nested ones included, is evaluated against the state before the transaction writes
 * anything (as etcd's compareToPath): the path lists the outcome of each txn in visiting order.
 */
function compareToPath(reader: Reader, t: TxnRequest): boolean[] {
  const ok = (t.compare ?? []).every((c) => applyCompare(reader, c));
  const path = [ok];
  for (const op of (ok ? t.success : t.failure) ?? []) {
    if (op.requestTxn) path.push(...compareToPath(reader, op.requestTxn));
  }
  return path;
}

function applyCompare(reader: Reader, c: Compare): boolean {
  let kvs: KeyValue[];
  try {
    kvs = reader.range(c.key ?? new Uint8Array(0), c.rangeEnd).kvs;
  } catch {
    return false;
  }
  if (kvs.length === 0) {
    // A missing key has no value to compare: nil and empty cannot be told apart on the wire.
    if ((c.target ?? 0) === CompareTarget.VALUE) return false;
    return compareKv(c, undefined);
  }
  return kvs.every((kv) => compareKv(c, kv));
}

function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  const big = (x: bigint, y: bigint) => (x < y ? -1 : x > y ? 1 : 0);
  switch (c.target ?? 0) {
    case CompareTarget.VALUE:
      result = compareBytes(kv?.value ?? new Uint8Array(0), c.value ?? new Uint8Array(0));
      break;
    case CompareTarget.CREATE:
      result = big(kv?.createRevision ?? 0n, num(c.createRevision));
      break;
    case CompareTarget.MOD:
      result = big(kv?.modRevision ?? 0n, num(c.modRevision));
      break;
    case CompareTarget.LEASE:
      result = big(kv?.lease ?? 0n, num(c.lease));
      break;
    default:
      result = big(kv?.version ?? 0n, num(c.version));
  }
  switch (c.result ?? 0) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}

/** Checks the chosen branches before any write so a bad txn fails whole, never halfway. */
function checkTxnOps(reader: Reader, t: TxnRequest, path: boolean[], at: { i: number }, leases: LeaseLookup): void {
  const ok = path[at.i++];
  for (const op of (ok ? t.success : t.failure) ?? []) {
    if (op.requestTxn) checkTxnOps(reader, op.requestTxn, path, at, leases);
    else if (op.requestRange) {
      const rev = num(op.requestRange.revision);
      // Range errors inside a txn are reported before the txn runs, as etcd's checkRange.
      if (rev > 0n) reader.range(op.requestRange.key ?? new Uint8Array(0), null, { rev, countOnly: true });
    } else if (op.requestPut) {
      const p = op.requestPut;
      if (p.ignoreValue || p.ignoreLease) {
        if (reader.range(p.key ?? new Uint8Array(0), null, { countOnly: true }).count === 0) throw Errors.keyNotFound;
      }
      const lease = num(p.lease);
      if (lease !== 0n && !leases.exists(lease)) throw Errors.leaseNotFound;
    }
  }
}

export function applyTxn(store: MvccStore, t: TxnRequest, leases: LeaseLookup): TxnOut {
  // Store transactions as etcd's applier opens them (what etcd_mvcc_*_total count): a read-only txn is
  // one; a txn that writes reads its compares in one and runs its operations in a second.
  const checkedPath = () => {
    const path = compareToPath(store, t);
    checkTxnOps(store, t, path, { i: 0 }, leases);
    return path;
  };
  const run = (path: boolean[]) =>
    store.write((txn) => {
      const out = runTxn(txn, t, path, { i: 0 }, leases);
      out.header.revision = txn.rev;
      return out;
    });
  if (isTxnReadOnly(t)) return store.tally(() => run(checkedPath()));
  return run(store.tally(checkedPath));
}

function runTxn(txn: WriteTxn, t: TxnRequest, path: boolean[], at: { i: number }, leases: LeaseLookup): TxnOut {
  const succeeded = path[at.i++];
  const responses: ResponseOpOut[] = [];
  for (const op of (succeeded ? t.success : t.failure) ?? []) responses.push(runOp(txn, op, path, at, leases));
  return { header: { revision: txn.rev }, succeeded, responses };
}

function runOp(txn: WriteTxn, op: RequestOp, path: boolean[], at: { i: number }, leases: LeaseLookup): ResponseOpOut {
  if (op.requestRange) return { responseRange: applyRange(txn, op.requestRange) };
  if (op.requestPut) return { responsePut: applyPut(txn, op.requestPut, leases) };
  if (op.requestDeleteRange) return { responseDeleteRange: applyDeleteRange(txn, op.requestDeleteRange) };
  if (op.requestTxn) return { responseTxn: runTxn(txn, op.requestTxn, path, at, leases) };
  throw Errors.keyNotFound;
}
