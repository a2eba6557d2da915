// A linearizability checker of etcd's KV API over a recorded history, by revision.
//
// etcd puts every write in one order and tells each client where: the header revision. So a history
// need not be searched for a linearization (Porcupine's way): the order of the writes is given, and
// what each write did is given too, by the truth — the events of every revision, as a watch from
// revision 1 saw them. The check is then a series of linear passes:
//   1. replay the truth into a multi-version store (the state at any revision, by binary search);
//   2. every revision 2..toRevision is made by exactly one call: the ok write that reports it (its
//      effect, computed from the state just before, must be the truth's events), else an unknown
//      call whose effect it is and that was invoked before anyone saw that revision (a bipartite
//      matching, so an unknown call explains one revision at most), else it is a phantom write;
//   3. every ok call that changed nothing (reads, deletes of nothing, txns without writes, ...) is
//      answered from the state at its header revision;
//   4. real time: an ok call that started after another returned reports a revision at least as
//      high — higher if it wrote (serializable reads excepted: they may be stale);
//   5. leases: an acked put with a lease follows a grant of it and no acked revoke; a refusal for
//      "lease not found" needs the lease gone;
//   6. compaction: reads below an earlier compaction fail, and only those (and reads of a revision
//      already seen do not fail as "future").
// Revision 1 is a fresh cluster's empty store; the first write makes revision 2.
//
// Pure: no I/O, no clock. Cost: O(n log n) in calls and revisions, plus the keys each read returns.
// The model of etcd (the replayed store, what a request does, how answers differ) is kv-model.ts;
// how findings name things, kv-show.ts.

import { inRange, type KvCall, type KvRequest, type KvResponse, type RequestOp, type WatchEvent } from "../history.ts";
import { Versions, effectOf, compareHolds, kvEqual, eventsDiff, responseDiff, requestOps } from "./kv-model.ts";
import { q, showCall, showKv, showEvent, showEvents } from "./kv-show.ts";

export interface KvTruth {
  /** revision → its events in order (the changes of one write, sharing that revision as modRevision). */
  events: ReadonlyMap<number, readonly WatchEvent[]> | ReadonlyArray<{ revision: number; events: readonly WatchEvent[] }>;
  /** The last revision the truth covers: every revision in [2, toRevision] must have its events. */
  toRevision: number;
  /** The truth covers the whole run: no call may report a revision above toRevision. */
  complete?: boolean;
}

export interface KvCheckOptions {
  /** Violations kept with their details (the rest are only counted in `omitted`); default 100. */
  maxViolations?: number;
  /**
   * Every compaction of the run is a call in the history (no --auto-compaction-*); default true.
   * When false, a read failing with "compacted" is not questioned.
   */
  compactionsRecorded?: boolean;
}

export type KvViolationKind =
  /** The truth itself is inconsistent (a gap, an event at the wrong revision, a wrong prevKv). */
  | "truth"
  /** An ok call without a header revision or with a response of another kind. */
  | "malformed"
  /** A revision no call can have made. */
  | "phantomWrite"
  /** An acked write whose revision holds other changes than its own (a lost or mangled write). */
  | "wrongEffect"
  /** Two acked writes report the same revision. */
  | "duplicateRevision"
  /** An answer that is not the one the state at its revision gives (stale read, wrong count, txn branch, ...). */
  | "wrongResponse"
  /** A call reporting a revision below one returned before it started. */
  | "realTime"
  | "lease"
  | "compaction"
  /** A read of a revision above its own header, or a wrongly refused one. */
  | "futureRevision"
  /** A revision above the truth's window when the truth says it covers the whole run. */
  | "beyondTruth";

export interface KvViolation {
  kind: KvViolationKind;
  detail: string;
  /** Index in `calls` of the call at fault, when there is one. */
  call?: number;
  revision?: number;
}

export interface KvReport {
  ok: boolean;
  /** At most maxViolations of them. */
  violations: KvViolation[];
  /** Violations found beyond maxViolations. */
  omitted: number;
  /** Ok calls whose answer was checked against the truth. */
  checked: number;
  /** Ok calls above the truth's window (or past a gap in it): only checked for real time, leases, compaction. */
  unchecked: number;
  /** Revisions matched to their writes (2..the last checkable one). */
  revisions: number;
  /** Of those, how many unknown calls made. */
  byUnknown: number;
  /** Revisions explained as a lease running out. */
  expired: number;
}

