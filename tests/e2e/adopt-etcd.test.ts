// Upgrading in place from etcd 3.4 (issue 13): a real etcd 3.4 cluster's data dirs, and one made by
// etcd 3.4's `etcdctl snapshot restore`, started with the etcd-ts binary and the same flags. The
// members keep their cluster id, member ids, members, keys, revisions, compaction, leases and auth
// (passwords hashed by etcd) — including writes that were only in etcd's WAL when it was killed —
// and etcd's files are kept, byte for byte, beside the converted ones.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { BoltReader, decodeEtcdBackend } from "../../src/snap/bbolt/index.ts";
import { BINARY, freePort, haveEtcdctl, haveEtcdServer, type Member, parseJsonExact, requireTool, serverEnv, startMember, startRealEtcd } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl()) && requireTool("etcd (the real etcd 3.4)", haveEtcdServer());
const root = mkdtempSync(join(tmpdir(), "adopt-etcd-"));
const started: Member[] = [];
const ROOT = ["--user", "root:rootpw"];
afterAll(async () => {
  for (const m of started) await m.stop("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

function etcdctl(endpoints: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("etcdctl", ["--endpoints", endpoints, "--dial-timeout", "3s", "--command-timeout", "10s", ...args], {
    encoding: "utf8",
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
function ctl(endpoints: string, args: string[]): string {
  const r = etcdctl(endpoints, args);
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** sha256 of every file under `dir`, by relative path. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

/** What clients see of a cluster: ids, members, every key with its revisions, the revision. */
function view(endpoint: string) {
  const members = parseJsonExact(ctl(endpoint, [...ROOT, "member", "list", "-w", "json"]));
  const all = parseJsonExact(ctl(endpoint, [...ROOT, "get", "", "--prefix", "-w", "json"]));
  return {
    clusterId: String(members.header.cluster_id),
    members: members.members.map((m: any) => ({ id: String(m.ID), name: m.name ?? "", peerURLs: m.peerURLs, clientURLs: m.clientURLs ?? [], isLearner: !!m.isLearner })).sort((a: any, b: any) => a.name.localeCompare(b.name)),
    revision: String(all.header.revision),
    kvs: all.kvs,
  };
}

interface Node {
  name: string;
  dir: string;
  client: number;
  peer: number;
}
// The lowest bcrypt cost keeps the many password checks of this test fast (on both servers); no
// strict reconfiguration check, so that a member can be added within etcd's first 5 seconds.
const memberArgs = (n: Node, cluster: string, token: string) => [
  "--name", n.name, "--initial-advertise-peer-urls", `http://127.0.0.1:${n.peer}`, "--initial-cluster", cluster, "--initial-cluster-token", token,
  "--bcrypt-cost", "4", "--strict-reconfig-check=false",
];

// Filled by beforeAll: the etcd 3.4 cluster's data dirs after a kill -9, and what it served before.
let nodes: Node[] = [];
let cluster = "";
let before: ReturnType<typeof view>;
let originals: Record<string, string>[] = [];
let lease = "";
let compactedAt = 0;
let snapshotFile = "";

describe.if(run)("etcd 3.4 data dirs started with etcd-ts", () => {
  beforeAll(async () => {
    nodes = await Promise.all([1, 2, 3].map(async (i) => ({ name: `e${i}`, dir: join(root, `e${i}.etcd`), client: await freePort(), peer: await freePort() })));
    cluster = nodes.map((n) => `${n.name}=http://127.0.0.1:${n.peer}`).join(",");
    // The backend commits only at snapshots, so what came after the last one is in the WAL alone.
    // e1 and e2 take a snapshot every 25 entries (snapshot files with the v2 store's members, a log
    // after them); e3 never does, so its database holds nothing and everything replays from its WAL.
    const etcdOnly = (i: number) => ["--snapshot-count", i < 2 ? "25" : "100000", "--backend-batch-interval", "10m", "--backend-batch-limit", "1000000"];
    const etcds = await Promise.all(
      nodes.map((n, i) => startRealEtcd({ dataDir: n.dir, port: n.client, peerPort: n.peer, args: [...memberArgs(n, cluster, "adopt-1"), ...etcdOnly(i)] })),
    );
    started.push(...etcds);
    const ep = etcds.map((m) => m.endpoint).join(",");
    for (let i = 0; i < 20; i++) ctl(ep, ["put", `k/${String(i).padStart(2, "0")}`, `v${i}`]);
    ctl(ep, ["put", "k/01", "again"]);
    ctl(ep, ["del", "k/02"]);
    compactedAt = Number(parseJsonExact(ctl(ep, ["put", "k/03", "x", "-w", "json"])).header.revision);
    ctl(ep, ["compaction", String(compactedAt)]);
    lease = /lease ([0-9a-f]+) granted/.exec(ctl(ep, ["lease", "grant", "3600"]))![1];
    ctl(ep, ["put", "leased", "yes", `--lease=${lease}`]);
    // A learner that never started: a member with no name or client URLs yet.
    ctl(ep, ["member", "add", "e4", "--learner", `--peer-urls=http://127.0.0.1:${await freePort()}`]);
    for (const args of [
      ["user", "add", "root:rootpw"],
      ["user", "grant-role", "root", "root"],
      ["user", "add", "alice:alicepw"],
      ["role", "add", "reader"],
      ["role", "grant-permission", "reader", "readwrite", "k/", "--prefix"],
      ["user", "grant-role", "alice", "reader"],
      ["auth", "enable"],
    ]) {
      ctl(ep, args);
    }
    ctl(ep, [...ROOT, "put", "after/auth", "yes"]);
    snapshotFile = join(root, "snapshot.db");
    ctl(etcds[0].endpoint, [...ROOT, "snapshot", "save", snapshotFile]);
    // The last writes, then kill -9 at once: in the WAL, not yet in the databases.
    for (let i = 1; i <= 3; i++) ctl(ep, [...ROOT, "put", `wal/${i}`, `only-in-the-wal-${i}`]);
    before = view(ep);
    await Promise.all(etcds.map((m) => m.stop("SIGKILL")));
    originals = nodes.map((n) => hashes(join(n.dir, "member")));
  }, 60_000);

  test("a killed 3-member cluster restarts as etcd-ts: same ids, members, keys, revisions, lease and auth", async () => {
    // The writes left only in etcd's WAL are there to be replayed (not in at least one database).
    const inDb = nodes.map((n) => decodeEtcdBackend(BoltReader.fromFile(join(n.dir, "member", "snap", "db"))).keys.some((k) => new TextDecoder().decode(k.kv.key) === "wal/3"));
    expect(inDb[2]).toBe(false);
    expect(readdirSync(join(nodes[0].dir, "member", "snap")).some((f) => f.endsWith(".snap"))).toBe(true);
    expect(readdirSync(join(nodes[2].dir, "member", "snap")).some((f) => f.endsWith(".snap"))).toBe(false);

    const ours = await Promise.all(nodes.map((n) => startMember({ dataDir: n.dir, port: n.client, peerPort: n.peer, args: memberArgs(n, cluster, "adopt-1") })));
    started.push(...ours);
    const ep = ours.map((m) => m.endpoint).join(",");
    for (const m of ours) expect(m.logs()).toContain('"msg":"adopted an etcd data dir"');
    const after = view(ep);
    expect(after).toEqual(before);
    expect(after.members.map((m: any) => [m.name, m.isLearner])).toEqual([["", true], ["e1", false], ["e2", false], ["e3", false]]);
    expect(after.kvs.filter((kv: any) => Buffer.from(kv.key, "base64").toString().startsWith("wal/")).length).toBe(3);

    // History before the compaction is gone, after it readable.
    expect(etcdctl(ep, [...ROOT, "get", "k/00", `--rev=${compactedAt - 1}`]).stderr).toContain("required revision has been compacted");
    expect(ctl(ep, [...ROOT, "get", "k/03", `--rev=${compactedAt}`, "--print-value-only"])).toBe("x\n");
    // The lease, with its TTL and key.
    const ttl = ctl(ep, [...ROOT, "lease", "timetolive", lease, "--keys"]);
    expect(ttl).toMatch(new RegExp(`lease ${lease} granted with TTL\\(3600s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased\\]\\)`));
    // Auth is on, with the passwords etcd hashed and the permissions it stored.
    expect(etcdctl(ep, ["get", "k/00"]).stderr).toContain("etcdserver: user name is empty");
    expect(ctl(ep, ["--user", "alice:alicepw", "get", "k/00", "--print-value-only"])).toBe("v0\n");
    expect(etcdctl(ep, ["--user", "alice:alicepw", "get", "after/auth"]).stderr).toContain("etcdserver: permission denied");
    expect(etcdctl(ep, ["--user", "alice:wrong", "get", "k/00"]).stderr).toContain("etcdserver: authentication failed, invalid user ID or password");
    // Writes go on from etcd's revision and reach every member.
    const put = parseJsonExact(ctl(ours[0].endpoint, ["--user", "alice:alicepw", "put", "k/new", "written-by-etcd-ts", "-w", "json"]));
    expect(BigInt(put.header.revision)).toBe(BigInt(before.revision) + 1n);
    for (const m of ours) expect(ctl(m.endpoint, [...ROOT, "get", "k/new", "--print-value-only"])).toBe("written-by-etcd-ts\n");

    // etcd's files are kept, untouched.
    nodes.forEach((n, i) => expect(hashes(join(n.dir, "member.etcd-3.4"))).toEqual(originals[i]));
  }, 60_000);

  test("a data dir made by etcd 3.4's `etcdctl snapshot restore` serves the snapshot, and etcd's copy still works", async () => {
    const peer = await freePort();
    const port = await freePort();
    const dir = join(root, "restored.etcd");
    const args = ["--name", "r1", "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`, "--initial-cluster", `r1=http://127.0.0.1:${peer}`, "--initial-cluster-token", "restored"];
    ctl("127.0.0.1:1", ["snapshot", "restore", snapshotFile, "--data-dir", dir, ...args]);
    args.push("--bcrypt-cost", "4");
    // What etcd 3.4 itself serves from that directory (on a copy): the reference.
    const reference = join(root, "reference.etcd");
    cpSync(dir, reference, { recursive: true });
    const etcd = await startRealEtcd({ dataDir: reference, port, peerPort: peer, args });
    started.push(etcd);
    const expected = view(etcd.endpoint);
    await etcd.stop();
    expect(expected.members.map((m: any) => m.name)).toEqual(["r1"]);
    expect(expected.kvs.some((kv: any) => Buffer.from(kv.key, "base64").toString() === "after/auth")).toBe(true);
    const original = hashes(join(dir, "member"));

    const ours = await startMember({ dataDir: dir, port, peerPort: peer, args });
    started.push(ours);
    expect(view(ours.endpoint)).toEqual(expected);
    expect(ctl(ours.endpoint, ["--user", "alice:alicepw", "get", "k/00", "--print-value-only"])).toBe("v0\n");
    await ours.stop();
    expect(hashes(join(dir, "member.etcd-3.4"))).toEqual(original);

    // The way back for the kept copy: etcd 3.4 starts on it (as <dir>/member) and serves the same data;
    // while it runs, etcd-ts refuses to touch that directory.
    const back = join(root, "back.etcd");
    mkdirSync(back);
    cpSync(join(dir, "member.etcd-3.4"), join(back, "member"), { recursive: true });
    const again = await startRealEtcd({ dataDir: back, port, peerPort: peer, args });
    started.push(again);
    expect(view(again.endpoint)).toEqual(expected);
    const refused = spawnSync(BINARY, ["--data-dir", back, "--listen-client-urls", `http://127.0.0.1:${await freePort()}`, "--advertise-client-urls", "http://127.0.0.1:1", "--listen-peer-urls", `http://127.0.0.1:${await freePort()}`, ...args], {
      encoding: "utf8",
      env: serverEnv(),
      timeout: 20_000,
    });
    expect(refused.status).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain("etcd is still running on");
    expect(existsSync(join(back, "member.etcd-3.4"))).toBe(false);
    await again.stop();
  }, 60_000);
});
