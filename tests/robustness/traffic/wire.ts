// Between the recorded history's plain data (history.ts) and etcd's protobuf messages.
import { etcdserverpb, type mvccpb } from "../../../src/proto/etcd.js";
import type { Compare, KeyValue, KvRequest, KvResponse, RequestOp, ResponseOp, WatchEvent } from "../history.ts";

const enc = (s: string) => Buffer.from(s, "latin1");
const dec = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1") : "");
/** "" = no range end (the one key); "\0" = every key from key on. */
const rangeEnd = (end: string) => (end === "" ? undefined : enc(end));

const { CompareTarget, CompareResult } = etcdserverpb.Compare;
const TARGET = { value: CompareTarget.VALUE, version: CompareTarget.VERSION, create: CompareTarget.CREATE, mod: CompareTarget.MOD, lease: CompareTarget.LEASE } as const;
const RESULT = { "=": CompareResult.EQUAL, "!=": CompareResult.NOT_EQUAL, "<": CompareResult.LESS, ">": CompareResult.GREATER } as const;

export function toKeyValue(kv: mvccpb.KeyValue.$Properties): KeyValue {
  return {
    key: dec(kv.key),
    value: dec(kv.value),
    createRevision: Number(kv.createRevision ?? 0),
    modRevision: Number(kv.modRevision ?? 0),
    version: Number(kv.version ?? 0),
    lease: String(kv.lease ?? 0),
  };
}

export function toWatchEvent(ev: mvccpb.Event.$Properties): WatchEvent {
  const out: WatchEvent = { type: ev.type === 1 ? "delete" : "put", kv: toKeyValue(ev.kv ?? {}) };
  if (ev.prevKv) out.prevKv = toKeyValue(ev.prevKv);
  return out;
}

export function rangeRequest(op: Extract<RequestOp, { kind: "range" }>): etcdserverpb.RangeRequest.$Properties {
  return { key: enc(op.key), rangeEnd: rangeEnd(op.end), revision: BigInt(op.revision), limit: BigInt(op.limit), serializable: op.serializable };
}

export function putRequest(op: Extract<RequestOp, { kind: "put" }>): etcdserverpb.PutRequest.$Properties {
  return { key: enc(op.key), value: enc(op.value), lease: BigInt(op.lease) };
}

export function deleteRequest(op: Extract<RequestOp, { kind: "delete" }>): etcdserverpb.DeleteRangeRequest.$Properties {
  return { key: enc(op.key), rangeEnd: rangeEnd(op.end) };
}

function compare(c: Compare): etcdserverpb.Compare.$Properties {
  const out: etcdserverpb.Compare.$Properties = { key: enc(c.key), target: TARGET[c.target], result: RESULT[c.result] };
  if (c.target === "value") out.value = enc(c.operand);
  else if (c.target === "lease") out.lease = BigInt(c.operand);
  else if (c.target === "version") out.version = BigInt(c.operand);
  else if (c.target === "create") out.createRevision = BigInt(c.operand);
  else out.modRevision = BigInt(c.operand);
  return out;
}

function requestOp(op: RequestOp): etcdserverpb.RequestOp.$Properties {
  if (op.kind === "range") return { requestRange: rangeRequest(op) };
  if (op.kind === "put") return { requestPut: putRequest(op) };
  return { requestDeleteRange: deleteRequest(op) };
}

export function txnRequest(r: Extract<KvRequest, { kind: "txn" }>): etcdserverpb.TxnRequest.$Properties {
  return { compare: r.compare.map(compare), success: r.success.map(requestOp), failure: r.failure.map(requestOp) };
}

export function rangeResponse(r: etcdserverpb.RangeResponse.$Properties): ResponseOp {
  const kvs = (r.kvs ?? []).map(toKeyValue);
  return { kind: "range", kvs, count: Number(r.count ?? 0), more: r.more === true };
}

export function deleteResponse(r: etcdserverpb.DeleteRangeResponse.$Properties): ResponseOp {
  return { kind: "delete", deleted: Number(r.deleted ?? 0) };
}

function responseOp(r: etcdserverpb.ResponseOp.$Properties): ResponseOp {
  if (r.responseRange) return rangeResponse(r.responseRange);
  if (r.responsePut) return { kind: "put" };
  if (r.responseDeleteRange) return deleteResponse(r.responseDeleteRange);
  throw new Error(`unexpected txn response op: ${JSON.stringify(Object.keys(r))}`);
}

export function txnResponse(r: etcdserverpb.TxnResponse.$Properties): KvResponse {
  return { kind: "txn", succeeded: r.succeeded === true, results: (r.responses ?? []).map(responseOp) };
}

export function headerRevision(h: etcdserverpb.ResponseHeader.$Properties | null | undefined): number {
  return Number(h?.revision ?? 0);
}
