import type { etcdserverpb } from "../../../proto/etcd.js";
import type { DeleteOut, PutOut, TxnOut } from "../kv-apply.ts";
import type { Alarm, MemberState } from "../member-state.ts";

export type Request = etcdserverpb.InternalRaftRequest.$Properties;

/** Only the revision the request was applied at: the server adds ids and term once, in the facade. */
export interface RevisionOnly {
  header: { revision: bigint };
}

/**
 * What applying each kind of request yields (etcd's applyResult, one type per kind): a proposer
 * names the kind and gets its type back, with no casts on the way.
 */
export interface Results {
  put: PutOut;
  deleteRange: DeleteOut;
  txn: TxnOut;
  leaseGrant: RevisionOnly & { ID: bigint; TTL: bigint };
  leaseRevoke: RevisionOnly;
  leaseCheckpoint: RevisionOnly;
  compaction: RevisionOnly;
  alarm: RevisionOnly & { alarms: Alarm[] };
  /** Every auth request; Authenticate's carries the new simple token. */
  auth: RevisionOnly & { token?: string };
  clusterMemberAttrSet: RevisionOnly;
}
export type RequestKind = keyof Results;
export type ApplyResult = Results[RequestKind];

/** One link of the apply chain (etcd's applierV3 wrappers): refuses, checks, or applies. */
export interface Applier {
  apply(req: Request): ApplyResult;
}

/** A link that refuses or checks, then hands the request on (every link but the backend). */
export abstract class ApplierLink implements Applier {
  protected readonly state: MemberState;
  protected readonly next: Applier;

  constructor(state: MemberState, next: Applier) {
    this.state = state;
    this.next = next;
  }

  abstract apply(req: Request): ApplyResult;
}
