// Test support: a tiny in-memory etcd that records what it does as a History, so the checkers' tests
// start from a history that is right by construction and then break exactly one thing. It is kept
// deliberately naive (a copied map per revision) so that it shares no logic with the replay it tests.
import type { History, KvOp, KvResult, KvValue, MemberSnapshot, Operation, WatchRecord, WatchResponseRecord } from "../history.ts";
import { compareBytes, inRange } from "./keys.ts";

type Event = WatchResponseRecord["events"][number];

export interface OpOptions {
  client?: number;
  member?: bigint;
  /** Defaults: the op starts now and is answered 1 ms later; the clock then moves 2 ms. */
  start?: number;
  end?: number;
  /**
   * ok (default); error: refused, nothing happens; indeterminate / pending: the client never
   * learned the outcome — it takes effect unless `apply` is false (then `applyLate` may apply it).
   */
  outcome?: "ok" | "error" | "indeterminate" | "pending";
  apply?: boolean;
}

interface LiveWatch {
  record: WatchRecord;
  pending: Event[];
}

export class HistoryBuilder {
  now = 0;
  rev = 1n;
  compactRev = 0n;
  readonly operations: Operation[] = [];
  readonly watches: WatchRecord[] = [];
  readonly leaseExpiries: History["leaseExpiries"] = [];
  readonly members: MemberSnapshot[] = [];
  #kvs = new Map<string, KvValue>();
  readonly #states = new Map<bigint, Map<string, KvValue>>([[1n, new Map()]]);
  readonly #log: { rev: bigint; events: Event[] }[] = [];
  readonly #live: LiveWatch[] = [];
  readonly #leases = new Map<bigint, { ttlSeconds: number; grantedAtMs: number; lastKeepAliveMs: number }>();
  #nextId = 1;
  #nextLease = 0x100n;

  build(): History {
    return { seed: 1, operations: this.operations, watches: this.watches, leaseExpiries: this.leaseExpiries, members: this.members };
  }

  tick(ms: number): void {
    this.now += ms;
  }

  put(key: string, value: string, o: OpOptions & { lease?: bigint; prevKv?: boolean } = {}): Operation {
    return this.op({ kind: "put", key, value, leaseId: o.lease, prevKv: o.prevKv }, o);
  }

  del(key: string, end?: string, o: OpOptions & { prevKv?: boolean } = {}): Operation {
    return this.op({ kind: "delete", key, end, prevKv: o.prevKv }, o);
  }

  range(key: string, end?: string, o: OpOptions & { serializable?: boolean; revision?: bigint; staleAt?: bigint } = {}): Operation {
    return this.op({ kind: "range", key, end, serializable: o.serializable ?? false, revision: o.revision }, o);
  }

  txn(compare: Extract<KvOp, { kind: "txn" }>["compare"], success: KvOp[], failure: KvOp[], o: OpOptions = {}): Operation {
    return this.op({ kind: "txn", compare, success, failure }, o);
  }

  compact(revision: bigint, o: OpOptions = {}): Operation {
    return this.op({ kind: "compact", revision }, o);
  }

  grant(ttlSeconds: number, o: OpOptions = {}): bigint {
    const op = this.op({ kind: "leaseGrant", ttlSeconds }, o);
    return (op.outcome as { result: { leaseId: bigint } }).result.leaseId;
  }

  keepAlive(leaseId: bigint, o: OpOptions = {}): Operation {
    return this.op({ kind: "leaseKeepAlive", leaseId }, o);
  }

  revoke(leaseId: bigint, o: OpOptions = {}): Operation {
    return this.op({ kind: "leaseRevoke", leaseId }, o);
  }

  /** The lease runs out now: its keys are deleted in one revision and the expiry is recorded. */
  expire(leaseId: bigint, atMs = this.now): void {
    const l = this.#leases.get(leaseId)!;
    this.#deleteLeaseKeys(leaseId);
    this.#leases.delete(leaseId);
    this.leaseExpiries.push({ leaseId, grantedAtMs: l.grantedAtMs, ttlSeconds: l.ttlSeconds, lastKeepAliveMs: l.lastKeepAliveMs, expiredRevision: this.rev, expiredAtMs: atMs });
  }

  /** Applies, now, an indeterminate operation recorded earlier with `apply: false`. */
  applyLate(op: Operation): void {
    this.#exec(op.op, {});
  }