const LEASE_NOT_FOUND = "requested lease not found";
const COMPACTED = "required revision has been compacted";
const FUTURE_REV = "required revision is a future revision";

/** Checks `calls` against `truth`; see the file comment for what is checked. */
export function checkKv(calls: readonly KvCall[], truth: KvTruth, opts: KvCheckOptions = {}): KvReport {
  const found = new Findings(opts.maxViolations ?? 100);
  const events = truthByRevision(truth.events);
  const store = replay(events, truth.toRevision, found);
  const ctx: Ctx = { calls, store, events, top: store.top, found };
  const ok = okCalls(ctx, truth);
  const made = explainRevisions(ctx, ok);
  const counts = checkUnchanged(ctx, ok, made);
  checkRealTime(ctx, ok, made);
  checkLeases(ctx, ok, made);
  checkCompaction(ctx, ok, opts.compactionsRecorded ?? true);
  checkFutureRevisionErrors(ctx, ok);
  return {
    ok: found.total === 0,
    violations: found.list,
    omitted: found.total - found.list.length,
    checked: made.checked + counts.checked,
    unchecked: made.unchecked + counts.unchecked,
    revisions: Math.max(0, store.top - 1),
    byUnknown: made.byUnknown.size,
    expired: made.expired,
  };
}

// ---- the truth, replayed ----
function truthByRevision(events: KvTruth["events"]): ReadonlyMap<number, readonly WatchEvent[]> {
  if (!Array.isArray(events)) return events as ReadonlyMap<number, readonly WatchEvent[]>;
  const m = new Map<number, WatchEvent[]>();
  for (const r of events as ReadonlyArray<{ revision: number; events: readonly WatchEvent[] }>) {
    m.set(r.revision, [...(m.get(r.revision) ?? []), ...r.events]);
  }
  return m;
}

/** The truth into a Versions, checking what can be checked without the calls; stops at the first gap. */
function replay(byRev: ReadonlyMap<number, readonly WatchEvent[]>, toRevision: number, found: Findings): Versions {
  const keys: string[] = [];
  for (const [r, evs] of byRev) if (r <= toRevision) for (const e of evs) keys.push(e.kv.key);
  const store = new Versions(keys);
  for (const [r, evs] of byRev) {
    if (r <= 1 && evs.length > 0) found.add({ kind: "truth", revision: r, detail: `The truth has events at revision ${r}, but the first write makes revision 2` });
  }
  for (let r = 2; r <= toRevision; r++) {
    const evs = byRev.get(r) ?? [];
    if (evs.length === 0) {
      found.add({ kind: "truth", revision: r, detail: `The truth has no events at revision ${r} (a gap): nothing from ${r} on is checked against it` });
      break;
    }
    for (const e of evs) {
      if (e.kv.modRevision !== r) {
        found.add({ kind: "truth", revision: r, detail: `The truth's event ${showEvent(e)} at revision ${r} has modRevision ${e.kv.modRevision}` });
      }
      const prev = store.get(e.kv.key, r);
      if (e.prevKv && !kvEqual(e.prevKv, prev)) {
        found.add({ kind: "truth", revision: r, detail: `The truth's event ${showEvent(e)} at revision ${r} has prevKv ${showKv(e.prevKv)}, but the replay has ${prev ? showKv(prev) : "no key"}` });
      }
      store.record(e.kv.key, r, e.type === "put" ? e.kv : null);
    }
    store.top = r;
  }
  return store;
}

// ---- ok calls ----

/**
 * What an ok call did, as its response tells:
 * - write: it made its header revision (a put; a delete or txn that deleted something or put);
 * - unchanged: it changed nothing and was answered at its header revision;
 * - revoke: either (its lease held keys: it made its header revision, or none: unchanged);
 * - skip: defragment, a member-local call with nothing to check.
 */
type Role = "write" | "unchanged" | "revoke" | "skip";

