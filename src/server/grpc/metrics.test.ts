// grpc_server_started_total / grpc_server_handled_total as go-grpc-prometheus counts them: every
// route's series exist at 0 from the start, each call counts once when it starts and once, with its
// status code, when it ends (also when the client cancels or the deadline passes); gRPC-web calls too.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, expect, test } from "bun:test";
import net from "node:net";
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import { defaultRegistry } from "../../pkg/metrics.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { frame } from "./framing.ts";
import { GrpcServer, type Handler } from "./grpc-server.ts";
import { GrpcWeb } from "./grpc-web.ts";
import { H2Server } from "./h2/server.ts";

const handlers: Record<string, Handler> = {
  "/etcdserverpb.KV/Range": {
    kind: "unary",
    handle(req: etcdserverpb.RangeRequest) {
      if (Buffer.from(req.key).toString() === "missing") throw new EtcdError(GrpcCode.NotFound, "etcdserver: not found");
      return {};
    },
  },
  "/etcdserverpb.KV/Put": {
    kind: "unary",
    async handle(_req, call) {
      await new Promise<void>((resolve) => call.signal.addEventListener("abort", () => resolve()));
      return {};
    },
  },
  "/etcdserverpb.Watch/Watch": { kind: "bidi", async handle() {} },
};

let h2: H2Server;
let port: net.Server;
let client: grpc.Client;

