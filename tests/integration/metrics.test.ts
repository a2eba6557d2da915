// /metrics over a real EtcdServer in a temp dir, through the route main.ts mounts: every family of
// etcd 3.4's and 3.5's lists (and 3.6's additions) is defined with etcd's type, help, labels and
// buckets, also those whose series appear only with an event; and the values follow what the
// member does.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Hono } from "hono";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultRegistry, formatValue } from "../../src/pkg/metrics.ts";
import { EtcdServer } from "../../src/server/core/server.ts";
import { GrpcServer } from "../../src/server/grpc/grpc-server.ts";
import { etcdHandlers } from "../../src/server/grpc/services.ts";
import { createHttpApp } from "../../src/server/http/app.ts";
import "../../src/server/peer/peer-transport.ts"; // the peer metrics, as the binary links them
import "../../src/proxy/metrics.ts"; // and the grpc-proxy's, as etcd's binary has its proxy's
import { diffWithList, ETCD34_METRICS, type FamilySpec, GO_RUNTIME, parseExposition } from "../support/etcd34-metrics.ts";
import { ETCD35_METRICS, ETCD36_ADDITIONS, NOT_EXPORTED_36 } from "../support/etcd35-metrics.ts";

let dir: string;
let server: EtcdServer;
let app: Hono;

const until = async (pred: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await Bun.sleep(10);
  }
};

async function scrape() {
  const res = await app.request("/metrics");
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of a sample (name with its labels as written, e.g. 'x{a="b"}'). */
function value(text: string, sample: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  if (line === undefined) throw new Error(`no sample ${sample} in:\n${text}`);
  return Number(line.slice(sample.length + 1));
}

const enc = (s: string) => new TextEncoder().encode(s);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "metrics-"));
  server = await EtcdServer.start(
    {
      name: "default",
      dataDir: dir,
      initialAdvertisePeerUrls: ["http://127.0.0.1:1"],
      advertiseClientUrls: ["http://127.0.0.1:2"],
      initialClusterToken: "metrics-test",
      heartbeatIntervalMs: 10,
      electionTimeoutMs: 100,
      maxRequestBytes: 1024 * 1024,
      maxTxnOps: 128,
      snapshotCount: 10_000,
      quotaBackendBytes: 4 * 1024 ** 3,
      log: () => {},
    },
    (err) => {
      throw err;
    },
  );
  await until(() => server.isReady);
  new GrpcServer(etcdHandlers(server), { maxRecvBytes: 2 * 1024 * 1024, log: () => {} });
  app = createHttpApp({
    hasLeader: () => server.isReady,
    alarms: () => server.alarmNames(),
    healthRead: (serializable) => server.range({ key: Uint8Array.of(0), keysOnly: true, limit: 1n, serializable }),
    versions: () => ({ etcdserver: "3.5.0", etcdcluster: "3.5.0", "etcd-ts": "test" }),
  });
});

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Every family a list names, as defined here: type, help, label names and buckets. */
function definitionProblems(list: Record<string, FamilySpec>, who: string): string[] {
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(list)) {
    if (GO_RUNTIME.test(name) || name in NOT_EXPORTED_36) continue;
    const f = defaultRegistry.get(name);
    if (!f) {
      problems.push(`${name}: not defined (${who} exports it)`);
      continue;
    }
    const mine = { type: f.type, help: f.help, labels: [...f.labelNames].sort(), buckets: f.buckets && [...f.buckets.map(formatValue), "+Inf"] };
    const theirs = { type: spec.type, help: spec.help, labels: spec.labels, buckets: spec.buckets };
    if (JSON.stringify(mine) !== JSON.stringify(theirs)) problems.push(`${name}: ours ${JSON.stringify(mine)}, ${who}'s ${JSON.stringify(theirs)}`);
  }
  return problems;
}

test("every family of etcd 3.4, 3.5 and 3.6's additions is defined as etcd defines it (but Go's runtime and 3.6's feature gates)", () => {
  expect(definitionProblems(ETCD34_METRICS, "etcd 3.4")).toEqual([]);
  expect(definitionProblems(ETCD35_METRICS, "etcd 3.5")).toEqual([]);
  expect(definitionProblems(ETCD36_ADDITIONS, "etcd 3.6")).toEqual([]);
});

