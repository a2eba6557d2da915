import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../backend/backend.ts";
import { MvccStore } from "./store.ts";

const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array) => new TextDecoder().decode(u);

let dir: string;
let backend: Backend;
let store: MvccStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "mvcc-"));
  backend = new Backend(join(dir, "db"));
  store = new MvccStore(backend);
});
afterEach(() => {
  backend.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = (k: string, v: string, lease = 0n) => store.write((t) => t.put(b(k), b(v), lease));
const del = (k: string, end?: string) => store.write((t) => t.deleteRange(b(k), end === undefined ? null : b(end)));
const keys = (r: { kvs: { key: Uint8Array }[] }) => r.kvs.map((kv) => s(kv.key));

describe("revisions", () => {
  test("a fresh store is at revision 1 and the first put gets revision 2", () => {
    expect(store.rev).toBe(1n);
    expect(put("foo", "bar")).toBe(2n);
    const kv = store.range(b("foo"), null).kvs[0];
    expect(kv).toMatchObject({ createRevision: 2n, modRevision: 2n, version: 1n, lease: 0n });
    expect(s(kv.value)).toBe("bar");
  });

  test("updating a key keeps create_revision and bumps version and mod_revision", () => {
    put("foo", "a");
    put("foo", "b");
    const kv = store.range(b("foo"), null).kvs[0];
    expect(kv).toMatchObject({ createRevision: 2n, modRevision: 3n, version: 2n });
  });

  test("a delete writes a tombstone; re-creating starts a new generation", () => {
    put("foo", "a");
    expect(del("foo").deleted).toBe(1);
    expect(store.rev).toBe(3n);
    expect(store.range(b("foo"), null).kvs).toHaveLength(0);
    put("foo", "b");
    expect(store.range(b("foo"), null).kvs[0]).toMatchObject({ createRevision: 4n, modRevision: 4n, version: 1n });
  });

  test("a delete that removes nothing takes no revision", () => {
    put("a", "1");
    expect(del("zzz").deleted).toBe(0);
    expect(store.rev).toBe(2n);
  });

  test("all writes of one transaction share one revision", () => {
    const rev = store.write((t) => {
      t.put(b("x"), b("1"), 0n);
      t.put(b("y"), b("2"), 0n);
      return t.rev;
    });
    expect(rev).toBe(2n);
    expect(store.rev).toBe(2n);
    expect(store.range(b("x"), b("z")).kvs.map((kv) => kv.modRevision)).toEqual([2n, 2n]);
  });

  test("reads inside a write transaction see its own writes", () => {
    store.write((t) => {
      t.put(b("k"), b("v"), 0n);
      expect(keys(t.range(b("k"), null))).toEqual(["k"]);
    });
  });

  test("revision survives reopening", () => {
    put("a", "1");
    put("a", "2");
    store.saveMeta();
    backend.close();
    backend = new Backend(join(dir, "db"));
    store = new MvccStore(backend);
    expect(store.rev).toBe(3n);
  });
});

describe("range", () => {
  beforeEach(() => {
    for (const k of ["a", "b", "b1", "b2", "c", "d"]) put(k, `v-${k}`);
  });

  test("single key, [key, end), from-key and the whole keyspace", () => {
    expect(keys(store.range(b("b"), null))).toEqual(["b"]);
    expect(keys(store.range(b("b"), b("c")))).toEqual(["b", "b1", "b2"]);
    expect(keys(store.range(b("c"), new Uint8Array([0])))).toEqual(["c", "d"]);
    expect(keys(store.range(new Uint8Array([0]), new Uint8Array([0])))).toHaveLength(6);
  });

  test("limit truncates but count is the whole range", () => {
    const r = store.range(b("a"), b("z"), { limit: 2 });
    expect(keys(r)).toEqual(["a", "b"]);
    expect(r.count).toBe(6);
  });

  test("count only", () => {
    const r = store.range(b("b"), b("c"), { countOnly: true });
    expect(r.kvs).toHaveLength(0);
    expect(r.count).toBe(3);
  });

  test("an end before the key is an empty range", () => {
    expect(store.range(b("d"), b("a")).count).toBe(0);
  });

  test("reads at a past revision", () => {
    // revisions: a=2 b=3 b1=4 b2=5 c=6 d=7
    put("a", "new"); // 8
    del("b", "c"); // 9
    expect(keys(store.range(b("a"), b("z"), { rev: 4n }))).toEqual(["a", "b", "b1"]);
    expect(s(store.range(b("a"), null, { rev: 7n }).kvs[0].value)).toBe("v-a");
    expect(s(store.range(b("a"), null, { rev: 8n }).kvs[0].value)).toBe("new");
    expect(keys(store.range(b("a"), b("z"), { rev: 9n }))).toEqual(["a", "c", "d"]);
    expect(store.range(b("a"), b("z"), { rev: 8n }).count).toBe(6);
  });

  test("future revision is an error", () => {
    expect(() => store.range(b("a"), null, { rev: 100n })).toThrow("etcdserver: mvcc: required revision is a future revision");
  });
});

describe("compaction", () => {
  test("keeps the state at the compacted revision and drops older ones", () => {
    put("k", "1"); // 2
    put("k", "2"); // 3
    put("gone", "x"); // 4
    del("gone"); // 5
    put("k", "3"); // 6
    store.compact(5n);
    expect(store.compactRev).toBe(5n);
    expect(() => store.range(b("k"), null, { rev: 4n })).toThrow("etcdserver: mvcc: required revision has been compacted");
    expect(s(store.range(b("k"), null, { rev: 5n }).kvs[0].value)).toBe("2");
    expect(store.range(b("gone"), null, { rev: 5n }).kvs).toHaveLength(0);
    expect(s(store.range(b("k"), null).kvs[0].value)).toBe("3");
  });

  test("hashKV covers the retained history up to a revision, page by page, and notices compaction", async () => {
    put("a", "1"); // 2
    put("b", "1"); // 3
    del("a"); // 4
    const at3 = await store.hashKV(3n);
    put("c", "1"); // 5
    expect(await store.hashKV(3n)).toEqual(at3); // later writes do not change an earlier revision's hash
    expect((await store.hashKV(5n)).hash).not.toBe(at3.hash);
    expect(await store.hashKV(5n, 1)).toEqual(await store.hashKV(5n)); // one row per page: same answer
    // A store with the same history hashes the same; one value different, not.
    const twin = new MvccStore(new Backend(":memory:"));
    const other = new MvccStore(new Backend(":memory:"));
    for (const [st, v] of [[twin, "1"], [other, "2"]] as const) {
      st.write((t) => t.put(b("a"), b("1"), 0n));
      st.write((t) => t.put(b("b"), b(v), 0n));
      st.write((t) => t.deleteRange(b("a"), null));
      st.write((t) => t.put(b("c"), b("1"), 0n));
    }
    expect(await twin.hashKV(5n)).toEqual(await store.hashKV(5n));
    expect((await other.hashKV(5n)).hash).not.toBe((await store.hashKV(5n)).hash);
    store.compact(4n);
    expect((await store.hashKV(5n)).compactRevision).toBe(4n);
    // Compacted between two pages: the answer would mix two histories, so there is none.
    const paged = store.hashKV(5n, 1);
    await new Promise<void>((r) => setImmediate(r)); // the hash has read its first page
    store.compact(5n);
    // (awaited through catch: `expect(p).rejects` stalls in bun:test when p rejected already)
    const err = await paged.then(() => null, (e: Error) => e);
    expect(err?.message).toBe("etcdserver: mvcc: required revision has been compacted");
  });

  test("a delete AT the compaction revision survives the compaction: a watch from there still gets it (etcd-io/etcd#18274)", () => {
    put("k", "2"); // rev 2
    put("k", "3"); // rev 3
    del("k"); // rev 4: the tombstone
    put("k", "5"); // rev 5
    put("gone", "x"); // rev 6
    del("gone"); // rev 7
    put("other", "y"); // rev 8
    store.compact(4n); // physically, at once
    const types = (after: bigint) => store.changes(b("\0"), b("\0"), { after }).events.map((e) => `${e.type === 1 ? "DELETE" : "PUT"} ${s(e.kv.key)}@${e.kv.modRevision}`);
    // Watching from revision 4 (changes after 3): the delete at 4 comes first, then the later writes.
    expect(types(3n)).toEqual(["DELETE k@4", "PUT k@5", "PUT gone@6", "DELETE gone@7", "PUT other@8"]);
    // A later compaction past it removes the tombstone as any other.
    store.compact(7n);
    expect(types(6n)).toEqual(["DELETE gone@7", "PUT other@8"]);
    expect(keys(store.range(b("\0"), b("\0"), {}))).toEqual(["k", "other"]);
  });

  test("compacting at or below the compacted revision, or in the future, is an error", () => {
    put("k", "1");
    put("k", "2");
    store.compact(2n);
    expect(() => store.compact(2n)).toThrow("etcdserver: mvcc: required revision has been compacted");
    expect(() => store.compact(99n)).toThrow("etcdserver: mvcc: required revision is a future revision");
  });

  test("in the background: reads never change while rows go, the result equals a synchronous compaction, and it resumes after a restart", async () => {
    // 2,000 keys with several generations (puts, deletes, re-creates), and a twin written alike.
    const twinDir = mkdtempSync(join(tmpdir(), "mvcc-twin-"));
    const twinBackend = new Backend(join(twinDir, "db"));
    const twin = new MvccStore(twinBackend);
    try {
      for (const st of [store, twin]) {
        for (let round = 0; round < 4; round++) {
          for (let i = 0; i < 2000; i++) {
            const k = b(`k${String(i).padStart(4, "0")}`);
            if ((i + round) % 5 === 0) st.write((t) => t.deleteRange(k, null));
            else st.write((t) => t.put(k, b(`v${round}`), 0n));
          }
        }
      }
      const at = store.rev - 3000n;
      const snapshot = (st: MvccStore) => [st.range(b("k"), b("l"), { rev: at }), st.range(b("k"), b("l"), { rev: at + 1500n }), st.range(b("k"), b("l"))];
      const before = snapshot(store);
      twin.compact(at); // synchronous
      store.compact(at, { background: true });
      expect(store.compactDone).toBeLessThan(at); // not done yet: it runs in slices
      // Reads between slices see exactly what they saw before.
      await new Promise<void>((r) => setImmediate(r));
      expect(snapshot(store)).toEqual(before);
      // A restart mid-way resumes from the recorded progress.
      backend.close();
      backend = new Backend(join(dir, "db"));
      store = new MvccStore(backend);
      expect(store.compactDone).toBeLessThan(at);
      store.resumeCompaction();
      await store.compacted();
      expect(store.compactDone).toBe(at);
      expect(snapshot(store)).toEqual(before);
      const rows = (bk: Backend) => bk.prepare("SELECT rev, key, value, tomb FROM hist ORDER BY id").values();
      expect(rows(backend)).toEqual(rows(twinBackend));
      const cur = (bk: Backend) => bk.prepare("SELECT key, live, create_rev, version FROM cur ORDER BY key").values();
      expect(cur(backend)).toEqual(cur(twinBackend));
      expect(await store.hashKV(store.rev)).toEqual(await twin.hashKV(twin.rev));
    } finally {
      twinBackend.close();
      rmSync(twinDir, { recursive: true, force: true });
    }
  });
});
