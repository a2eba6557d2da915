import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OfflineTools, RestoreOptions } from "../context.ts";
import { fakeIo } from "../test-io.ts";
import { runCtl } from "../main.ts";
import { formatStatus, goBytes, hasChecksum, openErrorMessage, progressLine, TrailingSha256 } from "./snapshot.ts";


describe("TrailingSha256", () => {
  test("hashes all but the last 32 bytes, however the stream is cut", () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const sha = createHash("sha256").update(data).digest();
    const stream = Buffer.concat([data, sha]);
    for (const cut of [1, 7, 31, 32, 33, 500, 1032]) {
      const t = new TrailingSha256();
      for (let i = 0; i < stream.length; i += cut) t.update(stream.subarray(i, i + cut));
      const { computed, trailer } = t.finish();
      expect(t.bytes).toBe(1032);
      expect(trailer.equals(sha)).toBe(true);
      expect(computed.equals(sha)).toBe(true);
    }
  });

  test("a changed byte shows", () => {
    const data = Buffer.alloc(512, 1);
    const stream = Buffer.concat([data, createHash("sha256").update(data).digest()]);
    stream[100] ^= 1;
    const t = new TrailingSha256();
    t.update(stream);
    const { computed, trailer } = t.finish();
    expect(computed.equals(trailer)).toBe(false);
  });
});

describe("output of snapshot status, as etcdctl 3.4 prints it", () => {
  // etcdctl 3.4's own output for a 20 KiB snapshot (hash c604532, revision 11, 15 keys).
  const ds = { hash: 207635762, revision: 11n, totalKey: 15, totalSize: 20480 };
  test("simple, json, fields", () => {
    expect(formatStatus("simple", ds)).toBe("c604532, 11, 15, 20 kB\n");
    expect(formatStatus("json", ds)).toBe('{"hash":207635762,"revision":11,"totalKey":15,"totalSize":20480}\n');
    expect(formatStatus("fields", ds)).toBe('"Hash" : 207635762\n"Revision" : 11\n"Keys" : 15\n"Size" : 20480\n');
  });

  test("table", () => {
    expect(formatStatus("table", ds)).toBe(
      "+---------+----------+------------+------------+\n" +
        "|  HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |\n" +
        "+---------+----------+------------+------------+\n" +
        "| c604532 |       11 |         15 |      20 kB |\n" +
        "+---------+----------+------------+------------+\n",
    );
  });

  test("protobuf is not a format for it", () => {
    expect(() => formatStatus("protobuf", ds)).toThrow("protobuf not supported as output format");
  });
});

describe("helpers", () => {
  test("hasChecksum: whole 512-byte units plus 32", () => {
    expect(hasChecksum(20512)).toBe(true);
    expect(hasChecksum(20480)).toBe(false);
    expect(hasChecksum(32)).toBe(true);
  });

  test("progressLine", () => {
    expect(progressLine(0, 100, 10)).toBe("[>         ]   0%  0 B / 100 B");
    expect(progressLine(50_000, 100_000, 10)).toBe("[=====>    ]  50%  50 kB / 100 kB");
    expect(progressLine(100_000, 100_000, 10)).toBe("[==========] 100%  100 kB / 100 kB");
    expect(progressLine(12_000, 0)).toBe("12 kB");
  });

  test("open errors name the file and what to do", () => {
    const e = (code: string) => Object.assign(new Error(code), { code });
    expect(openErrorMessage("/x/y/s.db.part", e("ENOENT"))).toBe("could not open /x/y/s.db.part: the directory /x/y does not exist; create it or save the snapshot elsewhere");
    expect(openErrorMessage("/x/s.db.part", e("EACCES"))).toContain("permission denied; save the snapshot in a directory you may write to (/x is not)");
  });
});

