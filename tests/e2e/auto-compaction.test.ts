// --auto-compaction-mode periodic: history older than the retention goes away on schedule, newer stays.
import { expect, test } from "bun:test";
import { BINARY, cleanup, ctl, etcdctl, haveEtcdctl, parseJsonExact, requireTool, startMember } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

test.if(run)("periodic retention 2s: old revisions are compacted within a period or two, recent ones kept", async () => {
  const m = await startMember({ args: ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "2s"] });
  try {
    const rev = (out: string) => BigInt(parseJsonExact(out).header.revision);
    const first = rev(ctl(m, ["put", "k", "v0", "-w", "json"]));
    // Keep writing for 5 s so there is history on both sides of the retention.
    let last = first;
    const until = Date.now() + 5000;
    for (let i = 1; Date.now() < until; i++) {
      last = rev(ctl(m, ["put", "k", `v${i}`, "-w", "json"]));
      await Bun.sleep(100);
    }
    const old = etcdctl(m, ["get", "k", `--rev=${first}`]);
    expect(old.status).not.toBe(0);
    expect(old.stderr).toContain("etcdserver: mvcc: required revision has been compacted");
    // The last second of history is still there.
    expect(ctl(m, ["get", "k", `--rev=${last - 5n}`, "--print-value-only"])).toMatch(/^v\d+\n$/);
    expect(m.logs()).toContain("completed auto periodic compaction");
  } finally {
    await m.stop();
    cleanup(m);
  }
}, 30_000);

test("an invalid retention is a startup error naming the setting", async () => {
  const r = Bun.spawnSync([BINARY, "--auto-compaction-mode", "revision", "--auto-compaction-retention", "1h"]);
  expect(r.exitCode).not.toBe(0);
  expect(r.stderr.toString()).toContain("--auto-compaction-retention");
});
