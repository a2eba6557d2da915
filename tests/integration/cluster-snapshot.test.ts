// Catching up by snapshot on an in-process cluster over the fake clock (fake-cluster.ts). The first
// catch-up stays in tests/e2e/cluster.test.ts (the binary's snapshot stream over TCP, its log lines
// and files); what follows it there — a kill -9 right after the install, and falling behind again
// within the 30 s the leader reuses its database copy — moved here, with the first catch-up again so
// the story reads whole.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { enc, FakeCluster } from "./fake-cluster.ts";

let c: FakeCluster | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
});

/** Keys under prefix k on member i, from its own store. */
async function countKeys(i: number): Promise<number> {
  const r = await c!.run(c!.server(i).range({ key: enc("k"), rangeEnd: enc("l"), countOnly: true, serializable: true }));
  return Number(r.count);
}

describe("catching up by snapshot", () => {
  test("a member down through more than --snapshot-count writes installs the leader's snapshot; it restarts from it after kill -9; behind again, it gets a newer one", async () => {
    c = await FakeCluster.start({ members: 3, options: { snapshotCount: 50, maxSnapshots: 2 } });
    await c.put(0, "k-first", "v");
    const victim = c.followers()[0];
    c.kill(victim);
    const leader = c.leader();
    // 300 writes: the others checkpoint and compact their logs past what the victim has.
    for (let i = 0; i < 300; i++) await c.put(leader, `k${i}`, `v${i}`);
    const bulk = "x".repeat(200_000);
    for (let i = 0; i < 5; i++) await c.put(leader, `bulk${i}`, bulk);

    await c.restart(victim);
    await c.until("the victim has k299", () => c!.server(victim).status().raftAppliedIndex >= c!.server(leader).status().raftIndex);
    expect(c.logs(victim)).toContain("installed a snapshot from the leader");
    expect(await c.get(victim, "k299", { serializable: true })).toBe("v299");
    expect(await c.get(victim, "bulk4", { serializable: true })).toBe(bulk);
    expect(await c.get(victim, "k-first", { serializable: true })).toBe("v");
    // Raft snapshot files as etcd keeps them, no more than --max-snapshots; no transfer leftovers.
    const snaps = readdirSync(join(c.dataDir(leader), "member", "snap")).filter((f) => /^[0-9a-f]{16}-[0-9a-f]{16}\.snap$/.test(f));
    expect(snaps.length).toBeGreaterThanOrEqual(1);
    expect(snaps.length).toBeLessThanOrEqual(2);
    expect(readdirSync(join(c.dataDir(victim), "member", "snap")).filter((f) => /^(received-|receiving-)/.test(f))).toEqual([]);

    // It restarts from the installed database plus the WAL written since (kill -9, no clean stop).
    c.kill(victim);
    await c.restart(victim);
    expect(await c.get(victim, "k299", { serializable: true })).toBe("v299");
    const installs = () => c!.logs(victim).split("installed a snapshot from the leader").length - 1;
    const installedBefore = installs();

    // Behind again, well within the 30 s the leader reuses its database copy: the new snapshot is at
    // a later index than that copy covers, so the leader must make a new one (else the victim would
    // lack the entries in between).
    c.kill(victim);
    for (let i = 300; i < 450; i++) await c.put(leader, `k${i}`, `v${i}`);
    await c.restart(victim);
    await c.until("the victim has k449", () => c!.server(victim).status().raftAppliedIndex >= c!.server(leader).status().raftIndex);
    expect(installs()).toBe(installedBefore + 1);
    expect(await c.get(victim, "k449", { serializable: true })).toBe("v449");
    expect(await countKeys(victim)).toBe(451);
    // The same history everywhere: HashKV at the same revision agrees.
    const hashes = await c.run(Promise.all(c.live().map((i) => c!.server(i).hashKV(0n))));
    expect(new Set(hashes.map((h) => `${h.header.revision}:${h.hash}`)).size).toBe(1);
  });
});
