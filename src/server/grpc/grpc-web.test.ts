// gRPC-web (GrpcWeb.handle): first against a fake handler table with Request/Response objects (no
// socket), then against the real handler table over an in-process EtcdServer behind node:http, as
// main.ts mounts it in front of the Hono app.
import { getRequestListener } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EtcdError, Errors, GrpcCode } from "../../pkg/errors.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { EtcdServer } from "../core/server.ts";
import { frame } from "./framing.ts";
import type { Call, Handler } from "./grpc-server.ts";
import { GrpcWeb, type GrpcWebOptions } from "./grpc-web.ts";
import { etcdHandlers } from "./services.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (pred: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("condition not reached");
    await sleep(5);
  }
};

// ------------------------------------------------------------------ client side of the protocol

type Codec = { encode(m: any): { finish(): Uint8Array }; decode(b: Uint8Array): any };

/** Decodes a -text body as clients do: padded base64 pieces one after another. */
function fromBase64Pieces(text: string): Buffer {
  const pieces = text.match(/[^=]*=*/g)!.filter((p) => p.length > 0);
  return Buffer.concat(pieces.map((p) => Buffer.from(p, "base64")));
}

/** Splits a gRPC-web response body into data messages and the trailer frame. */
function parseFrames(body: Buffer): { messages: Buffer[]; trailers: Record<string, string> | null; rest: number } {
  const messages: Buffer[] = [];
  let trailers: Record<string, string> | null = null;
  let off = 0;
  while (body.length - off >= 5) {
    const len = body.readUInt32BE(off + 1);
    if (body.length - off < 5 + len) break;
    const payload = body.subarray(off + 5, off + 5 + len);
    if (body[off] & 0x80) {
      expect(trailers).toBeNull(); // one trailer frame, last
      trailers = {};
      for (const line of payload.toString("latin1").split("\r\n")) {
        if (!line) continue;
        const i = line.indexOf(":");
        trailers[line.slice(0, i).trim().toLowerCase()] = decodeURIComponent(line.slice(i + 1).trim());
      }
    } else {
      expect(trailers).toBeNull();
      messages.push(payload);
    }
    off += 5 + len;
  }
  return { messages, trailers, rest: body.length - off };
}

function requestBody(codec: Codec, msg: unknown, text: boolean): Buffer {
  const f = frame(codec.encode(msg).finish());
  return text ? Buffer.from(f.toString("base64")) : f;
}

async function bodyBytes(res: Response, text: boolean): Promise<Buffer> {
  const raw = Buffer.from(await res.arrayBuffer());
  return text ? fromBase64Pieces(raw.toString("latin1")) : raw;
}

interface CallResult<T> {
  res: Response;
  messages: T[];
  status: number | undefined;
  message: string | undefined;
}

// ------------------------------------------------------------------ fake handler table

const events: string[] = [];
let lastSignal: AbortSignal | null = null;

const handlers: Record<string, Handler> = {
  "/etcdserverpb.KV/Range": {
    kind: "unary",
    async handle(req: etcdserverpb.RangeRequest, call: Call) {
      const key = Buffer.from(req.key).toString();
      if (key === "fail") throw new EtcdError(GrpcCode.NotFound, "etcdserver: no such thing ü%");
      if (key === "boom") throw new Error("unexpected");
      if (key === "empty") throw Errors.emptyKey;
      if (key === "slow") {
        lastSignal = call.signal;
        await new Promise<void>((resolve) => call.signal.addEventListener("abort", () => resolve()));
        events.push("range aborted");
        return {};
      }
      return { count: BigInt(key.length), kvs: [{ key: req.key, value: Buffer.from(call.headers["x-note"] ?? "v") }] };
    },
  },
  "/etcdserverpb.Maintenance/Snapshot": {
    kind: "serverStream",
    async handle(_req, call, send) {
      for (let i = 0; i < 3; i++) await send({ remainingBytes: BigInt(2 - i), blob: Buffer.alloc(100_000, i) });
      events.push(`snapshot sent, aborted=${call.signal.aborted}`);
    },
  },
  "/etcdserverpb.Watch/Watch": {
    kind: "bidi",
    async handle(reqs, call, send) {
      lastSignal = call.signal;
      let n = 0;
      for await (const r of reqs as AsyncIterable<etcdserverpb.WatchRequest>) {
        n++;
        await send({ watchId: BigInt(n), created: true, events: [{ kv: { key: r.createRequest?.key ?? new Uint8Array() } }] });
      }
      events.push(`watch input ended after ${n}`);
      // As serveWatch with a signal: watching goes on until the client goes away.
      await new Promise<void>((resolve) => call.signal.addEventListener("abort", () => resolve()));
      events.push("watch aborted");
    },
  },
  "/etcdserverpb.Lease/LeaseKeepAlive": {
    kind: "bidi",
    async handle(reqs, _call, send) {
      for await (const r of reqs as AsyncIterable<etcdserverpb.LeaseKeepAliveRequest>) await send({ ID: r.ID, TTL: 7n });
      events.push("keepalive input ended");
    },
  },
};

