/** The RPCs the client uses, typed: path, request encoder, response decoder and clientv3's retry policy. */
import type protobuf from "protobufjs/minimal.js";
import { etcdserverpb } from "../proto/etcd.js";

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
} as const;
