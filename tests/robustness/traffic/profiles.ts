// Traffic profiles: what one client does next, as etcd's robustness suite shapes its traffic.
// - etcd: every KV and lease call of the API in a mix (stale reads, ranges with limits, multi-op
//   txns, compare-and-set, leases, compactions at random revisions including future ones, defrag).
// - kubernetes: what the API server does — paginated lists at a revision, optimistic updates guarded
//   by mod_revision, creates guarded by create_revision == 0, guarded deletes, leases for events.
// Every put value is unique (client.seq), so a write seen in a watch names the call that made it.
import type { KvCall, KvRequest, RequestOp } from "../history.ts";
import type { KvRecorder } from "./kv-recorder.ts";

/** Extra weight on some operations, for the regression scenarios (chances per step, 0–1). */
export interface TrafficMix {
  compact?: number;
  /** Compact at the newest safe revision rather than a little below it. */
  compactLatest?: boolean;
  defrag?: number;
  /** A txn whose read is at an older revision, perhaps compacted (etcd #18667). */
  txnRangeAtRevision?: number;
}

export interface ClientState {
  client: number;
  mix: TrafficMix;
  rnd: () => number;
  seq: number;
  /** What this client last saw of each key (a read or its own write). */
  seen: Map<string, { value: string; modRevision: number }>;
  /** Leases this client granted and has not revoked. */
  leases: string[];
  /** The highest header revision this client has seen. */
  revision: number;
}

export interface TrafficContext {
  /** A revision every full watcher has passed: compacting at or below it leaves their history whole. */
  safeCompactRevision(): number;
}

export interface Profile {
  name: "etcd" | "kubernetes";
  /** Every key the profile touches sorts inside [prefix, prefixEnd). */
  prefix: string;
  prefixEnd: string;
  /** One step: one call or a short sequence of them (a paginated list). */
  step(rec: KvRecorder, st: ClientState, ctx: TrafficContext): Promise<void>;
}

/** Most leases outlive the run; about a third run out within it (2–4 s), and their keys go with them. */
const LEASE_TTL_SECONDS = 7200;
const leaseTtl = (st: ClientState) => (st.rnd() < 0.3 ? 2 + Math.floor(st.rnd() * 3) : LEASE_TTL_SECONDS);

export function newClientState(client: number, rnd: () => number, mix: TrafficMix = {}): ClientState {
  return { client, mix, rnd, seq: 0, seen: new Map(), leases: [], revision: 0 };
}

/** Compaction at a revision every full watcher has passed (the newest, or a little below it). */
function compactRequest(st: ClientState, ctx: TrafficContext): KvRequest | null {
  const safe = ctx.safeCompactRevision();
  if (safe <= 1) return null;
  return { kind: "compact", revision: st.mix.compactLatest ? safe : Math.max(1, safe - Math.floor(st.rnd() * 20)) };
}

/** The mix's extra operations; true when one was made this step. */
async function extra(rec: KvRecorder, st: ClientState, ctx: TrafficContext, keys: readonly string[]): Promise<boolean> {
  const m = st.mix;
  if (m.compact && st.rnd() < m.compact) {
    const req = compactRequest(st, ctx);
    if (req) return (await run(rec, st, req), true);
  }
  if (m.defrag && st.rnd() < m.defrag) return (await run(rec, st, { kind: "defragment" }), true);
  if (m.txnRangeAtRevision && st.rnd() < m.txnRangeAtRevision) {
    const key = pick(st, keys);
    const at = Math.max(1, st.revision - Math.floor(st.rnd() * 40));
    await run(rec, st, {
      kind: "txn",
      compare: [],
      success: [{ kind: "range", key, end: "", revision: at, limit: 0, serializable: false }, put(key, value(st))],
      failure: [],
    });
    return true;
  }
  return false;
}

const pick = <T>(st: ClientState, xs: readonly T[]): T => xs[Math.floor(st.rnd() * xs.length)];
const value = (st: ClientState) => `c${st.client}-${st.seq++}`;

