import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { mkdtempSync } from "node:fs";
import bcrypt from "bcryptjs";
import { Backend } from "../../backend/backend.ts";
import { encodeWithHeadroom } from "../../proto/encode.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { adoptEtcdDataDir } from "./adopt-etcd.ts";
import { CLIENT, CLUSTER, M1, PEER, writeEtcdDir } from "./adopt/test-etcd-dir.ts";
import { readAuthSnapshot } from "./auth/store.ts";
import { membersFromJson } from "./membership.ts";
import { EtcdServer, type ServerOptions } from "./server.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

let root = "";
let dataDir = "";
let lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
const log = (level: string, msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "adopt-test-"));
  dataDir = join(root, "m1.etcd");
  lines = [];
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

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

function options(over: Partial<ServerOptions> = {}): ServerOptions {
  return {
    name: "m1",
    dataDir,
    initialAdvertisePeerUrls: [PEER],
    advertiseClientUrls: [CLIENT],
    initialClusterToken: "etcd-cluster",
    heartbeatIntervalMs: 10,
    electionTimeoutMs: 100,
    maxRequestBytes: 1 << 20,
    maxTxnOps: 128,
    snapshotCount: 10_000,
    log: () => {},
    ...over,
  };
}

async function startServer(over: Partial<ServerOptions> = {}): Promise<EtcdServer> {
  const s = await EtcdServer.start(options(over), (e) => {
    throw e;
  });
  const end = Date.now() + 10_000;
  while (!s.isReady) {
    if (Date.now() > end) throw new Error("the adopted member did not become ready");
    await Bun.sleep(10);
  }
  return s;
}

const adopt = (walDir = "") => adoptEtcdDataDir({ dataDir, walDir, log, bcryptCost: 4 });

describe("adopting an etcd 3.4 member's data dir", () => {
  test("serves the same ids, members, keys, revisions, leases and users, replaying the WAL past the database", async () => {
    writeEtcdDir(dataDir);
    const before = hashes(join(dataDir, "member"));
    expect(await adopt()).toBe("adopted");

    // etcd's files, kept byte for byte.
    expect(hashes(join(dataDir, "member.etcd-3.4"))).toEqual(before);
    const origin = JSON.parse(readFileSync(join(dataDir, "member", "adopted-from-etcd.json"), "utf8"));
    expect(origin).toMatchObject({ clusterId: CLUSTER.toString(16), memberId: M1.toString(16), consistentIndex: "8", revision: "4", keys: 3, etcdVersion: "3.4.0" });
    const done = lines.find((l) => l.msg === "adopted an etcd data dir")!;
    expect(done.fields).toMatchObject({ clusterId: CLUSTER.toString(16), memberId: M1.toString(16), revision: 4n, keys: 3, keptAt: join(dataDir, "member.etcd-3.4") });
    // Our log never holds a password in plain text (etcd 3.4's does).
    for (const f of readdirSync(join(dataDir, "member", "wal"))) expect(readFileSync(join(dataDir, "member", "wal", f)).includes("alicepw")).toBe(false);

    const s = await startServer();
    try {
      expect(s.memberId).toBe(M1);
      expect(s.clusterId).toBe(CLUSTER);
      // From the v2 store, not from the stale members bucket; the name etcd published, then ours again.
      expect(s.members.map((m) => [m.id, m.name, m.peerURLs, m.clientURLs, m.isLearner])).toEqual([[M1, "m1", [PEER], [CLIENT], false]]);
      const r = await s.range({ key: enc("k"), rangeEnd: enc("l") });
      // k4 (committed, only in the WAL) is replayed; k5 (never committed) commits under the new leader.
      expect(r.kvs.map((kv) => [dec(kv.key), dec(kv.value), kv.modRevision, kv.lease])).toEqual([
        ["k1", "v1", 2n, 0n],
        ["k2", "v2", 3n, 0n],
        ["k3", "v3", 4n, 0x77n],
        ["k4", "v4", 5n, 0n],
        ["k5", "v5", 6n, 0n],
      ]);
      expect(r.header.revision).toBe(6n);
      expect(s.leaseIds().sort()).toEqual([0x77n, 0x99n]);
      const put = await s.put({ key: enc("after"), value: enc("x") });
      expect(put.header.revision).toBe(7n);
    } finally {
      await s.stop();
    }
    const b = new Backend(join(dataDir, "member", "snap", "db"));
    try {
      const auth = readAuthSnapshot((n) => b.getMeta(n))!;
      const byName = Object.fromEntries(auth.users.map((u) => [u.name, u.password]));
      expect(Object.keys(byName).sort()).toEqual(["alice", "root"]);
      expect(await bcrypt.compare("rootpw", byName.root)).toBe(true); // etcd's hash, as it was
      expect(await bcrypt.compare("alicepw", byName.alice)).toBe(true); // hashed from etcd 3.4's log entry
    } finally {
      b.close();
    }
    // Started again, it is simply etcd-ts's directory.
    expect(await adopt()).toBe("not-etcd");
  });

  test("a dedicated --wal-dir is adopted and kept beside itself", async () => {
    writeEtcdDir(dataDir);
    const walDir = join(root, "wal");
    renameSync(join(dataDir, "member", "wal"), walDir);
    const walBefore = hashes(walDir);
    expect(await adopt(walDir)).toBe("adopted");
    expect(hashes(`${walDir}.etcd-3.4`)).toEqual(walBefore);
    expect(existsSync(join(dataDir, "member", "wal"))).toBe(false);
    const s = await startServer({ walDir });
    try {
      expect((await s.range({ key: enc("k4") })).kvs.length).toBe(1);
    } finally {
      await s.stop();
    }
  });

  test("a data dir that is not etcd's is left alone", async () => {
    expect(await adopt()).toBe("not-etcd");
    const s = await startServer();
    await s.stop();
    expect(await adopt()).toBe("not-etcd");
    expect(readdirSync(dataDir).sort()).toEqual(["member"]);
  });
});

