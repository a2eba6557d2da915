/**
 * The RPCs the client uses, typed: path, request encoder, response decoder and clientv3's retry policy
 * (clientv3/retry.go: reads, lease calls, MemberList, Alarm/Status/Hash/HashKV/Snapshot/MoveLeader and
 * the auth getters are repeatable; lock and election calls are not retried at all in Go, here only
 * when never sent).
 */
import type protobuf from "protobufjs/minimal.js";
import { etcdserverpb, v3electionpb, v3lockpb } from "../proto/etcd.js";

export interface MessageType<T> {
  encode(message: T, writer?: protobuf.Writer): protobuf.Writer;
  decode(reader: Uint8Array): T;
}

export interface Method<Req, Res> {
  readonly path: string;
  readonly request: MessageType<Req>;
  readonly response: MessageType<Res>;
  /** clientv3's retry policy: repeatable requests are retried on Unavailable, others only if never sent. */
  readonly repeatable: boolean;
}

function method<Req, Res>(path: string, request: MessageType<Req>, response: MessageType<Res>, repeatable: boolean): Method<Req, Res> {
  return { path, request, response, repeatable };
}

const pb = etcdserverpb;
// Decoded messages carry every field (defaults on the prototype), hence the class types on the right.
export const rpc = {
  range: method<etcdserverpb.RangeRequest.$Properties, etcdserverpb.RangeResponse>(
    "/etcdserverpb.KV/Range", pb.RangeRequest, pb.RangeResponse, true),
  put: method<etcdserverpb.PutRequest.$Properties, etcdserverpb.PutResponse>("/etcdserverpb.KV/Put", pb.PutRequest, pb.PutResponse, false),
  deleteRange: method<etcdserverpb.DeleteRangeRequest.$Properties, etcdserverpb.DeleteRangeResponse>(
    "/etcdserverpb.KV/DeleteRange", pb.DeleteRangeRequest, pb.DeleteRangeResponse, false),
  txn: method<etcdserverpb.TxnRequest.$Properties, etcdserverpb.TxnResponse>("/etcdserverpb.KV/Txn", pb.TxnRequest, pb.TxnResponse, false),
  compact: method<etcdserverpb.CompactionRequest.$Properties, etcdserverpb.CompactionResponse>(
    "/etcdserverpb.KV/Compact", pb.CompactionRequest, pb.CompactionResponse, false),
  watch: method<etcdserverpb.WatchRequest.$Properties, etcdserverpb.WatchResponse>(
    "/etcdserverpb.Watch/Watch", pb.WatchRequest, pb.WatchResponse, true),
  leaseGrant: method<etcdserverpb.LeaseGrantRequest.$Properties, etcdserverpb.LeaseGrantResponse>(
    "/etcdserverpb.Lease/LeaseGrant", pb.LeaseGrantRequest, pb.LeaseGrantResponse, true),
  leaseRevoke: method<etcdserverpb.LeaseRevokeRequest.$Properties, etcdserverpb.LeaseRevokeResponse>(
    "/etcdserverpb.Lease/LeaseRevoke", pb.LeaseRevokeRequest, pb.LeaseRevokeResponse, true),
  leaseKeepAlive: method<etcdserverpb.LeaseKeepAliveRequest.$Properties, etcdserverpb.LeaseKeepAliveResponse>(
    "/etcdserverpb.Lease/LeaseKeepAlive", pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse, true),
  leaseTimeToLive: method<etcdserverpb.LeaseTimeToLiveRequest.$Properties, etcdserverpb.LeaseTimeToLiveResponse>(
    "/etcdserverpb.Lease/LeaseTimeToLive", pb.LeaseTimeToLiveRequest, pb.LeaseTimeToLiveResponse, true),
  leaseLeases: method<etcdserverpb.LeaseLeasesRequest.$Properties, etcdserverpb.LeaseLeasesResponse>(
    "/etcdserverpb.Lease/LeaseLeases", pb.LeaseLeasesRequest, pb.LeaseLeasesResponse, true),
  memberAdd: method<etcdserverpb.MemberAddRequest.$Properties, etcdserverpb.MemberAddResponse>(
    "/etcdserverpb.Cluster/MemberAdd", etcdserverpb.MemberAddRequest, etcdserverpb.MemberAddResponse, false),
  memberRemove: method<etcdserverpb.MemberRemoveRequest.$Properties, etcdserverpb.MemberRemoveResponse>(
    "/etcdserverpb.Cluster/MemberRemove", etcdserverpb.MemberRemoveRequest, etcdserverpb.MemberRemoveResponse, false),
  memberUpdate: method<etcdserverpb.MemberUpdateRequest.$Properties, etcdserverpb.MemberUpdateResponse>(
    "/etcdserverpb.Cluster/MemberUpdate", etcdserverpb.MemberUpdateRequest, etcdserverpb.MemberUpdateResponse, false),
  memberList: method<etcdserverpb.MemberListRequest.$Properties, etcdserverpb.MemberListResponse>(
    "/etcdserverpb.Cluster/MemberList", etcdserverpb.MemberListRequest, etcdserverpb.MemberListResponse, true),
  memberPromote: method<etcdserverpb.MemberPromoteRequest.$Properties, etcdserverpb.MemberPromoteResponse>(
    "/etcdserverpb.Cluster/MemberPromote", etcdserverpb.MemberPromoteRequest, etcdserverpb.MemberPromoteResponse, false),
  alarm: method<etcdserverpb.AlarmRequest.$Properties, etcdserverpb.AlarmResponse>(
    "/etcdserverpb.Maintenance/Alarm", etcdserverpb.AlarmRequest, etcdserverpb.AlarmResponse, true),
  status: method<etcdserverpb.StatusRequest.$Properties, etcdserverpb.StatusResponse>(
    "/etcdserverpb.Maintenance/Status", etcdserverpb.StatusRequest, etcdserverpb.StatusResponse, true),
  defragment: method<etcdserverpb.DefragmentRequest.$Properties, etcdserverpb.DefragmentResponse>(
    "/etcdserverpb.Maintenance/Defragment", etcdserverpb.DefragmentRequest, etcdserverpb.DefragmentResponse, false),
  hash: method<etcdserverpb.HashRequest.$Properties, etcdserverpb.HashResponse>(
    "/etcdserverpb.Maintenance/Hash", etcdserverpb.HashRequest, etcdserverpb.HashResponse, true),
  hashKV: method<etcdserverpb.HashKVRequest.$Properties, etcdserverpb.HashKVResponse>(
    "/etcdserverpb.Maintenance/HashKV", etcdserverpb.HashKVRequest, etcdserverpb.HashKVResponse, true),
  snapshot: method<etcdserverpb.SnapshotRequest.$Properties, etcdserverpb.SnapshotResponse>(
    "/etcdserverpb.Maintenance/Snapshot", etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse, true),
  moveLeader: method<etcdserverpb.MoveLeaderRequest.$Properties, etcdserverpb.MoveLeaderResponse>(
    "/etcdserverpb.Maintenance/MoveLeader", etcdserverpb.MoveLeaderRequest, etcdserverpb.MoveLeaderResponse, true),
  authEnable: method<etcdserverpb.AuthEnableRequest.$Properties, etcdserverpb.AuthEnableResponse>(
    "/etcdserverpb.Auth/AuthEnable", etcdserverpb.AuthEnableRequest, etcdserverpb.AuthEnableResponse, false),
  authDisable: method<etcdserverpb.AuthDisableRequest.$Properties, etcdserverpb.AuthDisableResponse>(
    "/etcdserverpb.Auth/AuthDisable", etcdserverpb.AuthDisableRequest, etcdserverpb.AuthDisableResponse, false),
  authStatus: method<etcdserverpb.AuthStatusRequest.$Properties, etcdserverpb.AuthStatusResponse>(
    "/etcdserverpb.Auth/AuthStatus", etcdserverpb.AuthStatusRequest, etcdserverpb.AuthStatusResponse, true),
  authenticate: method<etcdserverpb.AuthenticateRequest.$Properties, etcdserverpb.AuthenticateResponse>(
    "/etcdserverpb.Auth/Authenticate", etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse, false),
  authUserAdd: method<etcdserverpb.AuthUserAddRequest.$Properties, etcdserverpb.AuthUserAddResponse>(
    "/etcdserverpb.Auth/UserAdd", etcdserverpb.AuthUserAddRequest, etcdserverpb.AuthUserAddResponse, false),
  authUserGet: method<etcdserverpb.AuthUserGetRequest.$Properties, etcdserverpb.AuthUserGetResponse>(
    "/etcdserverpb.Auth/UserGet", etcdserverpb.AuthUserGetRequest, etcdserverpb.AuthUserGetResponse, true),
  authUserList: method<etcdserverpb.AuthUserListRequest.$Properties, etcdserverpb.AuthUserListResponse>(
    "/etcdserverpb.Auth/UserList", etcdserverpb.AuthUserListRequest, etcdserverpb.AuthUserListResponse, true),
  authUserDelete: method<etcdserverpb.AuthUserDeleteRequest.$Properties, etcdserverpb.AuthUserDeleteResponse>(
    "/etcdserverpb.Auth/UserDelete", etcdserverpb.AuthUserDeleteRequest, etcdserverpb.AuthUserDeleteResponse, false),
  authUserChangePassword: method<etcdserverpb.AuthUserChangePasswordRequest.$Properties, etcdserverpb.AuthUserChangePasswordResponse>(
    "/etcdserverpb.Auth/UserChangePassword", etcdserverpb.AuthUserChangePasswordRequest, etcdserverpb.AuthUserChangePasswordResponse, false),
  authUserGrantRole: method<etcdserverpb.AuthUserGrantRoleRequest.$Properties, etcdserverpb.AuthUserGrantRoleResponse>(
    "/etcdserverpb.Auth/UserGrantRole", etcdserverpb.AuthUserGrantRoleRequest, etcdserverpb.AuthUserGrantRoleResponse, false),
  authUserRevokeRole: method<etcdserverpb.AuthUserRevokeRoleRequest.$Properties, etcdserverpb.AuthUserRevokeRoleResponse>(
    "/etcdserverpb.Auth/UserRevokeRole", etcdserverpb.AuthUserRevokeRoleRequest, etcdserverpb.AuthUserRevokeRoleResponse, false),
  authRoleAdd: method<etcdserverpb.AuthRoleAddRequest.$Properties, etcdserverpb.AuthRoleAddResponse>(
    "/etcdserverpb.Auth/RoleAdd", etcdserverpb.AuthRoleAddRequest, etcdserverpb.AuthRoleAddResponse, false),
  authRoleGet: method<etcdserverpb.AuthRoleGetRequest.$Properties, etcdserverpb.AuthRoleGetResponse>(
    "/etcdserverpb.Auth/RoleGet", etcdserverpb.AuthRoleGetRequest, etcdserverpb.AuthRoleGetResponse, true),
  authRoleList: method<etcdserverpb.AuthRoleListRequest.$Properties, etcdserverpb.AuthRoleListResponse>(
    "/etcdserverpb.Auth/RoleList", etcdserverpb.AuthRoleListRequest, etcdserverpb.AuthRoleListResponse, true),
  authRoleDelete: method<etcdserverpb.AuthRoleDeleteRequest.$Properties, etcdserverpb.AuthRoleDeleteResponse>(
    "/etcdserverpb.Auth/RoleDelete", etcdserverpb.AuthRoleDeleteRequest, etcdserverpb.AuthRoleDeleteResponse, false),
  authRoleGrantPermission: method<etcdserverpb.AuthRoleGrantPermissionRequest.$Properties, etcdserverpb.AuthRoleGrantPermissionResponse>(
    "/etcdserverpb.Auth/RoleGrantPermission", etcdserverpb.AuthRoleGrantPermissionRequest, etcdserverpb.AuthRoleGrantPermissionResponse, false),
  authRoleRevokePermission: method<etcdserverpb.AuthRoleRevokePermissionRequest.$Properties, etcdserverpb.AuthRoleRevokePermissionResponse>(
    "/etcdserverpb.Auth/RoleRevokePermission", etcdserverpb.AuthRoleRevokePermissionRequest, etcdserverpb.AuthRoleRevokePermissionResponse, false),
  lock: method<v3lockpb.LockRequest.$Properties, v3lockpb.LockResponse>(
    "/v3lockpb.Lock/Lock", v3lockpb.LockRequest, v3lockpb.LockResponse, false),
  unlock: method<v3lockpb.UnlockRequest.$Properties, v3lockpb.UnlockResponse>(
    "/v3lockpb.Lock/Unlock", v3lockpb.UnlockRequest, v3lockpb.UnlockResponse, false),
  electionCampaign: method<v3electionpb.CampaignRequest.$Properties, v3electionpb.CampaignResponse>(
    "/v3electionpb.Election/Campaign", v3electionpb.CampaignRequest, v3electionpb.CampaignResponse, false),
  electionProclaim: method<v3electionpb.ProclaimRequest.$Properties, v3electionpb.ProclaimResponse>(
    "/v3electionpb.Election/Proclaim", v3electionpb.ProclaimRequest, v3electionpb.ProclaimResponse, false),
  electionLeader: method<v3electionpb.LeaderRequest.$Properties, v3electionpb.LeaderResponse>(
    "/v3electionpb.Election/Leader", v3electionpb.LeaderRequest, v3electionpb.LeaderResponse, false),
  electionObserve: method<v3electionpb.LeaderRequest.$Properties, v3electionpb.LeaderResponse>(
    "/v3electionpb.Election/Observe", v3electionpb.LeaderRequest, v3electionpb.LeaderResponse, false),
  electionResign: method<v3electionpb.ResignRequest.$Properties, v3electionpb.ResignResponse>(
    "/v3electionpb.Election/Resign", v3electionpb.ResignRequest, v3electionpb.ResignResponse, false),
} as const;
