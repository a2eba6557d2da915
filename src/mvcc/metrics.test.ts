// The store's operation counters count as etcd's metricsTxnWrite does (per store transaction, a
// transaction of more than one operation also as a txn), under both of etcd 3.4's names; compaction
// and HashKV are timed.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../backend/backend.ts";
import { type Counter, defaultRegistry, type Gauge, type Histogram } from "../pkg/metrics.ts";
import { MvccStore } from "./store.ts";

const b = (s: string) => new TextEncoder().encode(s);
const value = (name: string) => (defaultRegistry.get(name)!.with() as Counter | Gauge).value;
const count = (name: string) => (defaultRegistry.get(name)!.with() as Histogram).count;

/** The change of every operation counter across fn, checking that etcd_ and etcd_debugging_ agree. */
function delta(fn: () => void): { range: number; put: number; delete: number; txn: number; putBytes: number } {
  const names = ["range", "put", "delete", "txn"] as const;
  const before = names.map((n) => value(`etcd_mvcc_${n}_total`));
  const beforeDebug = names.map((n) => value(`etcd_debugging_mvcc_${n}_total`));
  const bytes = value("etcd_debugging_mvcc_total_put_size_in_bytes");
  fn();
  const d = names.map((n, i) => value(`etcd_mvcc_${n}_total`) - before[i]);
  expect(names.map((n, i) => value(`etcd_debugging_mvcc_${n}_total`) - beforeDebug[i])).toEqual(d);
  return { range: d[0], put: d[1], delete: d[2], txn: d[3], putBytes: value("etcd_debugging_mvcc_total_put_size_in_bytes") - bytes };
}

let dir: string;
let backend: Backend;
let store: MvccStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "mvcc-metrics-"));
  backend = new Backend(join(dir, "db"));
  store = new MvccStore(backend);
});
afterEach(() => {
  backend.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a put is one put of its key and value bytes, not a txn", () => {
  expect(delta(() => store.write((t) => t.put(b("key"), b("value"), 0n)))).toEqual({ range: 0, put: 1, delete: 0, txn: 0, putBytes: 8 });
});

test("a write of several operations is also one txn", () => {
  store.write((t) => t.put(b("a"), b("1"), 0n));
  const d = delta(() =>
    store.write((t) => {
      t.put(b("b"), b("2"), 0n);
      t.latest(b("a")); // how a put with prev_kv reads the old value: a range, as etcd's
      t.deleteRange(b("a"), null);
    }),
  );
  expect(d).toEqual({ range: 1, put: 1, delete: 1, txn: 1, putBytes: 2 });
});

test("a delete counts whether or not it found keys; a read counts even when it fails", () => {
  expect(delta(() => store.write((t) => t.deleteRange(b("nothing"), null)))).toMatchObject({ delete: 1, txn: 0 });
  expect(delta(() => expect(() => store.range(b("a"), null, { rev: 99n })).toThrow())).toMatchObject({ range: 1, txn: 0 });
});

test("tally makes reads and a write one transaction; nested tallies join the outer one", () => {
  const d = delta(() =>
    store.tally(() => {
      store.range(b("a"), null);
      store.tally(() => store.range(b("b"), null));
      store.write((t) => t.put(b("c"), b("3"), 0n));
    }),
  );
  expect(d).toEqual({ range: 2, put: 1, delete: 0, txn: 1, putBytes: 2 });
  // Separately, the same operations are three transactions of one operation each.
  const apart = delta(() => {
    store.range(b("a"), null);
    store.range(b("b"), null);
    store.write((t) => t.put(b("c"), b("3"), 0n));
  });
  expect(apart).toEqual({ range: 2, put: 1, delete: 0, txn: 0, putBytes: 2 });
});

test("a transaction that throws is still counted (etcd counts what it attempted)", () => {
  const d = delta(() =>
    expect(() =>
      store.write((t) => {
        t.put(b("x"), b("1"), 0n);
        throw new Error("boom");
      }),
    ).toThrow("boom"),
  );
  expect(d).toMatchObject({ put: 1, txn: 0 });
});

test("compaction: the pause, each background slice, the whole pass, the rows it deleted and when it finished", async () => {
  for (let i = 0; i < 250; i++) store.write((t) => t.put(b(`k${i}`), b("v1"), 0n));
  for (let i = 0; i < 250; i++) store.write((t) => t.put(b(`k${i}`), b("v2"), 0n));
  const pauses = count("etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds");
  const slices = count("etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds");
  const passes = count("etcd_debugging_mvcc_db_compaction_total_duration_milliseconds");
  const keys = value("etcd_debugging_mvcc_db_compaction_keys_total");
  const beforeS = Math.floor(Date.now() / 1000);
  store.compact(store.rev, { background: true });
  await store.compacted();
  expect(count("etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds")).toBe(pauses + 1);
  // 250 keys in slices of 100: two full slices, then the last one ends the pass.
  expect(count("etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds")).toBe(slices + 2);
  expect(count("etcd_debugging_mvcc_db_compaction_total_duration_milliseconds")).toBe(passes + 1);
  // Every key's first version is gone: 250 history rows.
  expect(value("etcd_debugging_mvcc_db_compaction_keys_total")).toBe(keys + 250);
  expect(value("etcd_debugging_mvcc_db_compaction_last")).toBeGreaterThanOrEqual(beforeS);
});

test("HashKV is timed", async () => {
  store.write((t) => t.put(b("a"), b("1"), 0n));
  const before = count("etcd_mvcc_hash_rev_duration_seconds");
  await store.hashKV(store.rev);
  expect(count("etcd_mvcc_hash_rev_duration_seconds")).toBe(before + 1);
});