test("the exposition shows every family a lone member shows, with etcd's type, help, labels and buckets", async () => {
  await server.range({ key: enc("a") }); // etcd 3.6's range duration appears with the first Range
  const text = await scrape();
  const happened = (event: string) => event === "a Range request";
  expect(diffWithList(text, ETCD34_METRICS, "etcd 3.4", happened).filter((p) => !GO_RUNTIME.test(p))).toEqual([]);
  expect(diffWithList(text, ETCD35_METRICS, "etcd 3.5", happened).filter((p) => !GO_RUNTIME.test(p))).toEqual([]);
  expect(diffWithList(text, ETCD36_ADDITIONS, "etcd 3.6", happened).filter((p) => !p.startsWith("etcd_server_feature_enabled"))).toEqual([]);
  // Only families etcd has, and etcd-ts's own under etcd_ts_.
  const known = new Set([...Object.keys(ETCD34_METRICS), ...Object.keys(ETCD35_METRICS), ...Object.keys(ETCD36_ADDITIONS)]);
  expect([...parseExposition(text).keys()].filter((n) => !known.has(n) && !n.startsWith("etcd_ts_"))).toEqual([]);
});

test("the member's state: leader, id, versions, Raft indexes, keys, revisions, quota, database size", async () => {
  const before = await scrape();
  await server.put({ key: enc("a"), value: enc("1") });
  await server.put({ key: enc("b"), value: enc("1") });
  await server.put({ key: enc("a"), value: enc("2") }); // not a new key
  await server.deleteRange({ key: enc("b") });
  const text = await scrape();
  expect(value(text, "etcd_server_has_leader")).toBe(1);
  expect(value(text, "etcd_server_is_leader")).toBe(1);
  expect(value(text, "etcd_server_is_learner")).toBe(0);
  expect(value(text, "etcd_server_leader_changes_seen_total")).toBeGreaterThanOrEqual(1);
  expect(value(text, `etcd_server_id{server_id="${server.memberId.toString(16)}"}`)).toBe(1);
  expect(value(text, 'etcd_server_version{server_version="3.5.0"}')).toBe(1);
  expect(value(text, 'etcd_cluster_version{cluster_version="3.5"}')).toBe(1);
  expect(value(text, `etcd_network_known_peers{Local="${server.memberId.toString(16)}",Remote="${server.memberId.toString(16)}"}`)).toBe(1);
  expect(value(text, "etcd_server_quota_backend_bytes")).toBe(4 * 1024 ** 3);
  expect(value(text, "etcd_server_proposals_applied_total")).toBe(value(before, "etcd_server_proposals_applied_total") + 4);
  expect(value(text, "etcd_server_proposals_committed_total")).toBeGreaterThanOrEqual(value(text, "etcd_server_proposals_applied_total"));
  expect(value(text, "etcd_server_proposals_pending")).toBe(0);
  expect(value(text, "etcd_debugging_mvcc_keys_total")).toBe(value(before, "etcd_debugging_mvcc_keys_total") + 1);
  expect(value(text, "etcd_debugging_mvcc_current_revision")).toBe(value(before, "etcd_debugging_mvcc_current_revision") + 4);
  expect(value(text, "etcd_mvcc_put_total")).toBe(value(before, "etcd_mvcc_put_total") + 3);
  expect(value(text, "etcd_mvcc_delete_total")).toBe(value(before, "etcd_mvcc_delete_total") + 1);
  const appliedPuts = 'etcd_server_apply_duration_seconds_count{op="Put",success="true",version="v3"}';
  expect(value(text, appliedPuts)).toBe((before.includes(`${appliedPuts} `) ? value(before, appliedPuts) : 0) + 3);
  expect(value(text, "etcd_mvcc_db_total_size_in_bytes")).toBeGreaterThan(0);
  expect(value(text, "etcd_debugging_mvcc_db_total_size_in_bytes")).toBe(value(text, "etcd_mvcc_db_total_size_in_bytes"));
  expect(value(text, "etcd_mvcc_db_total_size_in_use_in_bytes")).toBeGreaterThan(0);
  expect(value(text, "etcd_mvcc_db_total_size_in_use_in_bytes")).toBeLessThanOrEqual(value(text, "etcd_mvcc_db_total_size_in_bytes"));

  await server.compact({ revision: server.header().revision, physical: true });
  const compacted = await scrape();
  expect(value(compacted, "etcd_debugging_mvcc_compact_revision")).toBe(value(compacted, "etcd_debugging_mvcc_current_revision"));
  expect(value(compacted, "etcd_debugging_mvcc_db_compaction_keys_total")).toBeGreaterThan(value(before, "etcd_debugging_mvcc_db_compaction_keys_total"));
});

