// The simulation's own minimal check (the real checkers live in checkers/): every acknowledged put is
// in the final state, or something that could have superseded it happened. Acknowledged means the
// client got a revision back: losing it after that is what a server that answers before its fsync does.
import type { History, KvOp, KvValue, Verdict } from "./history.ts";

interface AckedPut {
  opId: number;
  key: string;
  value: string;
  revision: bigint;
}

/** Violations of "acknowledged writes survive", against the settled cluster's keys. */
export function checkAckedPuts(h: History, finalKvs: KvValue[]): Verdict {
  const out: Verdict = [];
  const finalRevision = h.members[0]?.revision;
  if (finalRevision === undefined) return out; // the run did not settle: the simulation reported that
  const final = new Map(finalKvs.map((kv) => [kv.key, kv]));
  const acked: AckedPut[] = [];
  let maxAcked = 0n;
  for (const op of h.operations) {
    if (op.outcome?.type !== "ok") continue;
    const r = op.outcome.result;
    if (r.kind !== "range" && r.kind !== "leaseKeepAlive" && r.revision > maxAcked) maxAcked = r.revision;
    if (op.op.kind === "put" && r.kind === "put") acked.push({ opId: op.id, key: op.op.key, value: op.op.value, revision: r.revision });
    if (op.op.kind === "txn" && r.kind === "txn" && (r.succeeded ? op.op.success : op.op.failure).some((o) => o.kind === "put")) {
      for (const o of r.succeeded ? op.op.success : op.op.failure) if (o.kind === "put") acked.push({ opId: op.id, key: o.key, value: o.value, revision: r.revision });
    }
  }
  if (maxAcked > finalRevision) out.push(`a write was acknowledged at revision ${maxAcked}, but the cluster ended at revision ${finalRevision}: acknowledged writes were lost`);
  for (const w of acked) {
    const kv = final.get(w.key);
    if (kv) {
      if (kv.modRevision < w.revision) {
        out.push(`put #${w.opId} ${w.key}=${w.value} was acknowledged at revision ${w.revision}, but ${w.key} ends as ${kv.value} from revision ${kv.modRevision}: the put was lost`);
      } else if (kv.modRevision === w.revision && kv.value !== w.value) {
        out.push(`put #${w.opId} ${w.key}=${w.value} was acknowledged at revision ${w.revision}, but ${w.key} holds ${kv.value} at that revision`);
      }
    } else if (!mayHaveDeleted(h, w.key)) {
      out.push(`put #${w.opId} ${w.key}=${w.value} was acknowledged at revision ${w.revision}, but ${w.key} is gone and nothing could have deleted it`);
    }
    if (out.length >= 5) break;
  }
  return out;
}

/** Whether any operation not refused outright could have deleted key (a delete, a txn's delete, a lease it was put with). */
function mayHaveDeleted(h: History, key: string): boolean {
  const covers = (o: KvOp): boolean => {
    if (o.kind === "delete") return o.end === undefined ? o.key === key : o.key <= key && key < o.end;
    if (o.kind === "put") return o.key === key && (o.leaseId ?? 0n) !== 0n; // its lease may have gone since
    if (o.kind === "txn") return [...o.success, ...o.failure].some(covers);
    return false;
  };
  return h.operations.some((op) => op.outcome?.type !== "error" && covers(op.op));
}
