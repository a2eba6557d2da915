// etcd's v3lock and v3election gRPC services (Lock/Unlock, Campaign/Proclaim/Leader/Observe/Resign),
// black-box against dist/etcd with @grpc/grpc-js's generic client. ETCD_TS_TARGET=etcd runs the same
// tests against the real etcd 3.4, which is where the expectations (texts, codes, headers) come from.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { etcdserverpb, v3electionpb, v3lockpb } from "../../src/proto/etcd.js";
import { cleanup, freePort, haveEtcdServer, requireTool, startMember, startRealEtcd, suiteMember, type Member } from "./harness.ts";

const againstEtcd = process.env.ETCD_TS_TARGET === "etcd";
const run = !againstEtcd || requireTool("etcd", haveEtcdServer());

const Status = grpc.status;
const b = (s: string) => Buffer.from(s);
const str = (u: Uint8Array | null | undefined) => Buffer.from(u ?? []).toString();
const hex = (id: bigint) => id.toString(16);

interface MessageType<T> {
  encode(m: any): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}
type Outcome<T> = { ok: true; value: T } | { ok: false; code: number; details: string };

function ok<T>(o: Outcome<T>): T {
  if (!o.ok) throw new Error(`expected success, got ${Status[o.code]} (${o.code}): ${o.details}`);
  return o.value;
}

function expectStatus(o: Outcome<unknown>, code: grpc.status, details: string): void {
  expect(o.ok ? "ok" : `${Status[o.code]}: ${o.details}`).toBe(`${Status[code]}: ${details}`);
}

/** Waits (bounded) until cond holds; the bound is a failure, never an assertion of timing. */
async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** The lock and election calls (and the few KV and Lease calls the tests need) on one client. */
function api(client: grpc.Client) {
  function unary<Res>(path: string, reqType: MessageType<unknown>, resType: MessageType<Res>, req: unknown, onCall?: (c: grpc.ClientUnaryCall) => void): Promise<Outcome<Res>> {
    return new Promise((resolve) => {
      const call = client.makeUnaryRequest<unknown, Res>(
        path,
        (x) => Buffer.from(reqType.encode(x).finish()),
        (x) => resType.decode(x),
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + 15_000 },
        (err, res) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, value: res as Res }),
      );
      onCall?.(call);
    });
  }

  return {
    unary,
    lock: (name: string, lease: bigint, onCall?: (c: grpc.ClientUnaryCall) => void) =>
      unary("/v3lockpb.Lock/Lock", v3lockpb.LockRequest, v3lockpb.LockResponse, { name: b(name), lease }, onCall),
    unlock: (key: Uint8Array | string) =>
      unary("/v3lockpb.Lock/Unlock", v3lockpb.UnlockRequest, v3lockpb.UnlockResponse, { key: typeof key === "string" ? b(key) : key }),
    campaign: (name: string, lease: bigint, value: string) =>
      unary("/v3electionpb.Election/Campaign", v3electionpb.CampaignRequest, v3electionpb.CampaignResponse, { name: b(name), lease, value: b(value) }),
    proclaim: (leader: v3electionpb.ILeaderKey | undefined, value: string) =>
      unary("/v3electionpb.Election/Proclaim", v3electionpb.ProclaimRequest, v3electionpb.ProclaimResponse, { leader, value: b(value) }),
    leader: (name: string) => unary("/v3electionpb.Election/Leader", v3electionpb.LeaderRequest, v3electionpb.LeaderResponse, { name: b(name) }),
    resign: (leaderKey: v3electionpb.ILeaderKey | undefined) =>
      unary("/v3electionpb.Election/Resign", v3electionpb.ResignRequest, v3electionpb.ResignResponse, { leader: leaderKey }),
    grant: async (TTL = 60n) =>
      BigInt(ok(await unary("/etcdserverpb.Lease/LeaseGrant", etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse, { TTL })).ID),
    revoke: (ID: bigint) => unary("/etcdserverpb.Lease/LeaseRevoke", etcdserverpb.LeaseRevokeRequest, etcdserverpb.LeaseRevokeResponse, { ID }),
    /** The keys under prefix (a linearizable read). */
    keysUnder: async (prefix: string) => {
      const end = b(prefix);
      end[end.length - 1]++;
      const r = ok(await unary("/etcdserverpb.KV/Range", etcdserverpb.RangeRequest, etcdserverpb.RangeResponse, { key: b(prefix), rangeEnd: end }));
      return r.kvs.map((kv) => str(kv.key));
    },
    /** Observe as a list of "key=value" lines, with the call to cancel it and how it ended. */
    observe(name: string) {
      const seen: string[] = [];
      const call = client.makeServerStreamRequest<v3electionpb.ILeaderRequest, v3electionpb.LeaderResponse>(
        "/v3electionpb.Election/Observe",
        (x) => Buffer.from(v3electionpb.LeaderRequest.encode(x).finish()),
        (x) => v3electionpb.LeaderResponse.decode(x),
        { name: b(name) },
        new grpc.Metadata(),
        {},
      );
      const ended = new Promise<string>((resolve) => {
        call.on("data", (r: v3electionpb.LeaderResponse) => seen.push(`${str(r.kv?.key)}=${str(r.kv?.value)}`));
        call.on("error", (e: grpc.ServiceError) => resolve(Status[e.code]));
        call.on("end", () => resolve("end"));
      });
      return { seen, call, ended };
    },
  };
}

