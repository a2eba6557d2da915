// How the KV check (kv.ts) names calls, requests and events in its findings: short, clipped, JSON-quoted.
import type { KeyValue, KvCall, KvRequest, RequestOp, WatchEvent } from "../history.ts";

// ---- showing ----

export const clip = (s: string, max = 300) => (s.length <= max ? s : `${s.slice(0, max)}…`);
export const q = (s: string) => JSON.stringify(s);

export function showCall(calls: readonly KvCall[], i: number): string {
  const c = calls[i];
  const rev = c.outcome === "ok" ? `, revision ${c.revision}` : c.outcome === "failed" ? `, failed: ${c.error ?? "?"}` : ", unknown";
  return `call #${i} (client ${c.client} → member ${c.member}, ${c.call}..${c.ret} ms${rev}) ${clip(showRequest(c.request))}`;
}

export function showRange(key: string, end: string): string {
  return end === "" ? q(key) : end === "\0" ? `[${q(key)}, ∞)` : `[${q(key)}, ${q(end)})`;
}

export function showOp(op: RequestOp): string {
  switch (op.kind) {
    case "range":
      return `range ${showRange(op.key, op.end)}${op.revision ? ` at ${op.revision}` : ""}${op.limit ? ` limit ${op.limit}` : ""}${op.serializable ? " serializable" : ""}`;
    case "put":
      return `put ${q(op.key)}=${q(op.value)}${op.lease && op.lease !== "0" ? ` lease ${op.lease}` : ""}`;
    case "delete":
      return `delete ${showRange(op.key, op.end)}`;
  }
}

export function showRequest(req: KvRequest): string {
  switch (req.kind) {
    case "txn": {
      const cmp = req.compare.map((c) => `${c.target}(${q(c.key)}) ${c.result} ${c.target === "value" ? q(c.operand) : c.operand}`).join(" && ");
      return `txn if ${cmp || "true"} then [${req.success.map(showOp).join(", ")}] else [${req.failure.map(showOp).join(", ")}]`;
    }
    case "leaseGrant":
      return `leaseGrant ttl ${req.ttl} s`;
    case "leaseRevoke":
      return `leaseRevoke ${req.id}`;
    case "compact":
      return `compact ${req.revision}`;
    case "defragment":
      return "defragment";
    default:
      return showOp(req);
  }
}

export function showKv(kv: KeyValue): string {
  const lease = kv.lease && kv.lease !== "0" ? `, lease ${kv.lease}` : "";
  return `${q(kv.key)}=${q(kv.value)} (create ${kv.createRevision}, mod ${kv.modRevision}, version ${kv.version}${lease})`;
}

export const showKvs = (kvs: readonly KeyValue[]) => clip(`[${kvs.map(showKv).join(", ")}]`);
export const showEvent = (e: WatchEvent) => (e.type === "put" ? `put ${showKv(e.kv)}` : `delete ${q(e.kv.key)}`);
export const showEvents = (evs: readonly WatchEvent[]) => (evs.length ? clip(`[${evs.map(showEvent).join(", ")}]`) : "no changes");
