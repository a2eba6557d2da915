import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { seededRandom } from "../../pkg/prng.ts";
import { EventType, type WatchEvent } from "../event.ts";
import { MvccStore } from "../store.ts";
import { WatchError, WatchHub, type WatchBatch, type WatchHubOptions, type WatchStream } from "./watch-hub.ts";

const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array) => new TextDecoder().decode(u);
const FROM_KEY = new Uint8Array([0]);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A real store on a temp backend, with the hub notified after every write as the server will wire it. */
function setup(opts: WatchHubOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), "watch-hub-"));
  const backend = new Backend(join(dir, "db"));
  const store = new MvccStore(backend);
  const hub = new WatchHub(store, { progressIntervalMs: 0, ...opts });
  store.onEvents = (rev, events) => hub.notify(rev, events);
  cleanups.push(() => {
    hub.close();
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const put = (k: string, v: string) => store.write((t) => t.put(b(k), b(v), 0n));
  const del = (k: string, end?: string) => store.write((t) => t.deleteRange(b(k), end === undefined ? null : b(end)));
  return { dir, backend, store, hub, put, del };
}

const show = (e: WatchEvent) => (e.type === EventType.PUT ? `PUT ${s(e.kv.key)}=${s(e.kv.value)}@${e.kv.modRevision}` : `DELETE ${s(e.kv.key)}@${e.kv.modRevision}`);
const events = (batches: WatchBatch[], id?: bigint) => batches.filter((x) => id === undefined || x.watchId === id).flatMap((x) => x.events.map(show));

function takeAll(st: WatchStream): WatchBatch[] {
  const out: WatchBatch[] = [];
  for (let x; (x = st.take()); ) out.push(x);
  return out;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Takes batches (yielding to the hub's catch-up steps) until the hub is idle and nothing is queued. */
async function drain(hub: WatchHub, streams: WatchStream[], out: WatchBatch[] = []): Promise<WatchBatch[]> {
  await drainEach(hub, streams, streams.map(() => out));
  return out;
}

/** drain, keeping each stream's batches apart. */
async function drainEach(hub: WatchHub, streams: WatchStream[], outs: WatchBatch[][]): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    streams.forEach((st, j) => outs[j].push(...takeAll(st)));
    const { unsynced, victims } = hub.stats;
    if (unsynced === 0 && victims === 0 && streams.every((st) => st.queued === 0)) return;
    await tick();
  }
  throw new Error("the hub did not settle");
}

describe("synced watchers", () => {
  test("a key watcher gets its events as writes are applied, with the write's revision", () => {
    const { hub, put, del } = setup();
    const st = hub.newStream();
    const id = st.watch({ key: b("foo") });
    put("foo", "1"); // 2
    put("bar", "x"); // 3
    del("foo"); // 4
    const got = takeAll(st);
    expect(got.map((x) => [x.watchId, x.revision])).toEqual([
      [id, 2n],
      [id, 4n],
    ]);
    expect(events(got)).toEqual(["PUT foo=1@2", "DELETE foo@4"]);
  });

  test("range [fo0, fo3) sees fo0, fo1, fo2, fo2.5 but not fo3 or fo", () => {
    const { hub, put } = setup();
    const st = hub.newStream();
    st.watch({ key: b("fo0"), end: b("fo3") });
    for (const k of ["fo", "fo0", "fo1", "fo2", "fo2.5", "fo3", "fo30"]) put(k, "v");
    expect(events(takeAll(st))).toEqual(["PUT fo0=v@3", "PUT fo1=v@4", "PUT fo2=v@5", "PUT fo2.5=v@6"]);
  });

  test("prefix and from-key watchers", () => {
    const { hub, put } = setup();
    const st = hub.newStream();
    const prefix = st.watch({ key: b("fo"), end: b("fp") });
    const fromKey = st.watch({ key: b("fo2"), end: FROM_KEY });
    for (const k of ["f", "fo", "foo/bar", "fp", "zz"]) put(k, "v");
    const got = takeAll(st);
    expect(events(got, prefix)).toEqual(["PUT fo=v@3", "PUT foo/bar=v@4"]);
    expect(events(got, fromKey)).toEqual(["PUT foo/bar=v@4", "PUT fp=v@5", "PUT zz=v@6"]);
  });

  test("a start revision in the future waits for it", () => {
    const { hub, put } = setup();
    const st = hub.newStream();
    st.watch({ key: b("k"), startRevision: 4n });
    for (let i = 0; i < 4; i++) put("k", `${i}`); // 2..5
    expect(events(takeAll(st))).toEqual(["PUT k=2@4", "PUT k=3@5"]);
  });

  test("filters: NOPUT and NODELETE", () => {
    const { hub, put, del } = setup();
    const st = hub.newStream();
    const noPut = st.watch({ key: b("k"), noPut: true });
    const noDelete = st.watch({ key: b("k"), noDelete: true });
    put("k", "1");
    del("k");
    put("k", "2");
    const got = takeAll(st);
    expect(events(got, noPut)).toEqual(["DELETE k@3"]);
    expect(events(got, noDelete)).toEqual(["PUT k=1@2", "PUT k=2@4"]);
  });

  test("prev_kv: none for a create, the previous value for an update and a delete", () => {
    const { hub, put, del } = setup();
    const st = hub.newStream();
    st.watch({ key: b("k"), prevKv: true });
    const plain = st.watch({ key: b("k") });
    put("k", "v1");
    put("k", "v2");
    del("k");
    const got = takeAll(st);
    const prev = got.filter((x) => x.watchId !== plain).flatMap((x) => x.events.map((e) => (e.prevKv ? `${s(e.prevKv.value)}@${e.prevKv.modRevision}` : "-")));
    expect(prev).toEqual(["-", "v1@2", "v2@3"]);
    // A watcher that did not ask gets none (events are shared; prevKv must not leak into them).
    expect(got.filter((x) => x.watchId === plain).flatMap((x) => x.events.map((e) => e.prevKv))).toEqual([undefined, undefined, undefined]);
  });

  test("notify refuses a revision that is not after the last one", () => {
    const { hub, put, store } = setup();
    put("a", "1");
    expect(() => hub.notify(store.rev, [])).toThrow("assertion failed");
  });
});

describe("catch-up from history", () => {
  test("start_revision replays history in bounded batches, then continues live without gap or repeat", async () => {
    const { hub, put, del } = setup({ pageRows: 3 });
    for (let i = 0; i < 10; i++) put(`k${i % 3}`, `${i}`); // 2..11
    del("k1"); // 12
    const st = hub.newStream();
    const id = st.watch({ key: b("k"), end: b("l"), startRevision: 5n });
    expect(hub.stats.unsynced).toBe(1);
    expect(takeAll(st)).toEqual([]); // nothing before the first catch-up step
    const got = await drain(hub, [st]);
    expect(got.length).toBeGreaterThan(2); // several pages
    expect(got.every((x) => x.events.length <= 3)).toBe(true);
    put("k0", "live"); // 13
    got.push(...takeAll(st));
    const want = [...Array(7).keys()].map((i) => `PUT k${(i + 3) % 3}=${i + 3}@${i + 5}`);
    expect(events(got, id)).toEqual([...want, "DELETE k1@12", "PUT k0=live@13"]);
  });

  test("a compacted start revision gets one response with the compact revision, and the watcher is done", async () => {
    const { hub, put, store } = setup();
    for (let i = 0; i < 6; i++) put("k", `${i}`); // 2..7
    store.compact(5n);
    const st = hub.newStream();
    const old = st.watch({ key: b("k"), startRevision: 4n });
    const ok = st.watch({ key: b("k"), startRevision: 5n }); // the compacted revision itself is still readable
    const got = await drain(hub, [st]);
    expect(got.filter((x) => x.watchId === old)).toEqual([{ watchId: old, events: [], revision: 0n, compactRevision: 5n }]);
    expect(events(got, ok)).toEqual(["PUT k=3@5", "PUT k=4@6", "PUT k=5@7"]);
    put("k", "after");
    expect(takeAll(st).map((x) => x.watchId)).toEqual([ok]);
    expect(st.cancel(old)).toBe(true); // its id stays taken until the client cancels it, as etcd
  });

  test("compaction during a catch-up cancels the watcher once it reaches compacted history", async () => {
    const { hub, put, store } = setup({ pageRows: 2, queueMax: 1 });
    for (let i = 0; i < 20; i++) put("k", `${i}`); // 2..21
    const st = hub.newStream();
    st.watch({ key: b("k"), startRevision: 2n });
    const got: WatchBatch[] = [];
    while (got.length < 2) {
      await tick();
      got.push(...takeAll(st));
    }
    store.compact(15n);
    await drain(hub, [st], got);
    const last = got[got.length - 1];
    expect(last.compactRevision).toBe(15n);
    const seen = events(got);
    expect(seen).toEqual([...Array(seen.length).keys()].map((i) => `PUT k=${i}@${i + 2}`)); // a gapless prefix
  });

  test("randomized: writes interleaved with catch-up and slow consumers; every watcher sees its events once, in order", async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const rnd = seededRandom(seed);
      const { hub, store } = setup({ pageRows: 3, queueMax: 1 + Math.floor(rnd() * 3) });
      const streams = [hub.newStream(), hub.newStream(), hub.newStream()];
      const received = streams.map(() => [] as WatchBatch[]);
      const keys = [...Array(8).keys()].map((i) => `k${i}`);
      const log: { rev: bigint; text: string; key: string; put: boolean }[] = [];
      const live = new Set<string>();
      type Spec = { stream: number; id: bigint; from: bigint; inRange: (k: string) => boolean; noPut: boolean; noDelete: boolean };
      const specs: Spec[] = [];
      const pick = () => keys[Math.floor(rnd() * keys.length)];

      for (let step = 0; step < 400; step++) {
        const r = rnd();
        if (r < 0.5) {
          const rev = store.rev + 1n;
          if (rnd() < 0.75) {
            const ks = [...new Set([pick(), pick()].slice(0, rnd() < 0.7 ? 1 : 2))];
            store.write((t) => ks.forEach((k) => t.put(b(k), b(`${step}`), 0n)));
            for (const k of ks) {
              log.push({ rev, text: `PUT ${k}=${step}@${rev}`, key: k, put: true });
              live.add(k);
            }
          } else {
            const [lo, hi] = [pick(), pick()].sort();
            const gone = [...live].filter((k) => k >= lo && k < `${hi}\0`).sort();
            store.write((t) => t.deleteRange(b(lo), b(`${hi}\0`)));
            for (const k of gone) {
              log.push({ rev, text: `DELETE ${k}@${rev}`, key: k, put: false });
              live.delete(k);
            }
          }
        } else if (r < 0.58 && specs.length < 12) {
          const stream = Math.floor(rnd() * streams.length);
          const kind = rnd();
          const [lo, hi] = [pick(), pick()].sort();
          const range =
            kind < 0.4
              ? { key: b(lo), inRange: (k: string) => k === lo }
              : kind < 0.8
                ? { key: b(lo), end: b(`${hi}\0`), inRange: (k: string) => k >= lo && k < `${hi}\0` }
                : { key: b(lo), end: FROM_KEY, inRange: (k: string) => k >= lo };
          const startRevision = rnd() < 0.3 ? 0n : BigInt(1 + Math.floor(rnd() * Number(store.rev)));
          const noPut = rnd() < 0.15;
          const noDelete = !noPut && rnd() < 0.15;
          const id = streams[stream].watch({ key: range.key, end: range.end, startRevision, noPut, noDelete });
          specs.push({ stream, id, from: startRevision === 0n ? store.rev + 1n : startRevision, inRange: range.inRange, noPut, noDelete });
        } else if (r < 0.85) {
          const i = Math.floor(rnd() * streams.length);
          for (let n = Math.floor(rnd() * 3); n > 0; n--) {
            const x = streams[i].take();
            if (x) received[i].push(x);
          }
        } else await tick();
        for (const st of streams) expect(st.queued).toBeLessThanOrEqual(hub.queueMax);
      }
      await drainEach(hub, streams, received);

      for (const w of specs) {
        const want = log.filter((e) => e.rev >= w.from && w.inRange(e.key) && (e.put ? !w.noPut : !w.noDelete)).map((e) => e.text);
        const batches = received[w.stream].filter((x) => x.watchId === w.id);
        expect({ seed, id: w.id, events: events(batches) }).toEqual({ seed, id: w.id, events: want });
        // Header revisions never go back, and cover the events they carry.
        for (let i = 0; i < batches.length; i++) {
          const x = batches[i];
          if (i > 0) expect(x.revision).toBeGreaterThanOrEqual(batches[i - 1].revision);
          for (const e of x.events) expect(e.kv.modRevision).toBeLessThanOrEqual(x.revision);
        }
      }
      expect(specs.length).toBeGreaterThan(5);
      for (const c of cleanups.splice(0)) c();
    }
  });
});

