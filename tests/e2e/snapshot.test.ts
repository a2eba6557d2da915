// `etcdctl snapshot save|status|restore` with the compiled binary: a three-member cluster is written
// to (a lease-attached key, overwrites and deletes so revisions have holes), saved by our etcdctl and
// by the real etcdctl 3.4, stopped, and restored into three new data directories under a new
// membership; the new cluster must serve every key with the same create/mod revisions, the same
// current revision, the history before it, the lease, and equal HashKV on every member; a fourth
// member added afterwards gets all of it from the leader.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type KeyValue } from "../../src/client/index.ts";
import { BINARY, etcdctl, freePort, haveEtcdctl, type Member, parseJsonExact, requireTool, startMember } from "./harness.ts";

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Our etcdctl (`etcd ctl …`). */
function ourCtl(args: string[]): Run {
  const r = spawnSync(BINARY, ["ctl", ...args], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: Run, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Three members on fresh ports; names and data dirs under root. */
async function startCluster(root: string, prefix: string): Promise<Member[]> {
  const names = [1, 2, 3].map((i) => `${prefix}${i}`);
  const clients = [await freePort(), await freePort(), await freePort()];
  const peers = [await freePort(), await freePort(), await freePort()];
  const cluster = names.map((n, j) => `${n}=http://127.0.0.1:${peers[j]}`).join(",");
  return Promise.all(
    [0, 1, 2].map((i) =>
      startMember({
        dataDir: join(root, names[i]),
        port: clients[i],
        peerPort: peers[i],
        args: ["--name", names[i], "--initial-advertise-peer-urls", `http://127.0.0.1:${peers[i]}`, "--initial-cluster", cluster, "--initial-cluster-token", `${prefix}-token`],
      }),
    ),
  );
}

const plain = (kv: KeyValue) => ({
  key: kv.key.toString(),
  value: kv.value.toString(),
  createRevision: kv.createRevision,
  modRevision: kv.modRevision,
  version: kv.version,
  lease: kv.lease,
});

describe("snapshot save, status and restore across a three-member cluster", () => {
  let root = "";
  let members: Member[] = [];
  const clients: Client[] = [];
  const client = (endpoints: string[]) => {
    const c = new Client({ endpoints, dialTimeoutMs: 2000 });
    clients.push(c);
    return c;
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "etcd-ts-snap-"));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const m of members) await m.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 30_000);

  test("a restored cluster serves every key and revision of the snapshot, with equal hashes", async () => {
    members = await startCluster(root, "old");
    const c = client(members.map((m) => m.endpoint));
    for (let i = 0; i < 30; i++) await c.put(`k/${String(i).padStart(2, "0")}`, `v${i}`);
    for (let i = 0; i < 30; i += 3) await c.put(`k/${String(i).padStart(2, "0")}`, `w${i}`);
    for (let i = 1; i < 30; i += 5) await c.delete(`k/${String(i).padStart(2, "0")}`);
    const lease = await c.lease.grant(600);
    await c.put("leased", "held", { lease: lease.id });
    // A few more writes after the deletes: the last revision is not the deletes'.
    await c.put("k/00", "last");
    const before = await c.get("", { prefix: true });
    const revision = before.header.revision;
    // History: a revision in the middle, read back after the restore.
    const pastRev = revision - 20n;
    const past = await c.get("k/", { prefix: true, revision: pastRev });
    expect(before.kvs.length).toBeGreaterThan(10);

    const ours = join(root, "ours.db");
    expect(ok(ourCtl(["--endpoints", members[0].endpoint, "snapshot", "save", ours]), "snapshot save")).toBe(`Snapshot saved at ${ours}\n`);
    expect(existsSync(`${ours}.part`)).toBe(false);
    const status = JSON.parse(ok(ourCtl(["-w", "json", "snapshot", "status", ours]), "snapshot status"));
    expect(BigInt(status.revision)).toBe(revision);
    expect(status.totalKey).toBeGreaterThan(before.kvs.length);

    let theirs = "";
    if (requireTool("etcdctl", haveEtcdctl())) {
      theirs = join(root, "theirs.db");
      const r = etcdctl(members[0], ["snapshot", "save", theirs]);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`Snapshot saved at ${theirs}\n`);
      // The same state, whichever etcdctl fetched it.
      expect(JSON.parse(ok(ourCtl(["-w", "json", "snapshot", "status", theirs]), "status of etcdctl's file"))).toEqual(status);
    }

    for (const m of members) await m.stop();
    members = [];

    // The new cluster: new names, ports and token; member 3 from etcdctl 3.4's file when we have one.
    const names = [1, 2, 3].map((i) => `new${i}`);
    const clientPorts = [await freePort(), await freePort(), await freePort()];
    const peers = [await freePort(), await freePort(), await freePort()];
    const cluster = names.map((n, j) => `${n}=http://127.0.0.1:${peers[j]}`).join(",");
    const dirs = names.map((n) => join(root, "restored", n));
    const addedLogged: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const file = i === 2 && theirs ? theirs : ours;
      const r = ourCtl([
        "snapshot", "restore", file,
        "--name", names[i],
        "--data-dir", dirs[i],
        "--initial-cluster", cluster,
        "--initial-cluster-token", "restored-token",
        "--initial-advertise-peer-urls", `http://127.0.0.1:${peers[i]}`,
      ]);
      ok(r, `snapshot restore ${names[i]}`);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`into ${dirs[i]}`);
      // As etcdctl 3.4: one "added member" line per member of the new cluster.
      const added = r.stderr.split("\n").filter((l) => l.includes('"added member"')).map((l) => JSON.parse(l)["added-peer-id"] as string);
      addedLogged.push(added);
    }
    // Every restore names the same three members (the new cluster's ids, checked against member list below).
    expect(addedLogged[0]).toHaveLength(3);
    expect(addedLogged[1]).toEqual(addedLogged[0]);
    expect(addedLogged[2]).toEqual(addedLogged[0]);
    members = await Promise.all(
      [0, 1, 2].map((i) =>
        startMember({
          dataDir: dirs[i],
          port: clientPorts[i],
          peerPort: peers[i],
          args: ["--name", names[i], "--initial-advertise-peer-urls", `http://127.0.0.1:${peers[i]}`, "--initial-cluster", cluster, "--initial-cluster-token", "restored-token"],
        }),
      ),
    );

    const endpoints = members.map((m) => m.endpoint);
    const after = await client(endpoints).get("", { prefix: true });
    expect(after.header.revision).toBe(revision);
    expect(after.kvs.map(plain)).toEqual(before.kvs.map(plain));
    // Every member has it, and the history before it.
    for (const m of members) {
      const local = await client([m.endpoint]).get("", { prefix: true, serializable: true });
      expect(local.kvs.map(plain)).toEqual(before.kvs.map(plain));
      const then = await client([m.endpoint]).get("k/", { prefix: true, revision: pastRev, serializable: true });
      expect(then.kvs.map(plain)).toEqual(past.kvs.map(plain));
    }
    // The lease came along with its key.
    const leases = await client(endpoints).lease.leases();
    expect(leases.leases).toContain(lease.id);
    const ttl = await client(endpoints).lease.timeToLive(lease.id, { keys: true });
    expect(ttl.keys.map(String)).toEqual(["leased"]);

    // The new membership, and a cluster that takes writes at the next revision.
    const list = parseJsonExact(ok(ourCtl(["--endpoints", endpoints[0], "-w", "json", "member", "list"]), "member list"));
    expect(list.members.map((m: { name: string }) => m.name).sort()).toEqual(names);
    expect(list.members.map((m: { ID: unknown }) => BigInt(String(m.ID)).toString(16)).sort()).toEqual([...addedLogged[0]].sort());
    const put = await client(endpoints).put("after", "restore");
    expect(put.header.revision).toBe(revision + 1n);

    if (haveEtcdctl()) {
      const hashes = parseJsonExact(ok(etcdctl(endpoints.join(","), ["-w", "json", "endpoint", "hashkv"]), "endpoint hashkv"));
      expect(hashes.length).toBe(3);
      expect(new Set(hashes.map((h: { HashKV: { hash: unknown } }) => String(h.HashKV.hash))).size).toBe(1);
    }

    // Growing the restored cluster: a member added now has no log to replay that holds the keys (the
    // restored log starts after them), so the leader must send it the database as a Raft snapshot.
    const [clientPort4, peer4] = [await freePort(), await freePort()];
    const peerUrl4 = `http://127.0.0.1:${peer4}`;
    const added = ok(ourCtl(["--endpoints", endpoints[0], "member", "add", "new4", `--peer-urls=${peerUrl4}`]), "member add");
    expect(added).toContain(`ETCD_INITIAL_CLUSTER_STATE="existing"`);
    const fourth = await startMember({
      dataDir: join(root, "restored", "new4"),
      port: clientPort4,
      peerPort: peer4,
      args: ["--name", "new4", "--initial-advertise-peer-urls", peerUrl4, "--initial-cluster", `${cluster},new4=${peerUrl4}`, "--initial-cluster-state", "existing"],
    });
    members.push(fourth);
    // Its own store (serializable), as soon as it reports healthy: every restored key, and the write since.
    const own = await client([fourth.endpoint]).get("", { prefix: true, serializable: true });
    expect(own.kvs.map(plain)).toEqual([{ key: "after", value: "restore", createRevision: revision + 1n, modRevision: revision + 1n, version: 1n, lease: 0n }, ...before.kvs.map(plain)]);
    const then = await client([fourth.endpoint]).get("k/", { prefix: true, revision: pastRev, serializable: true });
    expect(then.kvs.map(plain)).toEqual(past.kvs.map(plain));
    const counted = ok(ourCtl(["--endpoints", fourth.endpoint, "get", "k/", "--prefix", "--consistency=s", "--count-only", "-w", "fields"]), "get --consistency=s");
    expect(counted).toContain(`"Count" : ${before.kvs.filter((kv) => kv.key.toString().startsWith("k/")).length}\n`);
  }, 120_000);
});

