// Applies one KV operation to a view of the replayed store, the way etcd's applier would, and checks
// the operation's acknowledged result (if any) against what the store held. Shared by the writes
// the replay executes in revision order and by the reads it checks afterwards at their revision.
import type { KvOp, KvResult, KvValue } from "../history.ts";
import { compareBytes, fmtKey, fmtKv, fmtKvOr, fmtRange, inRange, keysInRange, kvDiff } from "./keys.ts";

/**
 * What the replay knows about one key at one revision:
 * - `{}`: certainly absent; `{ kv }`: certainly this key-value;
 * - `{ kv, unsure: "meta" }`: present with this value, mod revision and lease, but its create
 *   revision and version are unknown (it was written over a key in the "all" state);
 * - `{ unsure: "all" }`: unknown — an indeterminate write the history cannot place may have touched it.
 */
export interface Entry {
  kv?: KvValue;
  unsure?: "all" | "meta";
}

export const ABSENT: Entry = Object.freeze({});
export const UNKNOWN: Entry = Object.freeze({ unsure: "all" as const });

/**
 * One key's change at one revision. UNKNOWN: the key may have changed in any way (an unplaced
 * indeterminate write). `maybe`: a delete of a key that may not have existed (no event is owed).
 */
export interface Change {
  key: string;
  type: "PUT" | "DELETE" | "UNKNOWN";
  kv?: KvValue;
  /** The PUT's create revision and version are unknown. */
  meta?: boolean;
  maybe?: boolean;
}

/** A range op with the optional fields the checkers understand beyond history.ts. */
export type RangeOp = Extract<KvOp, { kind: "range" }> & { limit?: number };

export interface View {
  /** The revision being written (writes) or read (reads). */
  readonly rev: bigint;
  /** Every key any operation or observation mentions, sorted in etcd's order. */
  readonly universe: string[];
  get(key: string): Entry;
  /** Records the key's new entry, and the change a watch would see (none when nothing observable changed). */
  set(key: string, entry: Entry, change?: Change): void;
}

export interface ApplyContext {
  /** Names the operation in messages ("op 7"). */
  label: string;
  report(message: string): void;
  /** The first observation of a written value, to learn metadata the replay cannot derive. */
  observed(value: string): KvValue | undefined;
  /** For an indeterminate operation placed by its values: the values that were observed. */
  seenValues?: Set<string>;
}

/** How `got` differs from what `e` allows, or undefined when it is allowed. */
export function entryDiff(e: Entry, got: KvValue | undefined, key: string): string | undefined {
  if (e.unsure === "all") return undefined;
  if (e.unsure === "meta") {
    const want = e.kv!;
    if (got && got.key === want.key && got.value === want.value && got.modRevision === want.modRevision && got.lease === want.lease) {
      return undefined;
    }
    return `${fmtKvOr(got, key)}, expected ${fmtKv(want)}`;
  }
  return kvDiff(e.kv, got, key);
}

export function applyOp(view: View, op: KvOp, res: KvResult | undefined, ctx: ApplyContext): void {
  if (res && res.kind !== op.kind) {
    ctx.report(`${ctx.label}: a ${res.kind} result for a ${op.kind}`);
    return;
  }
  switch (op.kind) {
    case "put":
      return applyPut(view, op, res as Extract<KvResult, { kind: "put" }> | undefined, ctx);
    case "delete":
      return applyDelete(view, op, res as Extract<KvResult, { kind: "delete" }> | undefined, ctx);
    case "range":
      if (res) checkRange(view, op, res as Extract<KvResult, { kind: "range" }>, ctx);
      return;
    case "txn":
      return applyTxn(view, op, res as Extract<KvResult, { kind: "txn" }> | undefined, ctx);
    default:
      return; // compaction and lease requests do not touch keys here
  }
}