test("watch streams, watchers and the events sent to them", async () => {
  const before = await scrape();
  const stream = server.watchHub.newStream();
  stream.watch({ key: enc("w") });
  await server.put({ key: enc("w"), value: enc("1") });
  const queued = await scrape();
  expect(value(queued, "etcd_debugging_mvcc_watch_stream_total")).toBe(value(before, "etcd_debugging_mvcc_watch_stream_total") + 1);
  expect(value(queued, "etcd_debugging_mvcc_watcher_total")).toBe(value(before, "etcd_debugging_mvcc_watcher_total") + 1);
  // The put's event waits in the stream until its consumer takes it.
  expect(value(queued, "etcd_debugging_mvcc_pending_events_total")).toBe(1);
  expect(stream.take()?.events.length).toBe(1);
  expect(value(await scrape(), "etcd_debugging_mvcc_pending_events_total")).toBe(0);
  stream.close();
  const closed = await scrape();
  expect(value(closed, "etcd_debugging_mvcc_watch_stream_total")).toBe(value(before, "etcd_debugging_mvcc_watch_stream_total"));
  expect(value(closed, "etcd_debugging_mvcc_watcher_total")).toBe(value(before, "etcd_debugging_mvcc_watcher_total"));
});

test("leases: granted with their TTL, renewed by the leader, revoked", async () => {
  const before = await scrape();
  const g = (await server.leases.grant({ TTL: 30n })) as { ID: bigint };
  await server.leases.renew(g.ID);
  await server.leaseRevoke(g.ID);
  const text = await scrape();
  for (const [name, d] of [["etcd_debugging_lease_granted_total", 1], ["etcd_debugging_lease_renewed_total", 1], ["etcd_debugging_lease_revoked_total", 1], ["etcd_debugging_lease_ttl_total_count", 1]] as const) {
    expect(`${name} ${value(text, name) - value(before, name)}`).toBe(`${name} ${d}`);
  }
  expect(value(text, 'etcd_debugging_lease_ttl_total_bucket{le="16"}') - value(before, 'etcd_debugging_lease_ttl_total_bucket{le="16"}')).toBe(0);
  expect(value(text, 'etcd_debugging_lease_ttl_total_bucket{le="32"}') - value(before, 'etcd_debugging_lease_ttl_total_bucket{le="32"}')).toBe(1);
});

test("WAL writes and fsyncs, and backend commits, are observed in etcd's buckets", async () => {
  const before = parseExposition(await scrape());
  const count = (f: ReturnType<typeof parseExposition>, name: string) => f.get(name)!.samples.get(`${name}_count`)![0].value;
  await server.put({ key: enc("c"), value: new Uint8Array(100) });
  let after = parseExposition(await scrape());
  // The backend commits its batch within 100 ms (it is not a point of durability: the WAL is).
  for (let i = 0; i < 100 && count(after, "etcd_disk_backend_commit_duration_seconds") === count(before, "etcd_disk_backend_commit_duration_seconds"); i++) {
    await Bun.sleep(20);
    after = parseExposition(await scrape());
  }
  expect(count(after, "etcd_disk_wal_fsync_duration_seconds")).toBeGreaterThan(count(before, "etcd_disk_wal_fsync_duration_seconds"));
  expect(count(after, "etcd_disk_wal_write_duration_seconds")).toBeGreaterThan(count(before, "etcd_disk_wal_write_duration_seconds"));
  expect(count(after, "etcd_disk_backend_commit_duration_seconds")).toBeGreaterThan(count(before, "etcd_disk_backend_commit_duration_seconds"));
  // SQLite has no bbolt rebalance or spill phase at commit: only the write phase is observed.
  expect(count(after, "etcd_debugging_disk_backend_commit_write_duration_seconds")).toBe(count(after, "etcd_disk_backend_commit_duration_seconds"));
  expect(count(after, "etcd_debugging_disk_backend_commit_rebalance_duration_seconds")).toBe(0);
  expect(after.get("etcd_disk_wal_write_bytes_total")!.samples.get("etcd_disk_wal_write_bytes_total")![0].value).toBeGreaterThan(100);
  const inf = after.get("etcd_disk_wal_fsync_duration_seconds")!.samples.get("etcd_disk_wal_fsync_duration_seconds_bucket")!.at(-1)!;
  expect(inf.labels.le).toBe("+Inf");
  expect(inf.value).toBe(count(after, "etcd_disk_wal_fsync_duration_seconds"));
});

test("a defrag is timed and in flight meanwhile; a snapshot of the database is timed", async () => {
  const before = await scrape();
  const defrag = server.defrag();
  expect(value(await scrape(), "etcd_disk_defrag_inflight")).toBe(1);
  await defrag;
  const text = await scrape();
  expect(value(text, "etcd_disk_defrag_inflight")).toBe(0);
  expect(value(text, "etcd_disk_backend_defrag_duration_seconds_count")).toBe(value(before, "etcd_disk_backend_defrag_duration_seconds_count") + 1);
  let chunks = 0;
  for await (const _ of server.snapshotChunks(32 * 1024)) chunks++;
  expect(chunks).toBeGreaterThan(0);
  expect(value(await scrape(), "etcd_disk_backend_snapshot_duration_seconds_count")).toBe(value(before, "etcd_disk_backend_snapshot_duration_seconds_count") + 1);
});
