// What a robustness run records: every KV call the traffic made (request, outcome, times) and every
// watch session's responses, in plain data (strings and numbers) so a failing history can be written
// to disk as JSON and checked again offline. The checkers (tests/robustness/check/) read only this.
//
// Revisions fit in a double here: a run makes far fewer than 2^53 writes. Lease ids do not (etcd's
// are 63-bit), so they stay decimal strings; "0" is "no lease".

/** A monotonic time in milliseconds, the same clock for every call and response of a run. */
export type Ms = number;

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: string;
}

/** One operation of a Range / Put / DeleteRange / Txn (no nested txns: the traffic makes none). */
export type RequestOp =
  /** end: "" = the one key, "\0" = every key ≥ key, otherwise [key, end). revision 0 = the latest. */
  | { kind: "range"; key: string; end: string; revision: number; limit: number; serializable: boolean }
  | { kind: "put"; key: string; value: string; lease: string }
  | { kind: "delete"; key: string; end: string };

export type ResponseOp =
  /** count: every key in the range (not only the `limit` returned); more: count > kvs.length. */
  | { kind: "range"; kvs: KeyValue[]; count: number; more: boolean }
  | { kind: "put" }
  | { kind: "delete"; deleted: number };

export interface Compare {
  key: string;
  target: "value" | "version" | "create" | "mod" | "lease";
  result: "=" | "!=" | "<" | ">";
  /** target "value": the value; "lease": the lease id; the others: the number as a string. */
  operand: string;
}

export type KvRequest =
  | RequestOp
  | { kind: "txn"; compare: Compare[]; success: RequestOp[]; failure: RequestOp[] }
  /** ttl in seconds; a lease that runs out takes its keys with it at a revision no call made. */
  | { kind: "leaseGrant"; ttl: number }
  | { kind: "leaseRevoke"; id: string }
  | { kind: "compact"; revision: number }
  | { kind: "defragment" };

export type KvResponse =
  | ResponseOp
  | { kind: "txn"; succeeded: boolean; results: ResponseOp[] }
  | { kind: "leaseGrant"; id: string }
  | { kind: "leaseRevoke" }
  | { kind: "compact" }
  | { kind: "defragment" };

/**
 * - ok: answered; `response` and `revision` (the header's) are set.
 * - failed: answered with an error that means the request did not take effect (see definiteFailure).
 * - unknown: timed out, connection lost, or an error after which it may or may not have taken effect.
 */
export type Outcome = "ok" | "failed" | "unknown";

export interface KvCall {
  /** Which traffic client made it (messages only). */
  client: number;
  /** The member it was sent to (index in the cluster), for messages. */
  member: number;
  request: KvRequest;
  call: Ms;
  /** When the answer came; for "unknown", when the client gave up. */
  ret: Ms;
  outcome: Outcome;
  /** The header revision of an ok answer. */
  revision?: number;
  response?: KvResponse;
  /** The error text of failed / unknown calls. */
  error?: string;
}

export interface WatchRequest {
  key: string;
  /** As RequestOp range: "" = the one key, "\0" = every key ≥ key. */
  end: string;
  /** 0 = from the next revision. */
  startRevision: number;
  prevKv: boolean;
  progressNotify: boolean;
  noPut: boolean;
  noDelete: boolean;
}

export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
  prevKv?: KeyValue;
}

export interface WatchResponse {
  /** When the client decoded it. */
  time: Ms;
  /** Header revision. */
  revision: number;
  created: boolean;
  canceled: boolean;
  /** Non-zero: the start revision was compacted (the watch is cancelled). */
  compactRevision: number;
  /** A piece of a response split by the server (etcd's fragment); the last piece has it false. */
  fragment: boolean;
  events: WatchEvent[];
}

/**
 * One Watch call's life: created, its responses, its end. A client that loses a watch starts a new
 * session from the last revision it saw + 1 (Resumable is checked across such sessions).
 */
export interface WatchSession {
  client: number;
  member: number;
  request: WatchRequest;
  /** When the create was sent. */
  call: Ms;
  responses: WatchResponse[];
  /** When the session ended (cancelled, broken, or the run's end). */
  end: Ms;
  /** Why it ended early (connection lost, compacted, …); absent = ran to the run's end. */
  endReason?: string;
  /** Progress requests the client sent (stream-wide), with their times. */
  progressRequests: Ms[];
}

export interface History {
  /** The seed the run used (operations and nemesis choices). */
  seed: number;
  calls: KvCall[];
  watches: WatchSession[];
}

/**
 * etcd errors after which the request certainly did not take effect (it was refused before it
 * reached the log, or applied as a no-op that changed nothing). Anything else is "unknown": a
 * timeout or a lost connection may hide a write that was committed.
 */
const DEFINITE = [
  "etcdserver: mvcc: required revision has been compacted",
  "etcdserver: mvcc: required revision is a future revision",
  "etcdserver: requested lease not found",
  "etcdserver: request is too large",
  "etcdserver: too many operations in txn request",
  "etcdserver: duplicate key given in txn request",
  "etcdserver: key is not provided",
  "etcdserver: permission denied",
];

export function definiteFailure(message: string): boolean {
  return DEFINITE.some((m) => message.includes(m));
}

/** Whether a key is in a request's range (end as RequestOp's). The traffic's keys are ASCII, so string order is etcd's byte order. */
export function inRange(key: string, start: string, end: string): boolean {
  if (end === "") return key === start;
  if (end === "\0") return key >= start;
  return key >= start && key < end;
}