function applyPut(view: View, op: Extract<KvOp, { kind: "put" }>, res: Extract<KvResult, { kind: "put" }> | undefined, ctx: ApplyContext): void {
  let prev = view.get(op.key);
  if (res && op.prevKv) {
    const d = entryDiff(prev, res.prevKv, op.key);
    if (d) ctx.report(`${ctx.label} put ${fmtKey(op.key)}: prevKv ${d}`);
    // An unknown key's previous value is what the put said it was: the best evidence there is.
    if (prev.unsure === "all") prev = res.prevKv ? { kv: res.prevKv } : ABSENT;
  }
  const lease = op.leaseId ?? 0n;
  let kv: KvValue;
  let unsure: "meta" | undefined;
  if (prev.unsure === "all") {
    kv = { key: op.key, value: op.value, createRevision: 0n, modRevision: view.rev, version: 0n, lease };
    unsure = "meta";
  } else if (prev.kv) {
    kv = { key: op.key, value: op.value, createRevision: prev.kv.createRevision, modRevision: view.rev, version: prev.kv.version + 1n, lease };
    unsure = prev.unsure === "meta" ? "meta" : undefined;
  } else {
    kv = { key: op.key, value: op.value, createRevision: view.rev, modRevision: view.rev, version: 1n, lease };
  }
  if (unsure) {
    // Values are unique: a read of this very value tells its create revision and version.
    const seen = ctx.observed(op.value);
    if (seen && seen.key === op.key && seen.modRevision === view.rev) {
      kv = { ...kv, createRevision: seen.createRevision, version: seen.version };
      unsure = undefined;
    }
  }
  const entry: Entry = unsure ? { kv, unsure } : { kv };
  view.set(op.key, entry, { key: op.key, type: "PUT", kv, meta: unsure !== undefined });
}

function applyDelete(
  view: View,
  op: Extract<KvOp, { kind: "delete" }>,
  res: Extract<KvResult, { kind: "delete" }> | undefined,
  ctx: ApplyContext,
): void {
  const keys = keysInRange(view.universe, op.key, op.end);
  const sure: string[] = [];
  const maybe: string[] = [];
  for (const k of keys) {
    const e = view.get(k);
    if (e.unsure === "all") maybe.push(k);
    else if (e.kv) sure.push(k);
  }
  let maybeExisted: "none" | "all" | "some" = maybe.length === 0 ? "none" : "some";
  if (res) {
    const want = maybe.length ? `${sure.length}–${sure.length + maybe.length}` : `${sure.length}`;
    if (res.deleted < sure.length || res.deleted > sure.length + maybe.length) {
      ctx.report(`${ctx.label} delete ${fmtRange(op.key, op.end)} @${view.rev}: deleted ${res.deleted}, expected ${want}`);
    } else if (res.deleted === sure.length) maybeExisted = "none";
    else if (res.deleted === sure.length + maybe.length) maybeExisted = "all";
    if (op.prevKv) checkKvList(view, `${ctx.label} delete ${fmtRange(op.key, op.end)} @${view.rev} prevKvs`, op.key, op.end, res.prevKvs ?? [], ctx);
  }
  for (const k of sure) view.set(k, ABSENT, { key: k, type: "DELETE" });
  for (const k of maybe) {
    if (maybeExisted === "none") view.set(k, ABSENT); // the count says it was absent: now known, and no event is owed
    else view.set(k, ABSENT, { key: k, type: "DELETE", maybe: maybeExisted === "some" });
  }
}

function checkRange(view: View, op: RangeOp, res: Extract<KvResult, { kind: "range" }>, ctx: ApplyContext): void {
  const what = `${ctx.label} range ${fmtRange(op.key, op.end)} @${view.rev}`;
  const keys = keysInRange(view.universe, op.key, op.end);
  let sure = 0;
  let maybe = 0;
  for (const k of keys) {
    const e = view.get(k);
    if (e.unsure === "all") maybe++;
    else if (e.kv) sure++;
  }
  if (res.count < sure || res.count > sure + maybe) {
    ctx.report(`${what}: count ${res.count}, expected ${maybe ? `${sure}–${sure + maybe}` : sure}`);
  }
  const limit = op.limit !== undefined && op.limit > 0 ? op.limit : undefined;
  const wantLen = limit === undefined ? res.count : Math.min(limit, res.count);
  if (res.kvs.length !== wantLen) ctx.report(`${what}: ${res.kvs.length} kvs for count ${res.count}${limit ? ` and limit ${limit}` : ""}`);
  checkKvList(view, what, op.key, op.end, res.kvs, ctx, limit);
}

