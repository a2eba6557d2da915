/**
 * Keys, values and operations: strings or bytes in, etcdserverpb messages out (requests), and the
 * decoded responses as plain objects (results). Pure functions, so they are unit tested without a server.
 */
import { etcdserverpb, type mvccpb } from "../proto/etcd.js";

export type Bytes = string | Uint8Array;
/** 64-bit values are bigint; small numbers are accepted where a caller writes literals. */
export type Int64 = bigint | number;

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  lease: bigint;
}

export interface ResponseHeader {
  clusterId: bigint;
  memberId: bigint;
  revision: bigint;
  raftTerm: bigint;
}

export interface RangeOptions {
  /** Every key starting with `key`. */
  prefix?: boolean;
  /** Every key ≥ `key`. */
  fromKey?: boolean;
  /** Keys in [key, rangeEnd). */
  rangeEnd?: Bytes;
}

export type SortTarget = "key" | "version" | "create" | "mod" | "value";
export type SortOrder = "none" | "ascend" | "descend";

export interface GetOptions extends RangeOptions {
  limit?: Int64;
  revision?: Int64;
  keysOnly?: boolean;
  countOnly?: boolean;
  serializable?: boolean;
  sort?: { target?: SortTarget; order?: SortOrder };
  minModRevision?: Int64;
  maxModRevision?: Int64;
  minCreateRevision?: Int64;
  maxCreateRevision?: Int64;
}

