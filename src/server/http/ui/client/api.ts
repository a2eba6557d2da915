// The console's only way to the cluster: etcd's JSON gateway (POST /v3/..., base64 bytes, int64 as
// decimal strings). Ids stay strings, never numbers, so 64-bit lease and member ids survive.
import { fromBase64, prefixEnd, toBase64 } from "./bytes.ts";

export interface KeyValue {
  key: Uint8Array;
  value: Uint8Array;
  createRevision: string;
  modRevision: string;
  version: string;
  lease: string;
}

export interface WatchEvent {
  type: "PUT" | "DELETE";
  kv: KeyValue;
  revision: string;
}

export interface Member {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface Status {
  version: string;
  dbSize: string;
  dbSizeInUse: string;
  leader: string;
  raftIndex: string;
  raftTerm: string;
  raftAppliedIndex: string;
  errors: string[];
  memberId: string;
}

export interface LeaseInfo {
  id: string;
  ttl: string;
  grantedTtl: string;
  keys: Uint8Array[];
}

/** The widest page the console ever asks for: no request reads more keys than this. */
export const RANGE_LIMIT_MAX = 100;

export class GatewayError extends Error {}

/** One gateway call against `base` ("" is this member, same origin). */
export async function call(path: string, body: unknown, opts: { base?: string; timeoutMs?: number } = {}): Promise<any> {
  const res = await fetch(`${opts.base ?? ""}/v3/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const json: any = await res.json().catch(() => ({ message: `HTTP ${res.status}` }));
  if (!res.ok || json.error) throw new GatewayError(json.message ?? json.error ?? `HTTP ${res.status}`);
  return json;
}

function keyValue(kv: any): KeyValue {
  return {
    key: fromBase64(kv.key),
    value: fromBase64(kv.value),
    createRevision: kv.create_revision ?? "0",
    modRevision: kv.mod_revision ?? "0",
    version: kv.version ?? "0",
    lease: kv.lease ?? "0",
  };
}

/** Keys only, at most `limit` of them, from `key` up to `rangeEnd` (exclusive). */
export async function rangeKeys(key: Uint8Array, rangeEnd: Uint8Array, limit: number): Promise<{ keys: Uint8Array[]; more: boolean }> {
  if (limit < 1 || limit > RANGE_LIMIT_MAX) throw new Error(`Range limit ${limit} is outside 1..${RANGE_LIMIT_MAX}`);
  const res = await call("kv/range", { key: toBase64(key), range_end: toBase64(rangeEnd), limit: String(limit), keys_only: true });
  return { keys: (res.kvs ?? []).map((kv: any) => fromBase64(kv.key)), more: !!res.more };
}

export async function getKey(key: Uint8Array): Promise<KeyValue | null> {
  const res = await call("kv/range", { key: toBase64(key), limit: "1" });
  return res.kvs?.length ? keyValue(res.kvs[0]) : null;
}

export async function putKey(key: Uint8Array, value: Uint8Array, lease: string): Promise<void> {
  await call("kv/put", { key: toBase64(key), value: toBase64(value), ...(lease && lease !== "0" ? { lease } : {}) });
}

export async function deleteKey(key: Uint8Array): Promise<string> {
  return (await call("kv/deleterange", { key: toBase64(key) })).deleted ?? "0";
}

export async function listLeases(): Promise<string[]> {
  return ((await call("lease/leases", {})).leases ?? []).map((l: any) => String(l.ID));
}

export async function leaseTimeToLive(id: string): Promise<LeaseInfo> {
  const res = await call("lease/timetolive", { ID: id, keys: true });
  return { id, ttl: res.TTL ?? "0", grantedTtl: res.grantedTTL ?? "0", keys: (res.keys ?? []).map(fromBase64) };
}

export async function grantLease(ttlSeconds: number): Promise<string> {
  return String((await call("lease/grant", { TTL: String(ttlSeconds) })).ID);
}

export async function revokeLease(id: string): Promise<void> {
  await call("lease/revoke", { ID: id });
}

export async function memberList(): Promise<{ self: string; members: Member[] }> {
  const res = await call("cluster/member/list", {});
  return {
    self: res.header?.member_id ?? "0",
    members: (res.members ?? []).map((m: any) => ({
      id: String(m.ID),
      name: m.name ?? "",
      peerURLs: m.peerURLs ?? [],
      clientURLs: m.clientURLs ?? [],
      isLearner: !!m.isLearner,
    })),
  };
}

export async function status(base: string, timeoutMs: number): Promise<Status> {
  const res = await call("maintenance/status", {}, { base, timeoutMs });
  return {
    version: res.version ?? "",
    dbSize: res.dbSize ?? "0",
    dbSizeInUse: res.dbSizeInUse ?? "0",
    leader: res.leader ?? "0",
    raftIndex: res.raftIndex ?? "0",
    raftTerm: res.raftTerm ?? "0",
    raftAppliedIndex: res.raftAppliedIndex ?? "0",
    errors: res.errors ?? [],
    memberId: res.header?.member_id ?? "0",
  };
}

/**
 * Watches every key under `prefix` through the gateway's streaming /v3/watch (one JSON object per
 * line) until `signal` aborts. Calls `onCreated` once the server has registered the watch.
 */
export async function watchPrefix(
  prefix: Uint8Array,
  handlers: { onCreated(): void; onEvents(events: WatchEvent[]): void },
  signal: AbortSignal,
): Promise<void> {
  const key = prefix.length ? prefix : new Uint8Array([0]);
  const res = await fetch("/v3/watch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ create_request: { key: toBase64(key), range_end: toBase64(prefixEnd(prefix)) } }),
    signal,
  });
  if (!res.ok || !res.body) throw new GatewayError(`watch failed: HTTP ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new GatewayError("watch stream ended");
    buffered += value;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line);
      if (msg.error) throw new GatewayError(msg.error.message ?? "watch error");
      const r = msg.result ?? {};
      if (r.created) handlers.onCreated();
      if (r.canceled) throw new GatewayError(r.cancel_reason || "watch canceled by the server");
      if (r.events?.length) {
        const revision = r.header?.revision ?? "0";
        handlers.onEvents(r.events.map((e: any) => ({ type: e.type === "DELETE" ? "DELETE" : "PUT", kv: keyValue(e.kv ?? {}), revision })));
      }
    }
  }
}