describe("slow consumers", () => {
  test("notify neither blocks nor buffers past the queue; the watcher later catches up without gaps", async () => {
    const { hub, put } = setup({ queueMax: 2, pageRows: 50 });
    const slow = hub.newStream();
    const fast = hub.newStream();
    const slowId = slow.watch({ key: b("k"), end: b("l") });
    fast.watch({ key: b("k"), end: b("l") });
    const fastGot: WatchBatch[] = [];
    for (let i = 0; i < 300; i++) {
      put(`k${i % 7}`, `${i}`);
      fastGot.push(...takeAll(fast));
      expect(slow.queued).toBeLessThanOrEqual(2);
    }
    expect(hub.stats).toEqual({ synced: 1, unsynced: 0, victims: 1 });
    const want = [...Array(300).keys()].map((i) => `PUT k${i % 7}=${i}@${i + 2}`);
    expect(events(fastGot)).toEqual(want);
    const slowGot = await drain(hub, [slow]);
    expect(events(slowGot, slowId)).toEqual(want);
    expect(hub.stats).toEqual({ synced: 2, unsynced: 0, victims: 0 });
    put("k0", "again");
    expect(events(takeAll(slow))).toEqual([`PUT k0=again@302`]);
  });

  test("notify stays cheap with a stalled consumer", () => {
    const { hub, put } = setup({ queueMax: 1 });
    const st = hub.newStream();
    for (let i = 0; i < 100; i++) st.watch({ key: b(`k${i}`) });
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) put(`k${i % 100}`, "v");
    const perPutMs = (performance.now() - t0) / 5000;
    expect(st.queued).toBe(1);
    expect(hub.stats.victims).toBe(100);
    expect(perPutMs).toBeLessThan(0.5); // a put costs a few µs; victims add nothing per write
  });
});

