// Agreement between members and the life of leases: members at the same revision (and compaction)
// hold the same data; a lease ends once (revoked or expired, not both, not twice), never before its
// TTL has run since the last keep-alive, and takes its keys with it at the revision it ends.
import type { History, KvResult, KvValue, Verdict } from "../history.ts";
import { putsOf } from "./apply.ts";
import { fmtKey, fmtKv } from "./keys.ts";
import { buildModel, type LeaseEnd, type Model } from "./model.ts";

export interface MemberCheckOptions {
  /**
   * Slack for "never early", in ms: one election timeout (etcd's default 1000). A keep-alive
   * refreshes the lease when the leader handles it, which can be a round trip before the client
   * records its answer, and a new leader re-arms every lease with such a margin.
   */
  electionTimeoutMs?: number;
}

export function checkMembers(h: History, model: Model = buildModel(h), opts: MemberCheckOptions = {}): Verdict {
  return [...checkHashes(h), ...checkLeaseEndsOnce(h, model), ...checkNeverEarly(h, opts), ...checkLeaseKeys(h, model)];
}

/** Members at equal revision and compact revision have equal HashKV. */
function checkHashes(h: History): Verdict {
  const out: Verdict = [];
  const first = new Map<string, (typeof h.members)[number]>();
  for (const m of h.members) {
    const id = `${m.revision}/${m.compactRevision}`;
    const other = first.get(id);
    if (!other) first.set(id, m);
    else if (other.hash !== m.hash) {
      out.push(`members ${other.member.toString(16)} and ${m.member.toString(16)} differ at rev ${m.revision} (hash ${other.hash} vs ${m.hash})`);
    }
  }
  return out;
}

function endsByLease(model: Model): Map<bigint, LeaseEnd[]> {
  const ends = new Map<bigint, LeaseEnd[]>();
  for (const e of model.leaseEnds) {
    const list = ends.get(e.leaseId);
    if (list) list.push(e);
    else ends.set(e.leaseId, [e]);
  }
  return ends;
}

/** A lease ends once: two acknowledged revokes, a revoke and an expiry, or two expiries cannot all succeed. */
function checkLeaseEndsOnce(h: History, model: Model): Verdict {
  const out: Verdict = [];
  for (const [lease, ends] of endsByLease(model)) {
    if (ends.length > 1) out.push(`lease ${lease} ended twice: ${ends.map((e) => `${e.source} (rev ${e.revision})`).join(", ")}`);
  }
  // A keep-alive that starts after the lease ended must fail (etcd answers TTL -1 / lease not found).
  const firstEnd = new Map<bigint, LeaseEnd>();
  for (const e of model.leaseEnds) {
    const have = firstEnd.get(e.leaseId);
    if (e.atMs !== undefined && (!have || have.atMs === undefined || e.atMs < have.atMs)) firstEnd.set(e.leaseId, e);
  }
  for (const op of h.operations) {
    if (op.op.kind !== "leaseKeepAlive" || op.outcome?.type !== "ok" || op.outcome.result.kind !== "leaseKeepAlive") continue;
    const end = firstEnd.get(op.op.leaseId);
    if (end?.atMs !== undefined && op.startMs > end.atMs && op.outcome.result.ttlSeconds > 0) {
      out.push(`op ${op.id} kept lease ${op.op.leaseId} alive (ttl ${op.outcome.result.ttlSeconds}s) after ${end.source} at ${end.atMs}ms`);
    }
  }
  return out;
}

