// Lease checkpointing (--experimental-enable-lease-checkpoint) across a change of leader and a restart,
// on in-process clusters over the fake clock (fake-cluster.ts): fake seconds, so the bounds can be
// exact (it replaced a test of the same story over loopback TCP in real time, ~9 s). etcd checkpoints
// every 5 minutes and has no flag for the interval, so the binary cannot show it in a bounded test;
// the interval here is 1 s.
import { afterEach, describe, expect, test } from "bun:test";
import type { ServerOptions } from "../../src/server/core/server.ts";
import { FakeCluster } from "./fake-cluster.ts";

let c: FakeCluster | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
});

/** Grants a 60 s lease, lets 4 s of it pass on the leader, moves leadership, and returns the TTLs before and after. */
async function ttlAfterLeaderChange(options: Partial<ServerOptions>): Promise<{ before: bigint; after: bigint }> {
  c = await FakeCluster.start({ members: 3, options });
  const leader = c.leader();
  const { ID: id } = (await c.run(c.server(leader).leases.grant({ TTL: 60n }))) as { ID: bigint };
  const grantedAt = c.now();
  await c.until("4 s of the lease gone by", () => c!.now() >= grantedAt + 4_000);
  const before = (await c.run(c.server(leader).leases.timeToLive(id, false))).TTL;
  const next = c.followers()[0];
  await c.run(c.server(leader).moveLeader(c.id(next)));
  expect(await c.awaitLeader()).toBe(next);
  // The new leader answers once it has applied its term's first entry (it keeps the clocks from then on).
  const after = (await c.run(c.server(next).leases.timeToLive(id, false))).TTL;
  return { before, after };
}

describe("lease checkpoints across a leader change", () => {
  test("with checkpointing, the new leader resumes the remaining TTL (not the full 60 s)", async () => {
    const { before, after } = await ttlAfterLeaderChange({ enableLeaseCheckpoint: true, leaseCheckpointIntervalMs: 1_000 });
    expect(before === 55n || before === 56n).toBe(true); // 4 s gone, in whole seconds
    // Above what was left by at most: the checkpoint's age (an interval plus the 500 ms timer), its
    // rounding up to whole seconds, and the election timeout's extension (1 s here).
    expect(after).toBeGreaterThanOrEqual(before - 1n);
    expect(after).toBeLessThanOrEqual(before + 3n);
    expect(after).toBeLessThan(59n);
  });

  test("without it (etcd's default), the new leader restarts the lease from its full TTL", async () => {
    const { after } = await ttlAfterLeaderChange({});
    expect(after).toBeGreaterThanOrEqual(60n);
  });
});

describe("lease checkpoints across a restart", () => {
  for (const persist of [true, false]) {
    test(persist ? "persisted checkpoints: a restarted member resumes the checkpointed remaining TTL" : "checkpoints not persisted: a restarted member starts the lease from its full TTL", async () => {
      c = await FakeCluster.start({ members: 1, options: { enableLeaseCheckpoint: true, leaseCheckpointIntervalMs: 1_000, leaseCheckpointPersist: persist } });
      const { ID: id } = (await c.run(c.server(0).leases.grant({ TTL: 60n }))) as { ID: bigint };
      const grantedAt = c.now();
      await c.until("10 s of the lease gone by", () => c!.now() >= grantedAt + 10_000);
      c.kill(0);
      await c.restart(0);
      const after = (await c.run(c.server(0).leases.timeToLive(id, false))).TTL;
      if (persist) {
        expect(after).toBeGreaterThanOrEqual(49n);
        expect(after).toBeLessThanOrEqual(53n);
      } else expect(after).toBeGreaterThanOrEqual(59n);
    });
  }
});
