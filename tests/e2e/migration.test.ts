// Moving between etcd and etcd-ts through snapshots, with Debian's etcd 3.4 and etcdctl 3.4:
// - etcd → etcd-ts: a snapshot saved from a real etcd, restored by our etcdctl, served by dist/etcd;
// - etcd-ts → etcd: a snapshot saved from dist/etcd (etcd's bbolt layout), checked and restored by
//   the real etcdctl, served by the real etcd.
// Both ways every key keeps its value, create/mod revision, version and lease, history after the
// compaction point is readable at its revisions, and the compacted part is refused as compacted.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, freePort, haveEtcdctl, haveEtcdServer, type Member, parseJsonExact, requireTool, startMember, startRealEtcd } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl()) && requireTool("etcd (the real etcd 3.4)", haveEtcdServer());
const root = mkdtempSync(join(tmpdir(), "migration-"));
const started: Member[] = [];
afterAll(async () => {
  for (const m of started) await m.stop();
  rmSync(root, { recursive: true, force: true });
});

type Tool = "real" | "ours";
function ctl(tool: Tool, endpoint: string | null, args: string[]): string {
  const cmd = tool === "real" ? ["etcdctl"] : [BINARY, "ctl"];
  const r = spawnSync(cmd[0], [...cmd.slice(1), ...(endpoint ? ["--endpoints", endpoint] : []), ...args], {
    encoding: "utf8",
    env: { ...process.env, ETCDCTL_API: "3" },
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** The same writes on either server: overwrites, deletes (holes in revisions), a txn, a lease, a compaction. */
function write(tool: Tool, endpoint: string): { lease: string; compactedAt: number; middle: number } {
  for (let i = 0; i < 20; i++) ctl(tool, endpoint, ["put", `k/${String(i).padStart(2, "0")}`, `v${i}`]);
  ctl(tool, endpoint, ["put", "k/03", "again"]);
  ctl(tool, endpoint, ["del", "k/05"]);
  const compactedAt = Number(parseJsonExact(ctl(tool, endpoint, ["put", "k/07", "x", "-w", "json"])).header.revision);
  ctl(tool, endpoint, ["put", "big", "B".repeat(100_000)]); // overflow pages in bbolt (one argument stays under 128 KiB)
  const lease = /lease ([0-9a-f]+) granted/.exec(ctl(tool, endpoint, ["lease", "grant", "3600"]))![1];
  ctl(tool, endpoint, ["put", "leased", "yes", `--lease=${lease}`]);
  const middle = Number(parseJsonExact(ctl(tool, endpoint, ["put", "k/08", "y", "-w", "json"])).header.revision);
  ctl(tool, endpoint, ["del", "k/1", "--prefix"]);
  ctl(tool, endpoint, ["put", "k/11", "back"]);
  ctl(tool, endpoint, ["compaction", String(compactedAt)]);
  return { lease, compactedAt, middle };
}

/** What a client sees: every key with revisions, at the head and at `middle`; the lease; the revision. */
function view(tool: Tool, endpoint: string, middle: number, lease: string) {
  const head = parseJsonExact(ctl(tool, endpoint, ["get", "", "--prefix", "-w", "json"]));
  const past = parseJsonExact(ctl(tool, endpoint, ["get", "k/", "--prefix", "-w", "json", `--rev=${middle}`]));
  const strip = (r: any) => ({ revision: r.header.revision, kvs: r.kvs, count: r.count });
  const ttl = ctl(tool, endpoint, ["lease", "timetolive", lease, "--keys"]);
  return { head: strip(head), past: strip(past), leaseKeys: /attached keys\((\[.*\])\)/.exec(ttl)?.[1] };
}

describe.if(run)("migration through snapshots", () => {
  test("etcd 3.4 → etcd-ts: restore a real etcd's snapshot and serve the same keys, revisions and lease", async () => {
    const real = await startRealEtcd();
    started.push(real);
    const { lease, compactedAt, middle } = write("real", real.endpoint);
    const before = view("real", real.endpoint, middle, lease);
    expect(before.leaseKeys).toBe("[leased]");
    expect(before.head.kvs.length).toBe(12); // k/00..k/19 without k/05 and k/10..k/19, then k/11, big, leased
    const snap = join(root, "from-etcd.db");
    ctl("real", real.endpoint, ["snapshot", "save", snap]);
    // Status as etcdctl computes it, on the same file.
    expect(ctl("ours", null, ["snapshot", "status", snap, "-w", "json"])).toBe(ctl("real", null, ["snapshot", "status", snap, "-w", "json"]));
    await real.stop();

    const peer = await freePort();
    const dir = join(root, "ours-from-etcd");
    ctl("ours", null, ["snapshot", "restore", snap, "--name", "m1", "--data-dir", dir, "--initial-cluster", `m1=http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`]);
    const ours = await startMember({ dataDir: dir, peerPort: peer, args: ["--name", "m1", "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`, "--initial-cluster", `m1=http://127.0.0.1:${peer}`] });
    started.push(ours);
    expect(view("ours", ours.endpoint, middle, lease)).toEqual(before);
    const compacted = spawnSync(BINARY, ["ctl", "--endpoints", ours.endpoint, "get", "k/", "--prefix", `--rev=${compactedAt - 1}`], { encoding: "utf8" });
    expect(compacted.stderr).toContain("required revision has been compacted");
    // And it goes on from there.
    const next = parseJsonExact(ctl("ours", ours.endpoint, ["put", "after", "migration", "-w", "json"])).header.revision;
    expect(BigInt(next)).toBe(BigInt(before.head.revision) + 1n);
  }, 120_000);

  test("etcd-ts → etcd 3.4: the real etcdctl checks and restores our snapshot, the real etcd serves it", async () => {
    const ours = await startMember();
    started.push(ours);
    const { lease, compactedAt, middle } = write("ours", ours.endpoint);
    const before = view("ours", ours.endpoint, middle, lease);
    expect(before.leaseKeys).toBe("[leased]");
    expect(before.past.kvs.length).toBeGreaterThan(15);
    const snap = join(root, "from-ours.db");
    expect(ctl("ours", ours.endpoint, ["snapshot", "save", snap])).toContain(`Snapshot saved at ${snap}`);
    expect(ctl("real", null, ["snapshot", "status", snap, "-w", "json"])).toBe(ctl("ours", null, ["snapshot", "status", snap, "-w", "json"]));
    await ours.stop();

    const peer = await freePort();
    const dir = join(root, "etcd-from-ours");
    ctl("real", null, ["snapshot", "restore", snap, "--name", "e1", "--data-dir", dir, "--initial-cluster", `e1=http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`]);
    const real = await startRealEtcd({ dataDir: dir, peerPort: peer, args: ["--name", "e1", "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`, "--initial-cluster", `e1=http://127.0.0.1:${peer}`] });
    started.push(real);
    expect(view("real", real.endpoint, middle, lease)).toEqual(before);
    const compacted = spawnSync("etcdctl", ["--endpoints", real.endpoint, "get", "k/", "--prefix", `--rev=${compactedAt - 1}`], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } });
    expect(compacted.stderr).toContain("required revision has been compacted");
    const next = parseJsonExact(ctl("real", real.endpoint, ["put", "after", "migration", "-w", "json"])).header.revision;
    expect(BigInt(next)).toBe(BigInt(before.head.revision) + 1n);
  }, 120_000);

  test("authentication comes along both ways: users, roles, permissions and bcrypt passwords", async () => {
    const setup = (tool: Tool, endpoint: string) => {
      ctl(tool, endpoint, ["user", "add", "root:rootpw"]);
      ctl(tool, endpoint, ["user", "add", "reader:readpw"]);
      ctl(tool, endpoint, ["role", "add", "app"]);
      ctl(tool, endpoint, ["role", "grant-permission", "app", "read", "/app/", "--prefix"]);
      ctl(tool, endpoint, ["user", "grant-role", "reader", "app"]);
      ctl(tool, endpoint, ["put", "/app/x", "visible"]);
      ctl(tool, endpoint, ["put", "/other", "hidden"]);
      ctl(tool, endpoint, ["auth", "enable"]);
    };
    const check = (tool: Tool, endpoint: string) => {
      const run = (args: string[]) => spawnSync(tool === "real" ? "etcdctl" : BINARY, [...(tool === "real" ? [] : ["ctl"]), "--endpoints", endpoint, ...args], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } });
      expect(run(["get", "/app/x"]).stderr).toContain("etcdserver: user name is empty");
      expect(run(["--user", "reader:readpw", "get", "/app/x", "--print-value-only"]).stdout).toBe("visible\n");
      expect(run(["--user", "reader:readpw", "get", "/other"]).stderr).toContain("etcdserver: permission denied");
      expect(run(["--user", "reader:wrong", "get", "/app/x"]).stderr).toContain("etcdserver: authentication failed, invalid user ID or password");
      expect(run(["--user", "root:rootpw", "get", "/other", "--print-value-only"]).stdout).toBe("hidden\n");
    };
    const restoreArgs = (name: string, dir: string, peer: number) => ["snapshot", "restore", "--name", name, "--data-dir", dir, "--initial-cluster", `${name}=http://127.0.0.1:${peer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`];
    const startArgs = (name: string, peer: number) => ["--name", name, "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`, "--initial-cluster", `${name}=http://127.0.0.1:${peer}`];

    // etcd → etcd-ts
    const real = await startRealEtcd();
    started.push(real);
    setup("real", real.endpoint);
    const fromEtcd = join(root, "auth-from-etcd.db");
    ctl("real", real.endpoint, ["--user", "root:rootpw", "snapshot", "save", fromEtcd]);
    await real.stop();
    const p1 = await freePort();
    const d1 = join(root, "auth-ours");
    ctl("ours", null, [...restoreArgs("a1", d1, p1).slice(0, 2), fromEtcd, ...restoreArgs("a1", d1, p1).slice(2)]);
    const ours = await startMember({ dataDir: d1, peerPort: p1, args: startArgs("a1", p1) });
    started.push(ours);
    check("ours", ours.endpoint);

    // etcd-ts → etcd
    const fromOurs = join(root, "auth-from-ours.db");
    ctl("ours", ours.endpoint, ["--user", "root:rootpw", "snapshot", "save", fromOurs]);
    await ours.stop();
    const p2 = await freePort();
    const d2 = join(root, "auth-etcd");
    ctl("real", null, [...restoreArgs("e2", d2, p2).slice(0, 2), fromOurs, ...restoreArgs("e2", d2, p2).slice(2)]);
    const back = await startRealEtcd({ dataDir: d2, peerPort: p2, args: startArgs("e2", p2) });
    started.push(back);
    check("real", back.endpoint);
  }, 120_000);
});
