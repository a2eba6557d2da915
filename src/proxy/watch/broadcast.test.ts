// Watch coalescing against a scripted cluster: the test sees every request the proxy sends upstream
// and answers as a member would.
import { describe, expect, test } from "bun:test";
import { createLogger } from "../../pkg/logger.ts";
import { etcdserverpb, mvccpb } from "../../proto/etcd.js";
import { TransportError } from "../../client/errors.ts";
import type { Upstream } from "../upstream.ts";
import { Namespace } from "../namespace.ts";
import { type ClientResponse, type Receiver, WatchRegistry } from "./broadcast.ts";
import type { WatchSpec } from "./upstream-watch.ts";

const log = createLogger("error", () => {});
const b = (s: string) => Buffer.from(s);

class FakeStream {
  readonly sent: etcdserverpb.IWatchRequest[] = [];
  canceled = false;
  constructor(
    readonly handlers: { onMessage(r: etcdserverpb.WatchResponse): void; onClose(e: unknown): void },
    readonly token: string | undefined,
    readonly endpoint: string,
  ) {}
  send(r: etcdserverpb.IWatchRequest) {
    this.sent.push(r);
  }
  end() {}
  cancel() {
    this.canceled = true;
  }
  creates() {
    return this.sent.filter((r) => r.createRequest).map((r) => r.createRequest!);
  }
  cancels() {
    return this.sent.filter((r) => r.cancelRequest).map((r) => BigInt(r.cancelRequest!.watchId ?? 0));
  }
  /** Answers as a member: the message goes through the wire encoding, so it is what the client decodes. */
  reply(r: etcdserverpb.IWatchResponse) {
    this.handlers.onMessage(etcdserverpb.WatchResponse.decode(etcdserverpb.WatchResponse.encode(r).finish()));
  }
}

function fakeUpstream() {
  const streams: FakeStream[] = [];
  const unhealthy: string[] = [];
  const up = {
    transport: { markUnhealthy: (ep: string) => unhealthy.push(ep) },
    stream: (_m: unknown, handlers: FakeStream["handlers"], opts: { token?: string }) => {
      const s = new FakeStream(handlers, opts.token, `ep${streams.length}`);
      streams.push(s);
      return Promise.resolve(s);
    },
  };
  return { up: up as unknown as Upstream, streams, unhealthy };
}

class TestReceiver implements Receiver {
  readonly got: ClientResponse[] = [];
  nextRev = 0n;
  created = false;
  broadcast: Receiver["broadcast"] = null;
  isEnded = false;
  constructor(
    readonly progressNotify = false,
    readonly token = "",
  ) {}
  send(r: ClientResponse) {
    this.got.push(r);
  }
  ended() {
    this.isEnded = true;
  }
  revisions(): bigint[] {
    return this.got.flatMap((r) => (r.events ?? []).map((e) => BigInt(e.kv?.modRevision ?? 0)));
  }
}

const spec = (key = "k", prevKv = false): WatchSpec => ({ key: b(key), end: null, prevKv, filters: [] });
const put = (key: string, rev: bigint) => ({ type: mvccpb.Event.EventType.PUT, kv: { key: b(key), value: b(`v${rev}`), modRevision: rev, createRevision: 2n, version: 1n } });
const settle = () => new Promise((r) => setTimeout(r, 0));
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`never happened: ${what}`);
}

