// The record of a whole-server simulation run that the checkers read. The simulation (sim-cluster.ts)
// writes it; the checkers (checkers/*.ts) judge it. Times are the fake clock's milliseconds.
//
// Conventions the simulation keeps (clients.ts):
// - Keys are few ("k0".."k7"), so operations conflict; every value written is unique in the run
//   ("v<operation id>", "v<id>.<n>" for the n-th write of a txn), so a value names the write that made it.
// - Lease grants ask for an explicit id (`leaseId`), so even a grant whose outcome is unknown names its lease.
// - `operations` are in the order they were issued (by id); a watch's `responses` in arrival order.

/** A key-value operation as a simulated client issued it through EtcdServer's API. */
export type KvOp =
  | { kind: "put"; key: string; value: string; leaseId?: bigint; prevKv?: boolean }
  | { kind: "delete"; key: string; end?: string; prevKv?: boolean }
  | { kind: "range"; key: string; end?: string; serializable: boolean; revision?: bigint }
  | {
      kind: "txn";
      /** Compares: value or mod_revision of one key; create_revision 0 means "does not exist". */
      compare: { key: string; target: "value" | "mod" | "create" | "version"; op: "=" | "!=" | "<" | ">"; value: string | bigint }[];
      success: KvOp[];
      failure: KvOp[];
    }
  | { kind: "compact"; revision: bigint }
  /** leaseId: the id the client asked for (the simulation always asks for one). */
  | { kind: "leaseGrant"; ttlSeconds: number; leaseId?: bigint }
  | { kind: "leaseRevoke"; leaseId: bigint }
  | { kind: "leaseKeepAlive"; leaseId: bigint };

export interface KvValue {
  key: string;
  value: string;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  lease: bigint;
}

/** What came back: the header revision and the kind's own fields. */
export type KvResult =
  | { kind: "put"; revision: bigint; prevKv?: KvValue }
  | { kind: "delete"; revision: bigint; deleted: number; prevKvs?: KvValue[] }
  | { kind: "range"; revision: bigint; kvs: KvValue[]; count: number }
  | { kind: "txn"; revision: bigint; succeeded: boolean; results: KvResult[] }
  | { kind: "compact"; revision: bigint }
  | { kind: "leaseGrant"; revision: bigint; leaseId: bigint; ttlSeconds: number }
  | { kind: "leaseRevoke"; revision: bigint }
  | { kind: "leaseKeepAlive"; revision: bigint; ttlSeconds: number };

export interface Operation {
  id: number;
  client: number;
  /** The member the client talked to. */
  member: bigint;
  op: KvOp;
  startMs: number;
  /** Undefined while pending; an operation still pending at the end is indeterminate. */
  endMs?: number;
  /**
   * ok: acknowledged with this result. error: refused with this etcd error message — a refusal
   * that says nothing happened ("etcdserver: too many requests", "no leader", "request is too
   * large", compacted…). indeterminate: a timeout, a stop or a crash: it may or may not have
   * taken effect (the checkers must allow both).
   */
  outcome?: { type: "ok"; result: KvResult } | { type: "error"; message: string } | { type: "indeterminate"; message: string };
}

/** One watch as a client saw it: what it asked for, and every response in arrival order. */
export interface WatchRecord {
  id: number;
  member: bigint;
  key: string;
  end?: string;
  startRevision: bigint;
  /**
   * The member's watch revision when the watch was created: with startRevision 0 the watch sees the
   * revisions after it (etcd's created response carries it as its header revision).
   */
  createdRevision?: bigint;
  prevKv: boolean;
  filters: ("noput" | "nodelete")[];
  progressNotify: boolean;
  responses: WatchResponseRecord[];
  /** Why it ended: canceled by the client, compacted (with compactRevision), the member crashed or stopped. */
  ended?: { reason: "canceled" | "compacted" | "member-down"; compactRevision?: bigint };
}

export interface WatchResponseRecord {
  atMs: number;
  /** The response header's revision. */
  revision: bigint;
  /** A progress notification (no events). */
  progress: boolean;
  events: { type: "PUT" | "DELETE"; kv: KvValue; prevKv?: KvValue }[];
}

/** What each member holds at the end (or at a check point), for cross-member comparisons. */
export interface MemberSnapshot {
  member: bigint;
  revision: bigint;
  compactRevision: bigint;
  /** HashKV at `revision` (members at equal revisions must agree). */
  hash: number;
}

export interface History {
  seed: number;
  operations: Operation[];
  watches: WatchRecord[];
  /**
   * Leases that went away without a client revoking them (the leader's expiry), as first seen on any
   * member. grantedAtMs / lastKeepAliveMs are the start times of the grant and of the last keep-alive
   * that answered a positive TTL (so a lease expiring before lastKeepAliveMs + ttl is early);
   * ttlSeconds is the granted TTL (the answer's when acknowledged, else the one asked, raised to the
   * minimum). expiredRevision is the revision of the deletes the revoke caused when it held keys,
   * else the member's revision when the simulation first saw the lease gone (at or after the revoke).
   */
  leaseExpiries: { leaseId: bigint; grantedAtMs: number; ttlSeconds: number; lastKeepAliveMs: number; expiredRevision: bigint; expiredAtMs: number }[];
  /** Every member at the end, after the faults stopped and the cluster settled. */
  members: MemberSnapshot[];
  /** What the simulation did to the cluster, in order (for reading a failure; the checkers need not). */
  faults?: FaultRecord[];
}

export interface FaultRecord {
  atMs: number;
  kind: "crash" | "restart" | "partition" | "heal";
  member?: bigint;
  /** crash: the failpoint it died at; partition: the groups. */
  detail?: string;
}

/** A checker's verdict: nothing when the history is fine, else what is wrong (first few). */
export type Verdict = string[];
