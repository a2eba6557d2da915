// etcd's warning for a request that took longer than --experimental-warning-apply-duration (3.6:
// --warning-apply-duration, default 100 ms) to apply, or to answer for a read-only range or txn:
// "apply request took too long" with etcd's fields (took, expected-duration, prefix, request,
// response, error), the request written as etcd's loggable stringer does — values replaced by their
// size, no passwords or tokens — and etcd_server_slow_apply_total.
import { goDuration } from "../../pkg/go-duration.ts";
import { defaultRegistry } from "../../pkg/metrics.ts";
import { etcdserverpb } from "../../proto/etcd.js";

type Request = etcdserverpb.InternalRaftRequest.$Properties;
type Log = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

/** etcd's default --experimental-warning-apply-duration. */
export const DEFAULT_WARNING_APPLY_MS = 100;

export const slowApplies = defaultRegistry.counter({ name: "etcd_server_slow_apply_total", help: "The total number of slow apply requests (likely overloaded from slow disk)." });

/**
 * Logs the warning when `tookMs` exceeds `expectedMs`. `request` is what etcd prints for it (see
 * describeRequest); `response` its "size:N" (or a read's count and size), `error` the failure if any.
 */
export function warnIfSlow(log: Log, o: { tookMs: number; expectedMs: number; prefix?: string; request: () => string; response?: () => string; error?: unknown }): boolean {
  if (!(o.tookMs > o.expectedMs)) return false;
  slowApplies.inc();
  const fields: Record<string, unknown> = {
    took: goDuration(o.tookMs),
    "expected-duration": goDuration(o.expectedMs),
    prefix: o.prefix ?? "",
    request: o.request(),
    response: o.response?.() ?? "",
  };
  if (o.error !== undefined) fields.error = o.error instanceof Error ? o.error.message : String(o.error);
  log("warn", "apply request took too long", fields);
  return true;
}

/** "size:N" of a response, as etcd's; "" when it cannot be encoded. */
export function responseSize(kind: "put" | "deleteRange" | "txn" | "range" | "other", resp: unknown): string {
  const type =
    kind === "put"
      ? etcdserverpb.PutResponse
      : kind === "deleteRange"
        ? etcdserverpb.DeleteRangeResponse
        : kind === "txn"
          ? etcdserverpb.TxnResponse
          : kind === "range"
            ? etcdserverpb.RangeResponse
            : etcdserverpb.ResponseHeader;
  try {
    const body = kind === "other" ? ((resp as { header?: object } | undefined)?.header ?? {}) : resp;
    return `size:${type.encode(body as never).finish().length}`;
  } catch {
    return "";
  }
}


/**
 * The request as etcd's InternalRaftStringer prints it: protobuf's compact text (each field followed
 * by a space) with values as value_size and no secrets. Kinds etcd prints in full that we do not
 * spell out field by field are named with their revision or id where they have one.
 */
export function describeRequest(r: Request): string {
  const header = r.header ? `header:<${fields([["ID", r.header.ID], ["username", str(r.header.username)], ["auth_revision", r.header.authRevision]])}> ` : "";
  if (r.put) return `${header}put:<${putText(r.put)}>`;
  if (r.deleteRange) return `${header}delete_range:<${rangeText(r.deleteRange)}>`;
  if (r.txn) return `${header}txn:<${txnText(r.txn)}>`;
  if (r.range) return `${header}range:<${rangeText(r.range)}>`;
  if (r.compaction) return `${header}compaction:<${fields([["revision", r.compaction.revision], ["physical", r.compaction.physical]])}>`;
  if (r.leaseGrant) return `${header}lease_grant:<ttl:${r.leaseGrant.TTL ?? 0}-second id:${hex16(r.leaseGrant.ID)}>`;
  if (r.leaseRevoke) return `${header}lease_revoke:<id:${hex16(r.leaseRevoke.ID)}>`;
  if (r.leaseCheckpoint) {
    const cps = (r.leaseCheckpoint.checkpoints ?? []).map((c) => `checkpoints:<${fields([["ID", c.ID], ["remaining_TTL", c.remaining_TTL]])}> `).join("");
    return `${header}lease_checkpoint:<${cps}>`;
  }
  if (r.alarm) return `${header}alarm:<${fields([["action", r.alarm.action], ["memberID", r.alarm.memberID], ["alarm", r.alarm.alarm]])}>`;
  if (r.authenticate) return `${header}authenticate:<name:${r.authenticate.name ?? ""} simple_token:[redacted]>`;
  if (r.clusterMemberAttrSet) return `${header}cluster_member_attr_set:<${fields([["member_ID", r.clusterMemberAttrSet.member_ID]])}>`;
  // Auth administration and the rest: the kind is enough to find it (users' passwords never appear).
  const kind = Object.keys(r).find((k) => k !== "header" && (r as Record<string, unknown>)[k] != null) ?? "unknown";
  return `${header}${kind.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}:<>`;
}

/** A read-only range or txn as etcd prints it in the warning: the request itself, values as sizes. */
export function describeReadOnly(r: Request): string {
  if (r.range) return rangeText(r.range);
  if (r.txn) return txnText(r.txn);
  return describeRequest(r);
}