const MAX = 64 * 1024;
const logged: string[] = [];
const opts = (cors: string[] = []): GrpcWebOptions => ({ maxRecvBytes: MAX, cors, log: (_l, msg) => logged.push(msg) });
const web = new GrpcWeb(handlers, opts());
const URL_BASE = "http://127.0.0.1:2379";

function post(path: string, body: RequestInit["body"], headers: Record<string, string> = {}): Request {
  return new Request(URL_BASE + path, { method: "POST", body, headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...headers } });
}

async function call<T>(
  path: string,
  codec: Codec,
  msg: unknown,
  { text = false, headers = {}, gw = web }: { text?: boolean; headers?: Record<string, string>; gw?: GrpcWeb } = {},
): Promise<CallResult<T>> {
  const type = text ? "application/grpc-web-text" : "application/grpc-web+proto";
  const res = (await gw.handle(post(path, requestBody(codec, msg, text), { "content-type": type, ...headers })))!;
  expect(res).not.toBeNull();
  const { messages, trailers, rest } = parseFrames(await bodyBytes(res, text));
  expect(rest).toBe(0);
  expect(trailers).not.toBeNull(); // a response always ends with its trailer frame
  const out = responseCodec(path);
  return {
    res,
    messages: messages.map((m) => out.decode(m)),
    status: trailers?.["grpc-status"] === undefined ? undefined : Number(trailers["grpc-status"]),
    message: trailers?.["grpc-message"],
  };
}

function responseCodec(path: string): Codec {
  const method = path.split("/")[2];
  const name = method === "Range" ? "RangeResponse" : method === "Put" ? "PutResponse" : method === "DeleteRange" ? "DeleteRangeResponse" : `${method}Response`;
  return (etcdserverpb as any)[name];
}

const Range = etcdserverpb.RangeRequest;

