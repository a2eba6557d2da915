import { EtcdError, Errors, GrpcCode } from "../../pkg/errors.ts";
import { ConcurrencyService, concurrencyDeps } from "../core/concurrency.ts";
import type { EtcdServer } from "../core/server.ts";
import type { AuthInfo } from "../core/auth/store.ts";
import { MaintenanceErrors } from "../core/auth/store.ts";
import type { Call, Handler } from "./grpc-server.ts";
import { encodedRange } from "./range-response.ts";
import { serveWatch } from "./watch-stream.ts";

const unary = (handle: (req: any, call: Call) => unknown): Handler => ({ kind: "unary", handle });
const notYet = (what: string): Handler =>
  unary(() => {
    throw new EtcdError(GrpcCode.Unimplemented, `etcd-ts: ${what} is not supported by this version yet`);
  });

/** The etcd v3 gRPC API, method by method, onto the server core. */
export function etcdHandlers(s: EtcdServer): Record<string, Handler> {
  const cc = new ConcurrencyService(concurrencyDeps(s));
  const store = s.auth.store;
  /**
   * Runs `fn` with the caller's identity when auth is enabled; with auth off, at once with none:
   * one boolean on the hot path.
   */
  const authed =
    <T>(fn: (r: any, ai: AuthInfo | undefined, call: Call) => T) =>
    (r: any, call: Call): T | Promise<Awaited<T>> =>
      store.enabled ? s.auth.who(call).then((ai) => fn(r, ai, call) as Awaited<T>) : fn(r, undefined, call);
  /** Root only while auth is enabled (etcd's Cluster membership changes, and the auth admin calls). */
  const admin =
    <T>(fn: (r: any, call: Call) => T) =>
    (r: any, call: Call): T | Promise<Awaited<T>> =>
      store.enabled ? s.auth.who(call).then((ai) => (store.checkAdmin(ai), fn(r, call) as Awaited<T>)) : fn(r, call);
  /** The Maintenance service's root check: etcd returns the auth package's own errors there (gRPC Unknown). */
  const maintenance =
    <T>(fn: (r: any, call: Call) => T) =>
    (r: any, call: Call): T | Promise<Awaited<T>> =>
      store.enabled ? s.auth.who(call).then((ai) => (store.checkAdmin(ai, MaintenanceErrors), fn(r, call) as Awaited<T>)) : fn(r, call);
  /** Lock and Election run their KV calls as the caller (etcd's v3lock/v3election pass the caller's context on). */
  const concurrencyFor = (ai: AuthInfo | undefined) =>
    ai === undefined && !store.enabled
      ? cc
      : new ConcurrencyService(
          concurrencyDeps({
            range: (r) => s.range(r, ai),
            txn: (r) => s.txn(r, ai),
            deleteRange: (r) => s.deleteRange(r, ai),
            header: (rev) => s.header(rev),
            watchHub: s.watchHub,
            leases: s.leases,
          }),
        );
  return {
    "/etcdserverpb.KV/Range": {
      kind: "unary",
      handle: authed((r, ai) => s.range(r, ai)),
      framed: authed((r, ai) => encodedRange(s, r, ai)),
    },
    "/etcdserverpb.KV/Put": unary(authed((r, ai) => s.put(r, ai))),
    "/etcdserverpb.KV/DeleteRange": unary(authed((r, ai) => s.deleteRange(r, ai))),
    "/etcdserverpb.KV/Txn": unary(authed((r, ai) => s.txn(r, ai))),
    "/etcdserverpb.KV/Compact": unary(authed((r, ai) => {
      // etcd 3.4 checks no key for compaction; a token is still needed while auth is on.
      if (store.enabled && !ai) throw Errors.userEmpty;
      return s.compact(r);
    })),

    "/etcdserverpb.Watch/Watch": {
      kind: "bidi",
      async handle(reqs, call, send) {
        // A simple token from another member's Authenticate is waited for once, when the stream opens.
        if (store.enabled) await s.auth.who(call).catch(() => undefined);
        // etcd's isWatchPermitted: each create checks READ on its range with the stream's token;
        // a forbidden one is answered created+canceled and never sees an event.
        const permitted = (key: Uint8Array | null | undefined, rangeEnd: Uint8Array | null | undefined): boolean => {
          if (!store.enabled) return true;
          try {
            store.checkOp(s.auth.whoNow(call), "read", key, rangeEnd);
            return true;
          } catch {
            return false;
          }
        };
        return serveWatch(reqs, send, { hub: s.watchHub, header: (rev) => s.header(rev), maxRequestBytes: s.maxRequestBytes, signal: call.signal, permitted });
      },
    },

    "/etcdserverpb.Lease/LeaseGrant": unary(async (r) => {
      const out = (await s.leases.grant(r)) as { header: { revision: bigint }; ID: bigint; TTL: bigint };
      return { header: s.header(out.header.revision), ID: out.ID, TTL: out.TTL };
    }),
    "/etcdserverpb.Lease/LeaseRevoke": unary(authed((r, ai) => s.leaseRevoke(BigInt(r.ID ?? 0n), ai))),
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
    // With auth on, a lease's key names are shown only to a user who may read every one of them
    // (etcd's fix for CVE-2023-32082); listing leases needs a user.
    "/etcdserverpb.Lease/LeaseTimeToLive": unary(
      authed(async (r, ai) => {
        if (store.enabled && !ai) throw Errors.userEmpty;
        const out = await s.leases.timeToLive(BigInt(r.ID ?? 0n), !!r.keys);
        if (store.enabled && r.keys) for (const k of out.keys) store.checkOp(ai, "read", k);
        return { header: s.header(), ...out };
      }),
    ),
    "/etcdserverpb.Lease/LeaseLeases": unary(
      authed((_r, ai) => {
        if (store.enabled && !ai) throw Errors.userEmpty;
        return { header: s.header(), leases: s.leaseIds().map((ID) => ({ ID })) };
      }),
    ),

    "/etcdserverpb.Maintenance/Status": unary(() => s.status()),
    "/etcdserverpb.Maintenance/Defragment": unary(maintenance(() => s.defrag())),
    "/etcdserverpb.Maintenance/Hash": unary(maintenance(() => s.hash())),
    "/etcdserverpb.Maintenance/HashKV": unary(maintenance((r) => s.hashKV(BigInt(r.revision ?? 0n)))),
    // Raising or clearing an alarm stops or restarts every write in the cluster: root only under auth.
    "/etcdserverpb.Maintenance/Alarm": unary((r, call) => (r.action === 1 || r.action === 2 ? maintenance(() => s.alarm(r))(r, call) : s.alarm(r))),
    "/etcdserverpb.Maintenance/MoveLeader": unary(maintenance((r) => s.moveLeader(BigInt(r.targetID ?? 0n)))),
    "/etcdserverpb.Maintenance/Snapshot": {
      kind: "serverStream",
      async handle(req, call, send) {
        await maintenance(() => undefined)(req, call);
        // etcd's chunk size: etcdctl prints progress per chunk.
        for await (const { chunk, remaining } of s.snapshotChunks(32 * 1024)) {
          if (call.signal.aborted) return;
          await send({ header: s.header(), remainingBytes: BigInt(remaining), blob: chunk });
        }
      },
    },
    "/etcdserverpb.Maintenance/Downgrade": notYet("downgrade"),

    "/etcdserverpb.Cluster/MemberList": unary(() => ({ header: s.clusterHeader(), members: s.members.map(toMember) })),
    "/etcdserverpb.Cluster/MemberAdd": unary(admin(async (r) => {
      const out = await s.memberAdd([...(r.peerURLs ?? [])], !!r.isLearner);
      return { header: out.header, member: toMember(out.member), members: out.members.map(toMember) };
    })),
    "/etcdserverpb.Cluster/MemberRemove": unary(admin(async (r) => {
      const out = await s.memberRemove(BigInt(r.ID ?? 0n));
      return { header: out.header, members: out.members.map(toMember) };
    })),
    "/etcdserverpb.Cluster/MemberUpdate": unary(admin(async (r) => {
      const out = await s.memberUpdate(BigInt(r.ID ?? 0n), [...(r.peerURLs ?? [])]);
      return { header: out.header, members: out.members.map(toMember) };
    })),
    "/etcdserverpb.Cluster/MemberPromote": unary(admin(async (r) => {
      const out = await s.memberPromote(BigInt(r.ID ?? 0n));
      return { header: out.header, members: out.members.map(toMember) };
    })),

    // etcd's v3lock and v3election services (server/core/concurrency.ts).
    "/v3lockpb.Lock/Lock": { kind: "unary", handle: authed((r, ai, call) => concurrencyFor(ai).lock(r, call.signal)) },
    "/v3lockpb.Lock/Unlock": unary(authed((r, ai) => concurrencyFor(ai).unlock(r))),
    "/v3electionpb.Election/Campaign": { kind: "unary", handle: authed((r, ai, call) => concurrencyFor(ai).campaign(r, call.signal)) },
    "/v3electionpb.Election/Proclaim": { kind: "unary", handle: authed((r, ai, call) => concurrencyFor(ai).proclaim(r, call.signal)) },
    "/v3electionpb.Election/Leader": unary(authed((r, ai) => concurrencyFor(ai).leader(r))),
    "/v3electionpb.Election/Observe": {
      kind: "serverStream",
      handle: (r, call, send) => (store.enabled ? s.auth.who(call).then((ai) => concurrencyFor(ai).observe(r, send, call.signal)) : cc.observe(r, send, call.signal)),
    },
    "/v3electionpb.Election/Resign": { kind: "unary", handle: authed((r, ai, call) => concurrencyFor(ai).resign(r, call.signal)) },

    // The Auth service (server/core/auth): admin calls need root while auth is enabled.
    "/etcdserverpb.Auth/AuthEnable": unary(authed((_r, ai) => s.auth.enable(ai))),
    "/etcdserverpb.Auth/AuthDisable": unary(authed((_r, ai) => s.auth.disable(ai))),
    "/etcdserverpb.Auth/AuthStatus": unary(() => s.auth.status()),
    "/etcdserverpb.Auth/Authenticate": unary((r) => s.auth.authenticate(r)),
    "/etcdserverpb.Auth/UserAdd": unary(authed((r, ai) => s.auth.userAdd(r, ai))),
    "/etcdserverpb.Auth/UserGet": unary(authed((r, ai) => s.auth.userGet(r, ai))),
    "/etcdserverpb.Auth/UserList": unary(authed((_r, ai) => s.auth.userList(ai))),
    "/etcdserverpb.Auth/UserDelete": unary(authed((r, ai) => s.auth.userDelete(r, ai))),
    "/etcdserverpb.Auth/UserChangePassword": unary(authed((r, ai) => s.auth.userChangePassword(r, ai))),
    "/etcdserverpb.Auth/UserGrantRole": unary(authed((r, ai) => s.auth.userGrantRole(r, ai))),
    "/etcdserverpb.Auth/UserRevokeRole": unary(authed((r, ai) => s.auth.userRevokeRole(r, ai))),
    "/etcdserverpb.Auth/RoleAdd": unary(authed((r, ai) => s.auth.roleAdd(r, ai))),
    "/etcdserverpb.Auth/RoleGet": unary(authed((r, ai) => s.auth.roleGet(r, ai))),
    "/etcdserverpb.Auth/RoleList": unary(authed((_r, ai) => s.auth.roleList(ai))),
    "/etcdserverpb.Auth/RoleDelete": unary(authed((r, ai) => s.auth.roleDelete(r, ai))),
    "/etcdserverpb.Auth/RoleGrantPermission": unary(authed((r, ai) => s.auth.roleGrantPermission(r, ai))),
    "/etcdserverpb.Auth/RoleRevokePermission": unary(authed((r, ai) => s.auth.roleRevokePermission(r, ai))),
  };
}

function toMember(m: EtcdServer["members"][number]) {
  return { ID: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}
