// The HTTP/2 call layer against a small local h2c server: statuses, deadlines, cancellation, streaming.
import { afterAll, beforeAll, expect, test } from "bun:test";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Errors, GrpcCode } from "../../pkg/errors.ts";
import { TransportError } from "../errors.ts";
import { Channel, type CallOptions } from "./channel.ts";

let server: http2.Http2Server;
let endpoint = "";
const seenTimeouts: string[] = [];

beforeAll(async () => {
  server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const path = String(headers[":path"]);
    if (headers["grpc-timeout"]) seenTimeouts.push(String(headers["grpc-timeout"]));
    if (path === "/echo") {
      // Answers every request message with the same bytes, then OK when the client half-closes.
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("data", (d: Buffer) => stream.write(d));
      stream.on("end", () => stream.end());
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    } else if (path === "/fail") {
      // Trailers-only response with a percent-encoded message.
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "3", "grpc-message": "etcdserver: key not found" }, { endStream: true });
    } else if (path === "/odd") {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "13", "grpc-message": "caf%C3%A9" }, { endStream: true });
    } else {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }); // never answers
      stream.on("error", () => {});
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

const frame = (s: string) => {
  const b = Buffer.from(s);
  const out = Buffer.alloc(5 + b.length);
  out.writeUInt32BE(b.length, 1);
  b.copy(out, 5);
  return out;
};

async function call(ch: Channel, path: string, messages: string[], opts: CallOptions = {}) {
  const session = await ch.connect(1000);
  return new Promise<{ got: string[]; err: unknown }>((resolve) => {
    const got: string[] = [];
    const c = ch.open(session, path, opts, { onMessage: (m) => got.push(m.toString()), onClose: (err) => resolve({ got, err }) });
    for (const m of messages) c.send(frame(m));
    if (path !== "/hang") c.end();
  });
}

test("messages stream both ways and OK closes with no error", async () => {
  const ch = new Channel(endpoint);
  expect(await call(ch, "/echo", ["a", "bb", ""])).toEqual({ got: ["a", "bb", ""], err: null });
  ch.close();
});

test("a status maps back to etcd's error value; other messages are percent-decoded", async () => {
  const ch = new Channel(endpoint);
  expect((await call(ch, "/fail", [])).err).toBe(Errors.keyNotFound);
  const odd = (await call(ch, "/odd", [])).err as { code: number; message: string };
  expect([odd.code, odd.message]).toEqual([GrpcCode.Internal, "café"]);
  ch.close();
});

test("a deadline is sent as grpc-timeout and ends the call with DeadlineExceeded", async () => {
  const ch = new Channel(endpoint);
  const t0 = Date.now();
  const { err } = await call(ch, "/hang", ["x"], { deadline: Date.now() + 150 });
  expect((err as { code: number }).code).toBe(GrpcCode.DeadlineExceeded);
  expect(Date.now() - t0).toBeLessThan(2000);
  expect(seenTimeouts.at(-1)).toMatch(/^1[0-5]\dm$/);
  ch.close();
});

test("an abort signal cancels the call", async () => {
  const ch = new Channel(endpoint);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const { err } = await call(ch, "/hang", ["x"], { signal: ac.signal });
  expect((err as { code: number }).code).toBe(GrpcCode.Canceled);
  ch.close();
});

test("a refused connection is a TransportError that surely was not sent; the channel then reports broken", async () => {
  const probe = http2.createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const ch = new Channel(`127.0.0.1:${port}`);
  const err = await ch.connect(1000).catch((e) => e);
  expect(err).toBeInstanceOf(TransportError);
  expect([err.code, err.sent]).toEqual([GrpcCode.Unavailable, false]);
  expect(ch.broken).toBe(true);
});

test("keepalive: a peer that stops answering (a black hole) breaks the channel and fails its open calls", async () => {
  // A TCP relay to the h2 server that, once told, drops everything in both directions.
  const net = await import("node:net");
  let blackhole = false;
  const sockets: import("node:net").Socket[] = [];
  const relay = net.createServer((inbound) => {
    const [host, port] = endpoint.split(":");
    const outbound = net.connect(Number(port), host);
    sockets.push(inbound, outbound);
    inbound.on("data", (d) => blackhole || outbound.write(d));
    outbound.on("data", (d) => blackhole || inbound.write(d));
    inbound.on("error", () => {});
    outbound.on("error", () => {});
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  const via = `127.0.0.1:${(relay.address() as AddressInfo).port}`;
  try {
    const pinged = new Channel(via, { timeMs: 100, timeoutMs: 300 });
    const silent = new Channel(via);
    const hung = call(pinged, "/hang", ["x"]);
    await call(silent, "/echo", ["a"]);
    await Bun.sleep(250); // pings answered while the path works
    expect(pinged.broken).toBe(false);
    blackhole = true;
    const { err } = await hung;
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toContain("keepalive ping not answered");
    expect(pinged.broken).toBe(true);
    // Without pings nothing notices.
    expect(silent.broken).toBe(false);
    silent.close();
  } finally {
    for (const s of sockets) s.destroy();
    relay.close();
  }
});
