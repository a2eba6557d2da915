// Real-time order: "what was the highest revision acknowledged before time t?" answered in log time.
// An operation that starts after another was acknowledged must see at least that one's revision.
import type { KvResult, Operation } from "../history.ts";

/**
 * The revision an acknowledged operation reports having seen (its header revision), for the kinds
 * whose header is a revision the member had applied when it answered. Lease grants and keep-alives
 * are left out: etcd fills their header from whichever member answered, and nothing orders it.
 */
export function seenRevision(op: Operation): bigint | undefined {
  if (op.outcome?.type !== "ok") return undefined;
  const r: KvResult = op.outcome.result;
  switch (r.kind) {
    case "put":
    case "delete":
    case "range":
    case "txn":
    case "leaseRevoke":
      return r.revision;
    default:
      return undefined;
  }
}

export interface Ack {
  revision: bigint;
  op: number;
}

/** Prefix maxima of acknowledged revisions, ordered by acknowledgement time. */
export class RealTime {
  readonly #ends: number[] = [];
  readonly #best: Ack[] = [];

  constructor(ops: Iterable<Operation>) {
    const acks: { endMs: number; ack: Ack }[] = [];
    for (const op of ops) {
      const revision = seenRevision(op);
      if (revision !== undefined && op.endMs !== undefined) acks.push({ endMs: op.endMs, ack: { revision, op: op.id } });
    }
    acks.sort((a, b) => a.endMs - b.endMs);
    let best: Ack | undefined;
    for (const { endMs, ack } of acks) {
      if (!best || ack.revision > best.revision) best = ack;
      this.#ends.push(endMs);
      this.#best.push(best);
    }
  }

  /** The highest revision acknowledged strictly before `t` (and by which operation), if any. */
  before(t: number): Ack | undefined {
    let lo = 0;
    let hi = this.#ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ends[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : this.#best[lo - 1];
  }
}
