import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { type Message, MessageType, message } from "../../raft/types.ts";
import { decodeSnapFile } from "../../snap/snap-file.ts";
import { Wal } from "../../wal/wal.ts";
import { bootstrapMembers, membersFromJson } from "./membership.ts";
import { replayWal } from "./raft-wal.ts";
import { restoreSnapshot, type RestoreInput } from "./restore.ts";
import { EtcdServer, type PeerSnapshot, type ServerOptions } from "./server.ts";
import { snapshotStatus } from "./snapshot-file.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await Bun.sleep(10);
  }
}

function options(dataDir: string, over: Partial<ServerOptions> = {}): ServerOptions {
  return {
    name: "default",
    dataDir,
    initialAdvertisePeerUrls: ["http://127.0.0.1:2380"],
    advertiseClientUrls: ["http://127.0.0.1:2379"],
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

async function start(opts: ServerOptions): Promise<EtcdServer> {
  const s = await EtcdServer.start(opts, (e) => {
    throw e;
  });
  await until(() => s.isReady);
  return s;
}

/** What the Snapshot RPC streams (the database, then its sha256), written to a file as `snapshot save` does. */
async function saveSnapshot(s: EtcdServer, path: string): Promise<void> {
  const chunks: Uint8Array[] = [];
  for await (const { chunk } of s.snapshotChunks(64 * 1024)) chunks.push(chunk);
  writeFileSync(path, Buffer.concat(chunks));
}

let root = "";
let snap = "";
let leaseId = 0n;
let revision = 0n;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), "restore-test-"));
  const s = await start(options(join(root, "old")));
  for (let i = 0; i < 10; i++) await s.put({ key: enc(`k${i}`), value: enc(`v${i}`) });
  await s.deleteRange({ key: enc("k3") });
  await s.put({ key: enc("k1"), value: enc("again") });
  leaseId = ((await s.leases.grant({ TTL: 600n, ID: 0n })) as { ID: bigint }).ID;
  await s.put({ key: enc("held"), value: enc("x"), lease: leaseId });
  revision = s.header().revision;
  snap = join(root, "snap.db");
  await saveSnapshot(s, snap);
  await s.stop();
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const input = (over: Partial<RestoreInput>): RestoreInput => ({
  snapshotPath: snap,
  dataDir: join(root, "new"),
  walDir: "",
  name: "n1",
  initialCluster: new Map([["n1", ["http://127.0.0.1:12380"]]]),
  initialClusterToken: "restored",
  skipHashCheck: false,
  ...over,
});

