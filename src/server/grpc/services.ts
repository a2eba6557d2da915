import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import { ConcurrencyService, concurrencyDeps } from "../core/concurrency.ts";
import type { EtcdServer } from "../core/server.ts";
import type { Handler } from "./grpc-server.ts";
import { serveWatch } from "./watch-stream.ts";

const unary = (handle: (req: any) => unknown): Handler => ({ kind: "unary", handle });
const notYet = (what: string): Handler =>
  unary(() => {
    throw new EtcdError(GrpcCode.Unimplemented, `etcd-ts: ${what} is not supported by this version yet`);
  });

/** The etcd v3 gRPC API, method by method, onto the server core. */
export function etcdHandlers(s: EtcdServer): Record<string, Handler> {
  const cc = new ConcurrencyService(concurrencyDeps(s));
  return {
    "/etcdserverpb.KV/Range": unary((r) => s.range(r)),
    "/etcdserverpb.KV/Put": unary((r) => s.put(r)),
    "/etcdserverpb.KV/DeleteRange": unary((r) => s.deleteRange(r)),
    "/etcdserverpb.KV/Txn": unary((r) => s.txn(r)),
    "/etcdserverpb.KV/Compact": unary((r) => s.compact(r)),

    "/etcdserverpb.Watch/Watch": {
      kind: "bidi",
      handle: (reqs, call, send) => serveWatch(reqs, send, { hub: s.watchHub, header: (rev) => s.header(rev), maxRequestBytes: s.maxRequestBytes, signal: call.signal }),
    },

    "/etcdserverpb.Lease/LeaseGrant": unary(async (r) => {
      const out = (await s.leases.grant(r)) as { header: { revision: bigint }; ID: bigint; TTL: bigint };
      return { header: s.header(out.header.revision), ID: out.ID, TTL: out.TTL };
    }),
    "/etcdserverpb.Lease/LeaseRevoke": unary(async (r) => {
      const out = (await s.leases.revoke(BigInt(r.ID ?? 0n))) as { header: { revision: bigint } };
      return { header: s.header(out.header.revision) };
    }),
    "/etcdserverpb.Lease/LeaseKeepAlive": {
      kind: "bidi",
      async handle(reqs, call, send) {
        for await (const r of reqs) {
          if (call.signal.aborted) return;
          const id = BigInt(r.ID ?? 0n);
          const ttl = await s.leases.renew(id);
          await send({ header: s.header(), ID: id, TTL: BigInt(ttl) });
        }
      },
    },
    "/etcdserverpb.Lease/LeaseTimeToLive": unary(async (r) => ({ header: s.header(), ...(await s.leases.timeToLive(BigInt(r.ID ?? 0n), !!r.keys)) })),
    "/etcdserverpb.Lease/LeaseLeases": unary(() => ({ header: s.header(), leases: s.leaseIds().map((ID) => ({ ID })) })),

    "/etcdserverpb.Maintenance/Status": unary(() => s.status()),
    "/etcdserverpb.Maintenance/Defragment": unary(() => s.defrag()),
    "/etcdserverpb.Maintenance/Hash": unary(() => s.hash()),
    "/etcdserverpb.Maintenance/HashKV": unary((r) => s.hashKV(BigInt(r.revision ?? 0n))),
    "/etcdserverpb.Maintenance/Alarm": unary((r) => s.alarm(r)),
    "/etcdserverpb.Maintenance/MoveLeader": unary((r) => s.moveLeader(BigInt(r.targetID ?? 0n))),
    "/etcdserverpb.Maintenance/Snapshot": {
      kind: "serverStream",
      async handle(_req, call, send) {
        // etcd's chunk size: etcdctl prints progress per chunk.
        for await (const { chunk, remaining } of s.snapshotChunks(32 * 1024)) {
          if (call.signal.aborted) return;
          await send({ header: s.header(), remainingBytes: BigInt(remaining), blob: chunk });
        }
      },
    },
    "/etcdserverpb.Maintenance/Downgrade": notYet("downgrade"),

    "/etcdserverpb.Cluster/MemberList": unary(() => ({ header: s.clusterHeader(), members: s.members.map(toMember) })),
    "/etcdserverpb.Cluster/MemberAdd": unary(async (r) => {
      const out = await s.memberAdd([...(r.peerURLs ?? [])], !!r.isLearner);
      return { header: out.header, member: toMember(out.member), members: out.members.map(toMember) };
    }),
    "/etcdserverpb.Cluster/MemberRemove": unary(async (r) => {
      const out = await s.memberRemove(BigInt(r.ID ?? 0n));
      return { header: out.header, members: out.members.map(toMember) };
    }),
    "/etcdserverpb.Cluster/MemberUpdate": unary(async (r) => {
      const out = await s.memberUpdate(BigInt(r.ID ?? 0n), [...(r.peerURLs ?? [])]);
      return { header: out.header, members: out.members.map(toMember) };
    }),
    "/etcdserverpb.Cluster/MemberPromote": unary(async (r) => {
      const out = await s.memberPromote(BigInt(r.ID ?? 0n));
      return { header: out.header, members: out.members.map(toMember) };
    }),

    // etcd's v3lock and v3election services (server/core/concurrency.ts).
    "/v3lockpb.Lock/Lock": { kind: "unary", handle: (r, call) => cc.lock(r, call.signal) },
    "/v3lockpb.Lock/Unlock": unary((r) => cc.unlock(r)),
    "/v3electionpb.Election/Campaign": { kind: "unary", handle: (r, call) => cc.campaign(r, call.signal) },
    "/v3electionpb.Election/Proclaim": { kind: "unary", handle: (r, call) => cc.proclaim(r, call.signal) },
    "/v3electionpb.Election/Leader": unary((r) => cc.leader(r)),
    "/v3electionpb.Election/Observe": { kind: "serverStream", handle: (r, call, send) => cc.observe(r, send, call.signal) },
    "/v3electionpb.Election/Resign": { kind: "unary", handle: (r, call) => cc.resign(r, call.signal) },
  };
}

function toMember(m: EtcdServer["members"][number]) {
  return { ID: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}