describe("a kill -9 at any point of the adoption", () => {
  /** A finished adoption, for states to be rebuilt from by undoing some of its renames. */
  async function finished(walDir = ""): Promise<{ ours: Record<string, string>; etcds: Record<string, string> }> {
    writeEtcdDir(dataDir);
    if (walDir) renameSync(join(dataDir, "member", "wal"), walDir);
    expect(await adopt(walDir)).toBe("adopted");
    return { ours: hashes(join(dataDir, "member")), etcds: hashes(join(dataDir, "member.etcd-3.4")) };
  }

  test("before the commit point: the staging copy is thrown away and the conversion runs again", async () => {
    writeEtcdDir(dataDir);
    const etcds = hashes(join(dataDir, "member"));
    // What a conversion killed halfway leaves: a partial staging directory.
    mkdirSync(join(dataDir, "member.adopting", "snap"), { recursive: true });
    writeFileSync(join(dataDir, "member.adopting", "snap", "db"), "half a database");
    expect(await adopt()).toBe("adopted");
    expect(lines.some((l) => l.msg.startsWith("removed an etcd data dir conversion that was interrupted"))).toBe(true);
    expect(hashes(join(dataDir, "member.etcd-3.4"))).toEqual(etcds);
    expect(existsSync(join(dataDir, "member.adopting"))).toBe(false);
  });

  test("after the commit point: the renames are finished, whichever were done", async () => {
    const { ours, etcds } = await finished();
    const m = join(dataDir, "member");
    const kept = join(dataDir, "member.etcd-3.4");
    const committed = join(dataDir, "member.adopted");
    // Killed right after the commit: etcd's member still in place.
    renameSync(m, committed);
    renameSync(kept, m);
    expect(await adopt()).toBe("adopted");
    expect([hashes(m), hashes(kept)]).toEqual([ours, etcds]);
    // Killed after moving etcd's aside, before moving ours in.
    renameSync(m, committed);
    expect(await adopt()).toBe("adopted");
    expect([hashes(m), hashes(kept)]).toEqual([ours, etcds]);
    expect(lines.filter((l) => l.msg === "finished an interrupted adoption of an etcd data dir").length).toBe(2);
  });

  test("with a dedicated WAL dir, every interrupted state finishes the same way", async () => {
    const wal = join(root, "wal");
    const { ours, etcds } = await finished(wal);
    const oursWal = hashes(wal);
    const etcdWal = hashes(`${wal}.etcd-3.4`);
    const m = join(dataDir, "member");
    const kept = join(dataDir, "member.etcd-3.4");
    const layout = () => [hashes(m), hashes(kept), hashes(wal), hashes(`${wal}.etcd-3.4`)];
    const undo: (() => void)[][] = [
      // committed, nothing moved yet
      [() => renameSync(m, `${m}.adopted`), () => renameSync(kept, m), () => renameSync(wal, `${wal}.adopted`), () => renameSync(`${wal}.etcd-3.4`, wal)],
      // etcd's WAL moved aside only
      [() => renameSync(m, `${m}.adopted`), () => renameSync(kept, m), () => renameSync(wal, `${wal}.adopted`)],
      // our WAL in place, etcd's member not yet aside
      [() => renameSync(m, `${m}.adopted`), () => renameSync(kept, m)],
      // only the last rename left
      [() => renameSync(m, `${m}.adopted`)],
    ];
    for (const steps of undo) {
      for (const step of steps) step();
      expect(await adopt(wal)).toBe("adopted");
      expect(layout()).toEqual([ours, etcds, oursWal, etcdWal]);
    }
    // Before the commit point, a committed WAL dir without a committed member dir is discarded.
    cpSync(wal, `${wal}.adopted`, { recursive: true });
    expect(await adopt(wal)).toBe("not-etcd");
    expect(existsSync(`${wal}.adopted`)).toBe(false);
  });
});

