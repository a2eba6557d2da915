// The replay every checker reads: the history's writes put in revision order and applied to a model
// of etcd's store, the way etcd's robustness suite models it. Revisions make the order known: an
// acknowledged write names its revision; an indeterminate one is placed at the mod revision its
// (unique) value was read with, or dropped when never read. A revision nobody claims was written by
// some write the history cannot place: the keys such writes could touch become unknown until the
// next known write to them, so the checkers never blame a correct history (they check less there).
//
// While replaying, every acknowledged result is compared with the model (`issues`, the linearizable
// checker's findings); the per-key history then answers "what did key k hold at revision r" for reads,
// watches and leases.
import type { History, KvResult, KvValue, Operation } from "../history.ts";
import { ABSENT, UNKNOWN, applyOp, canWrite, footprint, putsOf, resultWrites, type Change, type Entry, type View } from "./apply.ts";
import { compareBytes } from "./keys.ts";
import { RealTime } from "./realtime.ts";

export type Writer =
  | { kind: "op"; op: Operation; acked: boolean }
  /** A lease revoke or expiry that deleted the keys attached to it. */
  | { kind: "lease"; leaseId: bigint; source: string }
  /** Written by something the history cannot place (an indeterminate write never read). */
  | { kind: "unknown" };

/** Where a key-value was seen: "op 7" (a result) or "watch 3" (an event). */
export interface Seen {
  kv: KvValue;
  where: string;
}

/** A value some put wrote (values are unique per put; `writers` has more than one id when not). */
export interface WrittenValue {
  op: Operation;
  key: string;
  writers: number[];
}

/** A lease's end: an acknowledged revoke (its header revision) or a recorded expiry. */
export interface LeaseEnd {
  leaseId: bigint;
  revision: bigint;
  source: string;
  /** When it is known to have happened (the revoke's acknowledgement, the expiry's time). */
  atMs?: number;
}

export interface Model {
  history: History;
  /** Every key an operation wrote or a result showed, in etcd's order. */
  universe: string[];
  /** The highest revision the history shows anywhere (clamped to what its writes could reach). */
  maxRevision: bigint;
  /** What `key` held after every write ≤ `rev`. */
  at(key: string, rev: bigint): Entry;
  /** Who wrote each revision 2..maxRevision. */
  writers: Map<bigint, Writer>;
  /** What each revision changed (absent: nothing known changed). */
  changes: Map<bigint, Change[]>;
  /** Written values → the put that wrote them. */
  written: Map<string, WrittenValue>;
  /** Observed non-empty values → where each was seen. */
  seen: Map<string, Seen[]>;
  /** Write operation id → the revision it took effect at (acknowledged or placed by its value). */
  placed: Map<number, bigint>;
  /** Two operations claiming one revision. */
  conflicts: { revision: bigint; ops: [number, number] }[];
  /** Acknowledged results that disagree with the replay, and revisions nothing explains. */
  issues: string[];
  realtime: RealTime;
  leaseEnds: LeaseEnd[];
  /** The highest revision any compaction asked for (acknowledged or maybe applied); 0 when none. */
  maxCompactRevision: bigint;
  /** Every revision a compaction asked for (acknowledged or maybe applied). */
  compactRevisions: Set<bigint>;
}

/** A key's entries by revision, for point-in-time lookups. */
class KeyTimeline {
  readonly #revs = new Map<string, bigint[]>();
  readonly #entries = new Map<string, Entry[]>();

  push(key: string, rev: bigint, e: Entry): void {
    let revs = this.#revs.get(key);
    if (!revs) {
      revs = [];
      this.#revs.set(key, revs);
      this.#entries.set(key, []);
    }
    revs.push(rev);
    this.#entries.get(key)!.push(e);
  }

  at(key: string, rev: bigint): Entry {
    const revs = this.#revs.get(key);
    if (!revs) return ABSENT;
    let lo = 0;
    let hi = revs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (revs[mid] <= rev) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? ABSENT : this.#entries.get(key)![lo - 1];
  }
}

function isPending(op: Operation): boolean {
  return op.outcome === undefined || op.outcome.type === "indeterminate";
}

/**
 * Leases with no recorded end: any of them may have ended at a revision the history does not name
 * (an expiry the simulation did not attribute — a crash or a leader change around it — or one found
 * only as "requested lease not found"), so their deletes may explain a revision, like an
 * indeterminate write.
 */