/** etcd's response text for a slow read-only range ("range_response_count:N size:S") or txn. */
export function readOnlyResponse(r: Request, out: unknown): string {
  const size = responseSize(r.range ? "range" : "txn", out);
  if (r.range) return `range_response_count:${(out as { kvs?: unknown[] }).kvs?.length ?? 0} ${size}`;
  const counts = ((out as { responses?: { responseRange?: { kvs?: unknown[] } }[] }).responses ?? []).map((x) =>
    x.responseRange ? `range_response_count:${x.responseRange.kvs?.length ?? 0}` : "range_response:nil",
  );
  return `responses:<${counts.join(" ")}> ${size}`;
}

type Field = [string, unknown];

/** Compact text of scalar fields: zero values left out, as protobuf's text format does for proto3. */
function fields(list: Field[]): string {
  let out = "";
  for (const [name, v] of list) {
    if (v === undefined || v === null || v === false || v === 0 || v === 0n || v === "") continue;
    out += `${name}:${typeof v === "string" && v.startsWith('"') ? v : String(v)} `;
  }
  return out;
}

function putText(p: etcdserverpb.PutRequest.$Properties): string {
  return fields([
    ["key", bytes(p.key)],
    ["value_size", p.value?.length ?? 0],
    ["lease", p.lease],
    ["prev_kv", p.prevKv],
    ["ignore_value", p.ignoreValue],
    ["ignore_lease", p.ignoreLease],
  ]);
}

function rangeText(r: { key?: Uint8Array | null; rangeEnd?: Uint8Array | null; prevKv?: boolean | null; limit?: unknown; revision?: unknown }): string {
  return fields([
    ["key", bytes(r.key)],
    ["range_end", bytes(r.rangeEnd)],
    ["limit", r.limit],
    ["revision", r.revision],
    ["prev_kv", r.prevKv],
  ]);
}

const TARGETS = ["VERSION", "CREATE", "MOD", "VALUE", "LEASE"];
const RESULTS = ["EQUAL", "GREATER", "LESS", "NOT_EQUAL"];

function txnText(t: etcdserverpb.TxnRequest.$Properties): string {
  const compare = (t.compare ?? []).map((c) => {
    const target = c.target ?? 0;
    const value: Field =
      target === 3
        ? ["value_size", c.value?.length ?? 0]
        : target === 0
          ? ["version", c.version]
          : target === 1
            ? ["create_revision", c.createRevision]
            : target === 2
              ? ["mod_revision", c.modRevision]
              : ["lease", c.lease];
    return fields([
      ["result", c.result ? RESULTS[c.result] : 0],
      ["target", target ? TARGETS[target] : 0],
      ["key", bytes(c.key)],
      value,
      ["range_end", bytes(c.rangeEnd)],
    ]);
  });
  const ops = (list: etcdserverpb.RequestOp.$Properties[] | null | undefined) =>
    (list ?? []).map((op) =>
      op.requestPut
        ? `request_put:<${putText(op.requestPut)}>`
        : op.requestDeleteRange
          ? `request_delete_range:<${rangeText(op.requestDeleteRange)}>`
          : op.requestRange
            ? `request_range:<${rangeText(op.requestRange)}>`
            : op.requestTxn
              ? `request_txn:<${txnText(op.requestTxn)}>`
              : "",
    );
  return `compare:<${compare.join(" ")}> success:<${ops(t.success).join(" ")}> failure:<${ops(t.failure).join(" ")}>`;
}

/** Bytes as protobuf's text format quotes them: printable ASCII as is, the rest as octal escapes. */
function bytes(b: Uint8Array | null | undefined): string {
  if (!b || b.length === 0) return "";
  let s = '"';
  for (const c of b) {
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += "\\\\";
    else if (c === 0x0a) s += "\\n";
    else if (c === 0x0d) s += "\\r";
    else if (c === 0x09) s += "\\t";
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\${c.toString(8).padStart(3, "0")}`;
  }
  return `${s}"`;
}

const str = (s: string | null | undefined) => (s ? `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"` : "");
const hex16 = (id: unknown) => BigInt.asUintN(64, BigInt((id as bigint | number | null | undefined) ?? 0)).toString(16).padStart(16, "0");

/** The warning for one request that started at `started` (performance.now()): applied ("" prefix) or read-only. */
export function warnIfSlowRequest(log: Log, expectedMs: number, prefix: string, req: Request, started: number, r: { ok: boolean; value: unknown }): void {
  const tookMs = performance.now() - started;
  if (tookMs <= expectedMs) return;
  const kind = req.put ? "put" : req.deleteRange ? "deleteRange" : req.txn ? "txn" : req.range ? "range" : "other";
  warnIfSlow(log, {
    tookMs,
    expectedMs,
    prefix,
    request: () => (prefix ? describeReadOnly(req) : describeRequest(req)),
    response: () => (!r.ok ? "" : prefix ? readOnlyResponse(req, r.value) : responseSize(kind, r.value)),
    error: r.ok ? undefined : r.value,
  });
}
