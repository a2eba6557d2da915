/** Transactions: compare builders, operations and clientv3's If/Then/Else builder. */
import { etcdserverpb } from "../proto/etcd.js";
import {
  type Bytes,
  bytes,
  type DeleteOptions,
  deleteRequest,
  deleteResult,
  type DeleteResult,
  type GetOptions,
  getResult,
  type GetResult,
  type Int64,
  int64,
  leaseId,
  type PutOptions,
  putRequest,
  putResult,
  type PutResult,
  rangeRequest,
  type ResponseHeader,
  toHeader,
} from "./kv.ts";

export type CompareOp = "=" | "!=" | ">" | "<";
type Compare = etcdserverpb.Compare.$Properties;

const results: Record<CompareOp, etcdserverpb.Compare.CompareResult> = {
  "=": etcdserverpb.Compare.CompareResult.EQUAL,
  "!=": etcdserverpb.Compare.CompareResult.NOT_EQUAL,
  ">": etcdserverpb.Compare.CompareResult.GREATER,
  "<": etcdserverpb.Compare.CompareResult.LESS,
};

function result(op: CompareOp): etcdserverpb.Compare.CompareResult {
  const r = results[op];
  if (r === undefined) throw new TypeError(`Cannot compare with '${op}': use one of =, !=, >, <`);
  return r;
}

const T = etcdserverpb.Compare.CompareTarget;

/** Compare builders (clientv3's Compare(Value(k), "=", v) and friends). */
export const compare = {
  value: (key: Bytes, op: CompareOp, value: Bytes): Compare => ({ key: bytes(key), target: T.VALUE, result: result(op), value: bytes(value) }),
  version: (key: Bytes, op: CompareOp, version: Int64): Compare => ({ key: bytes(key), target: T.VERSION, result: result(op), version: int64(version) }),
  /** The key's create revision (0 when the key does not exist). */
  create: (key: Bytes, op: CompareOp, revision: Int64): Compare => ({ key: bytes(key), target: T.CREATE, result: result(op), createRevision: int64(revision) }),
  mod: (key: Bytes, op: CompareOp, revision: Int64): Compare => ({ key: bytes(key), target: T.MOD, result: result(op), modRevision: int64(revision) }),
  lease: (key: Bytes, op: CompareOp, lease: Int64 | { id: bigint }): Compare => ({ key: bytes(key), target: T.LEASE, result: result(op), lease: leaseId(lease) }),
};

export type Op = etcdserverpb.RequestOp.$Properties;

/** Operations for a transaction's branches. */
export const op = {
  get: (key: Bytes, opts?: GetOptions): Op => ({ requestRange: rangeRequest(key, opts) }),
  put: (key: Bytes, value: Bytes, opts?: PutOptions): Op => ({ requestPut: putRequest(key, value, opts) }),
  delete: (key: Bytes, opts?: DeleteOptions): Op => ({ requestDeleteRange: deleteRequest(key, opts) }),
  txn: (t: { compare?: Compare[]; success?: Op[]; failure?: Op[] }): Op => ({ requestTxn: { compare: t.compare ?? [], success: t.success ?? [], failure: t.failure ?? [] } }),
};

export type OpResult =
  | ({ type: "get" } & GetResult)
  | ({ type: "put" } & PutResult)
  | ({ type: "delete" } & DeleteResult)
  | ({ type: "txn" } & TxnResult);

export interface TxnResult {
  header: ResponseHeader;
  succeeded: boolean;
  responses: OpResult[];
}

export function txnResult(r: etcdserverpb.TxnResponse.$Properties): TxnResult {
  return { header: toHeader(r.header), succeeded: r.succeeded ?? false, responses: (r.responses ?? []).map(opResult) };
}

function opResult(r: etcdserverpb.ResponseOp.$Properties): OpResult {
  if (r.responseRange) return { type: "get", ...getResult(r.responseRange) };
  if (r.responsePut) return { type: "put", ...putResult(r.responsePut) };
  if (r.responseDeleteRange) return { type: "delete", ...deleteResult(r.responseDeleteRange) };
  if (r.responseTxn) return { type: "txn", ...txnResult(r.responseTxn) };
  throw new Error("Cannot read a transaction response: an operation response has no result");
}

/**
 * clientv3's Txn: `if` then `then` then `else`, each at most once and in that order, then `commit`.
 * The order is enforced because a misplaced call would silently change what the transaction does.
 */
export class Txn {
  readonly #commit: (req: etcdserverpb.TxnRequest.$Properties) => Promise<TxnResult>;
  #compare: Compare[] = [];
  #success: Op[] = [];
  #failure: Op[] = [];
  #stage: 0 | 1 | 2 | 3 = 0;

  constructor(commit: (req: etcdserverpb.TxnRequest.$Properties) => Promise<TxnResult>) {
    this.#commit = commit;
  }

  if(...compares: Compare[]): this {
    this.#advance(1, "if");
    this.#compare = compares;
    return this;
  }

  then(...ops: Op[]): this {
    // A method named `then` makes a Txn look like a promise: `await txn` would call it with two
    // functions and hang. Refuse that loudly instead.
    if (ops.some((o) => typeof o === "function")) throw new TypeError("A Txn is not a promise: await txn.commit()");
    this.#advance(2, "then");
    this.#success = ops;
    return this;
  }

  else(...ops: Op[]): this {
    this.#advance(3, "else");
    this.#failure = ops;
    return this;
  }

  /** The request this transaction sends. */
  request(): etcdserverpb.TxnRequest.$Properties {
    return { compare: this.#compare, success: this.#success, failure: this.#failure };
  }

  commit(): Promise<TxnResult> {
    return this.#commit(this.request());
  }

  #advance(to: 1 | 2 | 3, name: string): void {
    if (this.#stage >= to) throw new Error(`Cannot call txn.${name}() here: use if(), then(), else() at most once each, in that order`);
    this.#stage = to;
  }
}
