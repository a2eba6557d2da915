// --namespace: every key a client names is stored under the prefix, and comes back without it
// (etcd's clientv3/namespace, which its grpc-proxy wraps around KV, Watch and Lease). Pure functions
// on the wire messages; the proxy applies them on the way in and out.
import { prefixEnd } from "../client/kv.ts";
import { Errors } from "../pkg/errors.ts";
import type { etcdserverpb, mvccpb, v3electionpb } from "../proto/etcd.js";

type Bytes = Uint8Array;

export class Namespace {
  readonly prefix: Buffer;

  constructor(prefix: string) {
    this.prefix = Buffer.from(prefix, "utf8");
  }

  /** The key under the prefix. */
  key(key: Bytes | null | undefined): Buffer {
    return Buffer.concat([this.prefix, key ?? new Uint8Array(0)]);
  }

  /**
   * A range end under the prefix: none stays none (one key), "\0" (every key from `key` on) becomes
   * the end of the prefix, anything else is prefixed.
   */
  rangeEnd(end: Bytes | null | undefined): Buffer | undefined {
    if (!end || end.length === 0) return undefined;
    if (end.length === 1 && end[0] === 0) return prefixEnd(this.prefix);
    return Buffer.concat([this.prefix, end]);
  }

  /** The key without the prefix (keys outside it are returned as they are: they cannot come back here). */
  strip(key: Bytes | null | undefined): Bytes {
    if (!key) return new Uint8Array(0);
    return startsWith(key, this.prefix) ? key.subarray(this.prefix.length) : key;
  }

  has(key: Bytes): boolean {
    return startsWith(key, this.prefix);
  }

  // ------------------------------------------------------------ requests in

  range(r: etcdserverpb.IRangeRequest, inTxn = false): etcdserverpb.IRangeRequest {
    if (!inTxn) requireKey(r.key);
    return { ...r, key: this.key(r.key), rangeEnd: this.rangeEnd(r.rangeEnd) };
  }

  put(r: etcdserverpb.IPutRequest, inTxn = false): etcdserverpb.IPutRequest {
    if (!inTxn) requireKey(r.key);
    return { ...r, key: this.key(r.key) };
  }

  deleteRange(r: etcdserverpb.IDeleteRangeRequest, inTxn = false): etcdserverpb.IDeleteRangeRequest {
    if (!inTxn) requireKey(r.key);
    return { ...r, key: this.key(r.key), rangeEnd: this.rangeEnd(r.rangeEnd) };
  }

  txn(r: etcdserverpb.ITxnRequest): etcdserverpb.ITxnRequest {
    return {
      compare: (r.compare ?? []).map((c) => ({ ...c, key: this.key(c.key), rangeEnd: this.rangeEnd(c.rangeEnd) })),
      success: (r.success ?? []).map((op) => this.requestOp(op)),
      failure: (r.failure ?? []).map((op) => this.requestOp(op)),
    };
  }

  /** An operation inside a txn (where etcd's namespace takes an empty key as the prefix itself). */
  requestOp(op: etcdserverpb.IRequestOp): etcdserverpb.IRequestOp {
    if (op.requestRange) return { requestRange: this.range(op.requestRange, true) };
    if (op.requestPut) return { requestPut: this.put(op.requestPut, true) };
    if (op.requestDeleteRange) return { requestDeleteRange: this.deleteRange(op.requestDeleteRange, true) };
    if (op.requestTxn) return { requestTxn: this.txn(op.requestTxn) };
    return op;
  }

  watchCreate(c: etcdserverpb.IWatchCreateRequest): etcdserverpb.IWatchCreateRequest {
    return { ...c, key: this.key(c.key), rangeEnd: this.rangeEnd(c.rangeEnd) };
  }

  /** Lock and election names are keys too (etcd's proxy leaves them bare; here they stay inside the namespace). */
  name(name: Bytes | null | undefined): Buffer {
    return this.key(name);
  }

  leaderKey(k: v3electionpb.ILeaderKey | null | undefined): v3electionpb.ILeaderKey | null | undefined {
    return k ? { ...k, name: this.key(k.name), key: this.key(k.key) } : k;
  }

  // ------------------------------------------------------------ responses out

  kv<T extends mvccpb.IKeyValue | null | undefined>(kv: T): T {
    if (!kv) return kv;
    return { ...kv, key: this.strip(kv.key) } as T;
  }

  rangeResponse(r: etcdserverpb.RangeResponse): etcdserverpb.IRangeResponse {
    return { ...r, header: r.header, kvs: r.kvs.map((kv) => this.kv(kv)), more: r.more, count: r.count };
  }

  putResponse(r: etcdserverpb.PutResponse): etcdserverpb.IPutResponse {
    return { header: r.header, prevKv: this.kv(r.prevKv) };
  }

  deleteRangeResponse(r: etcdserverpb.DeleteRangeResponse): etcdserverpb.IDeleteRangeResponse {
    return { header: r.header, deleted: r.deleted, prevKvs: r.prevKvs.map((kv) => this.kv(kv)) };
  }

  txnResponse(r: etcdserverpb.ITxnResponse): etcdserverpb.ITxnResponse {
    return { header: r.header, succeeded: r.succeeded, responses: (r.responses ?? []).map((op) => this.responseOp(op)) };
  }

  responseOp(op: etcdserverpb.IResponseOp): etcdserverpb.IResponseOp {
    if (op.responseRange) return { responseRange: this.rangeResponse(op.responseRange as etcdserverpb.RangeResponse) };
    if (op.responsePut) return { responsePut: this.putResponse(op.responsePut as etcdserverpb.PutResponse) };
    if (op.responseDeleteRange) return { responseDeleteRange: this.deleteRangeResponse(op.responseDeleteRange as etcdserverpb.DeleteRangeResponse) };
    if (op.responseTxn) return { responseTxn: this.txnResponse(op.responseTxn) };
    return op;
  }

  event(e: mvccpb.IEvent): mvccpb.IEvent {
    return { type: e.type, kv: this.kv(e.kv), prevKv: this.kv(e.prevKv) };
  }

  /** Lease TimeToLive keys: only those inside the namespace, without the prefix (etcd's namespace lease). */
  leaseKeys(keys: readonly Bytes[]): Bytes[] {
    return keys.filter((k) => this.has(k)).map((k) => this.strip(k));
  }
}

/** etcd's namespace refuses an empty key in KV requests rather than widen it to the whole namespace. */
function requireKey(key: Bytes | null | undefined): void {
  if (!key || key.length === 0) throw Errors.emptyKey;
}

function startsWith(key: Bytes, prefix: Bytes): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

