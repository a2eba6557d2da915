// The leader's periodic corruption check (--experimental-corrupt-check-time) on an in-process cluster
// over the fake clock (fake-cluster.ts). The server's side of tests/e2e/cluster.test.ts's "corruption
// check", which keeps etcdctl's alarm list and errors, /health and the log line, and no longer sleeps
// through healthy checks: that part is here.
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { Errors } from "../../src/pkg/errors.ts";
import { enc, FakeCluster } from "./fake-cluster.ts";

let c: FakeCluster | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
});

const failure = (p: Promise<unknown>) => p.then(() => "ok", (e: Error) => e.message);

async function alarms(i: number): Promise<string[]> {
  const r = await c!.run(c!.server(i).alarm({ action: etcdserverpb.AlarmRequest.AlarmAction.GET }));
  return r.alarms.map((a) => `${a.memberID.toString(16)}:${etcdserverpb.AlarmType[a.alarm]}`);
}

/** A bit flip on the stopped member's disk: key's latest value in its database becomes "rotten". */
function tamper(dataDir: string, key: string): void {
  const db = new Database(join(dataDir, "member", "snap", "db"));
  try {
    db.run("UPDATE hist SET value = ?1 WHERE id = (SELECT max(id) FROM hist WHERE key = ?2)", [enc("rotten"), enc(key)]);
  } finally {
    db.close();
  }
}

describe("corruption check", () => {
  test("healthy members pass every check; a member whose history differs gets the CORRUPT alarm, writes stop cluster-wide with etcd's error, reads go on", async () => {
    c = await FakeCluster.start({ members: 3, options: { corruptCheckTimeMs: 1_000 } });
    for (let i = 0; i < 10; i++) await c.put(0, `k${i}`, `v${i}`);
    const victim = c.followers()[0];
    // Healthy members agree: several checks pass without an alarm.
    await c.advance(3_500);
    expect(await alarms(0)).toEqual([]);
    expect(c.live().some((i) => c!.logs(i).includes("found data inconsistency"))).toBe(false);

    // Damage one value in the victim's database while it is stopped.
    await c.stop(victim);
    tamper(c.dataDir(victim), "k3");
    await c.restart(victim);
    await c.until("the CORRUPT alarm", () => c!.server(0).alarmNames().includes("CORRUPT"), 5_000);
    // The majority agree, so the victim is the one named.
    expect(await alarms(0)).toEqual([`${c.id(victim).toString(16)}:CORRUPT`]);
    expect(c.live().some((i) => c!.logs(i).includes("found data inconsistency with peers"))).toBe(true);
    for (const i of c.live()) {
      expect(await c.run(failure(c.server(i).put({ key: enc("after"), value: enc("x") })))).toBe(Errors.corrupt.message);
    }
    expect(await c.run(failure(c.server(0).deleteRange({ key: enc("k1") })))).toBe(Errors.corrupt.message);
    expect(await c.get(0, "k3")).toBe("v3");
    expect(await c.get(victim, "k3", { serializable: true })).toBe("rotten");
  });
});
