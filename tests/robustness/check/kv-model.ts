// The model of etcd's KV behind the linearizability check (kv.ts): the truth replayed into a
// multi-version store, what a request does to the state at a revision, and how two answers differ.
// Pure: no I/O, no clock.
import { inRange, type Compare, type KeyValue, type KvRequest, type KvResponse, type RequestOp, type ResponseOp, type WatchEvent } from "../history.ts";
import { showEvents, showKv, showKvs } from "./kv-show.ts";

// ---- the truth, replayed ----


/** Every key's versions, to read the state at any revision. Revision ≤ 1 is the empty store. */
export class Versions {
  /** Every key that ever existed in the window, in etcd's (byte) order. */
  readonly keys: string[];
  /** The last revision whose state is known (toRevision, or just before the first gap). */
  top = 1;
  readonly #hist = new Map<string, { revs: number[]; kvs: (KeyValue | null)[] }>();

  constructor(keys: Iterable<string>) {
    this.keys = [...new Set(keys)].sort(byteOrder);
    for (const k of this.keys) this.#hist.set(k, { revs: [], kvs: [] });
  }

  record(key: string, rev: number, kv: KeyValue | null): void {
    const h = this.#hist.get(key)!;
    const last = h.revs.length - 1;
    if (last >= 0 && h.revs[last] === rev) h.kvs[last] = kv; // two changes of one key in one revision: the last counts
    else {
      h.revs.push(rev);
      h.kvs.push(kv);
    }
  }

  get(key: string, rev: number): KeyValue | undefined {
    const h = this.#hist.get(key);
    if (!h) return undefined;
    let lo = 0;
    let hi = h.revs.length; // the number of versions at or before rev
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (h.revs[mid] <= rev) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : (h.kvs[lo - 1] ?? undefined);
  }

  /** The keys alive at rev in [start, end) (end as RequestOp's), in key order. */
  keysIn(start: string, end: string, rev: number): string[] {
    if (end === "") return this.get(start, rev) ? [start] : [];
    const out: string[] = [];
    for (let i = lowerBound(this.keys, start); i < this.keys.length && inRange(this.keys[i], start, end); i++) {
      if (this.get(this.keys[i], rev)) out.push(this.keys[i]);
    }
    return out;
  }

  /** The keys attached to a lease at rev, in key order (what its revoke deletes). */
  leaseKeys(lease: string, rev: number): string[] {
    return this.keys.filter((k) => this.get(k, rev)?.lease === lease);
  }
}

// ---- the model: what a request does to the state at a revision ----

/** The state at a revision plus the changes of the request being applied (a txn sees its own writes). */
export class Overlay {
  readonly #changes = new Map<string, KeyValue | null>();

  constructor(
    readonly store: Versions,
    readonly rev: number,
  ) {}

