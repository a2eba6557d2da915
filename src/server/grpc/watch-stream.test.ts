// The Watch stream protocol over the real hub and store; every response goes through protobuf
// encoding and decoding, as on the wire.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { WatchHub, type WatchHubOptions } from "../../mvcc/watch/watch-hub.ts";
import { etcdserverpb, mvccpb } from "../../proto/etcd.js";
import { serveWatch, type WatchHubPort } from "./watch-stream.ts";

type WatchResponse = etcdserverpb.WatchResponse;
const b = (s: string) => new TextEncoder().encode(s);
const s = (u: Uint8Array | null | undefined) => new TextDecoder().decode(u ?? new Uint8Array(0));
const { NOPUT, NODELETE } = etcdserverpb.WatchCreateRequest.FilterType;

/** Requests the test feeds one by one; end() is the client's half-close. */
class Requests implements AsyncIterable<etcdserverpb.WatchRequest.$Properties> {
  #queue: etcdserverpb.WatchRequest.$Properties[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  #error: unknown = null;
  push(r: etcdserverpb.WatchRequest.$Properties): void {
    this.#queue.push(r);
    this.#wake?.();
  }
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }
  fail(err: unknown): void {
    this.#error = err;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator]() {
    for (;;) {
      if (this.#queue.length) yield this.#queue.shift()!;
      else if (this.#error) throw this.#error;
      else if (this.#ended) return;
      else await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setup(opts: { hub?: WatchHubOptions; maxRequestBytes?: number; signal?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "watch-stream-"));
  const backend = new Backend(join(dir, "db"));
  const store = new MvccStore(backend);
  const hub = new WatchHub(store, { progressIntervalMs: 0, ...opts.hub });
  store.onEvents = (rev, evs) => hub.notify(rev, evs);
  const port: WatchHubPort = hub; // the hub fits the narrow interface the gRPC layer declares
  const reqs = new Requests();
  const sent: WatchResponse[] = [];
  let gate: Promise<void> | null = null;
  const ac = new AbortController();
  const done = serveWatch(
    reqs,
    async (r) => {
      if (gate) await gate;
      sent.push(etcdserverpb.WatchResponse.decode(etcdserverpb.WatchResponse.encode(r).finish()));
    },
    {
      hub: port,
      header: (revision) => ({ clusterId: 0x11n, memberId: 0x22n, revision, raftTerm: 3n }),
      maxRequestBytes: opts.maxRequestBytes ?? 1.5 * 1024 * 1024,
      signal: opts.signal === false ? undefined : ac.signal,
    },
  );
  cleanups.push(() => {
    ac.abort();
    hub.close();
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  });
  /** Resolves once n responses have been sent. */
  const waitFor = async (n: number) => {
    for (let i = 0; i < 5000 && sent.length < n; i++) await new Promise<void>((r) => setImmediate(r));
    if (sent.length < n) throw new Error(`expected ${n} responses, got ${sent.length}`);
    return sent;
  };
  /** A progress request answers after everything sent before it: use it to show nothing else was. */
  const barrier = async () => {
    const n = sent.length;
    reqs.push({ progressRequest: {} });
    await waitFor(n + 1);
    return sent.slice(n, -1);
  };
  const put = (k: string, v: string) => store.write((t) => t.put(b(k), b(v), 0n));
  const setGate = (p: Promise<void> | null) => (gate = p);
  return { hub, store, reqs, sent, done, ac, waitFor, barrier, put, setGate };
}

const create = (c: etcdserverpb.WatchCreateRequest.$Properties) => ({ createRequest: c });
const evs = (r: WatchResponse) => r.events.map((e) => `${e.type === mvccpb.Event.EventType.PUT ? "PUT" : "DELETE"} ${s(e.kv!.key)}@${e.kv!.modRevision}`);

describe("create", () => {
  test("a created response with the header, then events; ids from 0 upward", async () => {
    const { reqs, waitFor, put } = setup();
    reqs.push(create({ key: b("foo") }));
    reqs.push(create({ key: b("bar") }));
    const [c0, c1] = await waitFor(2);
    expect(c0.header).toMatchObject({ clusterId: 0x11n, memberId: 0x22n, revision: 1n, raftTerm: 3n });
    expect([c0.watchId, c0.created, c0.canceled]).toEqual([0n, true, false]);
    expect([c1.watchId, c1.created]).toEqual([1n, true]);
    put("foo", "v");
    const [ev] = (await waitFor(3)).slice(2);
    expect([ev.watchId, ev.created, ev.header!.revision, ...evs(ev)]).toEqual([0n, false, 2n, "PUT foo@2"]);
  });

  test("created goes out before the watcher's first events even when both are waiting", async () => {
    const { reqs, waitFor, put, setGate, hub } = setup();
    let open!: () => void;
    setGate(new Promise<void>((r) => (open = r)));
    reqs.push(create({ key: b("a") })); // the send loop blocks on this one's created
    reqs.push(create({ key: b("k") }));
    for (let i = 0; i < 100 && hub.stats.synced < 2; i++) await new Promise<void>((r) => setImmediate(r));
    put("k", "1"); // queued in the hub while created(1) waits in the control queue
    setGate(null);
    open();
    const r = await waitFor(3);
    expect(r.map((x) => [x.watchId, x.created, x.events.length])).toEqual([
      [0n, true, 0],
      [1n, true, 0],
      [1n, false, 1],
    ]);
  });

  test("client-chosen ids; a duplicate and an empty range are created-and-canceled with watch id -1 and etcd's reason", async () => {
    const { reqs, waitFor } = setup();
    reqs.push(create({ key: b("a"), watchId: 7n }));
    reqs.push(create({ key: b("a") }));
    reqs.push(create({ key: b("a"), watchId: 7n }));
    reqs.push(create({ key: b("b"), rangeEnd: b("a") }));
    const r = await waitFor(4);
    expect(r.map((x) => [x.watchId, x.created, x.canceled, x.cancelReason])).toEqual([
      [7n, true, false, ""],
      [0n, true, false, ""],
      [-1n, true, true, "mvcc: duplicate watch ID provided on the WatchStream"],
      [-1n, true, true, "mvcc: watcher range is empty"],
    ]);
  });

  test("no key means the smallest key; range_end \\0 means every key from there", async () => {
    const { reqs, waitFor, put } = setup();
    reqs.push(create({ key: new Uint8Array(0), rangeEnd: new Uint8Array([0]) }));
    await waitFor(1);
    put("a", "1");
    put("zz", "2");
    const r = await waitFor(3);
    expect(r.slice(1).flatMap(evs)).toEqual(["PUT a@2", "PUT zz@3"]);
  });

  test("start_revision replays history; filters and prev_kv apply", async () => {
    const { reqs, waitFor, put, store } = setup();
    put("k", "1"); // 2
    put("k", "2"); // 3
    store.write((t) => t.deleteRange(b("k"), null)); // 4
    reqs.push(create({ key: b("k"), startRevision: 2n, prevKv: true, filters: [NODELETE] }));
    reqs.push(create({ key: b("k"), startRevision: 2n, filters: [NOPUT] }));
    const r = await waitFor(4);
    const byId = (id: bigint) => r.filter((x) => x.watchId === id && !x.created);
    expect(byId(0n).flatMap(evs)).toEqual(["PUT k@2", "PUT k@3"]);
    expect(byId(0n).flatMap((x) => x.events.map((e) => (e.prevKv ? s(e.prevKv.value) : "-")))).toEqual(["-", "1"]);
    expect(byId(1n).flatMap(evs)).toEqual(["DELETE k@4"]);
    expect(byId(0n)[0].header!.revision).toBe(4n); // a catch-up batch carries the revision it caught up to
  });

  test("a compacted start revision: created, then canceled with compact_revision", async () => {
    const { reqs, waitFor, put, store } = setup();
    for (let i = 0; i < 5; i++) put("k", `${i}`); // 2..6
    store.compact(4n);
    reqs.push(create({ key: b("k"), startRevision: 3n }));
    const [created, gone] = await waitFor(2);
    expect([created.watchId, created.created]).toEqual([0n, true]);
    expect([gone.watchId, gone.canceled, gone.compactRevision, gone.events.length, gone.cancelReason]).toEqual([0n, true, 4n, 0, ""]);
    expect(gone.header!.revision).toBe(0n); // as etcd: the compaction response carries no revision
  });
});

describe("cancel and progress", () => {
  test("cancel answers canceled: true and stops events; an unknown id gets no answer", async () => {
    const { reqs, waitFor, put, barrier } = setup();
    reqs.push(create({ key: b("k") }));
    await waitFor(1);
    put("k", "1"); // 2
    await waitFor(2);
    reqs.push({ cancelRequest: { watchId: 0n } });
    reqs.push({ cancelRequest: { watchId: 42n } });
    const replies = await barrier();
    expect(replies.map((x) => [x.watchId, x.canceled, x.created, x.header!.revision, x.cancelReason])).toEqual([[0n, true, false, 2n, ""]]);
    expect(await barrier()).toEqual([]); // neither events nor a reply for id 42
  });

  test("progress request: watch id -1, no events, the current revision", async () => {
    const { reqs, waitFor, put } = setup();
    reqs.push(create({ key: b("k") }));
    put("other", "x"); // 2
    reqs.push({ progressRequest: {} });
    const [, p] = await waitFor(2);
    expect([p.watchId, p.created, p.canceled, p.events.length, p.header!.revision]).toEqual([-1n, false, false, 0, 2n]);
  });

  test("progress waits for a watcher catching up, so it never overtakes its events", async () => {
    const { reqs, waitFor, put } = setup({ hub: { pageRows: 2 } });
    for (let i = 0; i < 9; i++) put("k", `${i}`); // 2..10
    reqs.push(create({ key: b("k"), startRevision: 2n }));
    reqs.push({ progressRequest: {} });
    const r = await waitFor(2);
    for (let i = 0; i < 100 && r[r.length - 1].watchId !== -1n; i++) await waitFor(r.length + 1);
    expect(r.slice(1, -1).flatMap(evs)).toHaveLength(9);
    expect([r[r.length - 1].watchId, r[r.length - 1].header!.revision]).toEqual([-1n, 10n]);
  });

  test("periodic progress for watchers that asked (progress_notify)", async () => {
    const { reqs, waitFor, hub } = setup();
    reqs.push(create({ key: b("k"), progressNotify: true }));
    await waitFor(1);
    hub.progressTick();
    const [, p] = await waitFor(2);
    expect([p.watchId, p.events.length, p.header!.revision]).toEqual([0n, 0, 1n]);
  });
});

describe("fragments", () => {
  const bigTxn = (store: MvccStore) =>
    store.write((t) => {
      for (let i = 0; i < 12; i++) t.put(b(`k${String(i).padStart(2, "0")}`), new Uint8Array(100 * 1024).fill(i), 0n);
    });

  test("a revision larger than the limit is split for a watcher that asked; the last piece is not flagged", async () => {
    const { reqs, waitFor, store, barrier } = setup({ maxRequestBytes: 0 }); // limit: gRPC's 512 KiB overhead
    reqs.push(create({ key: b("k"), rangeEnd: b("l"), fragment: true }));
    await waitFor(1);
    bigTxn(store);
    const pieces = await barrier();
    expect(pieces.length).toBe(3); // 12 × ~100 KiB under 512 KiB: 5 + 5 + 2
    expect(pieces.map((p) => p.fragment)).toEqual([true, true, false]);
    expect(pieces.flatMap(evs)).toEqual([...Array(12).keys()].map((i) => `PUT k${String(i).padStart(2, "0")}@2`));
    for (const p of pieces) {
      expect(etcdserverpb.WatchResponse.encode(p).finish().length).toBeLessThan(512 * 1024);
      expect([p.watchId, p.header!.revision]).toEqual([0n, 2n]);
    }
  });

  test("an event larger than the limit goes alone in its piece", async () => {
    const { reqs, waitFor, store, barrier } = setup({ maxRequestBytes: 0 });
    reqs.push(create({ key: b("k"), rangeEnd: b("l"), fragment: true }));
    await waitFor(1);
    store.write((t) => {
      t.put(b("k1"), new Uint8Array(10 * 1024), 0n);
      t.put(b("k2"), new Uint8Array(600 * 1024), 0n);
      t.put(b("k3"), new Uint8Array(10 * 1024), 0n);
      t.put(b("k4"), new Uint8Array(10 * 1024), 0n);
    });
    const pieces = await barrier();
    expect(pieces.map((p) => [p.events.map((e) => s(e.kv!.key)).join(","), p.fragment])).toEqual([
      ["k1", true],
      ["k2", true],
      ["k3,k4", false],
    ]);
  });

  test("without the fragment flag the response goes whole", async () => {
    const { reqs, waitFor, store, barrier } = setup({ maxRequestBytes: 0 });
    reqs.push(create({ key: b("k"), rangeEnd: b("l") }));
    await waitFor(1);
    bigTxn(store);
    const pieces = await barrier();
    expect(pieces.map((p) => [p.events.length, p.fragment])).toEqual([[12, false]]);
  });
});

describe("stream lifetime", () => {
  test("a slow client: events wait in the hub (bounded), then arrive complete and in order", async () => {
    const { reqs, waitFor, put, setGate, hub, sent } = setup({ hub: { queueMax: 2 } });
    reqs.push(create({ key: b("k"), rangeEnd: b("l") }));
    await waitFor(1);
    let open!: () => void;
    setGate(new Promise<void>((r) => (open = r)));
    for (let i = 0; i < 200; i++) put(`k${i % 5}`, `${i}`);
    expect(hub.stats.victims).toBe(1);
    setGate(null);
    open();
    for (let i = 0; i < 100 && sent.slice(1).flatMap(evs).length < 200; i++) await waitFor(sent.length + 1);
    expect(sent.slice(1).flatMap(evs)).toEqual([...Array(200).keys()].map((i) => `PUT k${i % 5}@${i + 2}`));
  });

  test("after the client half-closes, events still flow until the call is canceled", async () => {
    const { reqs, waitFor, put, ac, done, hub } = setup();
    reqs.push(create({ key: b("k") }));
    reqs.end();
    await waitFor(1);
    put("k", "1");
    await waitFor(2);
    ac.abort();
    await done;
    expect(hub.stats.synced).toBe(0); // its watchers are gone with it
  });

  test("without a signal the stream ends with its requests", async () => {
    const { reqs, done, waitFor } = setup({ signal: false });
    reqs.push(create({ key: b("k") }));
    reqs.end();
    await done;
    expect((await waitFor(1)).length).toBe(1);
  });

  test("a broken request stream ends the call with its error", async () => {
    const { reqs, done } = setup();
    reqs.fail(new Error("grpc: error unmarshalling request"));
    await expect(done).rejects.toThrow("grpc: error unmarshalling request");
  });
});
