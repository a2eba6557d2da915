// Lease lifetimes in fake time (fake-cluster.ts): what tests/e2e/watch-lease.test.ts waited seconds of real
// time for. "leases across a restart" moved here whole; "keep-alive keeps a leased key alive past its
// TTL" keeps its etcdctl output in e2e and its waiting here. With the fake clock the bounds are exact:
// a lease is never gone before its TTL, and gone soon after.
import { afterEach, describe, expect, test } from "bun:test";
import { FakeCluster } from "./fake-cluster.ts";

let c: FakeCluster | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
});

/** Member i still holds the lease (its lessor knows it). */
const holds = (i: number, id: bigint) => c!.server(i).leaseIds().includes(id);

async function grant(via: number, ttlSeconds: number): Promise<bigint> {
  const r = (await c!.run(c!.server(via).leases.grant({ TTL: BigInt(ttlSeconds) }))) as { ID: bigint; TTL: bigint };
  expect(r.TTL).toBe(BigInt(ttlSeconds));
  return r.ID;
}

describe("leases across a restart", () => {
  for (const how of ["stop", "kill"] as const) {
    test(`a member restarted after a ${how === "stop" ? "graceful stop" : "kill -9"} does not expire a lease early: its clock restarts with the full TTL`, async () => {
      c = await FakeCluster.start({ members: 1 });
      const id = await grant(0, 4);
      const grantedAt = c.now();
      await c.put(0, "survivor", "v", { lease: id });
      await c.until("2.5 s of the lease gone by", () => c!.now() >= grantedAt + 2_500);
      if (how === "stop") await c.stop(0);
      else c.kill(0);
      await c.restart(0);
      const restartedAt = c.now();
      // 4.5 s after the grant the lease would be gone without the restart's fresh clock.
      await c.until("4.5 s after the grant", () => c!.now() >= grantedAt + 4_500);
      expect(await c.get(0, "survivor")).toBe("v");
      const ttl = await c.run(c.server(0).leases.timeToLive(id, false));
      expect(ttl.grantedTTL).toBe(4n);
      expect(ttl.TTL >= 1n && ttl.TTL <= 4n).toBe(true);
      // Left alone, it still expires: not before 4 s after the restart, and soon after.
      await c.until("3.9 s after the restart", () => c!.now() >= restartedAt + 3_900);
      expect(holds(0, id)).toBe(true);
      await c.until("the lease expires", () => !holds(0, id), 3_000);
      expect(await c.get(0, "survivor")).toBeNull();
      expect((await c.run(c.server(0).leases.timeToLive(id, false))).TTL).toBe(-1n);
    });
  }
});

describe("keep-alive", () => {
  test("keep-alives every 500 ms keep a 2 s lease and its key past its TTL; stopping them lets it expire one TTL after the last", async () => {
    c = await FakeCluster.start({ members: 1 });
    const id = await grant(0, 2);
    await c.put(0, "kept", "v", { lease: id });
    const start = c.now();
    let last = start;
    while (c.now() < start + 5_000) {
      expect(await c.run(c.server(0).leases.renew(id))).toBe(2);
      last = c.now();
      await c.advance(500);
    }
    expect(await c.get(0, "kept")).toBe("v");
    await c.until("1.9 s after the last keep-alive", () => c!.now() >= last + 1_900);
    expect(holds(0, id)).toBe(true);
    await c.until("the lease expires", () => !holds(0, id), 2_000);
    expect(await c.get(0, "kept")).toBeNull();
    expect(await c.run(c.server(0).leases.renew(id))).toBe(0);
  });

  test("on a cluster, keep-alives through a follower reach the leader's lessor and keep the key on every member", async () => {
    c = await FakeCluster.start({ members: 3 });
    const [f1, f2] = c.followers();
    const id = await grant(f1, 2);
    await c.put(f2, "kept", "v", { lease: id });
    const start = c.now();
    let last = start;
    while (c.now() < start + 5_000) {
      expect(await c.run(c.server(f2).leases.renew(id))).toBe(2);
      last = c.now();
      await c.advance(500);
    }
    for (const i of c.live()) expect(await c.get(i, "kept", { serializable: true })).toBe("v");
    await c.until("1.9 s after the last keep-alive", () => c!.now() >= last + 1_900);
    expect(holds(c.leader(), id)).toBe(true);
    await c.until("the lease expires on every member", () => c!.live().every((i) => !holds(i, id)), 2_000);
    for (const i of c.live()) expect(await c.get(i, "kept", { serializable: true })).toBeNull();
  });
});