describe("gRPC-web over a fake handler table", () => {
  test("unary round trip with application/grpc-web+proto", async () => {
    const r = await call<etcdserverpb.RangeResponse>("/etcdserverpb.KV/Range", Range, { key: Buffer.from("abc") }, { headers: { "x-note": "meta" } });
    expect(r.res.status).toBe(200);
    expect(r.res.headers.get("content-type")).toBe("application/grpc-web+proto");
    expect(r.status).toBe(0);
    expect(r.message).toBeUndefined();
    expect(r.messages.length).toBe(1);
    expect(r.messages[0].count).toBe(3n);
    // request headers reach the handler as call metadata
    expect(Buffer.from(r.messages[0].kvs[0].value!).toString()).toBe("meta");
  });

  test("unary round trip with application/grpc-web-text: base64 in, base64 out", async () => {
    const r = await call<etcdserverpb.RangeResponse>("/etcdserverpb.KV/Range", Range, { key: Buffer.from("hello") }, { text: true });
    expect(r.res.headers.get("content-type")).toBe("application/grpc-web-text+proto");
    expect(r.status).toBe(0);
    expect(r.messages[0].count).toBe(5n);
    // the raw body really is base64
    const again = await web.handle(post("/etcdserverpb.KV/Range", requestBody(Range, { key: Buffer.from("x") }, true), { "content-type": "application/grpc-web-text" }))!;
    expect(await again.text()).toMatch(/^[A-Za-z0-9+/=]+$/);
  });

  test("-text request in padded pieces, cut at odd places, with line breaks", async () => {
    const f = frame(Range.encode({ key: Buffer.from("abcdefg") }).finish());
    // two independently padded pieces: the frame cut after 4 bytes (4 % 3 != 0 → padding inside the body)
    const text = `${f.subarray(0, 4).toString("base64")}\r\n${f.subarray(4).toString("base64")}`;
    expect(text.slice(0, 8)).toContain("=");
    for (const cuts of [[text.length], [3, 7, 9, text.length], [1, 2, 5, 11, 12, text.length]]) {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          let from = 0;
          for (const to of cuts) {
            c.enqueue(Buffer.from(text.slice(from, to)));
            from = to;
          }
          c.close();
        },
      });
      const res = (await web.handle(post("/etcdserverpb.KV/Range", body, { "content-type": "application/grpc-web-text+proto" })))!;
      const { messages, trailers } = parseFrames(await bodyBytes(res, true));
      expect(trailers).toEqual({ "grpc-status": "0" });
      expect(etcdserverpb.RangeResponse.decode(messages[0]).count).toBe(7n);
    }
  });

  test("error trailers: EtcdError code and (percent-encoded) text, other errors UNKNOWN, unknown method UNIMPLEMENTED", async () => {
    const empty = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.from("empty") });
    expect(empty.res.status).toBe(200);
    expect(empty.messages).toEqual([]);
    expect([empty.status, empty.message]).toEqual([GrpcCode.InvalidArgument, "etcdserver: key is not provided"]);

    const fail = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.from("fail") }, { text: true });
    expect([fail.status, fail.message]).toEqual([GrpcCode.NotFound, "etcdserver: no such thing ü%"]);
    // the wire form is percent-encoded, as the HTTP/2 server sends it
    const raw = await web.handle(post("/etcdserverpb.KV/Range", requestBody(Range, { key: Buffer.from("fail") }, false)))!;
    expect(Buffer.from(await raw.arrayBuffer()).toString("latin1")).toContain("grpc-message:etcdserver: no such thing %C3%BC%25\r\n");

    logged.length = 0;
    const boom = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.from("boom") });
    expect([boom.status, boom.message]).toEqual([GrpcCode.Unknown, "unexpected"]);
    expect(logged).toEqual(["unexpected error serving a request"]);

    const nope = await call("/etcdserverpb.KV/Nope", Range, {});
    expect([nope.status, nope.message]).toEqual([GrpcCode.Unimplemented, "unknown method Nope for service etcdserverpb.KV"]);
    const svc = await call("/foo.Bar/Baz", Range, {});
    expect([svc.status, svc.message]).toEqual([GrpcCode.Unimplemented, "unknown service foo.Bar"]);
  });

  test("exactly one request message: none or two are UNIMPLEMENTED; a malformed one INVALID_ARGUMENT", async () => {
    const statusOf = async (body: Buffer) => parseFrames(Buffer.from(await (await web.handle(post("/etcdserverpb.KV/Range", body)))!.arrayBuffer())).trailers;
    expect(await statusOf(Buffer.alloc(0))).toEqual({ "grpc-status": "12", "grpc-message": "grpc: no request message received" });
    const one = frame(Range.encode({ key: Buffer.from("a") }).finish());
    expect(await statusOf(Buffer.concat([one, one]))).toEqual({ "grpc-status": "12", "grpc-message": "grpc: too many request messages for a unary call" });
    const bad = await statusOf(frame(Buffer.from([0x0a, 0x05, 0x01])));
    expect(bad?.["grpc-status"]).toBe("3");
    expect(bad?.["grpc-message"]).toStartWith("grpc: error unmarshalling request: ");
  });

  test("a request over the size limit is refused with RESOURCE_EXHAUSTED before its body is read", async () => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        const head = Buffer.alloc(5);
        head.writeUInt32BE(MAX + 1, 1);
        c.enqueue(head); // ... and the announced body never comes
      },
      pull() {
        pulls++;
      },
    });
    const res = (await web.handle(post("/etcdserverpb.KV/Range", body)))!;
    const { trailers } = parseFrames(Buffer.from(await res.arrayBuffer()));
    expect(trailers).toEqual({ "grpc-status": "8", "grpc-message": `grpc: received message larger than max (${MAX + 1} vs. ${MAX})` });
    expect(pulls).toBeLessThanOrEqual(2);
    // one just at the limit is fine (the handler answers; the limit counts the message, not the prefix)
    const ok = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.alloc(MAX - 4, 0x61) }, { text: true });
    expect(ok.status).toBe(0);
  });

  test("grpc-timeout: DEADLINE_EXCEEDED and the handler's signal aborts (unary and streaming)", async () => {
    events.length = 0;
    const t0 = Date.now();
    const r = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.from("slow") }, { headers: { "grpc-timeout": "100m" } });
    expect([r.status, r.message]).toEqual([GrpcCode.DeadlineExceeded, "context deadline exceeded"]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(Date.now() - t0).toBeLessThan(1500);
    await until(() => events.includes("range aborted"));
    expect(lastSignal?.aborted).toBe(true);

    events.length = 0;
    const w = await call<etcdserverpb.WatchResponse>("/etcdserverpb.Watch/Watch", etcdserverpb.WatchRequest, { createRequest: { key: Buffer.from("k") } }, { headers: { "grpc-timeout": "80m" } });
    expect(w.messages.length).toBe(1);
    expect([w.status, w.message]).toEqual([GrpcCode.DeadlineExceeded, "context deadline exceeded"]);
    await until(() => events.includes("watch aborted"));
  });

  test("the client going away aborts a unary handler's signal", async () => {
    events.length = 0;
    lastSignal = null;
    const client = new AbortController();
    const req = new Request(URL_BASE + "/etcdserverpb.KV/Range", {
      method: "POST",
      body: requestBody(Range, { key: Buffer.from("slow") }, false),
      headers: { "content-type": "application/grpc-web" },
      signal: client.signal,
    });
    const pending = web.handle(req)!;
    await until(() => lastSignal !== null && !lastSignal.aborted);
    client.abort();
    await until(() => events.includes("range aborted"));
    const { trailers } = parseFrames(Buffer.from(await (await pending).arrayBuffer()));
    expect(trailers?.["grpc-status"]).toBe(String(GrpcCode.Canceled));
  });

  test("server streaming: every message, then the OK trailer (+proto and -text)", async () => {
    for (const text of [false, true]) {
      events.length = 0;
      const r = await call<etcdserverpb.SnapshotResponse>("/etcdserverpb.Maintenance/Snapshot", etcdserverpb.SnapshotRequest, {}, { text });
      expect(r.status).toBe(0);
      expect(r.messages.map((m) => [m.remainingBytes, m.blob.length, m.blob[999]])).toEqual([
        [2n, 100_000, 0],
        [1n, 100_000, 1],
        [0n, 100_000, 2],
      ]);
      expect(events).toEqual(["snapshot sent, aborted=false"]);
    }
  });

  test("Watch (bidi) from one create request: answered, kept open, ended when the client goes away", async () => {
    events.length = 0;
    const res = (await web.handle(post("/etcdserverpb.Watch/Watch", requestBody(etcdserverpb.WatchRequest, { createRequest: { key: Buffer.from("w") } }, false))))!;
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    const { messages, trailers } = parseFrames(Buffer.from(first.value!));
    expect(trailers).toBeNull();
    expect(etcdserverpb.WatchResponse.decode(messages[0]).created).toBe(true);
    await until(() => events.includes("watch input ended after 1"));
    // still open: no trailer arrives while the client stays
    const next = reader.read();
    expect(await Promise.race([next.then(() => "data"), sleep(100).then(() => "open")])).toBe("open");
    await reader.cancel();
    await until(() => events.includes("watch aborted"));
    expect(lastSignal?.aborted).toBe(true);
  });

  test("LeaseKeepAlive (bidi) with one request: one answer, then the OK trailer", async () => {
    events.length = 0;
    const r = await call<etcdserverpb.LeaseKeepAliveResponse>("/etcdserverpb.Lease/LeaseKeepAlive", etcdserverpb.LeaseKeepAliveRequest, { ID: 42n });
    expect(r.messages.map((m) => [m.ID, m.TTL])).toEqual([[42n, 7n]]);
    expect(r.status).toBe(0);
    expect(events).toEqual(["keepalive input ended"]);
  });

  test("only gRPC-web requests and their preflights are taken", () => {
    expect(web.handle(new Request(URL_BASE + "/version"))).toBeNull();
    expect(web.handle(new Request(URL_BASE + "/v3/kv/range", { method: "POST", body: "{}", headers: { "content-type": "application/json" } }))).toBeNull();
    expect(web.handle(new Request(URL_BASE + "/etcdserverpb.KV/Range", { method: "POST", body: "", headers: { "content-type": "application/grpc" } }))).toBeNull();
    expect(web.handle(new Request(URL_BASE + "/v3/kv/range", { method: "OPTIONS" }))).toBeNull();
    expect(web.handle(new Request(URL_BASE + "/etcdserverpb.KV/Range", { method: "OPTIONS" }))).not.toBeNull();
  });

  test("an unsupported gRPC-web encoding is 415", async () => {
    const res = (await web.handle(post("/etcdserverpb.KV/Range", "{}", { "content-type": "application/grpc-web+json" })))!;
    expect(res.status).toBe(415);
  });
});