function unrecordedLeaseEnds(h: History, ended: LeaseEnd[], realtime: RealTime): { op: Operation; lo: bigint }[] {
  const known = new Set(ended.map((e) => e.leaseId));
  const gone = new Set<bigint>();
  for (const op of h.operations) {
    const o = op.op;
    const granted = o.kind === "leaseGrant" ? (op.outcome?.type === "ok" && op.outcome.result.kind === "leaseGrant" ? op.outcome.result.leaseId : o.leaseId) : undefined;
    const lease = granted ?? (o.kind === "leaseRevoke" || o.kind === "leaseKeepAlive" || o.kind === "put" ? o.leaseId : undefined);
    if (lease !== undefined && lease !== 0n && !known.has(lease)) gone.add(lease);
  }
  const out: { op: Operation; lo: bigint }[] = [];
  for (const leaseId of gone) {
    const grant = h.operations.find((op) => op.op.kind === "leaseGrant" && (op.op.leaseId === leaseId || (op.outcome?.type === "ok" && op.outcome.result.kind === "leaseGrant" && op.outcome.result.leaseId === leaseId)));
    const op: Operation = { id: -1, client: 0, member: 0n, op: { kind: "leaseRevoke", leaseId }, startMs: grant?.startMs ?? 0 };
    out.push({ op, lo: grant ? (realtime.before(grant.startMs)?.revision ?? 0n) : 0n });
  }
  return out;
}