describe("cancel, ids and errors", () => {
  test("auto ids count from 0 and skip ids the client chose; duplicates and empty ranges are refused with etcd's text", () => {
    const { hub } = setup();
    const st = hub.newStream();
    expect(st.watch({ key: b("a"), id: 1n })).toBe(1n);
    expect(st.watch({ key: b("a") })).toBe(0n);
    expect(st.watch({ key: b("a") })).toBe(2n);
    expect(() => st.watch({ key: b("a"), id: 2n })).toThrow(new WatchError("mvcc: duplicate watch ID provided on the WatchStream"));
    expect(() => st.watch({ key: b("b"), end: b("a") })).toThrow("mvcc: watcher range is empty");
    expect(() => st.watch({ key: b("a"), end: b("a") })).toThrow("mvcc: watcher range is empty");
  });

  test("cancel stops events and drops what was queued for the watcher", () => {
    const { hub, put } = setup();
    const st = hub.newStream();
    const a = st.watch({ key: b("k") });
    const other = st.watch({ key: b("k") });
    put("k", "1");
    expect(st.queued).toBe(2);
    expect(st.cancel(a)).toBe(true);
    expect(st.cancel(a)).toBe(false);
    put("k", "2");
    expect(takeAll(st).map((x) => x.watchId)).toEqual([other, other]);
    expect(hub.stats.synced).toBe(1);
  });

  test("closing a stream removes its watchers", () => {
    const { hub, put } = setup({ queueMax: 1 });
    const st = hub.newStream();
    st.watch({ key: b("k") });
    st.watch({ key: b("k"), startRevision: 1n });
    put("k", "1");
    put("k", "2");
    st.close();
    expect(hub.stats).toEqual({ synced: 0, unsynced: 0, victims: 0 });
    expect(() => st.watch({ key: b("k") })).toThrow("mvcc: watcher range is empty"); // etcd's answer on a closed stream
  });
});