interface Ok {
  i: number;
  rev: number;
  role: Role;
  /** Answered from the member's own state without a read barrier: may be stale. */
  serializable: boolean;
}

interface Ctx {
  calls: readonly KvCall[];
  store: Versions;
  /** The truth's events per revision. */
  events: ReadonlyMap<number, readonly WatchEvent[]>;
  /** The last revision whose state is known. */
  top: number;
  found: Findings;
}

function okCalls(ctx: Ctx, truth: KvTruth): Ok[] {
  const out: Ok[] = [];
  ctx.calls.forEach((c, i) => {
    if (c.outcome !== "ok") return;
    const rev = c.revision;
    if (rev === undefined || !Number.isFinite(rev) || !c.response || c.response.kind !== c.request.kind) {
      const why = rev === undefined || !Number.isFinite(rev) ? "no header revision" : !c.response ? "no response" : `a ${c.response.kind} response`;
      ctx.found.add({ kind: "malformed", call: i, detail: `${showCall(ctx.calls, i)} is ok but has ${why}` });
      return;
    }
    const role = roleOf(c.request, c.response);
    if (truth.complete && role !== "skip" && rev > truth.toRevision) {
      ctx.found.add({ kind: "beyondTruth", call: i, revision: rev, detail: `${showCall(ctx.calls, i)} reports revision ${rev}, but the run's last revision is ${truth.toRevision}` });
    }
    out.push({ i, rev, role, serializable: isSerializable(c.request) });
  });
  return out;
}

function roleOf(req: KvRequest, resp: KvResponse): Role {
  switch (req.kind) {
    case "put":
      return "write";
    case "delete":
      return resp.kind === "delete" && resp.deleted > 0 ? "write" : "unchanged";
    case "txn": {
      if (resp.kind !== "txn") return "unchanged";
      const branch = resp.succeeded ? req.success : req.failure;
      const wrote = branch.some((op, j) => {
        const r = resp.results[j];
        return op.kind === "put" || (op.kind === "delete" && r?.kind === "delete" && r.deleted > 0);
      });
      return wrote ? "write" : "unchanged";
    }
    case "leaseRevoke":
      return "revoke";
    case "defragment":
      return "skip";
    default:
      return "unchanged";
  }
}

/**
 * etcd answers these from the member's state without a ReadIndex round: a serializable range, and a
 * txn with no writes whose every range is serializable (one with no ops at all included).
 */
function isSerializable(req: KvRequest): boolean {
  if (req.kind === "range") return req.serializable;
  if (req.kind !== "txn") return false;
  const ops = [...req.success, ...req.failure];
  return ops.every((op) => op.kind === "range" && op.serializable);
}

// ---- 2. every revision made by exactly one call ----

interface Made {
  /** Ok revokes that made their header revision. */
  revokes: Set<number>;
  /** Revisions made by a lease running out (its keys deleted by the server, no call). */
  expired: number;
  /** Unknown calls that made a revision → that revision. */
  byUnknown: Map<number, number>;
  checked: number;
  unchecked: number;
}

