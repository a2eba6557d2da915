/**
 * The auth part of the apply chain (etcd's authApplierV3): for an entry proposed by a user (its
 * header names one) while auth is enabled, check that user's rights against the store as it is at
 * this point of the log, the same on every member; and the auth requests themselves.
 */
import type { etcdserverpb } from "../../../proto/etcd.js";
import { Errors } from "../../../pkg/errors.ts";
import type { AuthInfo, AuthStore } from "./store.ts";

type Req = etcdserverpb.InternalRaftRequest.$Properties;

function needsAdmin(r: Req): boolean {
  return !!(
    r.authEnable ||
    r.authDisable ||
    r.authUserAdd ||
    r.authUserDelete ||
    r.authUserChangePassword ||
    r.authUserGrantRole ||
    r.authUserRevokeRole ||
    r.authRoleAdd ||
    r.authRoleDelete ||
    r.authRoleGrantPermission ||
    r.authRoleRevokePermission ||
    r.authUserList ||
    r.authRoleList
  );
}

/** Read permission for every compare, and what each branch's operations need (etcd's checkTxnAuth). */
export function checkTxn(store: AuthStore, ai: AuthInfo | undefined, t: etcdserverpb.TxnRequest.$Properties, leaseKeys?: (id: bigint) => Uint8Array[]): void {
  for (const c of t.compare ?? []) store.checkOp(ai, "read", c.key, c.rangeEnd);
  for (const op of [...(t.success ?? []), ...(t.failure ?? [])]) {
    if (op.requestRange) store.checkOp(ai, "read", op.requestRange.key, op.requestRange.rangeEnd);
    else if (op.requestPut) checkPut(store, ai, op.requestPut, leaseKeys);
    else if (op.requestDeleteRange) checkDelete(store, ai, op.requestDeleteRange);
    else if (op.requestTxn) checkTxn(store, ai, op.requestTxn, leaseKeys);
  }
}

export function checkPut(store: AuthStore, ai: AuthInfo | undefined, r: etcdserverpb.PutRequest.$Properties, leaseKeys?: (id: bigint) => Uint8Array[]): void {
  store.checkOp(ai, "write", r.key);
  // A lease whose keys this user may not write cannot be revoked by them: nor may they attach to it.
  const lease = BigInt(r.lease ?? 0n);
  if (lease !== 0n && leaseKeys) for (const k of leaseKeys(lease)) store.checkOp(ai, "write", k);
  if (r.prevKv) store.checkOp(ai, "read", r.key);
}

export function checkDelete(store: AuthStore, ai: AuthInfo | undefined, r: etcdserverpb.DeleteRangeRequest.$Properties): void {
  store.checkOp(ai, "write", r.key, r.rangeEnd);
  if (r.prevKv) store.checkOp(ai, "read", r.key, r.rangeEnd);
}

/**
 * Throws if the user in the entry's header may not do what it asks. Called only with auth enabled
 * and a user named in the header (requests without one were refused before proposing, or are the
 * server's own: lease expiry, checkpoints, alarms, member attributes).
 */
export function checkApply(store: AuthStore, req: Req, leaseKeys: (id: bigint) => Uint8Array[]): void {
  const ai: AuthInfo = { username: req.header!.username!, revision: BigInt(req.header!.authRevision ?? 0n) };
  if (needsAdmin(req)) store.checkAdmin(ai);
  else if (req.put) checkPut(store, ai, req.put, leaseKeys);
  else if (req.deleteRange) checkDelete(store, ai, req.deleteRange);
  else if (req.txn) checkTxn(store, ai, req.txn, leaseKeys);
  else if (req.leaseRevoke) for (const k of leaseKeys(BigInt(req.leaseRevoke.ID ?? 0n))) store.checkOp(ai, "write", k);
}

/** Applies an auth request; undefined if `req` is not one. */
export function applyAuth(store: AuthStore, req: Req, index: bigint): { token?: string } | undefined {
  if (req.authEnable) store.applyEnable();
  else if (req.authDisable) store.applyDisable();
  else if (req.authenticate) return { token: store.applyAuthenticate(req.authenticate.name ?? "", req.authenticate.simpleToken ?? "", index) };
  else if (req.authUserAdd) store.applyUserAdd(req.authUserAdd);
  else if (req.authUserDelete) store.applyUserDelete(req.authUserDelete.name ?? "");
  else if (req.authUserChangePassword) store.applyUserChangePassword(req.authUserChangePassword.name ?? "", req.authUserChangePassword.hashedPassword ?? "");
  else if (req.authUserGrantRole) store.applyUserGrantRole(req.authUserGrantRole.user ?? "", req.authUserGrantRole.role ?? "");
  else if (req.authUserRevokeRole) store.applyUserRevokeRole(req.authUserRevokeRole.name ?? "", req.authUserRevokeRole.role ?? "");
  else if (req.authRoleAdd) store.applyRoleAdd(req.authRoleAdd.name ?? "");
  else if (req.authRoleDelete) store.applyRoleDelete(req.authRoleDelete.role ?? "");
  else if (req.authRoleGrantPermission) {
    if (!req.authRoleGrantPermission.perm) throw Errors.permissionNotGranted;
    store.applyRoleGrantPermission(req.authRoleGrantPermission.name ?? "", req.authRoleGrantPermission.perm);
  } else if (req.authRoleRevokePermission) {
    const r = req.authRoleRevokePermission;
    store.applyRoleRevokePermission(r.role ?? "", r.key ?? new Uint8Array(0), r.rangeEnd ?? new Uint8Array(0));
  } else return undefined;
  return {};
}
