// Members dying and coming back, on in-process clusters over the fake clock (fake-cluster.ts).
// Moved from tests/e2e/cluster.test.ts, where they waited on real elections and restarts; the e2e suite
// keeps the binary's side (etcdctl's output and errors, kill -9 of a real process, /health, metrics).
import { afterEach, describe, expect, test } from "bun:test";
import { Errors } from "../../src/pkg/errors.ts";
import { enc, FakeCluster } from "./fake-cluster.ts";

let c: FakeCluster | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
});

/** What a client that retries sees: the call's error, or "ok". */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return (e as Error).message;
  }
}

describe("a three-member cluster loses one member at a time", () => {
  test("it keeps serving while any one member is down (after an election when the leader died); the member catches up when restarted", async () => {
    c = await FakeCluster.start({ members: 3 });
    for (let victim = 0; victim < 3; victim++) {
      const wasLeader = c.leader() === victim;
      c.kill(victim);
      const leader = await c.awaitLeader(3_000);
      expect(leader).not.toBe(victim);
      const survivor = c.live().find((i) => i !== leader)!;
      // Writes go on with two of three, through a follower too; linearizable reads see them everywhere.
      await c.put(survivor, `k${victim}`, `v${victim}`);
      for (const i of c.live()) expect(await c.get(i, `k${victim}`)).toBe(`v${victim}`);
      // Restarted on its data dir, it catches up on what was written while it was down.
      await c.restart(victim);
      await c.until(`m${victim} catches up`, () => c!.server(victim).status().raftAppliedIndex >= c!.server(leader).status().raftIndex);
      expect(await c.get(victim, `k${victim}`, { serializable: true })).toBe(`v${victim}`);
      if (wasLeader) expect(c.leader()).not.toBe(victim); // a restarted member does not disturb the leader
    }
    // Every write of the three rounds, on every member, and the same history everywhere.
    for (const i of c.live()) for (let k = 0; k < 3; k++) expect(await c.get(i, `k${k}`, { serializable: true })).toBe(`v${k}`);
    const hashes = await c.run(Promise.all(c.live().map((i) => c!.server(i).hashKV(0n))));
    expect(new Set(hashes.map((h) => `${h.header.revision}:${h.hash}`)).size).toBe(1);
  });

  test("a five-member cluster serves with two members down, not with three", async () => {
    c = await FakeCluster.start({ members: 5 });
    await c.put(0, "before", "1");
    const [a, b] = c.followers();
    c.kill(a);
    c.kill(b);
    const leader = await c.awaitLeader();
    await c.put(leader, "two-down", "ok");
    expect(await c.get(c.live().find((i) => i !== leader)!, "two-down")).toBe("ok");
    c.kill(c.followers()[0]);
    const alone = c.live();
    expect(alone).toHaveLength(2);
    const put = await outcome(c.run(c.server(alone[0]).put({ key: enc("three-down"), value: enc("lost?") })));
    expect([Errors.timeout.message, Errors.noLeader.message]).toContain(put);
    expect(await c.get(alone[1], "two-down", { serializable: true })).toBe("ok");
  });
});

describe("without a quorum", () => {
  test("a linearizable read fails with etcd's error, never a stale answer; a serializable one still answers; a write fails", async () => {
    c = await FakeCluster.start({ members: 3 });
    await c.put(0, "foo", "bar");
    const alone = c.leader(); // the leader itself: it must notice it no longer leads, and not answer from its own state
    for (const i of c.followers()) c.kill(i);
    const read = await outcome(c.run(c.server(alone).range({ key: enc("foo") })));
    expect([Errors.timeout.message, Errors.noLeader.message]).toContain(read);
    expect(await c.get(alone, "foo", { serializable: true })).toBe("bar");
    const write = await outcome(c.run(c.server(alone).put({ key: enc("foo"), value: enc("lost?") })));
    expect([Errors.timeout.message, Errors.noLeader.message]).toContain(write);
    // With one member back there is a quorum again: it serves (the failed write may or may not have
    // been kept: a timeout leaves a write's fate unknown, as etcd's).
    await c.restart([0, 1, 2].find((i) => c!.state(i) === "down")!);
    const leader = await c.awaitLeader();
    await c.put(leader, "after", "quorum");
    expect(["bar", "lost?"]).toContain((await c.get(alone, "foo"))!);
  });
});

describe("leadership", () => {
  test("moveLeader hands leadership to the member named; the old leader follows it", async () => {
    c = await FakeCluster.start({ members: 3 });
    const from = c.leader();
    const to = c.followers()[0];
    await c.run(c.server(from).moveLeader(c.id(to)));
    expect(await c.awaitLeader()).toBe(to);
    expect(c.server(from).leader).toBe(c.id(to));
    await c.put(from, "after-move", "v");
    expect(await c.get(to, "after-move")).toBe("v");
  });

  test("a leader stopped gracefully hands over first: the others need no election timeout", async () => {
    c = await FakeCluster.start({ members: 3 });
    const from = c.leader();
    const t0 = c.now();
    await c.stop(from);
    const next = c.leader(); // agreed on at once: leadership was transferred, not lost
    expect(next).not.toBe(from);
    expect(c.now() - t0).toBeLessThan(1000); // less than one election timeout of fake time
    await c.put(next, "k", "v");
  });
});
