// GrpcServer on the h2 server, driven by @grpc/grpc-js: unary, server-streaming and bidi calls,
// statuses, deadlines and cancellation as the handler sees them (call.signal).
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, test } from "bun:test";
import net from "node:net";
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { GrpcServer, type Call, type Handler } from "./grpc-server.ts";
import { H2Server } from "./h2/server.ts";

const events: string[] = [];
let lastSignal: AbortSignal | null = null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (pred: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await sleep(5);
  }
};

const handlers: Record<string, Handler> = {
  "/etcdserverpb.KV/Range": {
    kind: "unary",
    handle(req: etcdserverpb.RangeRequest) {
      const key = Buffer.from(req.key).toString();
      if (key === "fail") throw new EtcdError(GrpcCode.NotFound, "etcdserver: no such thing ü%");
      if (key === "boom") throw new Error("unexpected");
      return { count: BigInt(key.length), kvs: [{ key: req.key, value: Buffer.from("v") }] };
    },
  },
  "/etcdserverpb.KV/Put": {
    kind: "unary",
    async handle(req: etcdserverpb.PutRequest, call: Call) {
      // Waits until the call is cancelled (deadline or client), then reports it.
      lastSignal = call.signal;
      events.push(`put ${Buffer.from(req.key).toString()}`);
      await new Promise<void>((resolve) => call.signal.addEventListener("abort", () => resolve()));
      events.push("put aborted");
      return {};
    },
  },
  "/etcdserverpb.Maintenance/Snapshot": {
    kind: "serverStream",
    async handle(_req, call, send) {
      // 8 chunks of 1 MiB: more than the flow-control windows, so send() has to wait.
      for (let i = 0; i < 8; i++) await send({ remainingBytes: BigInt(7 - i), blob: Buffer.alloc(1024 * 1024, i) });
      events.push(`snapshot sent, aborted=${call.signal.aborted}`);
    },
  },
  "/etcdserverpb.Watch/Watch": {
    kind: "bidi",
    async handle(reqs, _call, send) {
      let n = 0;
      for await (const r of reqs as AsyncIterable<etcdserverpb.WatchRequest>) {
        n++;
        await send({ watchId: BigInt(n), created: true, events: [{ kv: { key: r.createRequest?.key ?? new Uint8Array() } }] });
      }
      events.push(`watch input ended after ${n}`);
    },
  },
};

let h2: H2Server;
let port: net.Server;
let client: grpc.Client;

beforeAll(async () => {
  const g = new GrpcServer(handlers, { maxRecvBytes: 1024 * 1024, log: () => {} });
  h2 = new H2Server({ onStream: g.handleStream });
  port = net.createServer((s) => h2.handleConnection(s));
  await new Promise<void>((r) => port.listen(0, "127.0.0.1", () => r()));
  client = new grpc.Client(`127.0.0.1:${(port.address() as net.AddressInfo).port}`, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });
});

afterAll(async () => {
  client.close();
  port.close();
  await h2.close(500);
});

type Outcome<T> = { ok: true; value: T } | { ok: false; code: number; details: string };

function range(key: string, options: grpc.CallOptions = {}): Promise<Outcome<etcdserverpb.RangeResponse>> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      "/etcdserverpb.KV/Range",
      (m: any) => Buffer.from(etcdserverpb.RangeRequest.encode(m).finish()),
      (b: Buffer) => etcdserverpb.RangeResponse.decode(b),
      { key: Buffer.from(key) },
      new grpc.Metadata(),
      options,
      (err, res) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, value: res! }),
    ),
  );
}

function put(key: string, options: grpc.CallOptions = {}, onCall?: (c: grpc.ClientUnaryCall) => void): Promise<Outcome<unknown>> {
  return new Promise((resolve) => {
    const call = client.makeUnaryRequest(
      "/etcdserverpb.KV/Put",
      (m: any) => Buffer.from(etcdserverpb.PutRequest.encode(m).finish()),
      (b: Buffer) => etcdserverpb.PutResponse.decode(b),
      { key: Buffer.from(key) },
      new grpc.Metadata(),
      options,
      (err, res) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, value: res! }),
    );
    onCall?.(call);
  });
}

