// The services the proxy forwards as they are (etcd's grpcproxy maintenance, auth, cluster, lock and
// election proxies): the caller's request, token and deadline go to the cluster through the client
// (its failover and retries), the member's answer or error comes back unchanged. Two exceptions, as
// etcd's: MemberList answers with the proxy itself when --advertise-client-url is set, and under
// --namespace the lock and election names are keys inside the namespace.
import { hostname } from "node:os";
import type { etcdserverpb, v3electionpb, v3lockpb } from "../proto/etcd.js";
import { type Method, rpc } from "../client/rpc.ts";
import type { Call, Handler } from "../server/grpc/grpc-server.ts";
import type { Namespace } from "./namespace.ts";
import { callOpts, type Upstream } from "./upstream.ts";

function unary<Req, Res>(upstream: Upstream, m: Method<Req, Res>): Handler {
  return { kind: "unary", handle: (req: Req, call: Call) => upstream.unary(m, req, callOpts(call)) };
}

function serverStream<Req, Res>(upstream: Upstream, m: Method<Req, Res>): Handler {
  return {
    kind: "serverStream",
    handle: (req: Req, call: Call, send: (msg: unknown) => Promise<void>) => upstream.serverStream(m, req, callOpts(call), send),
  };
}

/** Maintenance and Auth: every method to the member the client talks to now. */
export function maintenanceAndAuthHandlers(upstream: Upstream): Record<string, Handler> {
  const out: Record<string, Handler> = {};
  const forwarded = [
    rpc.alarm, rpc.status, rpc.defragment, rpc.hash, rpc.hashKV, rpc.moveLeader,
    rpc.authEnable, rpc.authDisable, rpc.authStatus, rpc.authenticate,
    rpc.authUserAdd, rpc.authUserGet, rpc.authUserList, rpc.authUserDelete, rpc.authUserChangePassword,
    rpc.authUserGrantRole, rpc.authUserRevokeRole,
    rpc.authRoleAdd, rpc.authRoleGet, rpc.authRoleList, rpc.authRoleDelete, rpc.authRoleGrantPermission, rpc.authRoleRevokePermission,
  ] as Method<unknown, unknown>[];
  for (const m of forwarded) out[m.path] = unary(upstream, m);
  out[rpc.snapshot.path] = serverStream(upstream, rpc.snapshot);
  return out;
}

/**
 * Cluster: membership changes forwarded; MemberList, with an advertised client URL, names this proxy
 * as the one member (clients that sync their endpoints from the member list then stay on the proxy).
 * An empty --advertise-client-url forwards MemberList too.
 */
export function clusterHandlers(upstream: Upstream, advertiseClientUrl: string): Record<string, Handler> {
  return {
    [rpc.memberAdd.path]: unary(upstream, rpc.memberAdd),
    [rpc.memberRemove.path]: unary(upstream, rpc.memberRemove),
    [rpc.memberUpdate.path]: unary(upstream, rpc.memberUpdate),
    [rpc.memberPromote.path]: unary(upstream, rpc.memberPromote),
    [rpc.memberList.path]: advertiseClientUrl
      ? { kind: "unary", handle: (): etcdserverpb.IMemberListResponse => ({ members: [{ name: hostname(), clientURLs: [advertiseClientUrl] }] }) }
      : unary(upstream, rpc.memberList),
  };
}

/** Lock and Election; names (and the keys they hand out) inside the namespace, if there is one. */
export function lockAndElectionHandlers(upstream: Upstream, ns: Namespace | null): Record<string, Handler> {
  if (!ns) {
    const out: Record<string, Handler> = {};
    for (const m of [rpc.lock, rpc.unlock, rpc.electionCampaign, rpc.electionProclaim, rpc.electionLeader, rpc.electionResign] as Method<unknown, unknown>[]) {
      out[m.path] = unary(upstream, m);
    }
    out[rpc.electionObserve.path] = serverStream(upstream, rpc.electionObserve);
    return out;
  }
  const strip = (k: Uint8Array | null | undefined) => ns.strip(k);
  const leaderOut = (l: v3electionpb.ILeaderKey | null | undefined) => (l ? { ...l, name: strip(l.name), key: strip(l.key) } : l);
  const leaderResponse = (r: v3electionpb.LeaderResponse): v3electionpb.ILeaderResponse => ({ header: r.header, kv: ns.kv(r.kv) });
  return {
    [rpc.lock.path]: {
      kind: "unary",
      async handle(req: v3lockpb.LockRequest, call: Call) {
        const res = await upstream.unary(rpc.lock, { ...req, name: ns.name(req.name) }, callOpts(call));
        return { header: res.header, key: strip(res.key) };
      },
    },
    [rpc.unlock.path]: {
      kind: "unary",
      handle: (req: v3lockpb.UnlockRequest, call: Call) => upstream.unary(rpc.unlock, { key: ns.key(req.key) }, callOpts(call)),
    },
    [rpc.electionCampaign.path]: {
      kind: "unary",
      async handle(req: v3electionpb.CampaignRequest, call: Call) {
        const res = await upstream.unary(rpc.electionCampaign, { ...req, name: ns.name(req.name) }, callOpts(call));
        return { header: res.header, leader: leaderOut(res.leader) };
      },
    },
    [rpc.electionProclaim.path]: {
      kind: "unary",
      handle: (req: v3electionpb.ProclaimRequest, call: Call) =>
        upstream.unary(rpc.electionProclaim, { ...req, leader: ns.leaderKey(req.leader) }, callOpts(call)),
    },
    [rpc.electionLeader.path]: {
      kind: "unary",
      async handle(req: v3electionpb.LeaderRequest, call: Call) {
        return leaderResponse(await upstream.unary(rpc.electionLeader, { name: ns.name(req.name) }, callOpts(call)));
      },
    },
    [rpc.electionResign.path]: {
      kind: "unary",
      handle: (req: v3electionpb.ResignRequest, call: Call) => upstream.unary(rpc.electionResign, { leader: ns.leaderKey(req.leader) }, callOpts(call)),
    },
    [rpc.electionObserve.path]: {
      kind: "serverStream",
      handle: (req: v3electionpb.LeaderRequest, call: Call, send: (msg: unknown) => Promise<void>) =>
        upstream.serverStream(rpc.electionObserve, { name: ns.name(req.name) }, callOpts(call), (r) => send(leaderResponse(r))),
    },
  };
}
