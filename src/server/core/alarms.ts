import type { Backend } from "../../backend/backend.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { isTxnReadOnly } from "./kv-apply.ts";

export const AlarmType = { NONE: 0, NOSPACE: 1, CORRUPT: 2 } as const;

/** Requests that grow the database: refused under NOSPACE (deletes, compaction and reads go on), as etcd's capped applier. */
export function consumesSpace(r: etcdserverpb.InternalRaftRequest.$Properties): boolean {
  if (r.put || r.leaseGrant) return true;
  if (r.txn) return !isTxnReadOnly(r.txn) && hasPut(r.txn);
  return false;
}

/** Requests refused under CORRUPT, as etcd's corrupt applier does (reads and alarms go on). */
export function refusedWhenCorrupt(r: etcdserverpb.InternalRaftRequest.$Properties): boolean {
  return !!(r.put || r.deleteRange || r.txn || r.compaction || r.leaseGrant || r.leaseRevoke);
}

function hasPut(t: etcdserverpb.TxnRequest.$Properties): boolean {
  return [...(t.success ?? []), ...(t.failure ?? [])].some((op) => !!op.requestPut || (op.requestTxn ? hasPut(op.requestTxn) : false));
}

export function loadAlarms(b: Backend): { memberID: bigint; alarm: number }[] {
  const saved = b.getMeta("alarms") as string | undefined;
  if (!saved) return [];
  return (JSON.parse(saved) as { memberID: string; alarm: number }[]).map((x) => ({ memberID: BigInt(`0x${x.memberID}`), alarm: x.alarm }));
}

