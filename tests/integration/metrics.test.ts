// /metrics over a real EtcdServer in a temp dir, through the route main.ts mounts: every family has
// etcd 3.4's name, type, help, labels and buckets, and the values follow what the member does.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Hono } from "hono";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdServer } from "../../src/server/core/server.ts";
import { GrpcServer } from "../../src/server/grpc/grpc-server.ts";
import { etcdHandlers } from "../../src/server/grpc/services.ts";
import { mountMetrics } from "../../src/server/http/metrics-route.ts";
import { diffWithEtcd34, parseExposition } from "../support/etcd34-metrics.ts";

let dir: string;
let server: EtcdServer;
const app = new Hono();

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
      log: () => {},
    },
    (err) => {
      throw err;
    },
  );
  await until(() => server.isReady);
  new GrpcServer(etcdHandlers(server), { maxRecvBytes: 2 * 1024 * 1024, log: () => {} });
  mountMetrics(app);
});

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("every family has etcd 3.4's type, help, labels and buckets (peer metrics need peers)", async () => {
  expect(diffWithEtcd34(await scrape(), { withPeers: false })).toEqual([]);
});

test("the member's state: leader, id, version, Raft indexes, keys, database size", async () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const before = await scrape();
  await server.put({ key: enc("a"), value: enc("1") });
  await server.put({ key: enc("b"), value: enc("1") });
  await server.put({ key: enc("a"), value: enc("2") }); // not a new key
  await server.deleteRange({ key: enc("b") });
  const text = await scrape();
  expect(value(text, "etcd_server_has_leader")).toBe(1);
  expect(value(text, "etcd_server_is_leader")).toBe(1);
  expect(value(text, "etcd_server_leader_changes_seen_total")).toBeGreaterThanOrEqual(1);
  expect(value(text, `etcd_server_id{server_id="${server.memberId.toString(16)}"}`)).toBe(1);
  expect(value(text, 'etcd_server_version{server_version="3.5.0"}')).toBe(1);
  expect(value(text, "etcd_server_proposals_applied_total")).toBe(value(before, "etcd_server_proposals_applied_total") + 4);
  expect(value(text, "etcd_server_proposals_committed_total")).toBeGreaterThanOrEqual(value(text, "etcd_server_proposals_applied_total"));
  expect(value(text, "etcd_server_proposals_pending")).toBe(0);
  expect(value(text, "etcd_debugging_mvcc_keys_total")).toBe(value(before, "etcd_debugging_mvcc_keys_total") + 1);
  expect(value(text, "etcd_mvcc_db_total_size_in_bytes")).toBeGreaterThan(0);
  expect(value(text, "etcd_mvcc_db_total_size_in_use_in_bytes")).toBeGreaterThan(0);
  expect(value(text, "etcd_mvcc_db_total_size_in_use_in_bytes")).toBeLessThanOrEqual(value(text, "etcd_mvcc_db_total_size_in_bytes"));
});

test("WAL fsyncs and backend commits are observed in etcd's buckets", async () => {
  const before = parseExposition(await scrape());
  const count = (f: ReturnType<typeof parseExposition>, name: string) => f.get(name)!.samples.get(`${name}_count`)![0].value;
  await server.put({ key: new TextEncoder().encode("c"), value: new Uint8Array(100) });
  await Bun.sleep(150); // the backend commits its batch every 100 ms
  const text = await scrape();
  const after = parseExposition(text);
  expect(count(after, "etcd_disk_wal_fsync_duration_seconds")).toBeGreaterThan(count(before, "etcd_disk_wal_fsync_duration_seconds"));
  expect(count(after, "etcd_disk_backend_commit_duration_seconds")).toBeGreaterThan(count(before, "etcd_disk_backend_commit_duration_seconds"));
  expect(value(text, "etcd_disk_wal_write_bytes_total")).toBeGreaterThan(100);
  const inf = after.get("etcd_disk_wal_fsync_duration_seconds")!.samples.get("etcd_disk_wal_fsync_duration_seconds_bucket")!.at(-1)!;
  expect(inf.labels.le).toBe("+Inf");
  expect(inf.value).toBe(count(after, "etcd_disk_wal_fsync_duration_seconds"));
});