describe("the commands", () => {
  test("status goes through the offline tools and prints the chosen format", async () => {
    const { io, out, err } = fakeIo();
    const offline: OfflineTools = { snapshotStatus: async (p) => ({ hash: p.length, revision: 7n, totalKey: 3, totalSize: 9 }) };
    expect(await runCtl(["-w", "json", "snapshot", "status", "abc.db"], io, offline)).toBe(0);
    expect(out()).toBe('{"hash":6,"revision":7,"totalKey":3,"totalSize":9}\n');
    expect(err()).toBe("");
  });

  test("status of a missing file: Go's wording, exit 1", async () => {
    const { io, err } = fakeIo();
    const offline: OfflineTools = {
      snapshotStatus: async () => {
        throw Object.assign(new Error("ENOENT: no such file or directory"), { code: "ENOENT" });
      },
    };
    expect(await runCtl(["snapshot", "status", "nope.db"], io, offline)).toBe(1);
    expect(err()).toBe("Error: open nope.db: no such file or directory\n");
  });

  test("argument counts as etcdctl checks them", async () => {
    for (const [argv, msg] of [
      [["snapshot", "save"], "snapshot save expects one argument"],
      [["snapshot", "status", "a", "b"], "snapshot status requires exactly one argument"],
      [["snapshot", "restore"], "snapshot restore requires exactly one argument"],
    ] as const) {
      const { io, err } = fakeIo();
      expect(await runCtl([...argv], io, {})).toBe(128);
      expect(err()).toBe(`Error: ${msg}\n`);
    }
  });

  test("save wants exactly one endpoint", async () => {
    const { io, err } = fakeIo();
    expect(await runCtl(["--endpoints", "a:1,b:2", "snapshot", "save", "x.db"], io, {})).toBe(5);
    expect(err()).toContain("snapshot must be requested to one selected node, not multiple [a:1 b:2]");
  });

  test("restore's defaults: data dir <name>.etcd, --initial-cluster from --name and the peer URLs", async () => {
    const seen: RestoreOptions[] = [];
    const offline: OfflineTools = {
      restoreSnapshot: async (o) => {
        seen.push(o);
        o.progress(10, 10);
        return { memberId: 0xabcn, clusterId: 0xdefn, revision: 42n };
      },
    };
    const { io, out, err } = fakeIo({ stderrIsTTY: true });
    expect(await runCtl(["snapshot", "restore", "s.db", "--name", "m1", "--initial-advertise-peer-urls", "http://10.0.0.1:2380,http://10.0.0.2:2380"], io, offline)).toBe(0);
    expect(seen[0]).toMatchObject({
      snapshotPath: "s.db",
      dataDir: "m1.etcd",
      walDir: "",
      name: "m1",
      initialCluster: "m1=http://10.0.0.1:2380,m1=http://10.0.0.2:2380",
      initialClusterToken: "etcd-cluster",
      initialAdvertisePeerUrls: ["http://10.0.0.1:2380", "http://10.0.0.2:2380"],
      skipHashCheck: false,
    });
    expect(out()).toBe("");
    expect(err()).toContain("Restoring snapshot [==============================] 100%");
    expect(err()).toContain("Restored snapshot s.db (revision 42) into m1.etcd as member abc of cluster def");

    const plain = fakeIo();
    expect(await runCtl(["snapshot", "restore", "s.db", "--skip-hash-check", "--initial-cluster", "a=http://h:1,b=http://h:2", "--name", "a", "--data-dir", "/d"], plain.io, offline)).toBe(0);
    expect(seen[1]).toMatchObject({ dataDir: "/d", initialCluster: "a=http://h:1,b=http://h:2", skipHashCheck: true });
    // No terminal, no progress bar.
    expect(plain.err()).not.toContain("Restoring snapshot [");
  });

  test("etcdctl's defaults with no flags at all", async () => {
    const seen: RestoreOptions[] = [];
    const { io } = fakeIo();
    expect(await runCtl(["snapshot", "restore", "s.db"], io, { restoreSnapshot: async (o) => void seen.push(o) })).toBe(0);
    expect(seen[0]).toMatchObject({ dataDir: "default.etcd", name: "default", initialCluster: "default=http://localhost:2380" });
  });

  test("a restore failure is 'Error: …' with exit 1", async () => {
    const { io, err } = fakeIo();
    const offline: OfflineTools = {
      restoreSnapshot: async () => {
        throw new Error('data-dir "x" exists: restore into a new directory');
      },
    };
    expect(await runCtl(["snapshot", "restore", "s.db", "--data-dir", "x"], io, offline)).toBe(1);
    expect(err()).toBe('Error: data-dir "x" exists: restore into a new directory\n');
  });

  test("restore logs what etcdctl 3.4 logs: restoring, one 'added member' per member by id, restored", async () => {
    const offline: OfflineTools = {
      restoreSnapshot: async () => ({
        memberId: 0x58a88bf978398f80n,
        clusterId: 0x3d93f952f49292c8n,
        revision: 5n,
        members: [
          { id: 0x58a88bf978398f80n, peerURLs: ["http://127.0.0.1:1"] },
          { id: 0x43ccf13c9d84d8d2n, peerURLs: ["http://127.0.0.1:2"] },
        ],
      }),
    };
    const { io, out, err } = fakeIo();
    const argv = ["snapshot", "restore", "s.db", "--data-dir", "r2", "--name", "m1", "--initial-cluster", "m1=http://127.0.0.1:1,m2=http://127.0.0.1:2", "--initial-advertise-peer-urls", "http://127.0.0.1:1"];
    expect(await runCtl(argv, io, offline)).toBe(0);
    expect(out()).toBe("");
    const logs = err().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    const where = { path: "s.db", "wal-dir": "r2/member/wal", "data-dir": "r2", "snap-dir": "r2/member/snap" };
    expect(logs).toEqual([
      expect.objectContaining({ level: "info", msg: "restoring snapshot", ...where }),
      expect.objectContaining({ level: "info", msg: "added member", "cluster-id": "3d93f952f49292c8", "local-member-id": "0", "added-peer-id": "43ccf13c9d84d8d2", "added-peer-peer-urls": ["http://127.0.0.1:2"] }),
      expect.objectContaining({ msg: "added member", "added-peer-id": "58a88bf978398f80", "added-peer-peer-urls": ["http://127.0.0.1:1"] }),
      expect.objectContaining({ level: "info", msg: "restored snapshot", ...where }),
    ]);
  });

  test("an offline tool that names no members: the restored member is logged as added", async () => {
    const { io, err } = fakeIo();
    const offline: OfflineTools = { restoreSnapshot: async () => ({ memberId: 0x8e9e05c52164694dn, clusterId: 0xcdf818194e3a8c32n, revision: 1n }) };
    expect(await runCtl(["snapshot", "restore", "s.db", "--wal-dir", "/w"], io, offline)).toBe(0);
    const added = err().split("\n").filter((l) => l.includes('"added member"')).map((l) => JSON.parse(l));
    expect(added).toEqual([expect.objectContaining({ "cluster-id": "cdf818194e3a8c32", "added-peer-id": "8e9e05c52164694d", "added-peer-peer-urls": ["http://localhost:2380"] })]);
    expect(err()).toContain('"wal-dir":"/w"');
  });

  test("a snapshot whose sha256 does not match is refused with etcdctl's message before the restore looks inside", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ctl-snap-"));
    try {
      const db = Buffer.alloc(1024, 7);
      const file = join(dir, "s.db");
      const sum = createHash("sha256").update(db).digest();
      const damaged = Buffer.concat([db, sum]);
      damaged.fill(0, 0, 512); // as etcd's TestCtlV3SnapshotCorrupt does
      writeFileSync(file, damaged);
      let called = false;
      const { io, err } = fakeIo();
      expect(await runCtl(["snapshot", "restore", file, "--data-dir", join(dir, "d")], io, { restoreSnapshot: async () => void (called = true) })).toBe(1);
      const got = createHash("sha256").update(damaged.subarray(0, 1024)).digest();
      expect(err()).toBe(
        `Error: expected sha256 [${[...sum].join(" ")}], got [${[...got].join(" ")}]: ${file} is damaged (sha256 mismatch); ` +
          "restore an intact copy, or add --skip-hash-check to restore it anyway\n",
      );
      expect(called).toBe(false);

      // Intact: checked here once, so the restore is told it need not check again.
      writeFileSync(file, Buffer.concat([db, sum]));
      const seen: RestoreOptions[] = [];
      expect(await runCtl(["snapshot", "restore", file, "--data-dir", join(dir, "d")], fakeIo().io, { restoreSnapshot: async (o) => void seen.push(o) })).toBe(0);
      expect(seen[0].skipHashCheck).toBe(true);
      // Without a hash the restore decides (it refuses unless --skip-hash-check).
      writeFileSync(file, db);
      expect(await runCtl(["snapshot", "restore", file, "--data-dir", join(dir, "d")], fakeIo().io, { restoreSnapshot: async (o) => void seen.push(o) })).toBe(0);
      expect(seen[1].skipHashCheck).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("goBytes prints a byte slice as Go's %v", () => {
    expect(goBytes(Uint8Array.from([198, 75, 0]))).toBe("[198 75 0]");
  });
});