describe("what cannot be adopted is refused, naming the file and what to do, and nothing is changed", () => {
  async function refused(expected: RegExp, walDir = ""): Promise<void> {
    const before = hashes(dataDir);
    await expect(adoptEtcdDataDir({ dataDir, walDir, log, bcryptCost: 4 })).rejects.toThrow(expected);
    expect(hashes(dataDir)).toEqual(before);
    expect(readdirSync(dataDir)).toEqual(["member"]);
  }

  test("v2 keys in the snapshot's store", async () => {
    writeEtcdDir(dataDir, { v2Keys: true });
    await refused(/0000000000000002-0000000000000005\.snap holds 1 key\(s\) written with etcd's v2 API.*etcdctl migrate/);
  });

  test("a v2 key write in the log", async () => {
    const v2 = encodeWithHeadroom(etcdserverpb.Request, { ID: 9n, Method: "PUT", Path: "/1/foo", Val: "bar" });
    writeEtcdDir(dataDir, { extra: [{ data: v2 }] });
    await refused(/entry 13 \(term 2\) of etcd's WAL in '.*' writes a key with etcd's v2 API/);
  });

  test("an etcd 3.6 storage version", async () => {
    writeEtcdDir(dataDir, { storageVersion: "3.6" });
    await refused(/storage version 3\.6 \(an etcd 3\.6 or newer data dir\).*downgrade/);
  });

  test("a damaged WAL record before the end", async () => {
    writeEtcdDir(dataDir);
    const seg = join(dataDir, "member", "wal", readdirSync(join(dataDir, "member", "wal"))[0]);
    const bytes = readFileSync(seg);
    bytes[200] ^= 0xff; // inside an early record, with intact records after it
    writeFileSync(seg, bytes);
    await refused(/etcd WAL segment .*0000000000000000-0000000000000000\.wal is damaged at byte offset \d+.*restore the member from a snapshot/);
  });

  test("a log that lost committed entries", async () => {
    writeEtcdDir(dataDir, { commit: 14 });
    await refused(/says entries up to index 14 were committed, but it ends at index 12/);
  });

  test("a data dir etcd is still running on", async () => {
    writeEtcdDir(dataDir);
    const { dlopen, FFIType } = await import("bun:ffi");
    const libc = dlopen("libc.so.6", { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
    const { openSync, closeSync } = await import("node:fs");
    const fd = openSync(join(dataDir, "member", "snap", "db"), "r");
    try {
      expect(libc.symbols.flock(fd, 2 | 4)).toBe(0); // as bbolt holds it while etcd runs
      await refused(/is locked by another process: etcd is still running on/);
    } finally {
      closeSync(fd);
      libc.close();
    }
  });
});