test("unary: answer, EtcdError status with a percent-encoded message, unexpected error as UNKNOWN", async () => {
  const r = await range("abc");
  expect(r.ok && r.value.count).toBe(3n);
  expect(await range("fail")).toEqual({ ok: false, code: grpc.status.NOT_FOUND, details: "etcdserver: no such thing ü%" });
  const boom = await range("boom");
  expect(boom.ok === false && boom.code).toBe(grpc.status.UNKNOWN);
});

test("a request over the size limit is refused with RESOURCE_EXHAUSTED", async () => {
  const r = await range("x".repeat(1024 * 1024 + 10));
  expect(r.ok === false && r.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect((await range("ok")).ok).toBe(true);
});

test("deadline: the handler's signal aborts and the client gets DEADLINE_EXCEEDED", async () => {
  events.length = 0;
  const r = await put("slow", { deadline: Date.now() + 100 });
  expect(r.ok === false && r.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  await until(() => events.includes("put aborted"));
  expect(lastSignal?.aborted).toBe(true);
});

test("cancellation by the client aborts the handler's signal", async () => {
  events.length = 0;
  const r = await put("cancel-me", {}, (call) => setTimeout(() => call.cancel(), 50));
  expect(r.ok === false && r.code).toBe(grpc.status.CANCELLED);
  await until(() => events.includes("put aborted"));
});

test("server streaming: 8 MiB in 1 MiB messages through flow control", async () => {
  events.length = 0;
  const got: etcdserverpb.SnapshotResponse[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = client.makeServerStreamRequest(
      "/etcdserverpb.Maintenance/Snapshot",
      (m: any) => Buffer.from(etcdserverpb.SnapshotRequest.encode(m).finish()),
      (b: Buffer) => etcdserverpb.SnapshotResponse.decode(b),
      {},
    );
    call.on("data", (m) => got.push(m));
    call.on("error", reject);
    call.on("status", (s) => (s.code === 0 ? resolve() : reject(new Error(s.details))));
  });
  expect(got.length).toBe(8);
  got.forEach((m, i) => {
    expect(m.remainingBytes).toBe(BigInt(7 - i));
    expect(m.blob.length).toBe(1024 * 1024);
    expect(m.blob[12345]).toBe(i);
  });
  expect(events).toEqual(["snapshot sent, aborted=false"]);
});

test("bidi: each request answered in order; the handler sees the end of input", async () => {
  events.length = 0;
  const got: etcdserverpb.WatchResponse[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      "/etcdserverpb.Watch/Watch",
      (m: any) => Buffer.from(etcdserverpb.WatchRequest.encode(m).finish()),
      (b: Buffer) => etcdserverpb.WatchResponse.decode(b),
    );
    call.on("data", (m) => {
      got.push(m);
      if (got.length === 3) call.end();
    });
    call.on("error", reject);
    call.on("status", (s) => (s.code === 0 ? resolve() : reject(new Error(s.details))));
    for (const k of ["a", "b", "c"]) call.write({ createRequest: { key: Buffer.from(k) } });
  });
  expect(got.map((m) => [m.watchId, Buffer.from(m.events[0].kv!.key ?? []).toString()])).toEqual([
    [1n, "a"],
    [2n, "b"],
    [3n, "c"],
  ]);
  expect(events).toEqual(["watch input ended after 3"]);
});

test("unknown method: UNIMPLEMENTED", async () => {
  const r = await new Promise<Outcome<unknown>>((resolve) =>
    client.makeUnaryRequest(
      "/etcdserverpb.KV/Nope",
      (m: Buffer) => m,
      (b: Buffer) => b,
      Buffer.alloc(0),
      (err, res) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, value: res }),
    ),
  );
  expect(r).toEqual({ ok: false, code: grpc.status.UNIMPLEMENTED, details: "unknown method Nope for service etcdserverpb.KV" });
});
