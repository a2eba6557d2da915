// The server's metrics helpers: store transactions of a Txn counted as etcd's applier opens them,
// late heartbeats, apply durations by etcd's op names, and the gauges of alarms and known members.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { Errors } from "../../pkg/errors.ts";
import { Counter, defaultRegistry, type Gauge, type Histogram } from "../../pkg/metrics.ts";
import { MessageType } from "../../raft/types.ts";
import { applyPut, applyTxn } from "./kv-apply.ts";
import { applyOp, HeartbeatLateness, type MetricsState, timedApply, watchServerMetrics } from "./metrics.ts";

const b = (s: string) => new TextEncoder().encode(s);
const counter = (name: string) => (defaultRegistry.get(name)!.with() as Counter).value;
const ops = () => ({ range: counter("etcd_mvcc_range_total"), put: counter("etcd_mvcc_put_total"), txn: counter("etcd_mvcc_txn_total") });
const since = (before: ReturnType<typeof ops>) => {
  const now = ops();
  return { range: now.range - before.range, put: now.put - before.put, txn: now.txn - before.txn };
};

describe("operations of a Txn, counted as etcd's applier runs them", () => {
  let dir: string;
  let backend: Backend;
  let store: MvccStore;
  const leases = { exists: () => true };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "core-metrics-"));
    backend = new Backend(join(dir, "db"));
    store = new MvccStore(backend);
    store.write((t) => t.put(b("a"), b("1"), 0n));
  });
  afterEach(() => {
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a txn that writes reads its compares in one transaction and writes in another: no txn of two", () => {
    const before = ops();
    applyTxn(store, { compare: [{ key: b("a"), target: 3, result: 0, value: b("1") }], success: [{ requestPut: { key: b("b"), value: b("2") } }] }, leases);
    expect(since(before)).toEqual({ range: 1, put: 1, txn: 0 });
  });

  test("a read-only txn is one transaction: two ranges make a txn", () => {
    const before = ops();
    applyTxn(store, { success: [{ requestRange: { key: b("a") } }, { requestRange: { key: b("b") } }] }, leases);
    expect(since(before)).toEqual({ range: 2, put: 0, txn: 1 });
  });

  test("a put with prev_kv reads the old value in its write: a txn of two", () => {
    const before = ops();
    store.write((t) => applyPut(t, { key: b("a"), value: b("3"), prevKv: true }, leases));
    expect(since(before)).toEqual({ range: 1, put: 1, txn: 1 });
  });
});

describe("HeartbeatLateness", () => {
  const hb = (to: bigint, term = 2) => ({ type: MessageType.Heartbeat, to, term });

  test("a heartbeat more than two intervals after the previous one to that follower is late", () => {
    let now = 0;
    const failures = new Counter();
    const d = new HeartbeatLateness(100, { now: () => now, failures });
    expect(d.observe([hb(1n), hb(2n)], MessageType.Heartbeat)).toBe(0); // the first ones have nothing to be late for
    now = 200;
    expect(d.observe([hb(1n)], MessageType.Heartbeat)).toBe(0); // exactly two intervals: on time
    now = 401;
    expect(d.observe([hb(1n), hb(2n), { type: MessageType.App, to: 3n, term: 2 }], MessageType.Heartbeat)).toBe(2);
    expect(failures.value).toBe(2);
  });

  test("a new term starts afresh: the gap while another member led is no failure", () => {
    let now = 0;
    const failures = new Counter();
    const d = new HeartbeatLateness(100, { now: () => now, failures });
    d.observe([hb(1n, 2)], MessageType.Heartbeat);
    now = 10_000;
    expect(d.observe([hb(1n, 5)], MessageType.Heartbeat)).toBe(0);
    expect(failures.value).toBe(0);
  });
});

describe("apply durations", () => {
  const series = (op: string, ok: boolean) => defaultRegistry.get("etcd_server_apply_duration_seconds")!.with("v3", op, String(ok)) as Histogram;

  test("labelled with etcd's op name and outcome; a compacted revision counts as success, as etcd's", () => {
    expect(applyOp({ put: {} })).toBe("Put");
    expect(applyOp({ header: { ID: 1n }, authUserAdd: {} })).toBe("AuthUserAdd");
    expect(applyOp({ header: {} })).toBe("unknown");
    const okPut = series("Put", true).count;
    const failedTxn = series("Txn", false).count;
    const compacted = series("Compaction", true).count;
    expect(timedApply({ put: {} }, () => 7)).toBe(7);
    expect(() => timedApply({ txn: {} }, () => { throw Errors.leaseNotFound; })).toThrow(Errors.leaseNotFound.message);
    expect(() => timedApply({ compaction: {} }, () => { throw Errors.compacted; })).toThrow();
    expect(series("Put", true).count).toBe(okPut + 1);
    expect(series("Txn", false).count).toBe(failedTxn + 1);
    expect(series("Compaction", true).count).toBe(compacted + 1);
  });
});

describe("state read at scrape time", () => {
  const state = (over: Partial<MetricsState>): MetricsState => ({
    memberId: 0xaan,
    version: "3.5.0",
    clusterVersion: "3.5.0",
    lead: 0xaan,
    leader: true,
    learner: false,
    committed: 5,
    applied: 5n,
    pending: 0,
    quotaBackendBytes: -1,
    dbSize: 1,
    dbSizeInUse: 1,
    keys: 0,
    revision: 9n,
    compactRevision: 3n,
    authRevision: 1n,
    watch: { streams: 1, watchers: 2, slow: 1, pendingEvents: 4 },
    alarms: [],
    members: [0xaan, 0xbbn],
    ...over,
  });
  const gauge = (name: string, ...labels: string[]) => (defaultRegistry.get(name)!.with(...labels) as Gauge).value;

  test("cluster version as major.minor; a disabled quota reads 0; alarms and members go to 0 once gone", () => {
    let s = state({ alarms: [{ memberID: 0xbbn, alarm: "NOSPACE" }] });
    const stop = watchServerMetrics(() => s);
    try {
      defaultRegistry.expose();
      expect(gauge("etcd_cluster_version", "3.5")).toBe(1);
      expect(gauge("etcd_server_quota_backend_bytes")).toBe(0);
      expect(gauge("etcd_debugging_mvcc_current_revision")).toBe(9);
      expect(gauge("etcd_debugging_mvcc_pending_events_total")).toBe(4);
      expect(gauge("etcd_debugging_server_alarms", "bb", "NOSPACE")).toBe(1);
      expect(gauge("etcd_network_known_peers", "aa", "bb")).toBe(1);
      s = state({ members: [0xaan], alarms: [] });
      defaultRegistry.expose();
      expect(gauge("etcd_debugging_server_alarms", "bb", "NOSPACE")).toBe(0);
      expect(gauge("etcd_network_known_peers", "aa", "bb")).toBe(0);
      expect(gauge("etcd_network_known_peers", "aa", "aa")).toBe(1);
    } finally {
      stop();
    }
  });
});