/** A lease expires no earlier than its TTL after the last keep-alive (or its grant), less the slack. */
function checkNeverEarly(h: History, opts: MemberCheckOptions): Verdict {
  const slackMs = opts.electionTimeoutMs ?? 1000;
  const keepAliveStarts = new Map<bigint, number[]>();
  for (const op of h.operations) {
    // Only a keep-alive answering a positive TTL renewed the lease (TTL 0 or less: it was gone).
    if (op.op.kind !== "leaseKeepAlive" || op.outcome?.type !== "ok" || op.outcome.result.kind !== "leaseKeepAlive" || op.outcome.result.ttlSeconds <= 0) continue;
    const list = keepAliveStarts.get(op.op.leaseId);
    if (list) list.push(op.startMs);
    else keepAliveStarts.set(op.op.leaseId, [op.startMs]);
  }
  const out: Verdict = [];
  for (const e of h.leaseExpiries) {
    // The refresh happened between a keep-alive's start and its answer: its start is the safe bound.
    let base = Math.max(e.grantedAtMs, e.lastKeepAliveMs);
    for (const t of keepAliveStarts.get(e.leaseId) ?? []) if (t <= e.expiredAtMs && t > base) base = t;
    const deadline = base + e.ttlSeconds * 1000;
    if (e.expiredAtMs < deadline - slackMs) {
      out.push(`lease ${e.leaseId} expired at ${e.expiredAtMs}ms, before ${deadline}ms (kept alive at ${base}ms, ttl ${e.ttlSeconds}s, slack ${slackMs}ms)`);
    }
  }
  return out;
}

/**
 * A lease's keys go with it at the revision it ends: none is still attached there in the replay, no
 * write attaches one afterwards, and no read or event at or after that revision shows one.
 */
function checkLeaseKeys(h: History, model: Model): Verdict {
  const out: Verdict = [];
  const endOf = new Map<bigint, LeaseEnd>();
  for (const e of model.leaseEnds) {
    const have = endOf.get(e.leaseId);
    if (!have || e.revision < have.revision) endOf.set(e.leaseId, e);
  }
  if (endOf.size === 0) return out;
  const keysOf = new Map<bigint, Set<string>>();
  for (const op of h.operations) {
    for (const p of putsOf(op.op)) {
      if (p.leaseId === undefined || p.leaseId === 0n) continue;
      const set = keysOf.get(p.leaseId);
      if (set) set.add(p.key);
      else keysOf.set(p.leaseId, new Set([p.key]));
      const end = endOf.get(p.leaseId);
      const at = model.placed.get(op.id);
      if (end && at !== undefined && at > end.revision) {
        out.push(`op ${op.id} attached ${fmtKey(p.key)} to lease ${p.leaseId} at rev ${at}, after ${end.source} ended it at rev ${end.revision}`);
      }
    }
  }
  for (const [lease, end] of endOf) {
    for (const k of keysOf.get(lease) ?? []) {
      const e = model.at(k, end.revision);
      if (e.kv?.lease === lease && e.unsure !== "all") out.push(`${end.source} ended lease ${lease} at rev ${end.revision}, but ${fmtKv(e.kv)} stayed attached`);
    }
  }
  const seenAfter = (kv: KvValue, readRev: bigint, where: string) => {
    const end = endOf.get(kv.lease);
    if (kv.lease !== 0n && end && readRev >= end.revision) {
      out.push(`${where} saw ${fmtKv(kv)} on lease ${kv.lease} at rev ${readRev}, after ${end.source} ended it at rev ${end.revision}`);
    }
  };
  for (const op of h.operations) {
    if (op.outcome?.type !== "ok") continue;
    const topRev = op.op.kind === "range" && op.op.revision !== undefined && op.op.revision > 0n ? op.op.revision : op.outcome.result.revision;
    const walk = (r: KvResult, readRev: bigint) => {
      if (r.kind === "range") for (const kv of r.kvs) seenAfter(kv, readRev, `op ${op.id}`);
      else if (r.kind === "txn") for (const sub of r.results) walk(sub, readRev);
    };
    // A txn that wrote at its revision read what was there before it (plus its own earlier writes, whose
    // leases the attach check above covers): its reads are as of the revision before.
    const wrote = op.op.kind === "txn" && model.placed.get(op.id) === topRev;
    walk(op.outcome.result, wrote ? topRev - 1n : topRev);
  }
  for (const w of h.watches) {
    for (const resp of w.responses) for (const ev of resp.events) if (ev.type === "PUT") seenAfter(ev.kv, ev.kv.modRevision, `watch ${w.id}`);
  }
  return out;
}
