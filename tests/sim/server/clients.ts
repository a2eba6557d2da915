// Simulated clients of the whole-server simulation: each issues one operation at a time through
// EtcdServer's own API (put/range/deleteRange/txn/compact, leases, the watch hub), as the gRPC layer
// calls it — requests are protobuf-decoded first, so they look exactly like what arrives on the wire —
// and records it in the History (history.ts) that the checkers judge.
import { EventType, type WatchEvent } from "../../../src/mvcc/event.ts";
import type { KeyValue } from "../../../src/mvcc/key-value.ts";
import type { WatchStream } from "../../../src/mvcc/watch/watch-hub.ts";
import { isEtcdError } from "../../../src/pkg/errors.ts";
import { etcdserverpb } from "../../../src/proto/etcd.js";
import type { EtcdServer } from "../../../src/server/core/server.ts";
import type { History, KvOp, KvResult, KvValue, Operation, WatchRecord } from "./history.ts";

/** Errors that say the request had no effect: the checkers may take them as "did not happen". */
const DEFINITE_ERRORS = new Set([
  "etcdserver: no leader",
  "etcdserver: too many requests",
  "etcdserver: request is too large",
  "etcdserver: mvcc: required revision has been compacted",
  "etcdserver: mvcc: required revision is a future revision",
  "etcdserver: requested lease not found",
  "etcdserver: lease already exists",
  "etcdserver: too large lease TTL",
  "etcdserver: mvcc: database space exceeded",
  "etcdserver: key is not provided",
  "etcdserver: duplicate key given in txn request",
  "etcdserver: too many operations in txn request",
  "etcdserver: not leader",
]);

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : "");

/** A member a client may talk to right now. */
export interface Reachable {
  id: bigint;
  server: EtcdServer;
}

export interface ClientsOptions {
  random: () => number;
  now: () => number;
  history: History;
  clients: number;
  /** The keys operations use: few, so that they conflict. */
  keys: string[];
  /** The members up now. */
  members: () => Reachable[];
  /** An operation was issued, or settled. */
  changed?: (op: Operation) => void;
  /** Runs fn after ms of simulated time (a client's own deadline). */
  after: (ms: number, fn: () => void) => void;
  /** A client gives up on an operation after this long (etcd clients pass a context deadline). */
  deadlineMs: [number, number];
}

interface OpenOp {
  op: Operation;
  clientIndex: number;
}

interface OpenWatch {
  rec: WatchRecord;
  stream: WatchStream;
  watchId: bigint;
}

export class SimClients {
  readonly #o: ClientsOptions;
  readonly #busy: boolean[];
  #nextOp = 1;
  #nextWatch = 1;
  /** Operations in flight, by id. */
  readonly #open = new Map<number, OpenOp>();
  readonly #watches = new Map<number, OpenWatch>();
  /** Leases granted (or maybe granted) and not known revoked: what puts, keep-alives and revokes pick from. */
  readonly leases: bigint[] = [];
  /** The highest revision any response carried (compactions and historical reads pick below it). */
  maxRevision = 1n;
  /** The highest compaction acknowledged. */
  compacted = 0n;
  stats = { ops: 0, ok: 0, errors: 0, indeterminate: 0, watches: 0, watchEvents: 0 };

  constructor(o: ClientsOptions) {
    this.#o = o;
    this.#busy = new Array(o.clients).fill(false);
  }

  get pending(): number {
    return this.#open.size;
  }