function explainRevisions(ctx: Ctx, ok: Ok[]): Made {
  const { calls, store, top, found } = ctx;
  const made: Made = { revokes: new Set(), expired: 0, byUnknown: new Map(), checked: 0, unchecked: 0 };
  const expiry = leaseExpiry(ctx);
  const claims = new Map<number, number[]>();
  const revokesAt = new Map<number, number[]>();
  for (const o of ok) {
    if (o.role === "write") {
      if (o.rev > top) made.unchecked++;
      else if (o.rev < 2) found.add({ kind: "wrongEffect", call: o.i, revision: o.rev, detail: `${showCall(calls, o.i)} is an acked write at revision ${o.rev}, but writes start at revision 2` });
      else push(claims, o.rev, o.i);
    } else if (o.role === "revoke" && o.rev >= 2 && o.rev <= top) push(revokesAt, o.rev, o.i);
  }

  const unexplained: number[] = [];
  const candidates: number[][] = [];
  const unknown = unknownIndex(calls);
  const observed = firstObserved(calls, ok);
  for (let r = 2; r <= top; r++) {
    const truth = eventsAt(ctx, r);
    const cs = claims.get(r);
    if (cs) {
      made.checked += cs.length;
      const effects = cs.map((i) => effectOf(calls[i].request, store, r - 1));
      // Of two claimants, the one whose effect it is made it; the other lies about its revision.
      let k = effects.findIndex((e) => eventsDiff(e.events, truth) === null);
      if (k < 0) {
        k = 0;
        found.add({
          kind: "wrongEffect",
          call: cs[0],
          revision: r,
          detail: `${showCall(calls, cs[0])} is acked at revision ${r}; applied to the state at ${r - 1} it makes ${showEvents(effects[0].events)}, but revision ${r} holds ${showEvents(truth)}`,
        });
      } else {
        // (after a wrong effect its answer is moot: one violation per call)
        const d = responseDiff(effects[k].response, calls[cs[k]].response!);
        if (d) found.add({ kind: "wrongResponse", call: cs[k], revision: r, detail: `${showCall(calls, cs[k])} made revision ${r} from the state at ${r - 1}: ${d}` });
      }
      cs.forEach((i, j) => {
        if (j !== k) found.add({ kind: "duplicateRevision", call: i, revision: r, detail: `${showCall(calls, i)} reports revision ${r} as its write, as does ${showCall(calls, cs[k])}` });
      });
      continue;
    }
    const rv = (revokesAt.get(r) ?? []).find((i) => {
      const e = effectOf(calls[i].request, store, r - 1).events;
      return e.length > 0 && eventsDiff(e, truth) === null;
    });
    if (rv !== undefined) {
      made.revokes.add(rv);
      made.checked++;
      continue;
    }
    if (expiry(r, truth, observed(r))) {
      made.expired++;
      continue;
    }
    unexplained.push(r);
    candidates.push(unknownCandidates(ctx, unknown, r, truth, observed(r)));
  }

  const matched = maxMatching(candidates);
  unexplained.forEach((r, j) => {
    const u = matched[j];
    if (u >= 0) {
      made.byUnknown.set(u, r);
      return;
    }
    const t = observed(r);
    const seen = Number.isFinite(t) ? `first seen by a response at ${t} ms` : "seen by no ok response";
    const why = candidates[j].length > 0 ? `the unknown calls that could have made it made other revisions` : `no ok write reports it and no unknown call that could have made it was invoked before it was ${seen}`;
    found.add({ kind: "phantomWrite", revision: r, detail: `Revision ${r} (${showEvents(eventsAt(ctx, r))}; ${seen}) was made by no call: ${why}` });
  });
  return made;
}

/**
 * Whether revision r is a lease running out: exactly the deletes a revoke of some lease L would make
 * on the state at r − 1, where L was granted by an ok call whose TTL had run out by the time r was
 * first seen (the server starts the clock no earlier than the grant's invocation, and only ever
 * extends it). Leases granted by calls of unknown outcome have no known id: no key is put on them.
 */
function leaseExpiry(ctx: Ctx): (r: number, truth: readonly WatchEvent[], observedAt: number) => boolean {
  const grants = new Map<string, { call: number; ttl: number }>();
  for (const c of ctx.calls) {
    if (c.outcome === "ok" && c.request.kind === "leaseGrant" && c.response?.kind === "leaseGrant") grants.set(c.response.id, { call: c.call, ttl: c.request.ttl });
  }
  return (r, truth, observedAt) => {
    if (truth.length === 0 || truth.some((e) => e.type !== "delete")) return false;
    const leases = new Set<string>();
    for (const e of truth) {
      const kv = ctx.store.get(e.kv.key, r - 1);
      if (kv && kv.lease !== "0") leases.add(kv.lease);
    }
    for (const id of leases) {
      const g = grants.get(id);
      if (!g || observedAt < g.call + g.ttl * 1000) continue;
      if (eventsDiff(effectOf({ kind: "leaseRevoke", id }, ctx.store, r - 1).events, truth) === null) return true;
    }
    return false;
  };
}

function eventsAt(ctx: Ctx, r: number): readonly WatchEvent[] {
  return r <= ctx.top ? (ctx.events.get(r) ?? []) : [];
}