describe.if(run)(`v3lock and v3election over gRPC (${againstEtcd ? "real etcd 3.4" : "etcd-ts"})`, () => {
  const suite = suiteMember(againstEtcd);
  let client: grpc.Client;
  let svc: ReturnType<typeof api>;
  /** The real etcd's count of watchers (its /metrics); etcd-ts checks the same in concurrency.test.ts. */
  async function watcherTotal(): Promise<number> {
    const text = await (await fetch(`${suite.m.clientUrl}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("etcd_debugging_mvcc_watcher_total "));
    if (!line) throw new Error("etcd's /metrics has no etcd_debugging_mvcc_watcher_total");
    return Number(line.split(" ")[1]);
  }

  beforeAll(() => {
    client = new grpc.Client(suite.m.endpoint, grpc.credentials.createInsecure());
    svc = api(client);
  });
  afterAll(() => client?.close());

  test("two Lock callers on one name: the second is answered only after the first unlocks", async () => {
    const [l1, l2] = [await svc.grant(), await svc.grant()];
    const log: string[] = [];
    const first = ok(await svc.lock("lk-order", l1));
    log.push("first locked");
    expect(str(first.key)).toBe(`lk-order/${hex(l1)}`);

    const second = svc.lock("lk-order", l2).then((o) => {
      log.push("second locked");
      return o;
    });
    // The second caller has queued its key, and is still waiting.
    await until("the second caller's key", async () => (await svc.keysUnder("lk-order/")).includes(`lk-order/${hex(l2)}`));
    expect(log).toEqual(["first locked"]);

    log.push("unlock sent");
    const un = ok(await svc.unlock(first.key!));
    const got = ok(await second);
    expect(log.indexOf("second locked")).toBeGreaterThan(log.indexOf("unlock sent"));
    expect(str(got.key)).toBe(`lk-order/${hex(l2)}`);
    // Answered from a read made after the delete.
    expect(BigInt(got.header!.revision!)).toBeGreaterThanOrEqual(BigInt(un.header!.revision!));
    expect(await svc.keysUnder("lk-order/")).toEqual([`lk-order/${hex(l2)}`]);
    ok(await svc.unlock(got.key!));
    expect(await svc.keysUnder("lk-order/")).toEqual([]);
  }, 20_000);

  test("a lock held under a lease that is revoked passes to the next waiter", async () => {
    const [l1, l2] = [await svc.grant(), await svc.grant()];
    ok(await svc.lock("lk-revoke", l1));
    let answered = false;
    const second = svc.lock("lk-revoke", l2).then((o) => ((answered = true), o));
    await until("the waiter's key", async () => (await svc.keysUnder("lk-revoke/")).length === 2);
    expect(answered).toBe(false);
    const rv = ok(await svc.revoke(l1));
    const got = ok(await second);
    expect(str(got.key)).toBe(`lk-revoke/${hex(l2)}`);
    expect(BigInt(got.header!.revision!)).toBeGreaterThanOrEqual(BigInt(rv.header!.revision!));
    expect(await svc.keysUnder("lk-revoke/")).toEqual([`lk-revoke/${hex(l2)}`]);
  }, 20_000);

  test("a Lock caller that cancels leaves no key and no watcher; the next Lock gets the lock", async () => {
    const [l1, l2, l3] = [await svc.grant(), await svc.grant(), await svc.grant()];
    const watchersBefore = againstEtcd ? await watcherTotal() : 0;
    const held = ok(await svc.lock("lk-cancel", l1));
    let call: grpc.ClientUnaryCall | undefined;
    const waiting = svc.lock("lk-cancel", l2, (c) => (call = c));
    await until("the waiter's key", async () => (await svc.keysUnder("lk-cancel/")).includes(`lk-cancel/${hex(l2)}`));
    if (againstEtcd) expect(await watcherTotal()).toBe(watchersBefore + 1);
    call!.cancel();
    expectStatus(await waiting, Status.CANCELLED, "Cancelled on client");
    await until("the cancelled caller's key to go", async () => !(await svc.keysUnder("lk-cancel/")).includes(`lk-cancel/${hex(l2)}`));
    if (againstEtcd) await until("etcd's watcher count back to where it was", async () => (await watcherTotal()) === watchersBefore);

    ok(await svc.unlock(held.key!));
    const next = ok(await svc.lock("lk-cancel", l3));
    expect(str(next.key)).toBe(`lk-cancel/${hex(l3)}`);
    expect(await svc.keysUnder("lk-cancel/")).toEqual([`lk-cancel/${hex(l3)}`]);
  }, 20_000);

  test("Campaign, Proclaim, Leader, Observe and Resign with two candidates", async () => {
    const [l1, l2] = [await svc.grant(), await svc.grant()];
    const obs = svc.observe("el-seq");
    try {
      const c1 = ok(await svc.campaign("el-seq", l1, "one"));
      expect(str(c1.leader!.name)).toBe("el-seq");
      expect(str(c1.leader!.key)).toBe(`el-seq/${hex(l1)}`);
      expect(BigInt(c1.leader!.lease!)).toBe(l1);
      expect(BigInt(c1.leader!.rev!)).toBe(BigInt(c1.header!.revision!)); // the key's create revision
      await until("Observe to see the first leader", () => obs.seen.length === 1);

      let secondLeads = false;
      const c2p = svc.campaign("el-seq", l2, "two").then((o) => ((secondLeads = true), o));
      await until("the second candidate's key", async () => (await svc.keysUnder("el-seq/")).length === 2);

      const l = ok(await svc.leader("el-seq"));
      expect([str(l.kv!.key), str(l.kv!.value)]).toEqual([`el-seq/${hex(l1)}`, "one"]);
      ok(await svc.proclaim(c1.leader!, "one, again"));
      const l1b = ok(await svc.leader("el-seq"));
      expect([str(l1b.kv!.key), str(l1b.kv!.value)]).toEqual([`el-seq/${hex(l1)}`, "one, again"]);
      await until("Observe to see the proclaimed value", () => obs.seen.length === 2);
      expect(secondLeads).toBe(false);

      ok(await svc.resign(c1.leader!));
      const c2 = ok(await c2p);
      expect(str(c2.leader!.key)).toBe(`el-seq/${hex(l2)}`);
      expect(BigInt(c2.leader!.lease!)).toBe(l2);
      const l2r = ok(await svc.leader("el-seq"));
      expect([str(l2r.kv!.key), str(l2r.kv!.value)]).toEqual([`el-seq/${hex(l2)}`, "two"]);
      expect(BigInt(l2r.kv!.createRevision!)).toBe(BigInt(c2.leader!.rev!));
      await until("Observe to see the second leader", () => obs.seen.length === 3);
      expect(obs.seen).toEqual([`el-seq/${hex(l1)}=one`, `el-seq/${hex(l1)}=one, again`, `el-seq/${hex(l2)}=two`]);

      ok(await svc.resign(c2.leader!));
      expectStatus(await svc.leader("el-seq"), Status.UNKNOWN, "election: no leader");
    } finally {
      obs.call.cancel();
    }
    expect(await obs.ended).toBe("CANCELLED");
  }, 20_000);

  test("Proclaim by a candidate that no longer leads fails with etcd's 'election: not leader'", async () => {
    const l1 = await svc.grant();
    const c1 = ok(await svc.campaign("el-stale", l1, "one"));
    ok(await svc.resign(c1.leader!));
    expectStatus(await svc.proclaim(c1.leader!, "late"), Status.UNKNOWN, "election: not leader");
    // A key that never campaigned, and the right key with the wrong create revision.
    expectStatus(await svc.proclaim({ name: b("el-stale"), key: b("el-stale/nobody"), rev: 1n, lease: l1 }, "x"), Status.UNKNOWN, "election: not leader");
    const c2 = ok(await svc.campaign("el-stale", l1, "two"));
    expectStatus(await svc.proclaim({ ...c2.leader!, rev: BigInt(c2.leader!.rev!) - 1n }, "x"), Status.UNKNOWN, "election: not leader");
    expect(str(ok(await svc.leader("el-stale")).kv!.value)).toBe("two");
    // Resign with a stale leader key succeeds and changes nothing.
    ok(await svc.resign(c1.leader!));
    expect(str(ok(await svc.leader("el-stale")).kv!.value)).toBe("two");
  }, 20_000);

  test("Leader of an election with no candidates fails with etcd's 'election: no leader'", async () => {
    expectStatus(await svc.leader("el-nobody"), Status.UNKNOWN, "election: no leader");
  });

  test("Observe started before any candidate reports the first one", async () => {
    const l1 = await svc.grant();
    const watchersBefore = againstEtcd ? await watcherTotal() : 0;
    const obs = svc.observe("el-late");
    try {
      // Observe answers nothing until there is a leader. On etcd its watch on the prefix shows that it
      // waits; either way, the candidate is the first thing it reports.
      if (againstEtcd) await until("Observe's watch on the prefix", async () => (await watcherTotal()) === watchersBefore + 1);
      const c1 = ok(await svc.campaign("el-late", l1, "first"));
      await until("Observe to see the candidate", () => obs.seen.length === 1);
      expect(obs.seen).toEqual([`el-late/${hex(l1)}=first`]);
      ok(await svc.resign(c1.leader!));
    } finally {
      obs.call.cancel();
    }
    expect(await obs.ended).toBe("CANCELLED");
  }, 20_000);

  test("requests fail as etcd's: unknown lease, missing leader key, empty Unlock key", async () => {
    expectStatus(await svc.lock("lk-err", 0x7777_0000_1234n), Status.UNKNOWN, "etcdserver: requested lease not found");
    expectStatus(await svc.campaign("el-err", 0x7777_0000_1234n, "v"), Status.UNKNOWN, "etcdserver: requested lease not found");
    expectStatus(await svc.proclaim(undefined, "v"), Status.UNKNOWN, '"leader" field must be provided');
    expectStatus(await svc.resign(undefined), Status.UNKNOWN, '"leader" field must be provided');
    expectStatus(await svc.unlock(""), Status.UNKNOWN, "etcdserver: key is not provided");
    // Unlocking a key that does not exist is not an error.
    ok(await svc.unlock("lk-err/none"));
    expect(await svc.keysUnder("lk-err/")).toEqual([]);
    expect(await svc.keysUnder("el-err/")).toEqual([]);
  });

  test("the same lease locking or campaigning again keeps its key; lease 0 gets a new 60 s lease", async () => {
    const l1 = await svc.grant();
    const a = ok(await svc.lock("lk-again", l1));
    const again = ok(await svc.lock("lk-again", l1));
    expect(str(again.key)).toBe(str(a.key));
    expect(BigInt(again.header!.revision!)).toBe(BigInt(a.header!.revision!));

    const c = ok(await svc.campaign("el-again", l1, "one"));
    const c2 = ok(await svc.campaign("el-again", l1, "two"));
    expect(BigInt(c2.leader!.rev!)).toBe(BigInt(c.leader!.rev!));
    expect(str(ok(await svc.leader("el-again")).kv!.value)).toBe("two");

    const fresh = ok(await svc.lock("lk-fresh", 0n));
    const [, leaseHex] = str(fresh.key).split("/");
    const ttl = ok(
      await svc.unary("/etcdserverpb.Lease/LeaseTimeToLive", etcdserverpb.LeaseTimeToLiveRequest, etcdserverpb.LeaseTimeToLiveResponse, { ID: BigInt(`0x${leaseHex}`), keys: true }),
    );
    expect(BigInt(ttl.grantedTTL!)).toBe(60n);
    expect(ttl.keys!.map(str)).toEqual([str(fresh.key)]);
  });
});

describe.if(run)(`v3lock and v3election across three members (${againstEtcd ? "real etcd 3.4" : "etcd-ts"})`, () => {
  let members: Member[] = [];
  let clients: grpc.Client[] = [];
  let svcs: ReturnType<typeof api>[];

  beforeAll(async () => {
    const names = ["le1", "le2", "le3"];
    const peers = [await freePort(), await freePort(), await freePort()];
    const url = (i: number) => `http://127.0.0.1:${peers[i]}`;
    const cluster = names.map((n, i) => `${n}=${url(i)}`).join(",");
    const args = (i: number) => ["--name", names[i], "--initial-advertise-peer-urls", url(i), "--initial-cluster", cluster, "--initial-cluster-token", "lock-election"];
    // All three start together: none is healthy before a quorum exists. (The harness gives the real
    // etcd a random peer port; the later --listen-peer-urls wins.)
    members = await Promise.all(
      [0, 1, 2].map((i) => (againstEtcd ? startRealEtcd({ args: [...args(i), "--listen-peer-urls", url(i)] }) : startMember({ peerPort: peers[i], args: args(i) }))),
    );
    clients = members.map((m) => new grpc.Client(m.endpoint, grpc.credentials.createInsecure()));
    svcs = clients.map(api);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(members.map((m) => m.stop()));
    for (const m of members) cleanup(m);
  }, 30_000);

  test("a lock held through one member is waited for through another and released through the third", async () => {
    const [a, b2, c3] = svcs;
    const [l1, l2] = [await a.grant(), await b2.grant()];
    const first = ok(await a.lock("lk-3", l1));
    let answered = false;
    const second = b2.lock("lk-3", l2).then((o) => ((answered = true), o));
    await until("the waiter's key", async () => (await c3.keysUnder("lk-3/")).length === 2);
    expect(answered).toBe(false);
    const un = ok(await c3.unlock(first.key!));
    const got = ok(await second);
    expect(str(got.key)).toBe(`lk-3/${hex(l2)}`);
    expect(BigInt(got.header!.revision!)).toBeGreaterThanOrEqual(BigInt(un.header!.revision!));
    ok(await a.unlock(got.key!));
  }, 30_000);

  test("Observe through one member follows Campaign, Proclaim and Resign made through the others", async () => {
    const [a, b2, c3] = svcs;
    const l1 = await a.grant();
    const obs = c3.observe("el-3");
    try {
      const c1 = ok(await a.campaign("el-3", l1, "one"));
      await until("Observe to see the leader", () => obs.seen.length === 1);
      ok(await b2.proclaim(c1.leader!, "two"));
      await until("Observe to see the proclaimed value", () => obs.seen.length === 2);
      expect(obs.seen).toEqual([`el-3/${hex(l1)}=one`, `el-3/${hex(l1)}=two`]);
      ok(await c3.resign(c1.leader!));
      expectStatus(await b2.leader("el-3"), Status.UNKNOWN, "election: no leader");
    } finally {
      obs.call.cancel();
    }
    expect(await obs.ended).toBe("CANCELLED");
  }, 30_000);
});
