import { expect, test } from "bun:test";
import { Errors } from "../pkg/errors.ts";
import { etcdserverpb, mvccpb } from "../proto/etcd.js";
import { TransportError, WatchCompactedError } from "./errors.ts";
import type { TypedHandlers } from "./transport.ts";
import { WatchStream } from "./watch.ts";

/** A transport whose streams the test drives by hand. */
function fakeTransport() {
  const streams: { endpoint: string; sent: etcdserverpb.WatchRequest.$Properties[]; h: TypedHandlers<etcdserverpb.WatchResponse>; canceled: boolean }[] = [];
  const unhealthy: string[] = [];
  let n = 0;
  return {
    streams,
    unhealthy,
    transport: {
      async stream(_m: unknown, h: TypedHandlers<any>) {
        const s = { endpoint: `m${n++}`, sent: [] as any[], h, canceled: false };
        streams.push(s);
        return { endpoint: s.endpoint, send: (r: any) => s.sent.push(r), end() {}, cancel: () => (s.canceled = true) };
      },
      markUnhealthy: (e: string) => unhealthy.push(e),
    } as any,
  };
}

const res = (p: etcdserverpb.WatchResponse.$Properties) => etcdserverpb.WatchResponse.decode(etcdserverpb.WatchResponse.encode(p).finish());
const put = (key: string, rev: bigint) => ({ type: mvccpb.Event.EventType.PUT, kv: { key: Buffer.from(key), value: Buffer.from("v"), modRevision: rev } });
const tick = () => new Promise((r) => setTimeout(r, 0));
async function until(cond: () => boolean) {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

test("resume after a broken stream asks for last seen + 1 on the next endpoint and drops replayed events", async () => {
  const f = fakeTransport();
  const ws = new WatchStream(f.transport);
  const w = ws.watch("k", { prefix: true });
  await tick();
  const [a] = f.streams;
  expect(a.sent[0].createRequest!.startRevision).toBe(0n);
  a.h.onMessage(res({ created: true, watchId: 0n, header: { revision: 4n } }));
  expect(await w.ready).toBe(4n);
  expect(w.endpoint).toBe("m0");
  a.h.onMessage(res({ watchId: 0n, events: [put("k1", 5n), put("k2", 6n)] }));
  a.h.onClose(new TransportError("m0", "connection reset", true));
  expect(f.unhealthy).toEqual(["m0"]);
  expect(w.endpoint).toBeNull();
  await until(() => f.streams.length === 2 && f.streams[1].sent.length === 1);
  const b = f.streams[1];
  expect(b.sent[0].createRequest!.startRevision).toBe(7n);
  b.h.onMessage(res({ created: true, watchId: 3n, header: { revision: 9n } }));
  // A server that replays from an older revision must not produce duplicates.
  b.h.onMessage(res({ watchId: 3n, events: [put("k2", 6n), put("k3", 7n), put("k4", 8n)] }));
  const seen: bigint[] = [];
  for await (const ev of w) {
    seen.push(ev.revision);
    if (seen.length === 4) break;
  }
  expect(seen).toEqual([5n, 6n, 7n, 8n]);
  // Leaving the loop cancels the watcher; with none left the stream is dropped.
  expect(b.canceled).toBe(true);
});

test("watchers on one stream are created one at a time, in order, and routed by watch id", async () => {
  const f = fakeTransport();
  const ws = new WatchStream(f.transport);
  const w1 = ws.watch("a");
  const w2 = ws.watch("b", { startRevision: 3n, prevKv: true, filters: ["noDelete"] });
  await tick();
  const [s] = f.streams;
  expect(f.streams).toHaveLength(1);
  expect(s.sent).toHaveLength(1);
  s.h.onMessage(res({ created: true, watchId: 10n, header: { revision: 5n } }));
  expect(s.sent).toHaveLength(2);
  expect(s.sent[1].createRequest).toMatchObject({ startRevision: 3n, prevKv: true, filters: [etcdserverpb.WatchCreateRequest.FilterType.NODELETE] });
  s.h.onMessage(res({ created: true, watchId: 11n, header: { revision: 5n } }));
  s.h.onMessage(res({ watchId: 11n, events: [put("b", 6n)] }));
  s.h.onMessage(res({ watchId: 10n, events: [put("a", 7n)] }));
  const i1 = w1[Symbol.asyncIterator]();
  const i2 = w2[Symbol.asyncIterator]();
  expect((await i1.next()).value.revision).toBe(7n);
  expect((await i2.next()).value.revision).toBe(6n);
  w1.cancel();
  expect(s.sent.at(-1)).toEqual({ cancelRequest: { watchId: 10n } });
  expect(await i1.next()).toEqual({ done: true, value: undefined });
});

test("compaction ends the watcher with the compact revision; a halting status fails every watcher", async () => {
  const f = fakeTransport();
  const ws = new WatchStream(f.transport);
  const w = ws.watch("a", { startRevision: 2n });
  const other = ws.watch("b");
  await tick();
  const [s] = f.streams;
  s.h.onMessage(res({ created: true, canceled: true, watchId: 0n, compactRevision: 8n }));
  const err = await w[Symbol.asyncIterator]().next().catch((e) => e);
  expect(err).toBeInstanceOf(WatchCompactedError);
  expect(err.compactRevision).toBe(8n);
  expect(err.message).toBe(Errors.compacted.message);
  s.h.onMessage(res({ created: true, watchId: 1n }));
  s.h.onClose(Errors.tooManyRequests);
  await expect(other[Symbol.asyncIterator]().next()).rejects.toBe(Errors.tooManyRequests);
});