interface UnknownIndex {
  /** Put value → unknown calls putting it (the traffic makes every put value unique). */
  byValue: Map<string, number[]>;
  /** Unknown calls that can delete without putting: deletes, txns with deletes, revokes. */
  deleters: number[];
}

function unknownIndex(calls: readonly KvCall[]): UnknownIndex {
  const idx: UnknownIndex = { byValue: new Map(), deleters: [] };
  calls.forEach((c, i) => {
    if (c.outcome !== "unknown") return;
    const ops = requestOps(c.request);
    for (const op of ops) if (op.kind === "put") push(idx.byValue, op.value, i);
    if (c.request.kind === "leaseRevoke" || ops.some((op) => op.kind === "delete")) idx.deleters.push(i);
  });
  return idx;
}

/** The unknown calls that can have made revision r: invoked before r was first seen, with r's events as effect. */
function unknownCandidates(ctx: Ctx, idx: UnknownIndex, r: number, truth: readonly WatchEvent[], seenAt: number): number[] {
  const { calls, store } = ctx;
  const put = truth.find((e) => e.type === "put");
  let pool: number[];
  if (put) pool = idx.byValue.get(put.kv.value) ?? [];
  else {
    // Only deletes: cheap filter on the first deleted key before computing effects.
    const key = truth[0]?.kv.key ?? "";
    pool = idx.deleters.filter((i) => {
      const req = calls[i].request;
      if (req.kind === "leaseRevoke") return store.get(key, r - 1)?.lease === req.id;
      return requestOps(req).some((op) => op.kind === "delete" && inRange(key, op.key, op.end));
    });
  }
  return pool.filter((i) => calls[i].call <= seenAt && eventsDiff(effectOf(calls[i].request, store, r - 1).events, truth) === null);
}

/**
 * When each revision was first seen: r → the earliest return of an ok response whose header revision
 * is ≥ r (the write making r was invoked before that). Infinity when none.
 */
function firstObserved(calls: readonly KvCall[], ok: Ok[]): (r: number) => number {
  // The max of -ret over calls with -rev ≤ -r is the min of ret over rev ≥ r.
  const pm = new PrefixMax(ok.filter((o) => o.role !== "skip").map((o) => ({ at: -o.rev, value: -calls[o.i].ret, id: o.i })));
  return (r) => {
    const best = pm.below(-r, true);
    return best ? -best.value : Infinity;
  };
}

/**
 * A maximum bipartite matching (Kuhn's, with breadth-first augmenting paths): left j → one of
 * adj[j] (a call index) or -1, each call used once.
 */
function maxMatching(adj: readonly (readonly number[])[]): number[] {
  const matchL = adj.map(() => -1);
  const matchR = new Map<number, number>();
  for (let l = 0; l < adj.length; l++) {
    const free = adj[l].find((c) => !matchR.has(c));
    if (free !== undefined) {
      matchL[l] = free;
      matchR.set(free, l);
      continue;
    }
    const parent = new Map<number, number>(); // call → the left node that reached it
    const queue = [l];
    let end = -1;
    for (let q = 0; q < queue.length && end < 0; q++) {
      for (const c of adj[queue[q]]) {
        if (parent.has(c)) continue;
        parent.set(c, queue[q]);
        const owner = matchR.get(c);
        if (owner === undefined) {
          end = c;
          break;
        }
        queue.push(owner);
      }
    }
    for (let c = end; c >= 0; ) {
      const x = parent.get(c)!;
      const prev = matchL[x];
      matchL[x] = c;
      matchR.set(c, x);
      c = prev;
    }
  }
  return matchL;
}

// ---- 3. calls that changed nothing: answered from the state at their revision ----