export interface PutOptions {
  /** A lease id (or a granted lease) to attach the key to. */
  lease?: Int64 | { id: bigint };
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface DeleteOptions extends RangeOptions {
  prevKv?: boolean;
}

export interface GetResult {
  header: ResponseHeader;
  kvs: KeyValue[];
  more: boolean;
  count: bigint;
}

export interface PutResult {
  header: ResponseHeader;
  prevKv?: KeyValue;
}

export interface DeleteResult {
  header: ResponseHeader;
  deleted: bigint;
  prevKvs: KeyValue[];
}

export function bytes(b: Bytes): Buffer {
  return typeof b === "string" ? Buffer.from(b, "utf8") : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export function int64(v: Int64): bigint {
  if (typeof v === "bigint") return v;
  if (!Number.isSafeInteger(v)) throw new RangeError(`Cannot use ${v} as a 64-bit integer: not a safe integer (pass a bigint)`);
  return BigInt(v);
}

/** The end of the range of keys with this prefix (clientv3's GetPrefixRangeEnd): "\0" when there is none. */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** [key, rangeEnd) for a single key, a prefix, a from-key or an explicit range. */
export function keyRange(key: Bytes, opts: RangeOptions = {}): { key: Buffer; rangeEnd?: Buffer } {
  const k = bytes(key);
  const chosen = [opts.prefix, opts.fromKey, opts.rangeEnd !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new TypeError("Cannot combine 'prefix', 'fromKey' and 'rangeEnd': choose one");
  // An empty key with prefix or fromKey means every key (clientv3 sends "\0" for both ends).
  if ((opts.prefix || opts.fromKey) && k.length === 0) return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
  if (opts.prefix) return { key: k, rangeEnd: prefixEnd(k) };
  if (opts.fromKey) return { key: k, rangeEnd: Buffer.from([0]) };
  if (opts.rangeEnd !== undefined) return { key: k, rangeEnd: bytes(opts.rangeEnd) };
  return { key: k };
}

const sortTargets: Record<SortTarget, etcdserverpb.RangeRequest.SortTarget> = {
  key: etcdserverpb.RangeRequest.SortTarget.KEY,
  version: etcdserverpb.RangeRequest.SortTarget.VERSION,
  create: etcdserverpb.RangeRequest.SortTarget.CREATE,
  mod: etcdserverpb.RangeRequest.SortTarget.MOD,
  value: etcdserverpb.RangeRequest.SortTarget.VALUE,
};
const sortOrders: Record<SortOrder, etcdserverpb.RangeRequest.SortOrder> = {
  none: etcdserverpb.RangeRequest.SortOrder.NONE,
  ascend: etcdserverpb.RangeRequest.SortOrder.ASCEND,
  descend: etcdserverpb.RangeRequest.SortOrder.DESCEND,
};

export function rangeRequest(key: Bytes, opts: GetOptions = {}): etcdserverpb.RangeRequest.$Properties {
  const req: etcdserverpb.RangeRequest.$Properties = keyRange(key, opts);
  if (opts.limit !== undefined) req.limit = int64(opts.limit);
  if (opts.revision !== undefined) req.revision = int64(opts.revision);
  if (opts.keysOnly) req.keysOnly = true;
  if (opts.countOnly) req.countOnly = true;
  if (opts.serializable) req.serializable = true;
  if (opts.sort) {
    const target = opts.sort.target ?? "key";
    let order = opts.sort.order ?? "ascend";
    // Ascending by key is the server's own order (clientv3's WithSort does the same).
    if (target === "key" && order === "ascend") order = "none";
    req.sortTarget = sortTargets[target];
    req.sortOrder = sortOrders[order];
  }
  if (opts.minModRevision !== undefined) req.minModRevision = int64(opts.minModRevision);
  if (opts.maxModRevision !== undefined) req.maxModRevision = int64(opts.maxModRevision);
  if (opts.minCreateRevision !== undefined) req.minCreateRevision = int64(opts.minCreateRevision);
  if (opts.maxCreateRevision !== undefined) req.maxCreateRevision = int64(opts.maxCreateRevision);
  return req;
}

export function leaseId(lease: Int64 | { id: bigint }): bigint {
  return typeof lease === "object" ? lease.id : int64(lease);
}

export function putRequest(key: Bytes, value: Bytes, opts: PutOptions = {}): etcdserverpb.PutRequest.$Properties {
  const req: etcdserverpb.PutRequest.$Properties = { key: bytes(key), value: bytes(value) };
  if (opts.lease !== undefined) req.lease = leaseId(opts.lease);
  if (opts.prevKv) req.prevKv = true;
  if (opts.ignoreValue) req.ignoreValue = true;
  if (opts.ignoreLease) req.ignoreLease = true;
  return req;
}

export function deleteRequest(key: Bytes, opts: DeleteOptions = {}): etcdserverpb.DeleteRangeRequest.$Properties {
  const req: etcdserverpb.DeleteRangeRequest.$Properties = keyRange(key, opts);
  if (opts.prevKv) req.prevKv = true;
  return req;
}

// ---- results ----

export function toKeyValue(kv: mvccpb.KeyValue.$Properties): KeyValue {
  return {
    key: asBuffer(kv.key),
    value: asBuffer(kv.value),
    createRevision: kv.createRevision ?? 0n,
    modRevision: kv.modRevision ?? 0n,
    version: kv.version ?? 0n,
    lease: kv.lease ?? 0n,
  };
}

function asBuffer(b: Uint8Array | null | undefined): Buffer {
  if (!b) return Buffer.alloc(0);
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export function toHeader(h: etcdserverpb.ResponseHeader.$Properties | null | undefined): ResponseHeader {
  return { clusterId: h?.clusterId ?? 0n, memberId: h?.memberId ?? 0n, revision: h?.revision ?? 0n, raftTerm: h?.raftTerm ?? 0n };
}

export function getResult(r: etcdserverpb.RangeResponse.$Properties): GetResult {
  return { header: toHeader(r.header), kvs: (r.kvs ?? []).map(toKeyValue), more: r.more ?? false, count: r.count ?? 0n };
}

export function putResult(r: etcdserverpb.PutResponse.$Properties): PutResult {
  const out: PutResult = { header: toHeader(r.header) };
  if (r.prevKv) out.prevKv = toKeyValue(r.prevKv);
  return out;
}

export function deleteResult(r: etcdserverpb.DeleteRangeResponse.$Properties): DeleteResult {
  return { header: toHeader(r.header), deleted: r.deleted ?? 0n, prevKvs: (r.prevKvs ?? []).map(toKeyValue) };
}