describe("CORS (--cors)", () => {
  const preflight = (gw: GrpcWeb, origin: string) =>
    gw.handle(
      new Request(URL_BASE + "/etcdserverpb.KV/Range", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,x-grpc-web,x-user-agent,grpc-timeout" },
      }),
    )!;
  const corsHeaders = (res: Response) => [...res.headers.keys()].filter((k) => k.startsWith("access-control-"));

  test("without --cors: preflight answered without CORS headers, and none on calls (same origin only)", async () => {
    const res = await preflight(web, "https://app.example");
    expect(res.status).toBe(200);
    expect(corsHeaders(res)).toEqual([]);
    const r = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.from("a") }, { headers: { origin: "https://app.example" } });
    expect(corsHeaders(r.res)).toEqual([]);
  });

  test('--cors "*": any origin', async () => {
    const gw = new GrpcWeb(handlers, opts(["*"]));
    const res = await preflight(gw, "https://app.example");
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const allowed = res.headers.get("access-control-allow-headers")!.split(/,\s*/);
    for (const h of ["x-grpc-web", "content-type", "x-user-agent", "grpc-timeout"]) expect(allowed).toContain(h);
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    const r = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.from("a") }, { gw, headers: { origin: "https://other.example" } });
    expect(r.res.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.res.headers.get("access-control-expose-headers")).toBe("grpc-status, grpc-message");
  });

  test("--cors with a list: listed origins echoed (Vary: Origin), others get no CORS headers", async () => {
    const gw = new GrpcWeb(handlers, opts(["https://a.example", "https://b.example"]));
    const ok = await preflight(gw, "https://b.example");
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://b.example");
    expect(ok.headers.get("vary")).toBe("Origin");
    const denied = await preflight(gw, "https://evil.example");
    expect(denied.status).toBe(200);
    expect(corsHeaders(denied)).toEqual([]);
    const r = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.from("a") }, { gw, headers: { origin: "https://a.example" } });
    expect(r.res.headers.get("access-control-allow-origin")).toBe("https://a.example");
    expect(r.res.headers.get("access-control-expose-headers")).toBe("grpc-status, grpc-message");
    const other = await call("/etcdserverpb.KV/Range", Range, { key: Buffer.from("a") }, { gw, headers: { origin: "https://evil.example" } });
    expect(other.status).toBe(0); // the call is served; the browser hides it
    expect(corsHeaders(other.res)).toEqual([]);
  });
});

