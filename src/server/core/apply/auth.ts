import type { etcdserverpb } from "../../../proto/etcd.js";
import { checkApply, checkTxn } from "../auth/apply.ts";
import type { AuthInfo } from "../auth/store.ts";
import type { MemberState } from "../member-state.ts";
import { ApplierLink, type ApplyResult, type Request } from "./results.ts";

type RangeRequest = etcdserverpb.RangeRequest.$Properties;
type TxnRequest = etcdserverpb.TxnRequest.$Properties;

/**
 * A user's entry is checked against the auth store as it is at this point of the log, the same on
 * every member (etcd's authApplierV3). Entries without a user are the server's own (lease expiry,
 * checkpoints, alarms, member attributes) or were refused before proposing.
 */
export class AuthApplier extends ApplierLink {
  apply(req: Request): ApplyResult {
    if (this.state.authStore.enabled && req.header?.username) checkApply(this.state.authStore, req, this.state.leaseKeys);
    return this.next.apply(req);
  }
}

/**
 * The same rights for what is answered without Raft (etcd checks reads in the same applier): a range,
 * or a read-only txn, against the auth store as this member has it now.
 */
export function authorizeRead(state: MemberState, ai: AuthInfo | undefined, req: { range?: RangeRequest; txn?: TxnRequest }): void {
  const store = state.authStore;
  if (!store.enabled) return;
  if (req.range) store.checkOp(ai, "read", req.range.key, req.range.rangeEnd);
  if (req.txn) checkTxn(store, ai, req.txn);
}
