// The in-process cluster harness itself (fake-cluster.ts): a story replays exactly, time moves only when
// the test moves it, a kill keeps only what was acknowledged, and a condition that never holds fails
// with what was awaited and where each member stands.
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { defaultRegistry } from "../../src/pkg/metrics.ts";
import { realTurn } from "../sim/server/immediates.ts";
import { enc, FakeCluster } from "./fake-cluster.ts";

let c: FakeCluster | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
});

/** Elections, writes, a kill, a catch-up by snapshot: what happened, as text. */
async function story(): Promise<string> {
  c = await FakeCluster.start({ members: 3, options: { snapshotCount: 50 } });
  const trace: string[] = [];
  const l = c.leader();
  trace.push(`leader m${l} at ${c.now()} ms`);
  const v = c.followers()[0];
  c.kill(v);
  for (let i = 0; i < 120; i++) await c.put(l, `k${i}`, "v");
  await c.restart(v);
  c.kill(l);
  const n = await c.awaitLeader();
  trace.push(`then m${n} at ${c.now()} ms`);
  await c.restart(l);
  await c.until("all applied", () => c!.live().every((i) => c!.server(i).status().raftAppliedIndex === c!.server(n).status().raftIndex));
  trace.push(`agreed at ${c.now()} ms: ${c.live().map((i) => `${c!.server(i).status().raftAppliedIndex}@${c!.server(i).header().raftTerm}`).join(" ")}`);
  await c.close();
  c = null;
  return trace.join("; ");
}

describe("FakeCluster", () => {
  test("the same story replays exactly: same leaders, at the same fake times, same indexes", async () => {
    const first = await story();
    expect(await story()).toBe(first);
  });

  test("nothing happens unless the test moves time: a put stays pending until it does", async () => {
    c = await FakeCluster.start({ members: 3 });
    let done = false;
    const p = c.server(c.leader()).put({ key: enc("k"), value: enc("v") }).then(() => (done = true));
    for (let i = 0; i < 20; i++) await realTurn(); // the real event loop turns; fake time does not move
    expect(done).toBe(false);
    await c.run(p);
    expect(done).toBe(true);
  });

  test("a killed member's pending calls fail as its Ready loop dies; it restarts with what was acknowledged", async () => {
    c = await FakeCluster.start({ members: 1 });
    await c.put(0, "acked", "1");
    const pending = c.server(0).put({ key: enc("pending"), value: enc("2") }).then(() => "ok", (e: Error) => e.message);
    c.kill(0);
    expect(c.state(0)).toBe("down");
    expect(() => c!.server(0)).toThrow("member 0 (m0) is down");
    await c.advance(100);
    expect(await pending).toBe("etcdserver: server stopped");
    await c.restart(0);
    expect(await c.get(0, "acked")).toBe("1");
  });

  test("close() leaves nothing behind: no server in the metrics registry, the real setImmediate back, no files", async () => {
    const realSetImmediate = globalThis.setImmediate;
    const dirs = () => new Set([...readdirSync("/dev/shm").filter((n) => n.startsWith(`etcd-ts-fake-cluster-${process.pid}-`)), ...readdirSync(tmpdir()).filter((n) => n.startsWith(`etcd-ts-fake-cluster-${process.pid}-`))]);
    const before = dirs();
    c = await FakeCluster.start({ members: 3 });
    expect(globalThis.setImmediate).not.toBe(realSetImmediate);
    const l = c.leader();
    await c.put(l, "k", "v");
    c.kill(l); // its Ready loop is still running when the cluster closes
    await c.close();
    c = null;
    expect(() => defaultRegistry.expose()).not.toThrow();
    expect(globalThis.setImmediate).toBe(realSetImmediate);
    expect([...dirs()].filter((n) => !before.has(n))).toEqual([]);
  });

  test("until() fails after its fake-time bound, naming what it waited for and each member's state", async () => {
    c = await FakeCluster.start({ members: 3 });
    const t0 = c.now();
    const err = await c.until("a member named m9", () => false, 500).then(() => null, (e: Error) => e.message);
    expect(err).toContain("a member named m9: not reached within 500 ms of fake time");
    expect(err).toMatch(/m0: leader m\d, term \d+, commit \d+, applied \d+, revision \d+/);
    expect(c.now() - t0).toBe(500);
  });
});