/**
 * Checks a list of key-values returned for [key, end) (a range's kvs, a delete's prevKvs) against
 * the view: sorted, in range, each equal to the replayed key, and none missing (with a limit, the
 * first `limit` present keys — checked only when no unknown key makes that prefix ambiguous).
 */
function checkKvList(view: View, what: string, key: string, end: string | undefined, got: KvValue[], ctx: ApplyContext, limit?: number): void {
  const byKey = new Map<string, KvValue>();
  let last: string | undefined;
  for (const kv of got) {
    if (!inRange(kv.key, key, end)) {
      ctx.report(`${what}: returned ${fmtKv(kv)}, outside the range`);
      continue;
    }
    if (last !== undefined && compareBytes(kv.key, last) <= 0) ctx.report(`${what}: ${fmtKey(kv.key)} out of order or repeated`);
    last = kv.key;
    byKey.set(kv.key, kv);
    const d = entryDiff(view.get(kv.key), kv, kv.key);
    if (d) ctx.report(`${what}: got ${d}`);
  }
  let present = 0;
  for (const k of keysInRange(view.universe, key, end)) {
    const e = view.get(k);
    if (e.unsure === "all") {
      if (limit !== undefined) return; // the prefix a limit keeps is no longer known
      continue;
    }
    if (!e.kv) continue;
    if (limit !== undefined && present >= limit) return;
    present++;
    if (!byKey.has(k)) ctx.report(`${what}: got ${fmtKey(k)} absent, expected ${fmtKv(e.kv)}`);
  }
}

/** etcd's compare: true, false, or undefined when the replay does not know the key well enough. */
function evalCompares(view: View, compares: Extract<KvOp, { kind: "txn" }>["compare"]): boolean | undefined {
  let unknown = false;
  for (const c of compares) {
    const e = view.get(c.key);
    let r: boolean | undefined;
    if (e.unsure === "all" || (e.unsure === "meta" && (c.target === "create" || c.target === "version"))) r = undefined;
    else if (!e.kv) {
      // A missing key fails every value compare; its revisions and version compare as 0.
      r = c.target === "value" ? false : cmpResult(compareBig(0n, toBig(c.value)), c.op);
    } else if (c.target === "value") r = cmpResult(compareBytes(e.kv.value, String(c.value)), c.op);
    else {
      const have = c.target === "mod" ? e.kv.modRevision : c.target === "create" ? e.kv.createRevision : e.kv.version;
      r = cmpResult(compareBig(have, toBig(c.value)), c.op);
    }
    if (r === false) return false;
    if (r === undefined) unknown = true;
  }
  return unknown ? undefined : true;
}

function toBig(v: string | bigint): bigint {
  return typeof v === "bigint" ? v : BigInt(v);
}

function compareBig(a: bigint, b: bigint): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

function cmpResult(c: number, op: "=" | "!=" | "<" | ">"): boolean {
  return op === "=" ? c === 0 : op === "!=" ? c !== 0 : op === "<" ? c < 0 : c > 0;
}