// ------------------------------------------------------------------ the real handler table

describe("gRPC-web over the real handler table (in-process EtcdServer, node:http)", () => {
  const MAX_REQUEST_BYTES = 4096;
  const OVERHEAD = 512 * 1024;
  let dir: string;
  let server: EtcdServer;
  let h1: http.Server;
  let base: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "grpc-web-"));
    server = await EtcdServer.start(
      {
        name: "default",
        dataDir: dir,
        initialAdvertisePeerUrls: ["http://127.0.0.1:1"],
        advertiseClientUrls: ["http://127.0.0.1:2"],
        initialClusterToken: "grpc-web-test",
        heartbeatIntervalMs: 10,
        electionTimeoutMs: 100,
        maxRequestBytes: MAX_REQUEST_BYTES,
        maxTxnOps: 128,
        snapshotCount: 10_000,
        log: () => {},
      },
      (err) => {
        throw err;
      },
    );
    await until(() => server.isReady, 10_000);
    const gw = new GrpcWeb(etcdHandlers(server), { maxRecvBytes: MAX_REQUEST_BYTES + OVERHEAD, cors: ["*"], log: () => {} });
    // The mounting main.ts uses: gRPC-web first, everything else to the Hono app.
    h1 = http.createServer(getRequestListener((req) => gw.handle(req) ?? new Response("404 page not found\n", { status: 404 })));
    await new Promise<void>((r) => h1.listen(0, "127.0.0.1", () => r()));
    base = `http://127.0.0.1:${(h1.address() as net.AddressInfo).port}`;
  });

  afterAll(async () => {
    h1?.closeAllConnections?.();
    h1?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function rpc<T>(path: string, codec: Codec, msg: unknown, text = false, signal?: AbortSignal) {
    const res = await fetch(base + path, {
      method: "POST",
      headers: { "content-type": text ? "application/grpc-web-text" : "application/grpc-web+proto", "x-grpc-web": "1" },
      body: requestBody(codec, msg, text),
      signal,
    });
    const { messages, trailers } = parseFrames(await bodyBytes(res, text));
    const out = responseCodec(path);
    return { res, messages: messages.map((m) => out.decode(m) as T), trailers };
  }

  test("Put (-text) then Range (+proto)", async () => {
    const put = await rpc<etcdserverpb.PutResponse>("/etcdserverpb.KV/Put", etcdserverpb.PutRequest, { key: Buffer.from("foo"), value: Buffer.from("bar") }, true);
    expect(put.trailers).toEqual({ "grpc-status": "0" });
    expect(put.messages[0].header!.revision).toBeGreaterThan(1n);
    const get = await rpc<etcdserverpb.RangeResponse>("/etcdserverpb.KV/Range", Range, { key: Buffer.from("foo") });
    expect(get.res.headers.get("access-control-allow-origin")).toBe("*");
    expect(get.trailers).toEqual({ "grpc-status": "0" });
    expect(Buffer.from(get.messages[0].kvs[0].value!).toString()).toBe("bar");
  });

  test("empty key: INVALID_ARGUMENT 'etcdserver: key is not provided'", async () => {
    const r = await rpc("/etcdserverpb.KV/Put", etcdserverpb.PutRequest, { key: Buffer.alloc(0), value: Buffer.from("x") });
    expect(r.res.status).toBe(200);
    expect(r.messages).toEqual([]);
    expect(r.trailers).toEqual({ "grpc-status": "3", "grpc-message": "etcdserver: key is not provided" });
  });

  test("a request over --max-request-bytes + 512 KiB: RESOURCE_EXHAUSTED; over --max-request-bytes only: etcd's 'request is too large'", async () => {
    // Refused from the frame's length prefix alone. Only the prefix and a few bytes are sent: with the
    // whole oversized body in flight, the server's answer and close can race the upload (ECONNRESET).
    const declared = MAX_REQUEST_BYTES + OVERHEAD + 16;
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(declared, 1);
    const res = await fetch(base + "/etcdserverpb.KV/Put", {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: Buffer.concat([prefix, Buffer.alloc(64, 1)]),
    });
    const huge = parseFrames(await bodyBytes(res, false));
    expect(huge.trailers?.["grpc-status"]).toBe("8");
    expect(huge.trailers?.["grpc-message"]).toMatch(/^grpc: received message larger than max \(\d+ vs\. 528384\)$/);
    const big = await rpc("/etcdserverpb.KV/Put", etcdserverpb.PutRequest, { key: Buffer.from("k"), value: Buffer.alloc(MAX_REQUEST_BYTES + 1, 1) });
    expect(big.trailers).toEqual({ "grpc-status": "3", "grpc-message": "etcdserver: request is too large" });
  });

  test("Watch from one create request sees a later put; the stream stays open until the client goes away", async () => {
    const abort = new AbortController();
    const res = await fetch(base + "/etcdserverpb.Watch/Watch", {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text", "x-grpc-web": "1" },
      body: requestBody(etcdserverpb.WatchRequest, { createRequest: { key: Buffer.from("w/"), rangeEnd: Buffer.from("w0") } }, true),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    const got: etcdserverpb.WatchResponse[] = [];
    const readUntil = async (n: number) => {
      while (got.length < n) {
        const { done, value } = await reader.read();
        if (done) throw new Error("watch stream ended");
        text += Buffer.from(value).toString("latin1");
        const whole = text.length - (text.length % 4);
        const { messages, trailers, rest } = parseFrames(fromBase64Pieces(text.slice(0, whole)));
        expect(trailers).toBeNull();
        if (rest === 0) {
          got.push(...messages.map((m) => etcdserverpb.WatchResponse.decode(m)));
          text = text.slice(whole);
        }
      }
    };
    await readUntil(1);
    expect(got[0].created).toBe(true);
    const put = await rpc("/etcdserverpb.KV/Put", etcdserverpb.PutRequest, { key: Buffer.from("w/1"), value: Buffer.from("v1") });
    expect(put.trailers?.["grpc-status"]).toBe("0");
    await readUntil(2);
    expect(got[1].events.map((e) => [e.type ?? 0, Buffer.from(e.kv!.key!).toString(), Buffer.from(e.kv!.value!).toString()])).toEqual([[0, "w/1", "v1"]]);
    expect(got[1].watchId).toBe(got[0].watchId);
    const watchers = () => server.watchHub.stats.synced + server.watchHub.stats.unsynced;
    expect(watchers()).toBe(1);
    abort.abort();
    await reader.cancel().catch(() => {});
    // the client going away ends the server side too: the watcher is gone from the hub
    await until(() => watchers() === 0);
    // the server keeps serving after the client left
    const again = await rpc("/etcdserverpb.KV/Put", etcdserverpb.PutRequest, { key: Buffer.from("w/2"), value: Buffer.from("v2") });
    expect(again.trailers?.["grpc-status"]).toBe("0");
  });

  test("Snapshot streams the database in chunks, then the OK trailer", async () => {
    const r = await rpc<etcdserverpb.SnapshotResponse>("/etcdserverpb.Maintenance/Snapshot", etcdserverpb.SnapshotRequest, {});
    expect(r.trailers).toEqual({ "grpc-status": "0" });
    expect(r.messages.length).toBeGreaterThan(1);
    // etcd's format: a bbolt file (its meta page's magic after the 16-byte page header), then the hash.
    expect(Buffer.from(r.messages[0].blob).readUInt32LE(16)).toBe(0xed0cdaed);
    expect(r.messages.at(-1)!.remainingBytes).toBe(0n);
    expect(r.messages.at(-1)!.blob.length).toBe(32); // the sha256 etcd appends
  });

  test("LeaseGrant, then LeaseKeepAlive with one request answers once and ends", async () => {
    const grant = await rpc<etcdserverpb.LeaseGrantResponse>("/etcdserverpb.Lease/LeaseGrant", etcdserverpb.LeaseGrantRequest, { TTL: 30n });
    expect(grant.trailers?.["grpc-status"]).toBe("0");
    const id = grant.messages[0].ID;
    const ka = await rpc<etcdserverpb.LeaseKeepAliveResponse>("/etcdserverpb.Lease/LeaseKeepAlive", etcdserverpb.LeaseKeepAliveRequest, { ID: id });
    expect(ka.messages.map((m) => [m.ID, m.TTL])).toEqual([[id, 30n]]);
    expect(ka.trailers).toEqual({ "grpc-status": "0" });
  });

  test("preflight over the socket", async () => {
    const res = await fetch(base + "/etcdserverpb.KV/Range", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,x-grpc-web" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-headers")).toContain("x-grpc-web");
  });
});
