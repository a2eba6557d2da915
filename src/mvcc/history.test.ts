// What watching needs of the store: the events a write makes, prev_kv, and paged history reads.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../backend/backend.ts";
import { seededRandom } from "../pkg/prng.ts";
import { EventType, type StoreEvent } from "./event.ts";
import { MvccStore } from "./store.ts";

const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array) => new TextDecoder().decode(u);

let dir: string;
let backend: Backend;
let store: MvccStore;
let notified: { rev: bigint; events: StoreEvent[] }[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "mvcc-hist-"));
  backend = new Backend(join(dir, "db"));
  store = new MvccStore(backend);
  notified = [];
  store.onEvents = (rev, events) => notified.push({ rev, events });
});
afterEach(() => {
  backend.close();
  rmSync(dir, { recursive: true, force: true });
});

const put = (k: string, v: string, lease = 0n) => store.write((t) => t.put(b(k), b(v), lease));
const del = (k: string, end?: string) => store.write((t) => t.deleteRange(b(k), end === undefined ? null : b(end)));
/** "PUT k=v@rev" / "DELETE k@rev" */
const show = (evs: { type: number; kv: { key: Uint8Array; value: Uint8Array; modRevision: bigint } }[]) =>
  evs.map((e) => (e.type === EventType.PUT ? `PUT ${s(e.kv.key)}=${s(e.kv.value)}@${e.kv.modRevision}` : `DELETE ${s(e.kv.key)}@${e.kv.modRevision}`));

describe("events from writes", () => {
  test("a put reports the key's full new state", () => {
    put("k", "v1", 7n);
    put("k", "v2", 7n);
    expect(notified.map((n) => n.rev)).toEqual([2n, 3n]);
    expect(notified[1].events).toHaveLength(1);
    const ev = notified[1].events[0];
    expect(ev.type).toBe(EventType.PUT);
    expect(ev.kv).toMatchObject({ createRevision: 2n, modRevision: 3n, version: 2n, lease: 7n });
    expect(s(ev.kv.value)).toBe("v2");
  });

  test("a delete reports etcd's tombstone: the key and the delete's revision, all else zero", () => {
    put("a", "1");
    put("b", "2");
    del("a", "c");
    const { rev, events } = notified[2];
    expect(rev).toBe(4n);
    expect(show(events)).toEqual(["DELETE a@4", "DELETE b@4"]);
    expect(events[0].kv).toMatchObject({ createRevision: 0n, version: 0n, lease: 0n, value: new Uint8Array(0) });
  });

  test("one transaction: one call, its changes in the order it made them", () => {
    put("x", "0");
    store.write((t) => {
      t.put(b("z"), b("1"), 0n);
      t.deleteRange(b("x"), null);
      t.put(b("a"), b("2"), 0n);
    });
    expect(notified).toHaveLength(2);
    expect(show(notified[1].events)).toEqual(["PUT z=1@3", "DELETE x@3", "PUT a=2@3"]);
  });

  test("a write that changes nothing reports nothing", () => {
    del("nothing");
    store.write((t) => t.range(b("a"), null));
    expect(notified).toEqual([]);
  });
});

describe("prev_kv", () => {
  test("kvBefore reads the value just before a revision", () => {
    put("k", "v1"); // 2
    put("other", "x"); // 3
    put("k", "v2"); // 4
    del("k"); // 5
    expect(s(store.kvBefore(b("k"), 4n)!.value)).toBe("v1");
    expect(s(store.kvBefore(b("k"), 5n)!.value)).toBe("v2");
    expect(store.kvBefore(b("k"), 6n)).toBeUndefined(); // deleted at 5
    expect(store.kvBefore(b("k"), 2n)).toBeUndefined(); // before it existed
    store.compact(4n);
    expect(store.kvBefore(b("k"), 4n)).toBeUndefined(); // revision 3 is compacted
  });

  test("prevKv of fresh and historical events, and none for a create", () => {
    put("k", "v1"); // 2
    put("k", "v2"); // 3
    del("k"); // 4
    put("k", "v3"); // 5: a create again
    const fresh = notified.map((n) => n.events[0]);
    const hist = store.changes(b("k"), null, { after: 1n }).events;
    for (const evs of [fresh, hist]) {
      expect(evs.map((e) => store.prevKv(e)).map((kv) => (kv ? `${s(kv.value)}@${kv.modRevision}` : "-"))).toEqual(["-", "v1@2", "v2@3", "-"]);
    }
  });
});