function applyTxn(view: View, op: Extract<KvOp, { kind: "txn" }>, res: Extract<KvResult, { kind: "txn" }> | undefined, ctx: ApplyContext): void {
  const cmp = evalCompares(view, op.compare);
  let succeeded: boolean;
  if (res) {
    succeeded = res.succeeded;
    if (cmp !== undefined && cmp !== succeeded) ctx.report(`${ctx.label} txn @${view.rev}: succeeded=${succeeded}, but its compares are ${cmp}`);
  } else {
    // An indeterminate txn placed by a value it wrote: that value names the branch it took.
    const seen = ctx.seenValues ?? new Set<string>();
    const inSuccess = op.success.some((o) => writesValue(o, seen));
    const inFailure = op.failure.some((o) => writesValue(o, seen));
    if (cmp !== undefined) {
      succeeded = cmp;
      if (cmp ? !inSuccess && inFailure : !inFailure && inSuccess) {
        ctx.report(`${ctx.label} txn @${view.rev}: its ${cmp ? "failure" : "success"} branch's value was read, but its compares are ${cmp}`);
      }
    } else if (inSuccess || inFailure) succeeded = inSuccess;
    else {
      footprint(view, op, (k) => view.set(k, UNKNOWN, { key: k, type: "UNKNOWN" }));
      return;
    }
  }
  const branch = succeeded ? op.success : op.failure;
  if (res && res.results.length !== branch.length) {
    ctx.report(`${ctx.label} txn @${view.rev}: ${res.results.length} results for ${branch.length} ${succeeded ? "success" : "failure"} ops`);
  }
  branch.forEach((sub, i) => {
    const subRes = res?.results[i];
    // A range at an explicit revision inside a txn reads the past; the replay checks only the present.
    if (sub.kind === "range" && sub.revision !== undefined && sub.revision > 0n) return;
    applyOp(view, sub, subRes, { ...ctx, label: `${ctx.label}/${succeeded ? "then" : "else"}[${i}]` });
  });
}

function writesValue(op: KvOp, values: Set<string>): boolean {
  if (op.kind === "put") return values.has(op.value);
  if (op.kind === "txn") return op.success.some((o) => writesValue(o, values)) || op.failure.some((o) => writesValue(o, values));
  return false;
}

/** Every key an operation could change if it took effect now (for writes the history cannot place). */
export function footprint(view: View, op: KvOp, add: (key: string) => void): void {
  switch (op.kind) {
    case "put":
      add(op.key);
      return;
    case "delete":
      for (const k of keysInRange(view.universe, op.key, op.end)) {
        const e = view.get(k);
        if (e.kv || e.unsure) add(k);
      }
      return;
    case "txn":
      for (const o of op.success) footprint(view, o, add);
      for (const o of op.failure) footprint(view, o, add);
      return;
    case "leaseRevoke":
      // Keys attached to the lease, and keys whose state is unknown (they may be attached to it).
      for (const k of view.universe) {
        const e = view.get(k);
        if (e.kv?.lease === op.leaseId || e.unsure) add(k);
      }
      return;
    default:
      return;
  }
}

/** Whether an operation can change the store at all. */
export function canWrite(op: KvOp): boolean {
  if (op.kind === "put" || op.kind === "delete" || op.kind === "leaseRevoke") return true;
  if (op.kind === "txn") return op.success.some(canWrite) || op.failure.some(canWrite);
  return false;
}

/** Whether an acknowledged operation's result says it created a revision. */
export function resultWrites(op: KvOp, res: KvResult | undefined): boolean {
  if (op.kind === "put") return true;
  if (op.kind === "delete") return res?.kind === "delete" && res.deleted > 0;
  if (op.kind === "txn" && res?.kind === "txn") {
    const branch = res.succeeded ? op.success : op.failure;
    return branch.some((o, i) => resultWrites(o, res.results[i]));
  }
  return false;
}

/** Every put in an operation (both branches of a txn), with its key. */
export function putsOf(op: KvOp, out: Extract<KvOp, { kind: "put" }>[] = []): Extract<KvOp, { kind: "put" }>[] {
  if (op.kind === "put") out.push(op);
  else if (op.kind === "txn") {
    for (const o of op.success) putsOf(o, out);
    for (const o of op.failure) putsOf(o, out);
  }
  return out;
}

/** The values an acknowledged operation wrote: its puts on the branches its results say it took. */
export function valuesWritten(op: KvOp, res: KvResult | undefined, out: Set<string> = new Set()): Set<string> {
  if (op.kind === "put") out.add(op.value);
  else if (op.kind === "txn" && res?.kind === "txn") {
    const branch = res.succeeded ? op.success : op.failure;
    branch.forEach((o, i) => valuesWritten(o, res.results[i], out));
  }
  return out;
}
