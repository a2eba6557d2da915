import { expect, test } from "bun:test";
import { GrpcCode } from "../../pkg/errors.ts";
import type { Call, Handler } from "./grpc-server.ts";
import { CallSlots, limitConcurrentCalls, UNLIMITED_STREAMS } from "./stream-limit.ts";

const callWith = (signal = new AbortController().signal): Call => ({ signal, headers: {} });

/** A handler table whose Watch streams stay open until ended, and a unary Range. */
function table() {
  const open: (() => void)[] = [];
  const handlers: Record<string, Handler & { tag: string }> = {
    "/etcdserverpb.Watch/Watch": {
      kind: "bidi",
      tag: "watch",
      handle: (_reqs, _call, send) => new Promise<void>((resolve) => open.push(() => void send({}).then(resolve))),
    },
    "/etcdserverpb.KV/Range": { kind: "unary", tag: "range", handle: () => ({ count: 1 }) },
  };
  return { handlers, open };
}

test("gateway calls share the slots: past the limit a call waits for one to end, in arrival order", async () => {
  const { handlers, open } = table();
  const slots = new CallSlots(2);
  const limited = limitConcurrentCalls(handlers, slots);
  expect(limited["/etcdserverpb.KV/Range"].tag).toBe("range"); // other properties (metrics) stay
  const watch = limited["/etcdserverpb.Watch/Watch"] as Extract<Handler, { kind: "bidi" }>;
  const range = limited["/etcdserverpb.KV/Range"] as Extract<Handler, { kind: "unary" }>;
  const noReqs = (async function* () {})();
  const w1 = watch.handle(noReqs, callWith(), async () => {});
  const w2 = watch.handle(noReqs, callWith(), async () => {});
  await Bun.sleep(0);
  expect(slots.inUse).toBe(2);
  let answered = false;
  const r = Promise.resolve(range.handle({}, callWith())).then((v) => ((answered = true), v));
  await Bun.sleep(0);
  expect([answered, slots.waiting]).toEqual([false, 1]);
  open[0](); // the first watch ends: its slot goes to the waiting range
  await w1;
  expect(await r).toEqual({ count: 1 });
  expect(slots.inUse).toBe(1);
  open[1]();
  await w2;
  expect(slots.inUse).toBe(0);
});

test("a waiting call whose client goes away fails with Canceled and gives up its place", async () => {
  const slots = new CallSlots(1);
  await slots.acquire(new AbortController().signal);
  const gone = new AbortController();
  const waiting = slots.acquire(gone.signal);
  expect(slots.waiting).toBe(1);
  gone.abort();
  await expect(waiting).rejects.toMatchObject({ code: GrpcCode.Canceled, message: "context canceled" });
  expect(slots.waiting).toBe(0);
  slots.release();
  expect(slots.inUse).toBe(0);
  expect(() => slots.release()).toThrow("released more than acquired");
});

test("etcd's default (2^32-1) leaves the table as it is; a limit must be a positive integer", () => {
  const { handlers } = table();
  expect(limitConcurrentCalls(handlers, new CallSlots(UNLIMITED_STREAMS))).toBe(handlers);
  expect(() => new CallSlots(0)).toThrow("not a positive integer");
});