describe("snapshot failures", () => {
  let root = "";
  let snap = "";
  let m: Member | null = null;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "etcd-ts-snapfail-"));
    m = await startMember({ dataDir: join(root, "member") });
    ok(ourCtl(["--endpoints", m.endpoint, "put", "a", "1"]), "put");
    snap = join(root, "s.db");
    ok(ourCtl(["--endpoints", m.endpoint, "snapshot", "save", snap]), "snapshot save");
  }, 30_000);

  afterAll(async () => {
    await m?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 20_000);

  const restore = (file: string, dataDir: string, extra: string[] = []) => ourCtl(["snapshot", "restore", file, "--data-dir", dataDir, ...extra]);

  test("restore refuses an existing data dir, naming it", () => {
    const dir = join(root, "member");
    const r = restore(snap, dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`data-dir "${dir}" exists`);
  });

  test("restore and status of a missing file say so, and leave nothing behind", () => {
    const missing = join(root, "missing.db");
    const dir = join(root, "from-missing");
    const r = restore(missing, dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`Error: open ${missing}: no such file or directory\n`);
    expect(existsSync(dir)).toBe(false);
    const s = ourCtl(["snapshot", "status", missing]);
    expect(s.status).toBe(1);
    expect(s.stderr).toBe(`Error: open ${missing}: no such file or directory\n`);
  });

  test("a damaged file fails the hash check unless --skip-hash-check", () => {
    const bytes = readFileSync(snap);
    // Damage the trailing hash only: the database itself stays valid, so skipping the check restores it.
    const badHash = join(root, "bad-hash.db");
    const copy = Buffer.from(bytes);
    copy[copy.length - 1] ^= 0xff;
    writeFileSync(badHash, copy);
    const dir = join(root, "from-bad-hash");
    const r = restore(badHash, dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("sha256 mismatch");
    expect(r.stderr).toContain(badHash);
    expect(existsSync(dir)).toBe(false);
    ok(restore(badHash, dir, ["--skip-hash-check"]), "restore --skip-hash-check");
    expect(existsSync(join(dir, "member", "snap", "db"))).toBe(true);

    // Damage inside the database: the hash catches it.
    const badData = join(root, "bad-data.db");
    const copy2 = Buffer.from(bytes);
    for (let i = 5000; i < 5016; i++) copy2[i] ^= 0x5a;
    writeFileSync(badData, copy2);
    const r2 = restore(badData, join(root, "from-bad-data"));
    expect(r2.status).toBe(1);
    expect(r2.stderr).toContain("sha256 mismatch");
  });

  test("a file without the trailing hash needs --skip-hash-check", () => {
    const bytes = readFileSync(snap);
    const bare = join(root, "bare.db");
    writeFileSync(bare, bytes.subarray(0, bytes.length - 32));
    const r = restore(bare, join(root, "from-bare"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("snapshot missing hash but --skip-hash-check=false");
    ok(restore(bare, join(root, "from-bare"), ["--skip-hash-check"]), "restore a bare database");
    // status reads it either way.
    expect(ok(ourCtl(["-w", "json", "snapshot", "status", bare]), "status")).toBe(ok(ourCtl(["-w", "json", "snapshot", "status", snap]), "status"));
  });

  test("a file that starts like bbolt but is not one (meta pages broken) is refused, naming the file", () => {
    // bbolt's first meta page: a 16-byte page header, then the magic 0xED0CDAED; the rest zeros.
    const bolt = Buffer.alloc(4096 * 4);
    bolt.writeUInt32LE(0xed0cdaed, 16);
    const file = join(root, "etcd.db");
    writeFileSync(file, bolt);
    const st = ourCtl(["snapshot", "status", file]);
    expect(st.status).not.toBe(0);
    expect(st.stderr).toContain(`${file} cannot be read as an etcd snapshot (unsupported bbolt version 0`);
    const r = ourCtl(["snapshot", "restore", file, "--skip-hash-check", "--data-dir", join(root, "from-bolt")]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file} cannot be read as an etcd snapshot`);
    expect(existsSync(join(root, "from-bolt"))).toBe(false);
  });

  test("save names the file and what to do when it cannot write or reach the member", async () => {
    const nodir = join(root, "no", "such", "dir", "s.db");
    const r = ourCtl(["--endpoints", m!.endpoint, "snapshot", "save", nodir]);
    expect(r.status).toBe(5);
    expect(r.stderr).toContain(`could not open ${nodir}.part: the directory ${join(root, "no", "such", "dir")} does not exist`);

    const port = await freePort();
    const unreachable = join(root, "unreachable.db");
    const u = ourCtl(["--endpoints", `127.0.0.1:${port}`, "--dial-timeout", "1s", "snapshot", "save", unreachable]);
    expect(u.status).toBe(5);
    expect(u.stderr).toContain(`could not fetch a snapshot from 127.0.0.1:${port}`);
    expect(existsSync(unreachable)).toBe(false);
    expect(existsSync(`${unreachable}.part`)).toBe(false);

    const two = ourCtl(["--endpoints", `${m!.endpoint},127.0.0.1:${port}`, "snapshot", "save", unreachable]);
    expect(two.status).toBe(5);
    expect(two.stderr).toContain("snapshot must be requested to one selected node");
  }, 30_000);
});