describe("history", () => {
  test("historyStart finds the first row at or after a revision, across compaction gaps", () => {
    const rnd = seededRandom(7);
    const revOfRow: [bigint, bigint][] = []; // what the rows are, kept in step with compaction below
    for (let i = 0; i < 300; i++) {
      const k = `k${Math.floor(rnd() * 5)}`;
      if (rnd() < 0.2) del(k);
      else if (rnd() < 0.3) store.write((t) => [1, 2, 3].forEach((j) => t.put(b(`${k}-${j}`), b("v"), 0n)));
      else put(k, `v${i}`);
    }
    store.compact(150n);
    const rows = (backend.prepare("SELECT id, rev FROM hist ORDER BY id").values() as [bigint, bigint][]).map(([id, rev]) => [id, rev]);
    revOfRow.push(...(rows as [bigint, bigint][]));
    for (let rev = 0n; rev <= store.rev + 1n; rev++) {
      const want = revOfRow.find(([, r]) => r >= rev)?.[0] ?? revOfRow[revOfRow.length - 1][0] + 1n;
      expect(store.historyStart(rev)).toBe(want);
    }
  });

  test("changes: revisions in (after, to] for a range, in order", () => {
    put("fo0", "a"); // 2
    put("fo3", "b"); // 3
    put("fo1", "c"); // 4
    put("fo2.5", "d"); // 5
    del("fo0"); // 6
    put("zzz", "e"); // 7
    const page = store.changes(b("fo0"), b("fo3"), { after: 2n, to: 6n });
    expect(show(page.events)).toEqual(["PUT fo1=c@4", "PUT fo2.5=d@5", "DELETE fo0@6"]);
    expect(page.next).toBeNull();
    expect(show(store.changes(b("fo"), new Uint8Array([0]), { after: 0n }).events)).toHaveLength(6); // from-key
  });

  test("changes pages keep revisions whole unless one revision is larger than a page", () => {
    put("a", "1"); // 2
    store.write((t) => ["b", "c", "d"].forEach((k) => t.put(b(k), b("3"), 0n))); // 3: three rows
    put("e", "4"); // 4
    const all = b("\0");
    const p1 = store.changes(all, all, { after: 1n, rowsMax: 3 });
    expect(show(p1.events)).toEqual(["PUT a=1@2"]); // revision 3 did not fit whole
    expect(p1.next?.rev).toBe(3n);
    const p2 = store.changes(all, all, { after: 1n, rowsMax: 2, cursor: p1.next!.id });
    expect(show(p2.events)).toEqual(["PUT b=3@3", "PUT c=3@3"]); // a revision bigger than the page is split
    const p3 = store.changes(all, all, { after: 1n, rowsMax: 2, cursor: p2.next!.id });
    expect(show(p3.events)).toEqual(["PUT d=3@3"]); // the rest of revision 3; 4 waits for a page of its own
    expect(p3.next?.rev).toBe(4n);
    const p4 = store.changes(all, all, { after: 1n, rowsMax: 2, cursor: p3.next!.id });
    expect(show(p4.events)).toEqual(["PUT e=4@4"]);
    expect(p4.next).toBeNull();
  });

  test("changes below the compacted revision are refused; from it, allowed", () => {
    put("a", "1");
    put("a", "2");
    put("a", "3"); // 4
    store.compact(3n);
    expect(() => store.changes(b("a"), null, { after: 1n })).toThrow("etcdserver: mvcc: required revision has been compacted");
    expect(show(store.changes(b("a"), null, { after: 2n }).events)).toEqual(["PUT a=2@3", "PUT a=3@4"]);
    expect(() => store.changes(b("a"), null, { after: 2n, to: 9n })).toThrow("etcdserver: mvcc: required revision is a future revision");
  });

  test("a catch-up read is bounded: a page reads at most rowsMax rows whatever the range matches", () => {
    for (let i = 0; i < 50; i++) put(`noise${i}`, "x");
    put("needle", "1");
    const all: string[] = [];
    let pages = 0;
    for (let cursor: bigint | undefined; ; pages++) {
      const p = store.changes(b("needle"), null, { after: 1n, rowsMax: 10, cursor });
      all.push(...show(p.events));
      if (!p.next) break;
      cursor = p.next.id;
    }
    expect(all).toEqual(["PUT needle=1@52"]);
    expect(pages).toBe(5);
  });
});