function checkUnchanged(ctx: Ctx, ok: Ok[], made: Made): { checked: number; unchecked: number } {
  const { calls, store, top, found } = ctx;
  let checked = 0;
  let unchecked = 0;
  for (const o of ok) {
    if (o.role === "write" || o.role === "skip" || made.revokes.has(o.i)) continue;
    const c = calls[o.i];
    const req = c.request;
    const h = o.rev;
    // A read of a revision above the header should have failed.
    const future = readsOf(req, c.response!).find((op) => op.revision > h);
    if (future) {
      found.add({ kind: "futureRevision", call: o.i, revision: h, detail: `${showCall(calls, o.i)} read revision ${future.revision} above its header revision ${h}: it should have failed "${FUTURE_REV}"` });
      continue;
    }
    if (req.kind === "leaseGrant" || req.kind === "compact") {
      checked++;
      continue;
    }
    // A range at a past revision needs only that state; everything else the state at its header.
    const need = req.kind === "range" && req.revision > 0 ? req.revision : Math.max(h, ...readsOf(req, c.response!).map((op) => op.revision));
    if (need > top) {
      unchecked++;
      continue;
    }
    checked++;
    const e = effectOf(req, store, h);
    const d = responseDiff(e.response, c.response!);
    if (d) {
      found.add({ kind: "wrongResponse", call: o.i, revision: h, detail: `${showCall(calls, o.i)} answered at revision ${h}: ${d}` });
    } else if (e.events.length > 0) {
      found.add({
        kind: "wrongResponse",
        call: o.i,
        revision: h,
        detail: `${showCall(calls, o.i)} changed nothing at revision ${h}, but applied to the state at ${h} it makes ${showEvents(e.events)} (and no revision has those changes as this call's)`,
      });
    }
  }
  return { checked, unchecked };
}

/** The range ops a call executed (a txn's taken branch, as its response says). */
function readsOf(req: KvRequest, resp: KvResponse): Extract<RequestOp, { kind: "range" }>[] {
  if (req.kind === "range") return [req];
  if (req.kind !== "txn" || resp.kind !== "txn") return [];
  return (resp.succeeded ? req.success : req.failure).filter((op) => op.kind === "range");
}

// ---- 4. real time ----

function checkRealTime(ctx: Ctx, ok: Ok[], made: Made): void {
  const { calls, found } = ctx;
  const timed = ok.filter((o) => o.role !== "skip");
  // Serializable answers count as seen: the member had applied that revision, so it was committed.
  const returned = new PrefixMax(timed.map((o) => ({ at: calls[o.i].ret, value: o.rev, id: o.i })));
  for (const b of timed) {
    if (b.serializable) continue;
    const a = returned.below(calls[b.i].call);
    if (!a) continue;
    const wrote = b.role === "write" || made.revokes.has(b.i);
    if (b.rev < a.value || (wrote && b.rev === a.value)) {
      found.add({
        kind: "realTime",
        call: b.i,
        revision: b.rev,
        detail:
          `${showCall(calls, b.i)} started after ${showCall(calls, a.id)} returned revision ${a.value}, ` +
          `but reports revision ${b.rev}${wrote ? " for its write (a later write must get a higher revision)" : ""}`,
      });
    }
  }
}

// ---- 5. leases ----