export function buildModel(h: History): Model {
  const issues: string[] = [];

  // Values: who wrote each, and everywhere each was seen.
  const written = new Map<string, WrittenValue>();
  const keys = new Set<string>();
  for (const op of h.operations) {
    for (const p of putsOf(op.op)) {
      keys.add(p.key);
      const w = written.get(p.value);
      if (w) {
        if (!w.writers.includes(op.id)) w.writers.push(op.id);
      } else written.set(p.value, { op, key: p.key, writers: [op.id] });
    }
  }
  const seen = new Map<string, Seen[]>();
  let maxRev = 1n;
  let maxWhere = "the start";
  const sawRevision = (r: bigint, where: string) => {
    if (r > maxRev) {
      maxRev = r;
      maxWhere = where;
    }
  };
  const observe = (kv: KvValue | undefined, where: string) => {
    if (!kv) return;
    keys.add(kv.key);
    sawRevision(kv.modRevision, where);
    if (kv.value === "") return; // an empty value cannot name its write
    let list = seen.get(kv.value);
    if (!list) seen.set(kv.value, (list = []));
    list.push({ kv, where });
  };
  for (const op of h.operations) {
    if (op.outcome?.type !== "ok") continue;
    const where = `op ${op.id}`;
    sawRevision(op.outcome.result.revision, where);
    const walk = (r: KvResult): void => {
      if (r.kind === "range") r.kvs.forEach((kv) => observe(kv, where));
      else if (r.kind === "put") observe(r.prevKv, where);
      else if (r.kind === "delete") r.prevKvs?.forEach((kv) => observe(kv, where));
      else if (r.kind === "txn") r.results.forEach(walk);
    };
    walk(op.outcome.result);
  }
  for (const w of h.watches) {
    const where = `watch ${w.id}`;
    for (const resp of w.responses) {
      sawRevision(resp.revision, where);
      for (const ev of resp.events) {
        if (ev.type === "PUT") observe(ev.kv, where);
        else {
          keys.add(ev.kv.key);
          sawRevision(ev.kv.modRevision, where);
        }
        observe(ev.prevKv, where);
      }
    }
  }
  for (const m of h.members) sawRevision(m.revision, `member ${m.member.toString(16)}`);
  for (const e of h.leaseExpiries) sawRevision(e.expiredRevision, `lease ${e.leaseId} expiry`);
  const universe = [...keys].sort(compareBytes);

  // Claims: acknowledged writes first (they name their revision), then indeterminate ones by value.
  const writers = new Map<bigint, Writer>();
  const placed = new Map<number, bigint>();
  const conflicts: Model["conflicts"] = [];
  const claim = (r: bigint, op: Operation, acked: boolean) => {
    const have = writers.get(r);
    if (have?.kind === "op") {
      conflicts.push({ revision: r, ops: [have.op.id, op.id] });
      return;
    }
    writers.set(r, { kind: "op", op, acked });
    placed.set(op.id, r);
  };
  const readOnly: Operation[] = [];
  const leaseEnds: LeaseEnd[] = [];
  let maxCompactRevision = 0n;
  const compactRevisions = new Set<bigint>();
  for (const op of h.operations) {
    if (op.op.kind === "compact" && op.outcome?.type !== "error") {
      compactRevisions.add(op.op.revision);
      if (op.op.revision > maxCompactRevision) maxCompactRevision = op.op.revision;
    }
    if (op.outcome?.type !== "ok") continue;
    const res = op.outcome.result;
    if (op.op.kind === "leaseRevoke") {
      leaseEnds.push({ leaseId: op.op.leaseId, revision: res.revision, source: `op ${op.id}`, atMs: op.endMs });
    } else if (op.op.kind === "put" || op.op.kind === "delete" || op.op.kind === "txn" || op.op.kind === "range") {
      if (res.kind === op.op.kind && resultWrites(op.op, res)) claim(res.revision, op, true);
      else readOnly.push(op);
    }
  }
  const seenValuesOf = new Map<number, Set<string>>();
  const realtime = new RealTime(h.operations);
  const candidates: { op: Operation; lo: bigint }[] = [];
  for (const op of h.operations) {
    if (!isPending(op) || !canWrite(op.op)) continue;
    let at: bigint | undefined;
    const values = new Set<string>();
    for (const p of putsOf(op.op)) {
      const s = seen.get(p.value)?.[0];
      if (!s || s.kv.key !== p.key || (written.get(p.value)?.writers.length ?? 0) > 1) continue;
      values.add(p.value);
      at ??= s.kv.modRevision;
    }
    if (at !== undefined && at > 1n) {
      seenValuesOf.set(op.id, values);
      claim(at, op, false);
    } else candidates.push({ op, lo: realtime.before(op.startMs)?.revision ?? 0n });
  }
  for (const e of h.leaseExpiries) {
    leaseEnds.push({ leaseId: e.leaseId, revision: e.expiredRevision, source: `lease ${e.leaseId} expiry`, atMs: e.expiredAtMs });
  }
  candidates.push(...unrecordedLeaseEnds(h, leaseEnds, realtime));
  const leaseEndsAt = new Map<bigint, LeaseEnd[]>();
  for (const e of leaseEnds) leaseEndsAt.set(e.revision, [...(leaseEndsAt.get(e.revision) ?? []), e]);
  candidates.sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));

  // Beyond the last claimed revision only unplaced writes can have written: cap the replay there.
  let highest = 1n;
  for (const r of writers.keys()) if (r > highest) highest = r;
  for (const r of leaseEndsAt.keys()) if (r > highest) highest = r;
  const reachable = highest + BigInt(candidates.length);
  if (maxRev > reachable) {
    issues.push(`rev ${maxRev} (seen by ${maxWhere}) is beyond any revision the history's writes can reach (${reachable})`);
    maxRev = reachable;
  }

  // The replay, revision by revision.
  const timeline = new KeyTimeline();
  const current = new Map<string, Entry>();
  const unsureNow = new Set<string>();
  const leaseKeys = new Map<bigint, Set<string>>();
  const changes = new Map<bigint, Change[]>();
  const observed = (value: string) => seen.get(value)?.[0]?.kv;
  const writeView = (rev: bigint) => {
    const overlay = new Map<string, Entry>();
    const changed = new Map<string, Change>();
    const view: View = {
      rev,
      universe,
      get: (k) => overlay.get(k) ?? current.get(k) ?? ABSENT,
      set: (k, e, c) => {
        overlay.set(k, e);
        if (c) changed.set(k, c);
        else changed.delete(k);
      },
    };
    const commit = () => {
      for (const [k, e] of overlay) {
        const old = current.get(k);
        if (old?.kv && old.unsure !== "all") leaseKeys.get(old.kv.lease)?.delete(k);
        if (e.kv && e.unsure !== "all" && e.kv.lease !== 0n) {
          let set = leaseKeys.get(e.kv.lease);
          if (!set) leaseKeys.set(e.kv.lease, (set = new Set()));
          set.add(k);
        }
        timeline.push(k, rev, e);
        current.set(k, e);
        if (e.unsure === "all") unsureNow.add(k);
        else unsureNow.delete(k);
      }
      if (changed.size) changes.set(rev, [...changed.values()]);
    };
    return { view, commit };
  };

  let gaps = 0;
  let failing = false;
  let nextCandidate = 0;
  const eligible: Operation[] = [];
  for (let r = 2n; r <= maxRev; r++) {
    const w = writers.get(r);
    if (w?.kind === "op") {
      const { view, commit } = writeView(r);
      const res = w.acked && w.op.outcome?.type === "ok" ? w.op.outcome.result : undefined;
      applyOp(view, w.op.op, res, { label: `op ${w.op.id}`, report: (m) => issues.push(m), observed, seenValues: seenValuesOf.get(w.op.id) });
      commit();
      continue;
    }
    while (nextCandidate < candidates.length && candidates[nextCandidate].lo < r) eligible.push(candidates[nextCandidate++].op);
    const { view, commit } = writeView(r);
    // What the indeterminate writes that may have been applied by now could have touched.
    const touchable = () => {
      const keys = new Set<string>();
      for (const op of eligible) footprint(view, op.op, (k) => keys.add(k));
      return keys;
    };
    const ends = leaseEndsAt.get(r);
    if (ends) {
      // A lease end at a revision no operation claims. If its keys still exist, it deleted them here
      // — unless an indeterminate write could have removed all of them at r instead (the lease end
      // then found nothing to delete and kept r): then what r did is unknown.
      let writer: LeaseEnd | undefined;
      let attached: string[] = [];
      for (const e of ends) {
        const ks = leaseKeys.get(e.leaseId);
        if (ks && ks.size > 0) {
          writer = e;
          attached = [...ks];
          break;
        }
      }
      let unknown: Set<string> | undefined;
      if (writer) {
        const fp = touchable();
        if (attached.every((k) => fp.has(k))) unknown = new Set([...fp, ...unsureNow]);
      } else if (unsureNow.size > 0) {
        // Only unknown keys could have been attached: the lease end or an indeterminate write wrote r.
        writer = ends[0];
        unknown = new Set([...touchable(), ...unsureNow]);
      }
      if (writer) {
        if (unknown) for (const k of unknown) view.set(k, UNKNOWN, { key: k, type: "UNKNOWN" });
        else {
          for (const k of attached) view.set(k, ABSENT, { key: k, type: "DELETE" });
          for (const k of unsureNow) view.set(k, UNKNOWN, { key: k, type: "UNKNOWN" }); // they may have been attached
        }
        commit();
        writers.set(r, { kind: "lease", leaseId: writer.leaseId, source: writer.source });
        continue;
      }
    }
    // Nobody claims r: one of the indeterminate writes that may already have been applied wrote it.
    gaps++;
    if (eligible.length < gaps) {
      if (!failing) issues.push(`rev ${r} was written, but no operation can explain it (${gaps} unexplained revisions, ${eligible.length} indeterminate writes)`);
      failing = true;
    } else failing = false;
    for (const k of touchable()) view.set(k, UNKNOWN, { key: k, type: "UNKNOWN" });
    commit();
    writers.set(r, { kind: "unknown" });
  }

  // Reads (and writes that changed nothing) are checked at the revision they report.
  for (const op of readOnly) {
    if (op.outcome?.type !== "ok") continue;
    const res = op.outcome.result;
    let rev = res.revision;
    if (op.op.kind === "range" && op.op.revision !== undefined && op.op.revision > 0n) {
      if (op.op.revision > res.revision) issues.push(`op ${op.id} range read rev ${op.op.revision}, above its header rev ${res.revision}`);
      rev = op.op.revision;
    }
    const overlay = new Map<string, Entry>();
    const view: View = { rev, universe, get: (k) => overlay.get(k) ?? timeline.at(k, rev), set: (k, e) => void overlay.set(k, e) };
    applyOp(view, op.op, res, { label: `op ${op.id}`, report: (m) => issues.push(m), observed });
  }

  return {
    history: h,
    universe,
    maxRevision: maxRev,
    at: (k, rev) => timeline.at(k, rev),
    writers,
    changes,
    written,
    seen,
    placed,
    conflicts,
    issues,
    realtime,
    leaseEnds,
    maxCompactRevision,
    compactRevisions,
  };
}