describe("restoreSnapshot", () => {
  test("a member started on the restored directory serves the snapshot's keys, revisions and lease under the new membership", async () => {
    const progress: [number, number][] = [];
    const cluster = new Map([["n1", ["http://127.0.0.1:12380"]]]);
    const out = await restoreSnapshot(input({ progress: (d, t) => progress.push([d, t]) }));
    const expected = bootstrapMembers(cluster, "restored");
    const id = expected.members[0].id;
    expect(out).toEqual({
      memberId: id,
      clusterId: expected.clusterId,
      revision,
      members: [{ id, peerURLs: ["http://127.0.0.1:12380"] }],
      start: { index: 1, term: 1, voters: [id], learners: [] },
    });
    expect(progress.at(-1)![0]).toBe(progress.at(-1)![1]);

    const s = await start(options(join(root, "new"), { name: "n1", initialCluster: cluster, initialAdvertisePeerUrls: cluster.get("n1")!, initialClusterToken: "restored" }));
    try {
      expect(s.memberId).toBe(expected.members[0].id);
      expect(s.clusterId).toBe(expected.clusterId);
      expect(s.header().revision).toBe(revision);
      const all = await s.range({ key: enc("\0"), rangeEnd: enc("\0") });
      expect(all.kvs.map((kv) => [dec(kv.key), dec(kv.value ?? new Uint8Array())])).toEqual([
        ["held", "x"],
        ["k0", "v0"],
        ["k1", "again"],
        ["k2", "v2"],
        ["k4", "v4"],
        ["k5", "v5"],
        ["k6", "v6"],
        ["k7", "v7"],
        ["k8", "v8"],
        ["k9", "v9"],
      ]);
      const k1 = all.kvs.find((kv) => dec(kv.key) === "k1")!;
      expect([k1.createRevision, k1.modRevision, k1.version]).toEqual([3n, 13n, 2n]);
      // History survives: k3 before its delete.
      const k3 = await s.range({ key: enc("k3"), revision: 5n });
      expect(k3.kvs.map((kv) => dec(kv.value ?? new Uint8Array()))).toEqual(["v3"]);
      expect(s.leaseIds()).toEqual([leaseId]);
      expect(all.kvs.find((kv) => dec(kv.key) === "held")!.lease).toBe(leaseId);
      expect(s.members.map((m) => [m.id, m.name])).toEqual([[expected.members[0].id, "n1"]]);
      const put = await s.put({ key: enc("after"), value: enc("restore") });
      expect(put.header.revision).toBe(revision + 1n);
    } finally {
      await s.stop();
    }
  }, 30_000);

  test("every member of a new cluster gets the same database; the WAL can live elsewhere", async () => {
    const cluster = new Map([
      ["a", ["http://127.0.0.1:12381"]],
      ["b", ["http://127.0.0.1:12382"]],
      ["c", ["http://127.0.0.1:12383"]],
    ]);
    const ids = new Set<bigint>();
    for (const name of ["a", "b", "c"]) {
      const walDir = join(root, `wal-${name}`);
      const out = await restoreSnapshot(input({ name, dataDir: join(root, name), walDir, initialCluster: cluster }));
      ids.add(out.memberId);
      expect(existsSync(join(walDir, "0000000000000000-0000000000000000.wal"))).toBe(true);
      expect(existsSync(join(root, name, "member", "wal"))).toBe(false);
    }
    expect(ids.size).toBe(3);
    const statuses = ["a", "b", "c"].map((n) => snapshotStatus(join(root, n, "member", "snap", "db")));
    expect(new Set(statuses.map((st) => st.hash)).size).toBe(1);
    expect(statuses[0].revision).toBe(revision);
  });

  test("every member's log starts after the same Raft snapshot at index n: WAL marker, .snap file, consistent index", async () => {
    const cluster = new Map([
      ["a", ["http://127.0.0.1:12381"]],
      ["b", ["http://127.0.0.1:12382"]],
      ["c", ["http://127.0.0.1:12383"]],
    ]);
    const boot = bootstrapMembers(cluster, "restored");
    const voters = boot.members.map((m) => m.id).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const start = { index: 3, term: 1, voters, learners: [] };
    for (const [i, name] of ["a", "b", "c"].entries()) {
      const out = await restoreSnapshot(input({ name, dataDir: join(root, name), initialCluster: cluster }));
      expect(out.memberId).toBe(boot.members[i].id);
      expect(out.clusterId).toBe(boot.clusterId);
      expect(out.start).toEqual(start);
      expect(out.members).toEqual(boot.members.map((m) => ({ id: m.id, peerURLs: m.peerURLs })));

      // What the server rebuilds from the WAL at start: nothing in the log before or at index 3.
      const { wal, records } = await Wal.open(join(root, name, "member", "wal"), { log: () => {} });
      await wal.close();
      const replayed = replayWal(records);
      expect(replayed.metadata).toEqual({ memberId: out.memberId, clusterId: boot.clusterId });
      expect(replayed.storage.snapshot.meta).toEqual({ index: 3, term: 1, confState: { voters, learners: [] } });
      expect(replayed.entries).toBe(0);
      expect(replayed.storage.firstIndex()).toBe(4);
      expect(replayed.storage.lastIndex()).toBe(3);
      expect(replayed.storage.hardState).toEqual({ term: 1, vote: 0n, commit: 3 });

      // etcd's member/snap/<term>-<index>.snap beside the database, with the membership.
      const snapDir = join(root, name, "member", "snap");
      expect(readdirSync(snapDir).filter((f) => f.endsWith(".snap"))).toEqual(["0000000000000001-0000000000000003.snap"]);
      const file = decodeSnapFile(readFileSync(join(snapDir, "0000000000000001-0000000000000003.snap")));
      if (!file.ok) throw new Error(file.reason);
      expect(file.snapshot.metadata.index).toBe(3n);
      expect(file.snapshot.metadata.term).toBe(1n);
      expect(file.snapshot.metadata.confState.voters).toEqual(voters);
      expect(membersFromJson(dec(file.snapshot.data)).map((m) => m.id)).toEqual(boot.members.map((m) => m.id));

      const b = new Backend(join(snapDir, "db"));
      try {
        expect(b.getMeta("consistent_index")).toBe(3n);
        expect(membersFromJson(b.getMeta("members") as string).map((m) => [m.id, m.peerURLs])).toEqual(boot.members.map((m) => [m.id, m.peerURLs]));
      } finally {
        b.close();
      }
    }
  });

  test("the leader of a restored cluster sends a member added later its database, not a log from index 1", async () => {
    const cluster = new Map([["n1", ["http://127.0.0.1:12380"]]]);
    await restoreSnapshot(input({}));
    const s = await start(options(join(root, "new"), { name: "n1", initialCluster: cluster, initialAdvertisePeerUrls: cluster.get("n1")!, initialClusterToken: "restored" }));
    // A transport that records what the leader sends; the new member's answers are stepped in by hand.
    const sent: Message[] = [];
    const shipped: { m: Message; db: PeerSnapshot; status: ReturnType<typeof snapshotStatus> }[] = [];
    s.setTransport({
      send: (msgs) => void sent.push(...msgs),
      sendSnapshot: (m, db) => void shipped.push({ m, db, status: snapshotStatus(db.path) }),
      request: async () => {
        throw new Error("no peers in this test");
      },
      addPeer: () => {},
      removePeer: () => {},
    });
    try {
      const { member } = await s.memberAdd(["http://127.0.0.1:12390"], true);
      // The new member answers as a real one with an empty log: a heartbeat as any follower, then
      // the leader's probe with a rejection saying it has nothing.
      const toNew = (type: MessageType) => sent.find((m) => m.to === member.id && m.type === type);
      await until(() => !!toNew(MessageType.Heartbeat));
      const beat = toNew(MessageType.Heartbeat)!;
      s.receive(message({ type: MessageType.HeartbeatResp, from: member.id, to: s.memberId, term: beat.term }));
      await until(() => !!toNew(MessageType.App));
      const probe = toNew(MessageType.App)!;
      s.receive(message({ type: MessageType.AppResp, from: member.id, to: s.memberId, term: probe.term, index: probe.index, reject: true, rejectHint: 0 }));
      // Caught up either with the database or (the bug this guards against) with the log from index 1.
      const logFromStart = () => sent.some((m) => m.to === member.id && m.entries.some((e) => e.index <= 1));
      await until(() => shipped.length > 0 || logFromStart());
      expect(logFromStart()).toBe(false);
      expect(shipped[0].m.to).toBe(member.id);
      expect(shipped[0].m.snapshot!.meta.index).toBeGreaterThanOrEqual(1);
      expect(shipped[0].status.revision).toBe(revision);
      expect(shipped[0].status.totalKey).toBe(snapshotStatus(join(root, "new", "member", "snap", "db")).totalKey);
    } finally {
      await s.stop();
    }
  }, 30_000);

  test("refuses an existing data dir or wal dir, and a name not in the cluster", async () => {
    mkdirSync(join(root, "taken"));
    await expect(restoreSnapshot(input({ dataDir: join(root, "taken") }))).rejects.toThrow(`data-dir "${join(root, "taken")}" exists`);
    await expect(restoreSnapshot(input({ walDir: join(root, "taken") }))).rejects.toThrow(`wal-dir "${join(root, "taken")}" exists`);
    await expect(restoreSnapshot(input({ name: "zz" }))).rejects.toThrow("does not list this member's name 'zz'");
    expect(existsSync(join(root, "new"))).toBe(false);
    // The directory is built under a staging name; one left by a killed restore is named, not reused.
    mkdirSync(join(root, "new.restoring"));
    await expect(restoreSnapshot(input({}))).rejects.toThrow(`"${join(root, "new.restoring")}" is left from an interrupted restore`);
    expect(existsSync(join(root, "new"))).toBe(false);
  });

  test("a damaged file fails the hash check and leaves nothing behind; --skip-hash-check takes it", async () => {
    const bytes = readFileSync(snap);
    bytes[bytes.length - 5] ^= 1;
    const bad = join(root, "bad.db");
    writeFileSync(bad, bytes);
    await expect(restoreSnapshot(input({ snapshotPath: bad, walDir: join(root, "w") }))).rejects.toThrow("sha256 mismatch");
    expect(existsSync(join(root, "new"))).toBe(false);
    expect(existsSync(join(root, "w"))).toBe(false);
    await restoreSnapshot(input({ snapshotPath: bad, skipHashCheck: true }));
    expect(snapshotStatus(join(root, "new", "member", "snap", "db")).revision).toBe(revision);
  });

  test("a database without the trailing hash needs skipHashCheck", async () => {
    const bare = join(root, "bare.db");
    writeFileSync(bare, readFileSync(snap).subarray(0, -32));
    await expect(restoreSnapshot(input({ snapshotPath: bare }))).rejects.toThrow("snapshot missing hash but --skip-hash-check=false");
    await restoreSnapshot(input({ snapshotPath: bare, skipHashCheck: true }));
  });

  test("a damaged snapshot restored with skipHashCheck is caught by the format's own checks", async () => {
    const bytes = readFileSync(snap);
    // Garbage over every page after bbolt's two meta pages breaks the tree (page headers, elements).
    for (let i = 2 * 4096; i < bytes.length - 32; i++) bytes[i] = 0xa5;
    const bad = join(root, "broken.db");
    writeFileSync(bad, bytes);
    await expect(restoreSnapshot(input({ snapshotPath: bad, skipHashCheck: true }))).rejects.toThrow(/cannot be read as an etcd snapshot/);
    expect(existsSync(join(root, "new"))).toBe(false);
  });
});