function checkLeases(ctx: Ctx, ok: Ok[], made: Made): void {
  const { calls, store, found } = ctx;
  const grants = new Map<string, number[]>();
  const okRevokes = new Map<string, number[]>();
  const anyRevokes = new Map<string, number[]>();
  for (const o of ok) {
    const c = calls[o.i];
    if (c.request.kind === "leaseGrant" && c.response!.kind === "leaseGrant") push(grants, c.response!.id, o.i);
    if (c.request.kind === "leaseRevoke") push(okRevokes, c.request.id, o.i);
  }
  calls.forEach((c, i) => {
    if (c.request.kind === "leaseRevoke" && c.outcome !== "failed") push(anyRevokes, c.request.id, i);
  });

  // A put with a lease at revision r: the lease was granted before and not revoked before.
  const leasedPut = (i: number, r: number, lease: string, acked: boolean) => {
    const c = calls[i];
    const revoke = (okRevokes.get(lease) ?? []).find((j) => calls[j].revision! < r || calls[j].ret < c.call);
    if (revoke !== undefined) {
      found.add({
        kind: "lease",
        call: i,
        revision: r,
        detail: `${showCall(calls, i)} put with lease ${lease} at revision ${r}, after ${showCall(calls, revoke)} revoked it: it should have failed "${LEASE_NOT_FOUND}"`,
      });
      return;
    }
    if (!acked) return;
    const granted = (grants.get(lease) ?? []).some((g) => calls[g].call <= c.ret && calls[g].revision! < r);
    if (!granted) {
      const gs = (grants.get(lease) ?? []).map((g) => showCall(calls, g));
      found.add({
        kind: "lease",
        call: i,
        revision: r,
        detail: `${showCall(calls, i)} put with lease ${lease} at revision ${r}, but no grant of it can come before: ${gs.length ? gs.join("; ") : "it was never granted"}`,
      });
    }
  };
  for (const o of ok) {
    if (o.role !== "write") continue;
    const c = calls[o.i];
    const succeeded = c.response!.kind === "txn" ? c.response!.succeeded : true;
    for (const lease of leasesPut(c.request, succeeded)) leasedPut(o.i, o.rev, lease, true);
  }
  for (const [i, r] of made.byUnknown) {
    const req = calls[i].request;
    const succeeded = req.kind === "txn" ? req.compare.every((cmp) => compareHolds(cmp, store.get(cmp.key, r - 1))) : true;
    for (const lease of leasesPut(req, succeeded)) leasedPut(i, r, lease, false);
  }

  // A refusal for a lease certainly alive: granted before, no revoke invoked, its TTL not run out.
  const alive = (i: number, lease: string) => {
    const c = calls[i];
    const granted = (grants.get(lease) ?? []).some((g) => {
      const req = calls[g].request;
      return calls[g].ret < c.call && req.kind === "leaseGrant" && req.ttl * 1000 > c.ret - calls[g].call;
    });
    return granted && !(anyRevokes.get(lease) ?? []).some((j) => j !== i && calls[j].call < c.ret);
  };
  calls.forEach((c, i) => {
    if (c.outcome !== "failed" || !c.error?.includes(LEASE_NOT_FOUND)) return;
    const req = c.request;
    if (req.kind !== "leaseRevoke" && req.kind !== "put" && req.kind !== "txn") return;
    // Either branch of a txn may have run: refusing it needs one of its leases gone.
    const leases = req.kind === "leaseRevoke" ? [req.id] : [...leasesPut(req, true), ...leasesPut(req, false)];
    if (leases.every((l) => alive(i, l))) {
      found.add({
        kind: "lease",
        call: i,
        detail: `${showCall(calls, i)} failed "${LEASE_NOT_FOUND}", but ${leases.length ? `lease ${leases.join(", ")} was granted before it and not revoked` : "it names no lease"}`,
      });
    }
  });
}

/** The leases of the puts a request makes (a txn's branch as given). */
function leasesPut(req: KvRequest, succeeded: boolean): string[] {
  const ops = req.kind === "put" ? [req] : req.kind === "txn" ? (succeeded ? req.success : req.failure) : [];
  return ops.flatMap((op) => (op.kind === "put" && op.lease && op.lease !== "0" ? [op.lease] : []));
}

// ---- 6. compaction ----