/** Learns from a call: header revision, values read, own writes, leases granted. */
function observe(st: ClientState, c: KvCall): void {
  if (c.outcome !== "ok") return;
  if (c.revision !== undefined && c.revision > st.revision) st.revision = c.revision;
  const r = c.response!;
  const learnRange = (res: { kvs: { key: string; value: string; modRevision: number }[] }) => {
    for (const kv of res.kvs) st.seen.set(kv.key, { value: kv.value, modRevision: kv.modRevision });
  };
  const learnWrite = (op: RequestOp) => {
    if (op.kind === "put") st.seen.set(op.key, { value: op.value, modRevision: c.revision! });
    else if (op.kind === "delete" && op.end === "") st.seen.delete(op.key);
  };
  if (r.kind === "range") learnRange(r);
  else if (c.request.kind === "put" || c.request.kind === "delete") learnWrite(c.request);
  else if (r.kind === "txn" && c.request.kind === "txn") {
    const ops = r.succeeded ? c.request.success : c.request.failure;
    ops.forEach((op, i) => {
      const res = r.results[i];
      if (res?.kind === "range") learnRange(res);
      else learnWrite(op);
    });
  } else if (r.kind === "leaseGrant") st.leases.push(r.id);
}

async function run(rec: KvRecorder, st: ClientState, req: KvRequest): Promise<KvCall> {
  const c = await rec.do(req);
  observe(st, c);
  return c;
}

const get = (key: string, serializable = false): KvRequest => ({ kind: "range", key, end: "", revision: 0, limit: 0, serializable });
const put = (key: string, v: string, lease = "0"): RequestOp => ({ kind: "put", key, value: v, lease });

// ---------------------------------------------------------------------------- etcd

const ETCD_KEYS = Array.from({ length: 10 }, (_, i) => `key${i}`);

export const etcdProfile: Profile = {
  name: "etcd",
  prefix: "key",
  prefixEnd: "kez",
  async step(rec, st, ctx) {
    if (await extra(rec, st, ctx, ETCD_KEYS)) return;
    const key = pick(st, ETCD_KEYS);
    const r = st.rnd() * 100;
    if (r < 14) await run(rec, st, get(key));
    else if (r < 18) await run(rec, st, get(key, true));
    else if (r < 26) await run(rec, st, { kind: "range", key: "key", end: "kez", revision: 0, limit: pick(st, [0, 0, 3]), serializable: false });
    else if (r < 29) await run(rec, st, { kind: "range", key: "key", end: "kez", revision: 0, limit: 0, serializable: true });
    else if (r < 32) {
      // An older revision: a stale read by revision, which a compaction may have taken away.
      const at = Math.max(1, st.revision - Math.floor(st.rnd() * 30));
      await run(rec, st, { kind: "range", key: "key", end: "kez", revision: at, limit: 0, serializable: false });
    } else if (r < 56) await run(rec, st, put(key, value(st)));
    else if (r < 61 && st.leases.length > 0) await run(rec, st, put(key, value(st), pick(st, st.leases)));
    else if (r < 66) await run(rec, st, { kind: "delete", key, end: "" });
    else if (r < 76) {
      // A multi-op txn over two keys, guarded by what this client last saw of the first.
      const other = ETCD_KEYS[(ETCD_KEYS.indexOf(key) + 1 + Math.floor(st.rnd() * 9)) % ETCD_KEYS.length];
      const seen = st.seen.get(key);
      await run(rec, st, {
        kind: "txn",
        compare: [{ key, target: "mod", result: "=", operand: String(seen?.modRevision ?? 0) }],
        success: [put(key, value(st)), put(other, value(st))],
        failure: [{ kind: "range", key, end: "", revision: 0, limit: 0, serializable: false }, { kind: "delete", key: other, end: "" }],
      });
    } else if (r < 86) {
      // Compare-and-set on the value.
      const seen = st.seen.get(key);
      await run(rec, st, {
        kind: "txn",
        compare: [{ key, target: "value", result: "=", operand: seen?.value ?? "" }],
        success: [put(key, value(st))],
        failure: [{ kind: "range", key, end: "", revision: 0, limit: 0, serializable: false }],
      });
    } else if (r < 91) await run(rec, st, { kind: "leaseGrant", ttl: leaseTtl(st) });
    else if (r < 95 && st.leases.length > 0) {
      const id = st.leases.splice(Math.floor(st.rnd() * st.leases.length), 1)[0];
      await run(rec, st, { kind: "leaseRevoke", id });
    } else if (r < 98) {
      // Mostly a revision the watchers have passed; sometimes one in the future (refused).
      const req = st.rnd() < 0.15 ? { kind: "compact" as const, revision: st.revision + 1000 } : compactRequest(st, ctx);
      if (req) await run(rec, st, req);
    } else if (r < 98.5) await run(rec, st, { kind: "defragment" });
    else await run(rec, st, get(key));
  },
};

