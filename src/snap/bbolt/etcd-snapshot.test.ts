// The end-to-end proof, both ways, against the real etcd 3.4 (Debian's etcd-server) and etcdctl:
//   1. etcd → us: a snapshot the real etcd saved (puts, overwrites, deletes, a txn with sub revisions,
//      a lease, a compaction, an overflow value, enough keys for branch pages) decodes to exactly what
//      `etcdctl get -w json --rev=N` reports at every revision, and to etcdctl's member list.
//   2. us → etcd: the same data written by our writer (+ sha256) passes `etcdctl snapshot status` with
//      etcd's own hash, and `etcdctl snapshot restore` + a real etcd on the restored data dir serves the
//      keys with the same revisions, the compaction and the lease.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ctl, etcdctl, haveEtcdctl, haveEtcdServer, parseJsonExact, requireTool, startRealEtcd, type Member } from "../../../tests/e2e/harness.ts";
import { decodeEtcdBackend, encodeEtcdBackend, type EtcdBackend, type KeyRecord } from "./etcd-buckets.ts";
import { etcdSnapshotStatus } from "./etcd-status.ts";
import { BoltReader } from "./reader.ts";
import { appendSnapshotHash, stripSnapshotHash } from "./snapshot-hash.ts";
import { writeBolt } from "./writer.ts";

const run = requireTool("etcd (etcd-server)", haveEtcdServer()) && requireTool("etcdctl (etcd-client)", haveEtcdctl());

interface KvJson {
  key: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  value?: string;
  lease?: number | string;
}

/** What etcdctl reports for one key, normalised for comparison with a decoded record. */
const fromCtl = (kv: KvJson) => ({
  key: Buffer.from(kv.key, "base64").toString("latin1"),
  create: String(kv.create_revision),
  mod: String(kv.mod_revision),
  version: String(kv.version),
  value: Buffer.from(kv.value ?? "", "base64").toString("latin1"),
  lease: String(kv.lease ?? 0),
});

