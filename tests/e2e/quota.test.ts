// --quota-backend-bytes: the NOSPACE alarm stops writes, keeps reads and deletes, and is disarmed by
// the operator after compaction and defragmentation, as with etcd.
import { describe, expect, test } from "bun:test";
import { cleanup, ctl, etcdctl, haveEtcdctl, requireTool, startMember } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

describe.if(run)("quota and the NOSPACE alarm", () => {
  test("writes stop with etcd's error, reads and deletes go on, alarm disarm restores writes", async () => {
    const m = await startMember({ args: ["--quota-backend-bytes", String(600 * 1024)] });
    try {
      const value = "x".repeat(4096);
      let failed: { i: number; stderr: string } | null = null;
      for (let i = 0; i < 400 && !failed; i++) {
        const r = etcdctl(m, ["put", `big${i}`, value]);
        if (r.status !== 0) failed = { i, stderr: r.stderr };
      }
      expect(failed).not.toBeNull();
      expect(failed!.stderr).toContain("etcdserver: mvcc: database space exceeded");
      expect(ctl(m, ["alarm", "list"])).toMatch(/^memberID:\d+ alarm:NOSPACE \n$/);
      expect(await (await fetch(`${m.clientUrl}/health`)).json()).toEqual({ health: "false", reason: "ALARM NOSPACE" });
      // Reads and deletes still work; writes do not, even small ones.
      expect(ctl(m, ["get", "big0", "--print-value-only"])).toBe(`${value}\n`);
      expect(etcdctl(m, ["put", "small", "1"]).stderr).toContain("etcdserver: mvcc: database space exceeded");
      expect(ctl(m, ["del", "big", "--prefix"])).toMatch(/^\d+\n$/);
      const rev = JSON.parse(ctl(m, ["get", "big0", "-w", "json"])).header.revision;
      ctl(m, ["compaction", String(rev)]);
      ctl(m, ["defrag"]);
      expect(ctl(m, ["alarm", "disarm"])).toMatch(/^memberID:\d+ alarm:NOSPACE \n$/);
      expect(ctl(m, ["alarm", "list"])).toBe("");
      expect(ctl(m, ["put", "small", "1"])).toBe("OK\n");
    } finally {
      await m.stop();
      cleanup(m);
    }
  }, 120_000);
});