describe("progress", () => {
  test("on request: the current revision for a synced watcher, nothing for one catching up", async () => {
    const { hub, put } = setup();
    put("a", "1");
    const st = hub.newStream();
    const synced = st.watch({ key: b("k") });
    const behind = st.watch({ key: b("a"), startRevision: 1n });
    st.requestProgress(synced);
    st.requestProgress(behind);
    expect(takeAll(st)).toEqual([{ watchId: synced, events: [], revision: 2n, compactRevision: 0n }]);
  });

  test("periodic: to watchers that asked, skipped for one that was just sent events", () => {
    const { hub, put } = setup();
    const st = hub.newStream();
    const quiet = st.watch({ key: b("q"), progressNotify: true });
    const busy = st.watch({ key: b("k"), progressNotify: true });
    st.watch({ key: b("z") }); // did not ask
    put("k", "1");
    takeAll(st);
    hub.progressTick();
    expect(takeAll(st).map((x) => [x.watchId, x.revision])).toEqual([[quiet, 2n]]);
    hub.progressTick();
    expect(takeAll(st).map((x) => [x.watchId, x.revision])).toEqual([
      [quiet, 2n],
      [busy, 2n],
    ]);
  });

  test("periodic on the configured interval (--experimental-watch-progress-notify-interval), on an injected clock", () => {
    let now = 0;
    const timers: { fn: () => void; ms: number; next: number; stopped: boolean }[] = [];
    const every = (fn: () => void, ms: number) => {
      const t = { fn, ms, next: now + ms, stopped: false };
      timers.push(t);
      return () => void (t.stopped = true);
    };
    const advance = (ms: number) => {
      now += ms;
      for (const t of timers) {
        for (; !t.stopped && t.next <= now; t.next += t.ms) t.fn();
      }
    };
    const { hub, put } = setup({ progressIntervalMs: 1000, every });
    expect(timers.map((t) => t.ms)).toEqual([1000]);
    const st = hub.newStream();
    const id = st.watch({ key: b("k"), progressNotify: true });
    advance(999);
    expect(takeAll(st)).toEqual([]);
    advance(1);
    expect(takeAll(st)).toEqual([{ watchId: id, events: [], revision: 1n, compactRevision: 0n }]);
    put("other", "x");
    advance(1000);
    expect(takeAll(st)).toEqual([{ watchId: id, events: [], revision: 2n, compactRevision: 0n }]);
    hub.close();
    expect(timers[0].stopped).toBe(true);
    // 0 turns the notifications off: no timer at all.
    expect(timers.length).toBe(1);
    setup({ progressIntervalMs: 0, every });
    expect(timers.length).toBe(1);
  });

  test("periodic with a real timer", async () => {
    const { hub } = setup({ progressIntervalMs: 5 });
    const st = hub.newStream();
    const id = st.watch({ key: b("k"), progressNotify: true });
    const got = await new Promise<WatchBatch | undefined>((resolve) => {
      st.onReady = () => resolve(st.take());
    });
    expect(got).toEqual({ watchId: id, events: [], revision: 1n, compactRevision: 0n });
  });

  test("stream-wide progress waits until every watcher is synced and never overtakes their events", async () => {
    const { hub, put } = setup({ pageRows: 2 });
    for (let i = 0; i < 10; i++) put("k", `${i}`); // 2..11
    const st = hub.newStream();
    st.watch({ key: b("other") });
    const behind = st.watch({ key: b("k"), startRevision: 2n });
    st.requestProgressAll();
    st.requestProgressAll(); // coalesced, as etcd
    expect(takeAll(st)).toEqual([]);
    const got = await drain(hub, [st]);
    const progress = got.filter((x) => x.watchId === -1n);
    expect(progress).toEqual([{ watchId: -1n, events: [], revision: 11n, compactRevision: 0n }]);
    expect(got[got.length - 1].watchId).toBe(-1n);
    expect(events(got, behind)).toHaveLength(10);
    st.requestProgressAll(); // all synced: at once
    expect(takeAll(st)).toEqual([{ watchId: -1n, events: [], revision: 11n, compactRevision: 0n }]);
  });
});

test("restore: after the database is replaced, watchers read what they have not seen from the new one", async () => {
  const { hub, put, store, backend } = setup();
  put("k", "1"); // 2
  const st = hub.newStream();
  const id = st.watch({ key: b("k") });
  // The new database has more history (as a leader's snapshot would).
  store.onEvents = null;
  store.write((t) => t.put(b("k"), b("2"), 0n)); // 3
  store.write((t) => t.put(b("k"), b("3"), 0n)); // 4
  store.saveMeta();
  const replaced = new MvccStore(backend);
  replaced.onEvents = (rev, evs) => hub.notify(rev, evs);
  hub.restore(replaced);
  const got = await drain(hub, [st]);
  replaced.write((t) => t.put(b("k"), b("4"), 0n)); // 5
  got.push(...takeAll(st));
  expect(events(got, id)).toEqual(["PUT k=2@3", "PUT k=3@4", "PUT k=4@5"]);
});