/** The keyspace at revision `rev` from the key bucket: each key's latest record at or before it, tombstones dropped. */
function stateAt(records: KeyRecord[], rev: bigint) {
  const latest = new Map<string, KeyRecord>();
  for (const r of records) if (r.revision.main <= rev) latest.set(Buffer.from(r.kv.key).toString("latin1"), r);
  return [...latest.values()]
    .filter((r) => !r.revision.tombstone)
    .map((r) => ({
      key: Buffer.from(r.kv.key).toString("latin1"),
      create: String(r.kv.createRevision),
      mod: String(r.kv.modRevision),
      version: String(r.kv.version),
      value: Buffer.from(r.kv.value).toString("latin1"),
      lease: String(r.kv.lease),
    }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function getAll(m: Member | string, rev?: bigint): { revision: string; kvs: ReturnType<typeof fromCtl>[] } {
  const out = parseJsonExact(ctl(m, ["get", "", "--prefix", "-w", "json", ...(rev !== undefined ? [`--rev=${rev}`] : [])]));
  return { revision: String(out.header.revision), kvs: (out.kvs ?? []).map(fromCtl) };
}

describe.skipIf(!run)("etcd 3.4 snapshots, both ways", () => {
  const dir = mkdtempSync(join(tmpdir(), "bbolt-etcd-"));
  const snapshotPath = join(dir, "etcd.snapshot");
  let member: { id: string; name: string; peerURLs: string[]; clientURLs: string[] };
  let leaseId: bigint;
  /** etcdctl's view of the keyspace at every revision from the compaction on. */
  const views = new Map<bigint, ReturnType<typeof getAll>>();
  let finalRevision: bigint;
  let decoded: EtcdBackend;
  let bytes: Uint8Array;

  beforeAll(async () => {
    const m = await startRealEtcd();
    try {
      ctl(m, ["put", "foo", "bar1"]); // 2
      ctl(m, ["put", "baz", "qux"]); // 3
      ctl(m, ["put", "foo", "bar2"]); // 4
      ctl(m, ["del", "baz"]); // 5
      const granted = /lease ([0-9a-f]+) granted/.exec(ctl(m, ["lease", "grant", "600"]));
      leaseId = BigInt(`0x${granted![1]}`);
      ctl(m, ["put", "leased", "v", `--lease=${granted![1]}`]); // 6
      ctl(m, ["compact", "4", "--physical"]); // drops foo@2; keeps baz@3 (deleted after 4)
      ctl(m, ["txn"], "\nput t1 a\nput t2 b\ndel foo\n\n\n"); // 7: subs 0, 1, 2 (a tombstone)
      ctl(m, ["put", "big"], "x".repeat(300_000)); // 8: overflow pages
      // 9..13: five transactions of 100 puts each (sub revisions 0..99): enough leaves for a branch page.
      for (let t = 0; t < 5; t++) {
        const ops = Array.from({ length: 100 }, (_, i) => `put many/${t}/${String(i).padStart(3, "0")} ${"v".repeat(60 + i)}`).join("\n");
        ctl(m, ["txn"], `\n${ops}\n\n\n`);
      }
      ctl(m, ["put", "foo", "again"]); // 14: recreated after its tombstone
      const list = parseJsonExact(ctl(m, ["member", "list", "-w", "json"]));
      const mem = list.members[0];
      member = { id: String(mem.ID), name: mem.name, peerURLs: mem.peerURLs, clientURLs: mem.clientURLs };
      finalRevision = BigInt(getAll(m).revision);
      for (let rev = 4n; rev <= finalRevision; rev++) views.set(rev, getAll(m, rev));
      ctl(m, ["snapshot", "save", snapshotPath]);
    } finally {
      await m.stop();
      rmSync(m.dataDir, { recursive: true, force: true });
    }
    bytes = readFileSync(snapshotPath);
    decoded = decodeEtcdBackend(new BoltReader(stripSnapshotHash(bytes).db));
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("the saved file carries etcd's sha256, which checks out", () => {
    expect(bytes.length % 512).toBe(32);
    expect(stripSnapshotHash(bytes).hashed).toBe(true);
    const damaged = Uint8Array.from(bytes);
    damaged[5000] ^= 1;
    expect(() => stripSnapshotHash(damaged)).toThrow(/sha256 mismatch/);
  });

  test("the key bucket equals etcdctl get at every revision since the compaction", () => {
    expect(views.size).toBeGreaterThan(5);
    for (const [rev, view] of views) {
      expect({ rev, kvs: stateAt(decoded.keys, rev) }).toEqual({ rev, kvs: view.kvs });
    }
    const last = decoded.keys.at(-1)!;
    expect(last.revision.main).toBe(finalRevision);
  });

  test("revision keys: sub revisions within a txn, tombstones marked, the compaction applied", () => {
    const at7 = decoded.keys.filter((r) => r.revision.main === 7n).map((r) => [r.revision.sub, Buffer.from(r.kv.key).toString(), r.revision.tombstone]);
    expect(at7).toEqual([
      [0n, "t1", false],
      [1n, "t2", false],
      [2n, "foo", true],
    ]);
    expect(decoded.keys.filter((r) => r.revision.main === 9n)).toHaveLength(100);
    const bazTomb = decoded.keys.find((r) => r.revision.main === 5n)!;
    expect(bazTomb.revision.tombstone).toBe(true);
    expect(Buffer.from(bazTomb.kv.key).toString()).toBe("baz");
    // foo@2 was compacted away; baz@3 stays (its delete came after revision 4).
    expect(decoded.keys.some((r) => r.revision.main === 2n)).toBe(false);
    expect(decoded.keys.some((r) => r.revision.main === 3n)).toBe(true);
    expect(decoded.scheduledCompactRevision).toBe(4n);
    expect(decoded.finishedCompactRevision).toBe(4n);
    expect(decoded.keys.find((r) => r.revision.main === 8n)!.kv.value.length).toBe(300_000);
    // The file exercised the reader's branch pages and overflow pages.
    const reader = new BoltReader(stripSnapshotHash(bytes).db);
    expect(reader.pageInfo(reader.bucket("key")!.root).type).toBe("branch");
  });

  test("meta, lease, members and cluster buckets", () => {
    expect(decoded.consistentIndex).toBeGreaterThan(10n);
    expect(decoded.leases).toEqual([{ id: leaseId, ttl: 600n, remainingTtl: 0n }]);
    expect(decoded.keys.find((r) => Buffer.from(r.kv.key).toString() === "leased")!.kv.lease).toBe(leaseId);
    expect(decoded.members.map((m) => ({ id: String(m.id), name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs }))).toEqual([member]);
    expect(decoded.removedMembers).toEqual([]);
    expect(decoded.clusterVersion).toBe("3.4.0");
    expect(decoded.alarms).toEqual([]);
    expect(decoded.users).toEqual([]);
    expect(decoded.otherBuckets).toEqual([]);
  });

  test("our status equals etcdctl snapshot status", () => {
    const status = JSON.parse(ctl("127.0.0.1:1", ["snapshot", "status", snapshotPath, "-w", "json"]));
    const ours = etcdSnapshotStatus(new BoltReader(stripSnapshotHash(bytes).db));
    expect({ hash: ours.hash, revision: Number(ours.revision), totalKey: ours.totalKey, totalSize: ours.totalSize }).toEqual(status);
  });

  // Status runs bbolt's tx.Check() first, and its hash covers every key and value: equal hashes mean our
  // encodings (revision keys, KeyValue, lease, member JSON, meta) are byte for byte etcd's.
  test("re-encoded by our writer: etcdctl snapshot status accepts it with the same hash", () => {
    const written = appendSnapshotHash(writeBolt(encodeEtcdBackend(decoded)));
    const path = join(dir, "ours.snapshot");
    writeFileSync(path, written);
    const theirs = JSON.parse(ctl("127.0.0.1:1", ["snapshot", "status", snapshotPath, "-w", "json"]));
    const ours = JSON.parse(ctl("127.0.0.1:1", ["snapshot", "status", path, "-w", "json"]));
    expect({ ...ours, totalSize: 0 }).toEqual({ ...theirs, totalSize: 0 });
    expect(ours.totalSize).toBeLessThanOrEqual(theirs.totalSize);
    // And decoding our file gives back what we wrote.
    expect(decodeEtcdBackend(new BoltReader(stripSnapshotHash(written).db))).toEqual(decoded);
  });

  test("etcdctl snapshot restore of our file, then the real etcd serves it with the same revisions", async () => {
    const path = join(dir, "ours-restore.snapshot");
    writeFileSync(path, appendSnapshotHash(writeBolt(encodeEtcdBackend(decoded))));
    const restored = join(dir, "restored");
    const r = etcdctl("127.0.0.1:1", ["snapshot", "restore", path, "--data-dir", restored]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    // startRealEtcd passes its own fresh --data-dir first; etcd's flag parsing keeps the last one.
    const m = await startRealEtcd({ args: ["--data-dir", restored] });
    try {
      const now = getAll(m);
      expect(now.revision).toBe(String(finalRevision));
      expect(now.kvs).toEqual(views.get(finalRevision)!.kvs);
      expect(getAll(m, 6n).kvs).toEqual(views.get(6n)!.kvs);
      const compacted = etcdctl(m, ["get", "foo", "--rev=3"]);
      expect(compacted.stderr).toContain("required revision has been compacted");
      expect(ctl(m, ["lease", "list"])).toContain(leaseId.toString(16));
      // The restored member keeps serving writes on top of our file.
      ctl(m, ["put", "after-restore", "1"]);
      expect(getAll(m).revision).toBe(String(finalRevision + 1n));
    } finally {
      await m.stop();
      rmSync(m.dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
