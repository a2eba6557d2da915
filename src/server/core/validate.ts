import { Errors } from "../../pkg/errors.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { compareBytes } from "../../mvcc/key-value.ts";

type RequestOp = etcdserverpb.RequestOp.$Properties;
type TxnRequest = etcdserverpb.TxnRequest.$Properties;

const empty = (b: Uint8Array | null | undefined) => !b || b.length === 0;

/** Request checks done before proposing, as etcd's v3rpc does (so they never reach the log). */
export function checkRange(r: etcdserverpb.RangeRequest.$Properties): void {
  if (empty(r.key)) throw Errors.emptyKey;
}

export function checkPut(r: etcdserverpb.PutRequest.$Properties): void {
  if (empty(r.key)) throw Errors.emptyKey;
  if (r.ignoreValue && !empty(r.value)) throw Errors.valueProvided;
  if (r.ignoreLease && r.lease != null && BigInt(r.lease) !== 0n) throw Errors.leaseProvided;
}

export function checkDelete(r: etcdserverpb.DeleteRangeRequest.$Properties): void {
  if (empty(r.key)) throw Errors.emptyKey;
}

export function checkTxn(r: TxnRequest, maxTxnOps: number): void {
  const opc = Math.max(r.compare?.length ?? 0, r.success?.length ?? 0, r.failure?.length ?? 0);
  if (opc > maxTxnOps) throw Errors.tooManyOps;
  for (const c of r.compare ?? []) if (empty(c.key)) throw Errors.emptyKey;
  for (const op of [...(r.success ?? []), ...(r.failure ?? [])]) checkOp(op, maxTxnOps - opc);
  checkIntervals(r.success ?? []);
  checkIntervals(r.failure ?? []);
}

function checkOp(op: RequestOp, maxTxnOps: number): void {
  if (op.requestRange) return checkRange(op.requestRange);
  if (op.requestPut) return checkPut(op.requestPut);
  if (op.requestDeleteRange) return checkDelete(op.requestDeleteRange);
  if (op.requestTxn) return checkTxn(op.requestTxn, maxTxnOps);
  throw Errors.keyNotFound; // an empty op, as etcd answers it
}

/** A deleted interval [key, end) — or a single key when end is absent. */
interface Interval {
  key: Uint8Array;
  end: Uint8Array | null;
}

function intersects(dels: Interval[], k: Uint8Array): boolean {
  return dels.some((d) => {
    if (!d.end) return compareBytes(d.key, k) === 0;
    // "\0" as end means "to the end of the keyspace".
    const open = d.end.length === 1 && d.end[0] === 0;
    return compareBytes(k, d.key) >= 0 && (open || compareBytes(k, d.end) < 0);
  });
}

/** Keys as latin1 strings: a lossless byte-for-byte Set key. */
const keyString = (b: Uint8Array) => Buffer.from(b).toString("latin1");

/**
 * A txn may not put the same key twice nor put a key it also deletes, at any nesting depth; the two
 * branches of a nested txn are exclusive, so the same put in both is fine (etcd's checkIntervals).
 */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of reqs) {
    const d = op.requestDeleteRange;
    if (d) dels.push({ key: d.key ?? new Uint8Array(0), end: empty(d.rangeEnd) ? null : d.rangeEnd! });
  }
  const puts = new Set<string>();
  for (const op of reqs) {
    if (!op.requestTxn) continue;
    const then = checkIntervals(op.requestTxn.success ?? []);
    const els = checkIntervals(op.requestTxn.failure ?? []);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, Buffer.from(k, "latin1"))) throw Errors.duplicateKey;
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw Errors.duplicateKey;
      if (intersects(dels, Buffer.from(k, "latin1"))) throw Errors.duplicateKey;
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const op of reqs) {
    const p = op.requestPut;
    if (!p) continue;
    const key = p.key ?? new Uint8Array(0);
    const k = keyString(key);
    if (puts.has(k) || intersects(dels, key)) throw Errors.duplicateKey;
    puts.add(k);
  }
  return { puts, dels };
}