describe("watch coalescing", () => {
  test("1,000 identical watchers from now share one upstream watch, and each gets every event once", async () => {
    const { up, streams } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    const rs = Array.from({ length: 1000 }, () => new TestReceiver());
    for (const r of rs) reg.add(r, spec(), 0n);
    await settle();
    expect(streams.length).toBe(1);
    expect(streams[0].creates().length).toBe(1);
    expect(streams[0].creates()[0]).toMatchObject({ key: b("k"), startRevision: 0n, progressNotify: true });
    expect(reg.upstreamWatchCount).toBe(1);

    streams[0].reply({ header: { revision: 10n }, watchId: 7n, created: true });
    expect(rs.every((r) => r.got.length === 1 && r.got[0].created && r.got[0].header.revision === 10n && r.nextRev === 11n)).toBe(true);
    streams[0].reply({ header: { revision: 11n }, watchId: 7n, events: [put("k", 11n)] });
    expect(rs.every((r) => r.revisions().join() === "11")).toBe(true);

    // A latecomer joins the running broadcast at once: created with the latest header, no new upstream watch.
    const late = new TestReceiver();
    reg.add(late, spec(), 0n);
    expect(late.got[0]).toMatchObject({ created: true, header: { revision: 11n } });
    streams[0].reply({ header: { revision: 12n }, watchId: 7n, events: [put("k", 12n)] });
    expect(late.revisions()).toEqual([12n]);
    expect(streams[0].creates().length).toBe(1);

    // The upstream watch ends only with its last watcher.
    for (const r of rs) reg.remove(r);
    expect(streams[0].cancels()).toEqual([]);
    reg.remove(late);
    expect(streams[0].cancels()).toEqual([7n]);
    expect(reg.upstreamWatchCount).toBe(0);
  });

  test("a watcher from an old revision gets its own upstream watch until it catches up, then they merge", async () => {
    const { up, streams } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    const live = new TestReceiver();
    reg.add(live, spec(), 0n);
    await settle();
    const s = streams[0];
    s.reply({ header: { revision: 10n }, watchId: 0n, created: true });

    const old = new TestReceiver();
    reg.add(old, spec(), 3n);
    expect(s.creates().map((c) => c.startRevision)).toEqual([0n, 3n]);
    expect(reg.upstreamWatchCount).toBe(2);
    s.reply({ header: { revision: 10n }, watchId: 1n, created: true });
    expect(old.got[0]).toMatchObject({ created: true });
    // History first, then both get revision 11 (in either order); the catch-up watch is dropped.
    s.reply({ header: { revision: 10n }, watchId: 1n, events: [put("k", 4n), put("k", 9n)] });
    expect(old.revisions()).toEqual([4n, 9n]);
    s.reply({ header: { revision: 11n }, watchId: 1n, events: [put("k", 11n)] });
    s.reply({ header: { revision: 11n }, watchId: 0n, events: [put("k", 11n)] });
    expect(s.cancels()).toEqual([1n]);
    expect(reg.upstreamWatchCount).toBe(1);
    s.reply({ header: { revision: 12n }, watchId: 0n, events: [put("k", 12n)] });
    expect(old.revisions()).toEqual([4n, 9n, 11n, 12n]);
    expect(live.revisions()).toEqual([11n, 12n]);
  });

  test("a watcher from an old revision joins a broadcast that has not passed it", async () => {
    const { up, streams } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    const first = new TestReceiver();
    reg.add(first, spec(), 5n);
    await settle();
    const s = streams[0];
    s.reply({ header: { revision: 20n }, watchId: 0n, created: true });
    const second = new TestReceiver();
    reg.add(second, spec(), 8n);
    expect(s.creates().length).toBe(1);
    s.reply({ header: { revision: 20n }, watchId: 0n, events: [put("k", 6n), put("k", 8n), put("k", 12n)] });
    expect(first.revisions()).toEqual([6n, 8n, 12n]);
    expect(second.revisions()).toEqual([8n, 12n]);
  });

  test("a watcher from now does not wait behind a broadcast that is still catching up", async () => {
    const { up, streams } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    const old = new TestReceiver();
    reg.add(old, spec(), 2n);
    await settle();
    const s = streams[0];
    s.reply({ header: { revision: 50n }, watchId: 0n, created: true });
    s.reply({ header: { revision: 50n }, watchId: 0n, events: [put("k", 3n)] });
    const now = new TestReceiver();
    reg.add(now, spec(), 0n);
    // Its own upstream watch from now; the old one merges into it once it has caught up.
    expect(s.creates().map((c) => c.startRevision)).toEqual([2n, 0n]);
    s.reply({ header: { revision: 50n }, watchId: 1n, created: true });
    expect(now.got[0]).toMatchObject({ created: true, header: { revision: 50n } });
    s.reply({ header: { revision: 51n }, watchId: 1n, events: [put("k", 51n)] });
    expect(now.revisions()).toEqual([51n]);
    s.reply({ header: { revision: 51n }, watchId: 0n, events: [put("k", 40n), put("k", 51n)] });
    expect(s.cancels()).toEqual([0n]);
    expect(old.revisions()).toEqual([3n, 40n, 51n]);
    s.reply({ header: { revision: 52n }, watchId: 1n, events: [put("k", 52n)] });
    expect(old.revisions()).toEqual([3n, 40n, 51n, 52n]);
    expect(now.revisions()).toEqual([51n, 52n]);
  });

  test("different options watch separately; filters and prev_kv go upstream", async () => {
    const { up, streams } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    reg.add(new TestReceiver(), spec("k", false), 0n);
    reg.add(new TestReceiver(), spec("k", true), 0n);
    reg.add(new TestReceiver(), { ...spec("k"), filters: [etcdserverpb.WatchCreateRequest.FilterType.NOPUT] }, 0n);
    reg.add(new TestReceiver(), spec("other"), 0n);
    await settle();
    const creates = streams[0].creates();
    expect(creates.length).toBe(4);
    expect(creates[1].prevKv).toBe(true);
    expect(creates[2].filters).toEqual([etcdserverpb.WatchCreateRequest.FilterType.NOPUT]);
  });

  test("a broken stream is opened again and every watch resumes from the next revision it needs", async () => {
    const { up, streams, unhealthy } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    const r = new TestReceiver();
    reg.add(r, spec(), 0n);
    await settle();
    streams[0].reply({ header: { revision: 10n }, watchId: 0n, created: true });
    streams[0].reply({ header: { revision: 12n }, watchId: 0n, events: [put("k", 12n)] });
    streams[0].handlers.onClose(new TransportError("ep0", "connection to ep0 closed", true));
    expect(unhealthy).toEqual(["ep0"]);
    await until("a second stream", () => streams.length === 2 && streams[1].creates().length === 1);
    expect(streams[1].creates()[0].startRevision).toBe(13n);
    streams[1].reply({ header: { revision: 15n }, watchId: 0n, created: true });
    // The new member replays 13.. ; the client hears no second "created".
    streams[1].reply({ header: { revision: 15n }, watchId: 0n, events: [put("k", 14n)] });
    expect(r.got.filter((x) => x.created).length).toBe(1);
    expect(r.revisions()).toEqual([12n, 14n]);
  });

  test("a halting error ends every watcher with the cluster's reason", async () => {
    const { up, streams } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    const r = new TestReceiver();
    reg.add(r, spec(), 0n);
    await settle();
    streams[0].reply({ header: { revision: 3n }, watchId: 0n, created: true });
    const { EtcdError, GrpcCode } = await import("../../pkg/errors.ts");
    streams[0].handlers.onClose(new EtcdError(GrpcCode.PermissionDenied, "etcdserver: permission denied"));
    expect(r.got.at(-1)).toMatchObject({ canceled: true, cancelReason: "etcdserver: permission denied" });
    expect(r.isEnded).toBe(true);
    expect(reg.upstreamWatchCount).toBe(0);
  });

  test("compaction cancels the watchers that needed compacted revisions; the others go on", async () => {
    const { up, streams } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    const early = new TestReceiver();
    const later = new TestReceiver();
    reg.add(early, spec(), 2n);
    await settle();
    const s = streams[0];
    s.reply({ header: { revision: 30n }, watchId: 0n, created: true });
    reg.add(later, spec(), 25n);
    s.reply({ header: { revision: 30n }, watchId: 0n, canceled: true, compactRevision: 20n });
    expect(early.got.at(-1)).toMatchObject({ canceled: true, compactRevision: 20n });
    expect(early.isEnded).toBe(true);
    expect(later.isEnded).toBe(false);
    expect(s.creates().map((c) => c.startRevision)).toEqual([2n, 25n]);
  });

  test("under a namespace, events come back without the prefix", async () => {
    const { up, streams } = fakeUpstream();
    const ns = new Namespace("/t/");
    const reg = new WatchRegistry(up, ns, log);
    const r = new TestReceiver();
    reg.add(r, { ...spec(), key: ns.key(b("k")) }, 0n);
    await settle();
    expect(streams[0].creates()[0].key).toEqual(b("/t/k"));
    streams[0].reply({ header: { revision: 1n }, watchId: 0n, created: true });
    streams[0].reply({ header: { revision: 2n }, watchId: 0n, events: [put("/t/k", 2n)] });
    expect(Buffer.from(r.got[1].events![0].kv!.key!).toString()).toBe("k");
  });

  test("progress notifications reach only the watchers that asked for them", async () => {
    const { up, streams } = fakeUpstream();
    const reg = new WatchRegistry(up, null, log);
    const wants = new TestReceiver(true);
    const not = new TestReceiver(false);
    reg.add(wants, spec(), 0n);
    reg.add(not, spec(), 0n);
    await settle();
    streams[0].reply({ header: { revision: 5n }, watchId: 0n, created: true });
    streams[0].reply({ header: { revision: 9n }, watchId: 0n });
    expect(wants.got.length).toBe(2);
    expect(wants.got[1]).toEqual({ header: expect.objectContaining({ revision: 9n }) });
    expect(not.got.length).toBe(1);
  });
});