  /** One idle client sends one operation to one member, if any client is idle and any member up. */
  issue(): void {
    const r = this.#o.random;
    const idle = this.#busy.flatMap((b, i) => (b ? [] : [i]));
    const members = this.#o.members();
    if (!idle.length || !members.length) return;
    const clientIndex = idle[Math.floor(r() * idle.length)];
    const m = members[Math.floor(r() * members.length)];
    const id = this.#nextOp++;
    const op: Operation = { id, client: clientIndex, member: m.id, op: this.#pickOp(id), startMs: this.#o.now() };
    this.#o.history.operations.push(op);
    this.#busy[clientIndex] = true;
    this.#open.set(id, { op, clientIndex });
    this.stats.ops++;
    this.#o.changed?.(op);
    let p: Promise<KvResult>;
    try {
      p = execute(m.server, op.op);
    } catch (err) {
      p = Promise.reject(err);
    }
    const [lo, hi] = this.#o.deadlineMs;
    const deadline = Math.round(lo + r() * (hi - lo));
    this.#o.after(deadline, () => this.#finish(id, { type: "indeterminate", message: `the client gave up after ${deadline} ms` }));
    p.then(
      (result) => this.#finish(id, { type: "ok", result }),
      (err) => {
        const message = err instanceof Error ? err.message : String(err);
        this.#finish(id, isEtcdError(err) && DEFINITE_ERRORS.has(message) ? { type: "error", message } : { type: "indeterminate", message });
      },
    );
  }

  /** A client opens a watch on one member: one key or the whole prefix, from now or from a past revision. */
  watch(): void {
    const r = this.#o.random;
    const members = this.#o.members();
    if (!members.length) return;
    const m = members[Math.floor(r() * members.length)];
    const keys = this.#o.keys;
    const prefix = r() < 0.5;
    const key = prefix ? "k" : keys[Math.floor(r() * keys.length)];
    const end = prefix ? "l" : undefined;
    const startRevision = r() < 0.5 ? 0n : 1n + BigInt(Math.floor(r() * Number(this.maxRevision)));
    const prevKv = r() < 0.5;
    const filters: WatchRecord["filters"] = r() < 0.1 ? ["nodelete"] : r() < 0.1 ? ["noput"] : [];
    let stream: WatchStream;
    try {
      stream = m.server.watchHub.newStream();
    } catch {
      return; // the member is stopping
    }
    const rec: WatchRecord = {
      id: this.#nextWatch++,
      member: m.id,
      key,
      ...(end ? { end } : {}),
      startRevision,
      createdRevision: stream.rev,
      prevKv,
      filters,
      progressNotify: false,
      responses: [],
    };
    const watchId = stream.watch({ key: enc(key), end: end ? enc(end) : null, startRevision, prevKv, noPut: filters.includes("noput"), noDelete: filters.includes("nodelete") });
    this.#o.history.watches.push(rec);
    this.stats.watches++;
    const w: OpenWatch = { rec, stream, watchId };
    this.#watches.set(rec.id, w);
    // As the gRPC layer: a ready stream is drained on a later turn, not inside the apply that filled it.
    let scheduled = false;
    stream.onReady = () => {
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        this.#takeAll(w);
      });
    };
    this.#takeAll(w);
  }

  /** A client cancels one of the open watches. */
  cancelWatch(): void {
    const open = [...this.#watches.values()];
    if (!open.length) return;
    const w = open[Math.floor(this.#o.random() * open.length)];
    this.#takeAll(w);
    if (!this.#watches.has(w.rec.id)) return;
    w.stream.cancel(w.watchId);
    w.stream.close();
    this.#endWatch(w, { reason: "canceled" });
  }

  /**
   * A member died: what its clients waited for may or may not have happened. Its watches end with
   * what they had received: events still buffered in the dead process never reach the client (the
   * gRPC layer drains a stream on a later turn, and a kill comes first).
   */
  memberDown(member: bigint, why: string): void {
    for (const { op } of [...this.#open.values()]) if (op.member === member) this.#finish(op.id, { type: "indeterminate", message: why });
    for (const w of [...this.#watches.values()]) {
      if (w.rec.member !== member) continue;
      if (this.#watches.has(w.rec.id)) this.#endWatch(w, { reason: "member-down" });
    }
  }

  /** The run is over: what is still in flight is indeterminate, what is still watched is read out. */
  finish(): void {
    for (const { op } of [...this.#open.values()]) this.#finish(op.id, { type: "indeterminate", message: "still pending at the end of the run" });
    for (const w of this.#watches.values()) this.#takeAll(w);
  }

  #finish(id: number, outcome: NonNullable<Operation["outcome"]>): void {
    const open = this.#open.get(id);
    if (!open) return; // settled already (a crash got there first)
    this.#open.delete(id);
    this.#busy[open.clientIndex] = false;
    open.op.endMs = this.#o.now();
    open.op.outcome = outcome;
    if (outcome.type === "ok") {
      this.stats.ok++;
      this.#learn(open.op.op, outcome.result);
    } else if (outcome.type === "error") this.stats.errors++;
    else this.stats.indeterminate++;
    // A lease whose grant surely failed is not worth picking; any other may exist.
    if (open.op.op.kind === "leaseGrant" && outcome.type === "error") {
      const i = this.leases.indexOf(open.op.op.leaseId!);
      if (i >= 0) this.leases.splice(i, 1);
    }
    this.#o.changed?.(open.op);
  }

  #learn(op: KvOp, result: KvResult): void {
    if (result.revision > this.maxRevision) this.maxRevision = result.revision;
    if (op.kind === "compact" && op.revision > this.compacted) this.compacted = op.revision;
  }

  #takeAll(w: OpenWatch): void {
    if (!this.#watches.has(w.rec.id)) return;
    for (let b = w.stream.take(); b; b = w.stream.take()) {
      if (b.watchId !== w.watchId) continue;
      if (b.compactRevision !== 0n) {
        this.#endWatch(w, { reason: "compacted", compactRevision: b.compactRevision });
        return;
      }
      w.rec.responses.push({ atMs: this.#o.now(), revision: b.revision, progress: b.events.length === 0, events: b.events.map(toEvent) });
      this.stats.watchEvents += b.events.length;
    }
  }

  #endWatch(w: OpenWatch, ended: WatchRecord["ended"]): void {
    this.#watches.delete(w.rec.id);
    w.rec.ended = ended;
    w.stream.onReady = null;
    w.stream.close();
  }

  /** The operation mix: mostly writes and reads over a few keys, some txns, leases and compactions. */
  #pickOp(id: number): KvOp {
    const r = this.#o.random;
    const keys = this.#o.keys;
    const key = () => keys[Math.floor(r() * keys.length)];
    const value = (i = 0) => `v${id}${i ? `.${i}` : ""}`;
    const lease = () => (this.leases.length ? this.leases[Math.floor(r() * this.leases.length)] : undefined);
    const pastRevision = () => 1n + BigInt(Math.floor(r() * Number(this.maxRevision)));
    const x = r();
    if (x < 0.3) {
      const l = r() < 0.2 ? lease() : undefined;
      return { kind: "put", key: key(), value: value(), ...(l ? { leaseId: l } : {}), ...(r() < 0.3 ? { prevKv: true } : {}) };
    }
    if (x < 0.5) {
      const whole = r() < 0.3;
      return { kind: "range", key: whole ? "k" : key(), ...(whole ? { end: "l" } : {}), serializable: r() < 0.3, ...(r() < 0.15 ? { revision: pastRevision() } : {}) };
    }
    if (x < 0.58) {
      const span = r() < 0.2;
      const k = key();
      return { kind: "delete", key: k, ...(span ? { end: keys[Math.min(keys.length - 1, keys.indexOf(k) + 2)] + "\0" } : {}), ...(r() < 0.3 ? { prevKv: true } : {}) };
    }
    if (x < 0.74) return this.#pickTxn(key, value);
    if (x < 0.77) {
      // Compact somewhere between the last compaction and the newest revision seen, usually not far behind it.
      const lo = this.compacted + 1n;
      const hi = this.maxRevision;
      const back = BigInt(Math.floor(r() * r() * Number(hi - lo + 1n)));
      return { kind: "compact", revision: hi - back > lo ? hi - back : lo };
    }
    if (x < 0.83) {
      const leaseId = 0x5100_0000n + BigInt(id);
      this.leases.push(leaseId);
      return { kind: "leaseGrant", ttlSeconds: 1 + Math.floor(r() * 3), leaseId };
    }
    const l = lease();
    if (!l) return { kind: "range", key: key(), serializable: false };
    if (x < 0.86) {
      const i = this.leases.indexOf(l);
      if (i >= 0) this.leases.splice(i, 1);
      return { kind: "leaseRevoke", leaseId: l };
    }
    return { kind: "leaseKeepAlive", leaseId: l };
  }

  #pickTxn(key: () => string, value: (i?: number) => string): KvOp {
    const r = this.#o.random;
    const k = key();
    const pick = r();
    const compare: Extract<KvOp, { kind: "txn" }>["compare"] =
      pick < 0.3
        ? [{ key: k, target: "create", op: "=", value: 0n }]
        : pick < 0.6
          ? [{ key: k, target: "mod", op: r() < 0.5 ? "<" : ">", value: 1n + BigInt(Math.floor(r() * Number(this.maxRevision))) }]
          : pick < 0.8
            ? [{ key: k, target: "value", op: r() < 0.5 ? "=" : "!=", value: `v${Math.max(1, this.#nextOp - 1 - Math.floor(r() * 10))}` }]
            : [{ key: k, target: "version", op: ">", value: BigInt(Math.floor(r() * 3)) }];
    // Writes in one txn must be to different keys (etcd refuses duplicates).
    const used = new Set<string>();
    const ops = (n: number, base: number): KvOp[] => {
      const out: KvOp[] = [];
      for (let i = 0; i < n; i++) {
        const kk = key();
        if (used.has(kk)) continue;
        const y = r();
        if (y < 0.6) {
          used.add(kk);
          out.push({ kind: "put", key: kk, value: value(base + i + 1) });
        } else if (y < 0.8) {
          used.add(kk);
          out.push({ kind: "delete", key: kk });
          // Linearizable: a read-only txn whose ranges are all serializable is itself serializable (etcd's isTxnSerializable).
        } else out.push({ kind: "range", key: kk, serializable: false });
      }
      return out;
    };
    const success = ops(1 + Math.floor(r() * 2), 0);
    used.clear();
    const failure = ops(Math.floor(r() * 2), 10);
    return { kind: "txn", compare, success, failure };
  }
}

// ---- requests and results, as the gRPC layer builds and reads them

/** Sends one operation through the server's API; resolves with what came back. */
export async function execute(s: EtcdServer, op: KvOp): Promise<KvResult> {
  switch (op.kind) {
    case "put": {
      const out = await s.put(wire(etcdserverpb.PutRequest, putRequest(op)));
      return { kind: "put", revision: out.header.revision, ...(out.prevKv ? { prevKv: kv(out.prevKv) } : {}) };
    }
    case "delete": {
      const out = await s.deleteRange(wire(etcdserverpb.DeleteRangeRequest, deleteRequest(op)));
      return { kind: "delete", revision: out.header.revision, deleted: Number(out.deleted), ...(op.prevKv ? { prevKvs: out.prevKvs.map(kv) } : {}) };
    }
    case "range": {
      const out = await s.range(wire(etcdserverpb.RangeRequest, rangeRequest(op)));
      return { kind: "range", revision: out.header.revision, kvs: out.kvs.map(kv), count: Number(out.count) };
    }
    case "txn": {
      const out = await s.txn(wire(etcdserverpb.TxnRequest, txnRequest(op)));
      return txnResult(out.header.revision, out.succeeded, out.responses);
    }
    case "compact": {
      const out = await s.compact(wire(etcdserverpb.CompactionRequest, { revision: op.revision, physical: false }));
      return { kind: "compact", revision: out.header.revision };
    }
    case "leaseGrant": {
      const out = (await s.leases.grant(wire(etcdserverpb.LeaseGrantRequest, { TTL: BigInt(op.ttlSeconds), ID: op.leaseId ?? 0n }))) as { header: { revision: bigint }; ID: bigint; TTL: bigint };
      return { kind: "leaseGrant", revision: out.header.revision, leaseId: out.ID, ttlSeconds: Number(out.TTL) };
    }
    case "leaseRevoke": {
      const out = (await s.leases.revoke(op.leaseId)) as { header: { revision: bigint } };
      return { kind: "leaseRevoke", revision: out.header.revision };
    }
    case "leaseKeepAlive": {
      const ttl = await s.leases.renew(op.leaseId);
      return { kind: "leaseKeepAlive", revision: s.header().revision, ttlSeconds: ttl };
    }
  }
}

/** A request as the gRPC layer hands it over: encoded and decoded, with protobuf's defaults. */
function wire<T>(type: { encode(m: T): { finish(): Uint8Array }; decode(b: Uint8Array): T }, m: T): T {
  return type.decode(type.encode(m).finish());
}

function putRequest(op: Extract<KvOp, { kind: "put" }>): etcdserverpb.PutRequest.$Properties {
  return { key: enc(op.key), value: enc(op.value), lease: op.leaseId ?? 0n, prevKv: op.prevKv ?? false };
}

function deleteRequest(op: Extract<KvOp, { kind: "delete" }>): etcdserverpb.DeleteRangeRequest.$Properties {
  return { key: enc(op.key), ...(op.end ? { rangeEnd: enc(op.end) } : {}), prevKv: op.prevKv ?? false };
}

function rangeRequest(op: Extract<KvOp, { kind: "range" }>): etcdserverpb.RangeRequest.$Properties {
  return { key: enc(op.key), ...(op.end ? { rangeEnd: enc(op.end) } : {}), serializable: op.serializable, revision: op.revision ?? 0n };
}

const TARGET = { version: 0, create: 1, mod: 2, value: 3 } as const;
const RESULT = { "=": 0, ">": 1, "<": 2, "!=": 3 } as const;

function txnRequest(op: Extract<KvOp, { kind: "txn" }>): etcdserverpb.TxnRequest.$Properties {
  const requestOp = (o: KvOp): etcdserverpb.RequestOp.$Properties => {
    if (o.kind === "put") return { requestPut: putRequest(o) };
    if (o.kind === "delete") return { requestDeleteRange: deleteRequest(o) };
    if (o.kind === "range") return { requestRange: rangeRequest(o) };
    throw new Error(`a txn cannot hold a ${o.kind}`);
  };
  return {
    compare: op.compare.map((c) => {
      const base = { key: enc(c.key), target: TARGET[c.target], result: RESULT[c.op] };
      if (c.target === "value") return { ...base, value: enc(String(c.value)) };
      const n = BigInt(c.value);
      return c.target === "version" ? { ...base, version: n } : c.target === "create" ? { ...base, createRevision: n } : { ...base, modRevision: n };
    }),
    success: op.success.map(requestOp),
    failure: op.failure.map(requestOp),
  };
}

type ResponseOp = { responseRange?: unknown; responsePut?: unknown; responseDeleteRange?: unknown; responseTxn?: unknown };

function txnResult(revision: bigint, succeeded: boolean, responses: readonly ResponseOp[]): KvResult {
  return {
    kind: "txn",
    revision,
    succeeded,
    results: responses.map((r): KvResult => {
      if (r.responsePut) {
        const p = r.responsePut as { prevKv?: KeyValue };
        return { kind: "put", revision, ...(p.prevKv ? { prevKv: kv(p.prevKv) } : {}) };
      }
      if (r.responseDeleteRange) {
        const d = r.responseDeleteRange as { deleted: bigint; prevKvs?: KeyValue[] };
        return { kind: "delete", revision, deleted: Number(d.deleted), ...(d.prevKvs?.length ? { prevKvs: d.prevKvs.map(kv) } : {}) };
      }
      if (r.responseRange) {
        const g = r.responseRange as { kvs: KeyValue[]; count: bigint };
        return { kind: "range", revision, kvs: g.kvs.map(kv), count: Number(g.count) };
      }
      const t = r.responseTxn as { succeeded: boolean; responses: ResponseOp[] };
      return txnResult(revision, t.succeeded, t.responses);
    }),
  };
}

export function kv(k: KeyValue): KvValue {
  return { key: dec(k.key), value: dec(k.value), createRevision: k.createRevision, modRevision: k.modRevision, version: k.version, lease: k.lease };
}

function toEvent(ev: WatchEvent): WatchRecord["responses"][number]["events"][number] {
  return { type: ev.type === EventType.PUT ? "PUT" : "DELETE", kv: kv(ev.kv), ...(ev.prevKv ? { prevKv: kv(ev.prevKv) } : {}) };
}