// ---------------------------------------------------------------------------- kubernetes

const PODS = "/registry/pods/default/";
const POD_KEYS = Array.from({ length: 10 }, (_, i) => `${PODS}pod-${i}`);
const EVENT_KEYS = Array.from({ length: 5 }, (_, i) => `/registry/events/default/ev-${i}`);
const PAGE = 4;

export const kubernetesProfile: Profile = {
  name: "kubernetes",
  prefix: "/registry/",
  prefixEnd: "/registry0",
  async step(rec, st, ctx) {
    if (await extra(rec, st, ctx, POD_KEYS)) return;
    const key = pick(st, POD_KEYS);
    const r = st.rnd() * 100;
    if (r < 10) {
      // A paginated list at one revision, as the API server's reflector lists.
      let from = PODS;
      let at = 0;
      for (let page = 0; page < 20; page++) {
        const c = await run(rec, st, { kind: "range", key: from, end: "/registry/pods/default0", revision: at, limit: PAGE, serializable: false });
        if (c.outcome !== "ok" || c.response?.kind !== "range") break;
        if (at === 0) at = c.revision!;
        if (!c.response.more || c.response.kvs.length === 0) break;
        from = `${c.response.kvs[c.response.kvs.length - 1].key}\0`;
      }
    } else if (r < 35) await run(rec, st, get(key));
    else if (r < 65) {
      const seen = st.seen.get(key);
      if (!seen) return void (await run(rec, st, get(key)));
      await run(rec, st, {
        kind: "txn",
        compare: [{ key, target: "mod", result: "=", operand: String(seen.modRevision) }],
        success: [put(key, value(st))],
        failure: [{ kind: "range", key, end: "", revision: 0, limit: 0, serializable: false }],
      });
    } else if (r < 78) {
      await run(rec, st, {
        kind: "txn",
        compare: [{ key, target: "create", result: "=", operand: "0" }],
        success: [put(key, value(st))],
        failure: [{ kind: "range", key, end: "", revision: 0, limit: 0, serializable: false }],
      });
    } else if (r < 86) {
      const seen = st.seen.get(key);
      if (!seen) return void (await run(rec, st, get(key)));
      await run(rec, st, {
        kind: "txn",
        compare: [{ key, target: "mod", result: "=", operand: String(seen.modRevision) }],
        success: [{ kind: "delete", key, end: "" }],
        failure: [{ kind: "range", key, end: "", revision: 0, limit: 0, serializable: false }],
      });
    } else if (r < 94 && st.leases.length > 0) await run(rec, st, put(pick(st, EVENT_KEYS), value(st), pick(st, st.leases)));
    else if (r < 97) await run(rec, st, { kind: "leaseGrant", ttl: leaseTtl(st) });
    else if (st.leases.length > 1) {
      const id = st.leases.splice(Math.floor(st.rnd() * st.leases.length), 1)[0];
      await run(rec, st, { kind: "leaseRevoke", id });
    } else await run(rec, st, get(key));
  },
};

export const PROFILES = { etcd: etcdProfile, kubernetes: kubernetesProfile } as const;
