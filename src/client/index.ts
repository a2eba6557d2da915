/** etcd-ts's client library: clientv3's core (KV, txn, watch, lease) over our own gRPC transport. */
export { Client, type ClientOptions, type RequestOptions } from "./client.ts";
export type { ClientTlsOptions } from "./grpc/channel.ts";
export { compare, op, Txn, type CompareOp, type Op, type OpResult, type TxnResult } from "./txn.ts";
export { Watcher, type WatchEvent, type WatchOptions } from "./watch.ts";
export { KeepAlive, Lease, LeaseClient, type TimeToLiveResult } from "./lease.ts";
export {
  prefixEnd,
  type Bytes,
  type DeleteOptions,
  type DeleteResult,
  type GetOptions,
  type GetResult,
  type Int64,
  type KeyValue,
  type PutOptions,
  type PutResult,
  type RangeOptions,
  type ResponseHeader,
  type SortOrder,
  type SortTarget,
} from "./kv.ts";
export { rpc, type Method } from "./rpc.ts";
export { statusError, TransportError, WatchCompactedError } from "./errors.ts";
export { EtcdError, Errors, GrpcCode, isEtcdError } from "../pkg/errors.ts";
export { ConcurrencyErrors, DEFAULT_SESSION_TTL_SECONDS, Election, Mutex, Queue, Session, stm, type Isolation, type SessionOptions, type Stm, type StmOptions } from "./concurrency/index.ts";