beforeAll(async () => {
  const g = new GrpcServer(handlers, { maxRecvBytes: 1024 * 1024, log: () => {} });
  h2 = new H2Server({ onStream: g.handleStream });
  port = net.createServer((s) => h2.handleConnection(s));
  await new Promise<void>((r) => port.listen(0, "127.0.0.1", () => r()));
  client = new grpc.Client(`127.0.0.1:${(port.address() as net.AddressInfo).port}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client.close();
  port.close();
  await h2.close(500);
});

/** A series' value in the exposition (the registry is shared by the process, so tests compare deltas). */
function sample(name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const line = defaultRegistry.expose().split("\n").find((l) => l.startsWith(`${name}{${want}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

const kv = (method: string) => ({ grpc_type: "unary", grpc_service: "etcdserverpb.KV", grpc_method: method });

function call(method: string, key: string, options: grpc.CallOptions = {}): Promise<number> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      `/etcdserverpb.KV/${method}`,
      (m: any) => Buffer.from(etcdserverpb.RangeRequest.encode(m).finish()),
      (b: Buffer) => b,
      { key: Buffer.from(key) },
      new grpc.Metadata(),
      options,
      (err) => resolve(err ? err.code : grpc.status.OK),
    ),
  );
}

test("every route's series exist from the start, for every code, with go-grpc-prometheus's grpc_type", () => {
  for (const code of ["OK", "Canceled", "Unknown", "NotFound", "DeadlineExceeded", "Unavailable", "Unauthenticated"]) {
    expect(sample("grpc_server_handled_total", { ...kv("Range"), grpc_code: code })).toBeNumber();
  }
  expect(sample("grpc_server_started_total", { grpc_type: "bidi_stream", grpc_service: "etcdserverpb.Watch", grpc_method: "Watch" })).toBeNumber();
});

test("a call counts as started, then as handled with its status code", async () => {
  const started = sample("grpc_server_started_total", kv("Range"))!;
  const ok = sample("grpc_server_handled_total", { ...kv("Range"), grpc_code: "OK" })!;
  const notFound = sample("grpc_server_handled_total", { ...kv("Range"), grpc_code: "NotFound" })!;
  expect(await call("Range", "a")).toBe(grpc.status.OK);
  expect(await call("Range", "b")).toBe(grpc.status.OK);
  expect(await call("Range", "missing")).toBe(grpc.status.NOT_FOUND);
  expect(sample("grpc_server_started_total", kv("Range"))).toBe(started + 3);
  expect(sample("grpc_server_handled_total", { ...kv("Range"), grpc_code: "OK" })).toBe(ok + 2);
  expect(sample("grpc_server_handled_total", { ...kv("Range"), grpc_code: "NotFound" })).toBe(notFound + 1);
});

test("a passed deadline or a cancel counts once, as DeadlineExceeded or Canceled", async () => {
  const code = (c: string) => sample("grpc_server_handled_total", { ...kv("Put"), grpc_code: c })!;
  const ok = code("OK");
  // Server timer and client RST_STREAM race (in grpc-go too): whichever comes first names the code.
  const gone = () => code("DeadlineExceeded") + code("Canceled");
  const before = gone();
  expect(await call("Put", "slow", { deadline: Date.now() + 50 })).toBe(grpc.status.DEADLINE_EXCEEDED);
  await Bun.sleep(50);
  expect(gone()).toBe(before + 1);
  const canceled = code("Canceled");

  const cancelled = new Promise<number>((resolve) => {
    const c = client.makeUnaryRequest(
      "/etcdserverpb.KV/Put",
      (m: any) => Buffer.from(etcdserverpb.PutRequest.encode(m).finish()),
      (b: Buffer) => b,
      { key: Buffer.from("k") },
      (err) => resolve(err ? err.code : grpc.status.OK),
    );
    setTimeout(() => c.cancel(), 50);
  });
  expect(await cancelled).toBe(grpc.status.CANCELLED);
  const until = Date.now() + 2000;
  while (code("Canceled") === canceled && Date.now() < until) await Bun.sleep(10);
  expect(code("Canceled")).toBe(canceled + 1);
  // The handler still returns after the cancel: no second count.
  await Bun.sleep(50);
  expect(code("OK")).toBe(ok);
  expect(gone()).toBe(before + 2);
});

test("a path without a route is not counted (grpc-go answers it before the interceptors)", async () => {
  const before = defaultRegistry.expose();
  expect(await call("Nope", "x")).toBe(grpc.status.UNIMPLEMENTED);
  expect(defaultRegistry.expose().includes('grpc_method="Nope"')).toBe(false);
  expect(before.includes('grpc_method="Nope"')).toBe(false);
});

test("gRPC-web calls count under the same series, once each, with the status they end with", async () => {
  const web = new GrpcWeb(
    {
      "/etcdserverpb.KV/Compact": {
        kind: "unary",
        async handle(req: etcdserverpb.CompactionRequest, call) {
          if (req.revision === 1n) throw new EtcdError(GrpcCode.OutOfRange, "etcdserver: mvcc: required revision is a future revision");
          if (req.revision === 2n) await new Promise<void>((resolve) => call.signal.addEventListener("abort", () => resolve()));
          return {};
        },
      },
    },
    { maxRecvBytes: 1024 * 1024, cors: [], log: () => {} },
  );
  const compact = { grpc_type: "unary", grpc_service: "etcdserverpb.KV", grpc_method: "Compact" };
  const code = (c: string) => sample("grpc_server_handled_total", { ...compact, grpc_code: c })!;
  const started = sample("grpc_server_started_total", compact)!;
  const [ok, outOfRange, deadline] = [code("OK"), code("OutOfRange"), code("DeadlineExceeded")];
  const callWeb = async (revision: bigint, headers: Record<string, string> = {}) => {
    const body = frame(etcdserverpb.CompactionRequest.encode({ revision }).finish());
    const req = new Request("http://x/etcdserverpb.KV/Compact", { method: "POST", body, headers: { "content-type": "application/grpc-web+proto", ...headers } });
    const text = Buffer.from(await (await web.handle(req)!).arrayBuffer()).toString("latin1");
    return Number(/grpc-status:(\d+)/.exec(text)![1]);
  };
  expect(await callWeb(5n)).toBe(GrpcCode.OK);
  expect(await callWeb(1n)).toBe(GrpcCode.OutOfRange);
  expect(await callWeb(2n, { "grpc-timeout": "30m" })).toBe(GrpcCode.DeadlineExceeded);
  await Bun.sleep(20); // the handler returns after the deadline: no second count
  expect(sample("grpc_server_started_total", compact)).toBe(started + 3);
  expect([code("OK") - ok, code("OutOfRange") - outOfRange, code("DeadlineExceeded") - deadline]).toEqual([1, 1, 1]);
});

test("messages and their bytes: a unary request on arrival, its answer when OK; calls by client-api-version", async () => {
  const counter = (name: string, labels: Record<string, string>) => sample(name, labels) ?? 0;
  const plain = (name: string) => Number(/^\S+ (\S+)$/m.exec(defaultRegistry.expose().split("\n").find((l) => l.startsWith(`${name} `)) ?? "x 0")![1]);
  const [received, sent, inBytes, versioned] = [
    counter("grpc_server_msg_received_total", kv("Range")),
    counter("grpc_server_msg_sent_total", kv("Range")),
    plain("etcd_network_client_grpc_received_bytes_total"),
    counter("etcd_server_client_requests_total", { type: "unary", client_api_version: "3.5" }),
  ];
  const withVersion = new grpc.Metadata();
  withVersion.set("client-api-version", "3.5");
  const ok = await new Promise<number>((resolve) =>
    client.makeUnaryRequest(
      "/etcdserverpb.KV/Range",
      (m: any) => Buffer.from(etcdserverpb.RangeRequest.encode(m).finish()),
      (b: Buffer) => b,
      { key: Buffer.from("abc") },
      withVersion,
      (err) => resolve(err ? err.code : grpc.status.OK),
    ),
  );
  expect(ok).toBe(grpc.status.OK);
  expect(await call("Range", "missing")).toBe(grpc.status.NOT_FOUND);
  expect(counter("grpc_server_msg_received_total", kv("Range")) - received).toBe(2);
  expect(counter("grpc_server_msg_sent_total", kv("Range")) - sent).toBe(1); // the NotFound call sent no message
  // RangeRequest{key: "abc"} is 5 bytes, {key: "missing"} 9, without the gRPC frame's 5-byte prefix.
  expect(plain("etcd_network_client_grpc_received_bytes_total") - inBytes).toBe(14);
  expect(counter("etcd_server_client_requests_total", { type: "unary", client_api_version: "3.5" }) - versioned).toBe(1);
});