  /**
   * Opens a watch (events from `startRevision`, or from now when 0) that collects until delivered.
   * `created`: record etcd's created response (an empty one at the current revision); default yes.
   */
  watch(o: { key: string; end?: string; startRevision?: bigint; prevKv?: boolean; filters?: ("noput" | "nodelete")[]; member?: bigint } & { created?: boolean }): WatchRecord {
    const record: WatchRecord = {
      id: this.watches.length + 1,
      member: o.member ?? 1n,
      key: o.key,
      end: o.end,
      startRevision: o.startRevision ?? 0n,
      createdRevision: this.rev,
      prevKv: o.prevKv ?? false,
      filters: o.filters ?? [],
      progressNotify: false,
      responses: [],
    };
    this.watches.push(record);
    const live: LiveWatch = { record, pending: [] };
    this.#live.push(live);
    if (record.startRevision > 0n) {
      for (const entry of this.#log) if (entry.rev >= record.startRevision) live.pending.push(...this.#matching(record, entry.events));
    } else if (o.created ?? true) {
      record.responses.push({ atMs: this.now, revision: this.rev, progress: false, events: [] });
    }
    return record;
  }

  /** Sends a watch its collected events: one response, or one per revision. */
  deliver(w: WatchRecord, o: { perRevision?: boolean } = {}): void {
    const live = this.#live.find((l) => l.record === w)!;
    if (live.pending.length === 0) return;
    if (!o.perRevision) w.responses.push({ atMs: this.now, revision: this.rev, progress: false, events: live.pending });
    else {
      for (const ev of live.pending) {
        const last = w.responses[w.responses.length - 1];
        if (last && !last.progress && last.events.length && last.events[0].kv.modRevision === ev.kv.modRevision) last.events.push(ev);
        else w.responses.push({ atMs: this.now, revision: this.rev, progress: false, events: [ev] });
      }
    }
    live.pending = [];
  }

  /** Delivers what is collected, then a progress notification at the current revision. */
  progress(w: WatchRecord): void {
    this.deliver(w);
    w.responses.push({ atMs: this.now, revision: this.rev, progress: true, events: [] });
  }

  snapshot(member: bigint, o: Partial<MemberSnapshot> = {}): void {
    let hash = 0;
    for (const kv of this.#kvs.values()) for (const ch of `${kv.key}=${kv.value}@${kv.modRevision};`) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    this.members.push({ member, revision: this.rev, compactRevision: this.compactRev, hash, ...o });
  }

  /** The store's current value of a key (for tests that build results by hand). */
  get(key: string): KvValue | undefined {
    return this.#kvs.get(key);
  }

  op(kvOp: KvOp, o: OpOptions & { staleAt?: bigint }): Operation {
    const start = o.start ?? this.now;
    const end = o.end ?? start + 1;
    const outcome = o.outcome ?? "ok";
    const op: Operation = { id: this.#nextId++, client: o.client ?? 1, member: o.member ?? 1n, op: kvOp, startMs: start };
    if (outcome === "error") {
      op.endMs = end;
      op.outcome = { type: "error", message: "etcdserver: too many requests" };
    } else if (outcome === "ok") {
      const result = this.#exec(kvOp, o);
      op.endMs = end;
      op.outcome = "error" in result ? { type: "error", message: result.error } : { type: "ok", result };
    } else {
      if (o.apply ?? true) this.#exec(kvOp, o);
      if (outcome === "indeterminate") {
        op.endMs = end;
        op.outcome = { type: "indeterminate", message: "context deadline exceeded" };
      }
    }
    this.operations.push(op);
    if (o.start === undefined) this.now = Math.max(this.now, end) + 1;
    return op;
  }

  #exec(op: KvOp, o: { staleAt?: bigint }): KvResult | { error: string } {
    if (op.kind === "range" && (o.staleAt !== undefined || (op.revision ?? 0n) > 0n)) {
      const at = o.staleAt ?? op.revision!;
      if (at < this.compactRev) return { error: "mvcc: required revision has been compacted" };
      const r = this.#rangeOf(this.#states.get(at)!, op);
      return { ...r, revision: o.staleAt ?? this.rev };
    }
    if (op.kind === "compact") {
      this.compactRev = op.revision;
      return { kind: "compact", revision: this.rev };
    }
    if (op.kind === "leaseGrant") {
      const leaseId = this.#nextLease++;
      this.#leases.set(leaseId, { ttlSeconds: op.ttlSeconds, grantedAtMs: this.now, lastKeepAliveMs: this.now });
      return { kind: "leaseGrant", revision: this.rev, leaseId, ttlSeconds: op.ttlSeconds };
    }
    if (op.kind === "leaseKeepAlive") {
      const l = this.#leases.get(op.leaseId);
      if (!l) return { error: "etcdserver: requested lease not found" };
      l.lastKeepAliveMs = this.now;
      return { kind: "leaseKeepAlive", revision: this.rev, ttlSeconds: l.ttlSeconds };
    }
    if (op.kind === "leaseRevoke") {
      this.#deleteLeaseKeys(op.leaseId);
      this.#leases.delete(op.leaseId);
      return { kind: "leaseRevoke", revision: this.rev };
    }
    const work = new Map(this.#kvs);
    const events: Event[] = [];
    const res = this.#run(op, work, this.rev + 1n, events);
    this.#commit(work, events);
    const fill = (r: KvResult): KvResult => (r.kind === "txn" ? { ...r, revision: this.rev, results: r.results.map(fill) } : { ...r, revision: this.rev });
    return fill(res);
  }

  #deleteLeaseKeys(leaseId: bigint): void {
    const work = new Map(this.#kvs);
    const events: Event[] = [];
    for (const kv of [...work.values()].sort((a, b) => compareBytes(a.key, b.key))) {
      if (kv.lease !== leaseId) continue;
      work.delete(kv.key);
      events.push({ type: "DELETE", kv: this.#tomb(kv.key, this.rev + 1n), prevKv: kv });
    }
    this.#commit(work, events);
  }

  #tomb(key: string, rev: bigint): KvValue {
    return { key, value: "", createRevision: 0n, modRevision: rev, version: 0n, lease: 0n };
  }

  #commit(work: Map<string, KvValue>, events: Event[]): void {
    if (events.length === 0) return;
    this.rev++;
    this.#kvs = work;
    this.#states.set(this.rev, work);
    this.#log.push({ rev: this.rev, events });
    for (const live of this.#live) live.pending.push(...this.#matching(live.record, events));
  }

  #matching(w: WatchRecord, events: Event[]): Event[] {
    return events
      .filter((ev) => inRange(ev.kv.key, w.key, w.end))
      .filter((ev) => !(ev.type === "PUT" && w.filters.includes("noput")) && !(ev.type === "DELETE" && w.filters.includes("nodelete")))
      .map((ev) => (w.prevKv ? { ...ev } : { type: ev.type, kv: ev.kv }));
  }

  #rangeOf(state: Map<string, KvValue>, op: { key: string; end?: string }): Extract<KvResult, { kind: "range" }> {
    const kvs = [...state.values()].filter((kv) => inRange(kv.key, op.key, op.end)).sort((a, b) => compareBytes(a.key, b.key));
    return { kind: "range", revision: 0n, kvs, count: kvs.length };
  }

  #run(op: KvOp, work: Map<string, KvValue>, next: bigint, events: Event[]): KvResult {
    switch (op.kind) {
      case "put": {
        const prev = work.get(op.key);
        const kv: KvValue = {
          key: op.key,
          value: op.value,
          createRevision: prev ? prev.createRevision : next,
          modRevision: next,
          version: prev ? prev.version + 1n : 1n,
          lease: op.leaseId ?? 0n,
        };
        work.set(op.key, kv);
        events.push(prev ? { type: "PUT", kv, prevKv: prev } : { type: "PUT", kv });
        return { kind: "put", revision: 0n, prevKv: op.prevKv ? prev : undefined };
      }
      case "delete": {
        const gone = [...work.values()].filter((kv) => inRange(kv.key, op.key, op.end)).sort((a, b) => compareBytes(a.key, b.key));
        for (const kv of gone) {
          work.delete(kv.key);
          events.push({ type: "DELETE", kv: this.#tomb(kv.key, next), prevKv: kv });
        }
        return { kind: "delete", revision: 0n, deleted: gone.length, prevKvs: op.prevKv ? gone : undefined };
      }
      case "range":
        return this.#rangeOf(work, op);
      case "txn": {
        const ok = op.compare.every((c) => {
          const kv = work.get(c.key);
          if (c.target === "value") {
            if (!kv) return false;
            const d = compareBytes(kv.value, String(c.value));
            return c.op === "=" ? d === 0 : c.op === "!=" ? d !== 0 : c.op === "<" ? d < 0 : d > 0;
          }
          const have = !kv ? 0n : c.target === "mod" ? kv.modRevision : c.target === "create" ? kv.createRevision : kv.version;
          const want = BigInt(c.value);
          return c.op === "=" ? have === want : c.op === "!=" ? have !== want : c.op === "<" ? have < want : have > want;
        });
        const results = (ok ? op.success : op.failure).map((sub) => this.#run(sub, work, next, events));
        return { kind: "txn", revision: 0n, succeeded: ok, results };
      }
      default:
        throw new Error(`history-builder: ${op.kind} cannot run inside a txn`);
    }
  }
}

/** A key-value literal for hand-built expectations: kv("a", "v1", 2) is a=v1 created and modified at 2. */
export function kv(key: string, value: string, mod: bigint, o: { create?: bigint; version?: bigint; lease?: bigint } = {}): KvValue {
  return { key, value, createRevision: o.create ?? mod, modRevision: mod, version: o.version ?? 1n, lease: o.lease ?? 0n };
}

/** The acknowledged result of an operation (for tests that tamper with it). */
export function resultOf<K extends KvResult["kind"]>(op: Operation, kind: K): Extract<KvResult, { kind: K }> {
  if (op.outcome?.type !== "ok" || op.outcome.result.kind !== kind) throw new Error(`op ${op.id} has no ${kind} result`);
  return op.outcome.result as Extract<KvResult, { kind: K }>;
}