function checkCompaction(ctx: Ctx, ok: Ok[], recorded: boolean): void {
  const { calls, found } = ctx;
  const compacts = ok.filter((o) => calls[o.i].request.kind === "compact");
  const target = (i: number) => (calls[i].request as { revision: number }).revision;
  for (const o of compacts) {
    if (target(o.i) > o.rev) {
      found.add({ kind: "compaction", call: o.i, detail: `${showCall(calls, o.i)} compacted above its header revision ${o.rev}: it should have failed "${FUTURE_REV}"` });
    }
  }
  // Compacted before (returned before the call started, or linearized at a lower revision).
  const byTime = new PrefixMax(compacts.map((o) => ({ at: calls[o.i].ret, value: target(o.i), id: o.i })));
  const byRev = new PrefixMax(compacts.map((o) => ({ at: o.rev, value: target(o.i), id: o.i })));
  for (const o of compacts) {
    const before = byTime.below(calls[o.i].call);
    if (before && before.value >= target(o.i)) {
      found.add({ kind: "compaction", call: o.i, detail: `${showCall(calls, o.i)} succeeded after ${showCall(calls, before.id)} returned: it should have failed "${COMPACTED}"` });
    }
  }
  for (const o of ok) {
    const c = calls[o.i];
    if (o.role === "skip") continue;
    for (const op of readsOf(c.request, c.response!)) {
      if (op.revision <= 0) continue;
      // A member whose state is past the compaction's revision has applied it; a serializable read
      // of a member that has not may still see the old revisions, so time alone does not count for it.
      const candidates = [byRev.below(o.rev), o.serializable ? undefined : byTime.below(c.call)];
      const hit = candidates.find((x) => x && op.revision < x.value);
      if (hit) {
        found.add({
          kind: "compaction",
          call: o.i,
          revision: o.rev,
          detail: `${showCall(calls, o.i)} read revision ${op.revision} after ${showCall(calls, hit.id)} compacted to ${hit.value}: it should have failed "${COMPACTED}"`,
        });
        break;
      }
    }
  }
  if (!recorded) return;
  // A refusal needs a compaction past what was asked, invoked before the refusal came.
  const anyCompact = new PrefixMax(
    calls.flatMap((c, i) => (c.request.kind === "compact" && c.outcome !== "failed" ? [{ at: c.call, value: c.request.revision, id: i }] : [])),
  );
  calls.forEach((c, i) => {
    if (c.outcome !== "failed" || !c.error?.includes(COMPACTED)) return;
    const req = c.request;
    const best = anyCompact.below(c.ret, true)?.value ?? 0;
    let possible: boolean;
    if (req.kind === "compact") possible = req.revision <= best;
    else if (req.kind === "range" || req.kind === "txn") possible = requestOps(req).some((op) => op.kind === "range" && op.revision > 0 && op.revision < best);
    else return;
    if (!possible) {
      found.add({
        kind: "compaction",
        call: i,
        detail: `${showCall(calls, i)} failed "${COMPACTED}", but no compaction invoked before it returned went past what it asked (highest: ${best || "none"})`,
      });
    }
  });
}

/** A linearizable read refused as "future" although a response had shown that revision before it started. */
function checkFutureRevisionErrors(ctx: Ctx, ok: Ok[]): void {
  const { calls, found } = ctx;
  const returned = new PrefixMax(ok.filter((o) => o.role !== "skip").map((o) => ({ at: calls[o.i].ret, value: o.rev, id: o.i })));
  calls.forEach((c, i) => {
    if (c.outcome !== "failed" || !c.error?.includes(FUTURE_REV)) return;
    if ((c.request.kind !== "range" && c.request.kind !== "txn") || isSerializable(c.request)) return;
    const seen = returned.below(c.call);
    const revs = requestOps(c.request).flatMap((op) => (op.kind === "range" ? [op.revision] : []));
    if (seen && revs.every((r) => r <= seen.value)) {
      found.add({
        kind: "futureRevision",
        call: i,
        detail: `${showCall(calls, i)} failed "${FUTURE_REV}", but ${showCall(calls, seen.id)} had returned revision ${seen.value} before it started`,
      });
    }
  });
}

// ---- small tools ----

class Findings {
  readonly list: KvViolation[] = [];
  total = 0;

  constructor(readonly max: number) {}

  add(v: KvViolation): void {
    this.total++;
    if (this.list.length < this.max) this.list.push(v);
  }
}

/** The best value among entries whose `at` is below a bound, by binary search over a prefix maximum. */
class PrefixMax {
  readonly #at: number[] = [];
  readonly #best: number[] = [];
  readonly #id: number[] = [];

  constructor(entries: Array<{ at: number; value: number; id: number }>) {
    let best = -Infinity;
    let id = -1;
    for (const e of [...entries].sort((a, b) => a.at - b.at)) {
      if (e.value > best) {
        best = e.value;
        id = e.id;
      }
      this.#at.push(e.at);
      this.#best.push(best);
      this.#id.push(id);
    }
  }

  /** Over entries with at < bound (≤ when inclusive); undefined when there are none. */
  below(bound: number, inclusive = false): { value: number; id: number } | undefined {
    let lo = 0;
    let hi = this.#at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#at[mid] < bound || (inclusive && this.#at[mid] === bound)) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : { value: this.#best[lo - 1], id: this.#id[lo - 1] };
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}