  get(key: string): KeyValue | undefined {
    if (this.#changes.has(key)) return this.#changes.get(key) ?? undefined;
    return this.store.get(key, this.rev);
  }

  keys(start: string, end: string): string[] {
    const base = this.store.keysIn(start, end, this.rev);
    if (this.#changes.size === 0) return base;
    const alive = new Set(base);
    for (const [k, kv] of this.#changes) {
      if (!inRange(k, start, end)) continue;
      if (kv) alive.add(k);
      else alive.delete(k);
    }
    return [...alive].sort(byteOrder);
  }

  set(key: string, kv: KeyValue | null): void {
    this.#changes.set(key, kv);
  }
}

export interface Effect {
  /** The events the request makes (empty: it changes nothing and makes no revision). */
  events: WatchEvent[];
  response: KvResponse;
}

/** What `req` does applied to the state at `base` (its writes, if any, make revision base+1). */
export function effectOf(req: KvRequest, store: Versions, base: number): Effect {
  const state = new Overlay(store, base);
  const events: WatchEvent[] = [];
  const rev = base + 1;
  switch (req.kind) {
    case "range":
    case "put":
    case "delete":
      return { events, response: applyOp(req, state, rev, events) };
    case "txn": {
      // Every compare sees the state before the txn writes anything.
      const succeeded = req.compare.every((c) => compareHolds(c, state.get(c.key)));
      const results = (succeeded ? req.success : req.failure).map((op) => applyOp(op, state, rev, events));
      return { events, response: { kind: "txn", succeeded, results } };
    }
    case "leaseRevoke":
      for (const key of store.leaseKeys(req.id, base)) events.push({ type: "delete", kv: tombstone(key, rev) });
      return { events, response: { kind: "leaseRevoke" } };
    case "leaseGrant":
      return { events, response: { kind: "leaseGrant", id: "" } }; // the id is the server's choice
    case "compact":
      return { events, response: { kind: "compact" } };
    case "defragment":
      return { events, response: { kind: "defragment" } };
  }
}

export function applyOp(op: RequestOp, state: Overlay, rev: number, events: WatchEvent[]): ResponseOp {
  switch (op.kind) {
    case "range": {
      const from = op.revision > 0 ? new Overlay(state.store, op.revision) : state;
      const keys = from.keys(op.key, op.end);
      const n = op.limit > 0 ? Math.min(op.limit, keys.length) : keys.length;
      return { kind: "range", kvs: keys.slice(0, n).map((k) => from.get(k)!), count: keys.length, more: n < keys.length };
    }
    case "put": {
      const prev = state.get(op.key);
      const kv: KeyValue = {
        key: op.key,
        value: op.value,
        createRevision: prev ? prev.createRevision : rev,
        modRevision: rev,
        version: prev ? prev.version + 1 : 1,
        lease: op.lease || "0",
      };
      state.set(op.key, kv);
      events.push({ type: "put", kv });
      return { kind: "put" };
    }
    case "delete": {
      const keys = state.keys(op.key, op.end);
      for (const key of keys) {
        state.set(key, null);
        events.push({ type: "delete", kv: tombstone(key, rev) });
      }
      return { kind: "delete", deleted: keys.length };
    }
  }
}

/** etcd's compare: a missing key compares as all zeros, except that no value compare holds on it. */
export function compareHolds(c: Compare, kv: KeyValue | undefined): boolean {
  if (!kv && c.target === "value") return false;
  let d: number;
  switch (c.target) {
    case "value":
      d = byteOrder(kv!.value, c.operand);
      break;
    case "lease": {
      const a = BigInt(kv?.lease || "0");
      const b = BigInt(c.operand || "0");
      d = a < b ? -1 : a > b ? 1 : 0;
      break;
    }
    case "version":
      d = Math.sign((kv?.version ?? 0) - Number(c.operand));
      break;
    case "create":
      d = Math.sign((kv?.createRevision ?? 0) - Number(c.operand));
      break;
    case "mod":
      d = Math.sign((kv?.modRevision ?? 0) - Number(c.operand));
      break;
  }
  switch (c.result) {
    case "=":
      return d === 0;
    case "!=":
      return d !== 0;
    case "<":
      return d < 0;
    case ">":
      return d > 0;
  }
}

/** etcd's delete event: the key and the revision; every other field is zero. */
export function tombstone(key: string, rev: number): KeyValue {
  return { key, value: "", createRevision: 0, modRevision: rev, version: 0, lease: "0" };
}

// ---- comparing ----

export function kvEqual(a: KeyValue | undefined, b: KeyValue | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.key === b.key &&
    a.value === b.value &&
    a.createRevision === b.createRevision &&
    a.modRevision === b.modRevision &&
    a.version === b.version &&
    (a.lease || "0") === (b.lease || "0")
  );
}

/** null when equal. A delete is its key and revision (a tombstone's other fields mean nothing). */
export function eventsDiff(want: readonly WatchEvent[], seen: readonly WatchEvent[]): string | null {
  const same =
    want.length === seen.length &&
    want.every((w, j) => {
      const s = seen[j];
      if (w.type !== s.type) return false;
      if (w.type === "delete") return w.kv.key === s.kv.key && w.kv.modRevision === s.kv.modRevision;
      return kvEqual(w.kv, s.kv);
    });
  return same ? null : `expected ${showEvents(want)}, seen ${showEvents(seen)}`;
}

/** null when `seen` is the answer `want` (a grant's id is the server's choice, not compared). */
export function responseDiff(want: KvResponse, seen: KvResponse): string | null {
  if (want.kind !== seen.kind) return `a ${seen.kind} response, expected ${want.kind}`;
  if (want.kind === "txn" && seen.kind === "txn") {
    if (want.succeeded !== seen.succeeded) {
      return `succeeded ${seen.succeeded}, but its compares ${want.succeeded ? "hold" : "do not hold"} there`;
    }
    if (want.results.length !== seen.results.length) return `${seen.results.length} results, expected ${want.results.length}`;
    for (let j = 0; j < want.results.length; j++) {
      const d = opDiff(want.results[j], seen.results[j]);
      if (d) return `result ${j}: ${d}`;
    }
    return null;
  }
  if (want.kind === "range" || want.kind === "put" || want.kind === "delete") return opDiff(want, seen as ResponseOp);
  return null;
}

export function opDiff(want: ResponseOp, seen: ResponseOp): string | null {
  if (want.kind !== seen.kind) return `a ${seen.kind} result, expected ${want.kind}`;
  if (want.kind === "delete" && seen.kind === "delete" && want.deleted !== seen.deleted) return `deleted ${seen.deleted}, expected ${want.deleted}`;
  if (want.kind === "range" && seen.kind === "range") {
    const n = Math.max(want.kvs.length, seen.kvs.length);
    for (let j = 0; j < n; j++) {
      if (!kvEqual(want.kvs[j], seen.kvs[j])) {
        const show = (kv: KeyValue | undefined) => (kv ? showKv(kv) : "nothing");
        return `kvs[${j}] is ${show(seen.kvs[j])}, expected ${show(want.kvs[j])} (kvs ${showKvs(seen.kvs)}, expected ${showKvs(want.kvs)})`;
      }
    }
    if (want.count !== seen.count) return `count ${seen.count}, expected ${want.count}`;
    if (want.more !== seen.more) return `more ${seen.more}, expected ${want.more} (count ${want.count}, ${want.kvs.length} returned)`;
  }
  return null;
}

// ---- small tools ----

export function requestOps(req: KvRequest): RequestOp[] {
  if (req.kind === "txn") return [...req.success, ...req.failure];
  if (req.kind === "range" || req.kind === "put" || req.kind === "delete") return [req];
  return [];
}

/** Byte order of ASCII strings (history.ts: the traffic's keys are ASCII). */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
