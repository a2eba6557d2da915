// The tutorial's etcdctl session, typed as it is written there (including a dash pasted from the web
// page, "–lease="), through our etcdctl: dist/etcd linked as `etcdctl`, endpoints from ETCDCTL_ENDPOINTS.
// Where the real etcdctl 3.4 accepts the same line, both must print the same.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, cleanup, haveEtcdctl, requireTool, startMember, type Member } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

describe.if(run)("the tutorial's etcdctl session", () => {
  let m: Member;
  let bin: string;
  let env: Record<string, string>;
  const ours = (args: string[]) => spawnSync(join(bin, "etcdctl"), args, { encoding: "utf8", env, timeout: 20_000 });
  const real = (args: string[]) => spawnSync("etcdctl", args, { encoding: "utf8", env, timeout: 20_000 });
  /** Runs a line through both; returns our stdout after checking the real one printed the same. */
  const both = (args: string[]) => {
    const a = ours(args);
    const b = real(args);
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    return a.stdout;
  };

  beforeAll(async () => {
    m = await startMember();
    bin = mkdtempSync(join(tmpdir(), "bin-"));
    symlinkSync(BINARY, join(bin, "etcdctl"));
    env = { ...(process.env as Record<string, string>), ETCDCTL_API: "3", ETCDCTL_ENDPOINTS: m.endpoint };
  });
  afterAll(async () => {
    await m.stop();
    cleanup(m);
    rmSync(bin, { recursive: true, force: true });
  });

  test("写数据 读数据 删除数据 (put, get, get --rev, del)", () => {
    expect(both(["put", "foo", "bar"])).toBe("OK\n");
    const rev = Number(/"revision":(\d+)/.exec(ours(["get", "foo", "-w", "json"]).stdout)![1]);
    expect(both(["put", "foo", "bar2"])).toBe("OK\n");
    expect(both(["get", "foo"])).toBe("foo\nbar2\n");
    expect(both(["get", "foo", `--rev=${rev}`])).toBe("foo\nbar\n");
    expect(ours(["del", "foo"]).stdout).toBe("1\n");
    expect(real(["del", "foo"]).stdout).toBe("0\n");
  });

  test("租约TTL (lease grant, put with a lease, also as '–lease=' pasted from the page, keep-alive, revoke)", async () => {
    const granted = ours(["lease", "grant", "10"]).stdout;
    const id = /^lease ([0-9a-f]+) granted with TTL\(10s\)\n$/.exec(granted)![1];
    expect(ours(["put", "fool", "bar1", `--lease=${id}`]).stdout).toBe("OK\n");
    // The tutorial's line, with its en dash: etcdctl would take "–lease=…" for the key; we read the flag.
    const pasted = ours(["put", `\u2013lease=${id}`, "foo", "bar"]);
    expect(pasted.stdout).toBe("OK\n");
    expect(both(["get", "foo", "-w", "fields"])).toContain(`"Lease" : ${BigInt("0x" + id)}\n`);

    const keep = spawn(join(bin, "etcdctl"), ["lease", "keep-alive", id], { env });
    let out = "";
    keep.stdout.on("data", (d) => (out += d));
    for (let i = 0; i < 50 && !out.includes("\n"); i++) await Bun.sleep(100);
    keep.kill("SIGINT");
    expect(out.split("\n")[0]).toBe(`lease ${id} keepalived with TTL(10)`);

    expect(ours(["lease", "revoke", id]).stdout).toBe(`lease ${id} revoked\n`);
    expect(both(["get", "fool"])).toBe("");
  });

  test("Watch机制 (watch foo sees the next put)", async () => {
    const watch = spawn(join(bin, "etcdctl"), ["watch", "foo"], { env });
    let out = "";
    watch.stdout.on("data", (d) => (out += d));
    await Bun.sleep(500);
    ours(["put", "foo", "watched"]);
    for (let i = 0; i < 50 && !out.includes("watched"); i++) await Bun.sleep(100);
    watch.kill("SIGINT");
    expect(out).toBe("PUT\nfoo\nwatched\n");
  });

  test("碎片整理 (defrag), member list, cluster-health", () => {
    expect(both(["defrag"])).toBe(`Finished defragmenting etcd member[${m.endpoint}]\n`);
    const list = both(["member", "list"]);
    expect(list).toMatch(/^[0-9a-f]+, started, default, http:\/\/localhost:2380, http:\/\/127\.0\.0\.1:\d+, false\n$/);
    const id = list.split(",")[0];
    const health = ours(["cluster-health"]);
    expect(health.stdout).toBe(`member ${id} is healthy: got healthy result from ${m.clientUrl}\ncluster is healthy\n`);
    expect(health.status).toBe(0);
  });
});
