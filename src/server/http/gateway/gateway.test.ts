import { describe, expect, test } from "bun:test";
import { EtcdError, Errors, GrpcCode } from "../../../pkg/errors.ts";
import { createHttpApp } from "../app.ts";
import type { GatewayCall, GatewayHandler, HandlerTable } from "./handlers.ts";

const versions = () => ({ etcdserver: "3.5.0", etcdcluster: "3.5.0", "etcd-ts": "0.1.0" });
const header = { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n };
const HEADER = '{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"}';

function appWith(handlers: Record<string, GatewayHandler>, extra: { cors?: string[]; maxRecvBytes?: number } = {}) {
  return createHttpApp({ hasLeader: () => true, alarms: () => [], versions, handlers: handlers as HandlerTable, ...extra });
}
const post = (app: ReturnType<typeof appWith>, path: string, body: string, init: RequestInit = {}) =>
  app.request(path, { method: "POST", body, ...init });

/** A bidi handler fed by a test: it records requests and sends what the test pushes. */
function scriptedBidi() {
  const seen: any[] = [];
  let sendFn: ((m: unknown) => Promise<void>) | null = null;
  let call: GatewayCall | null = null;
  let finish: ((err?: unknown) => void) | null = null;
  const ready = Promise.withResolvers<void>();
  const handler: GatewayHandler = {
    kind: "bidi",
    async handle(reqs, c, send) {
      sendFn = send;
      call = c;
      const done = new Promise<void>((res, rej) => (finish = (err) => (err ? rej(err) : res())));
      ready.resolve();
      void (async () => {
        for await (const r of reqs) seen.push(r);
      })();
      await done;
    },
  };
  return {
    handler,
    seen,
    ready: ready.promise,
    send: (m: unknown) => sendFn!(m),
    end: (err?: unknown) => finish!(err),
    get call() {
      return call!;
    },
  };
}

async function readLines(res: Response, n: number): Promise<string[]> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  while (text.split("\n").length - 1 < n) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value);
  }
  reader.releaseLock();
  return text.split("\n").slice(0, n);
}

describe("unary calls", () => {
  test("decode the body, call the handler with a decoded message, answer in etcd's JSON", async () => {
    let got: any;
    const app = appWith({
      "/etcdserverpb.KV/Range": {
        kind: "unary",
        handle: (r) => {
          got = r;
          return { header, kvs: [{ key: Buffer.from("a"), value: Buffer.from("1"), modRevision: 3n }], count: 1n };
        },
      },
    });
    const res = await post(app, "/v3/kv/range", '{"key":"YQ==","limit":"2"}');
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("grpc-metadata-content-type")).toBe("application/grpc");
    expect(await res.text()).toBe(`{"header":${HEADER},"kvs":[{"key":"YQ==","mod_revision":"3","value":"MQ=="}],"count":"1"}`);
    // The handler sees what the gRPC side would: a decoded message with protobufjs defaults.
    expect(got.key).toEqual(new Uint8Array([0x61]));
    expect(got.limit).toBe(2n);
    expect(got.revision).toBe(0n);
    expect(got.rangeEnd).toEqual(new Uint8Array(0));
  });

  test("an empty body is an empty request; /v3beta/ is /v3/", async () => {
    let got: any;
    const app = appWith({ "/etcdserverpb.Cluster/MemberList": { kind: "unary", handle: (r) => ((got = r), { header }) } });
    const res = await post(app, "/v3beta/cluster/member/list", "");
    expect(await res.text()).toBe(`{"header":${HEADER}}`);
    expect(got).toBeDefined();
  });

  test("handler errors become {error, message, code} with the HTTP status of the gRPC code", async () => {
    const app = appWith({
      "/etcdserverpb.KV/Range": { kind: "unary", handle: () => Promise.reject(Errors.compacted) },
      "/etcdserverpb.Lease/LeaseRevoke": { kind: "unary", handle: () => Promise.reject(Errors.leaseNotFound) },
    });
    const res = await post(app, "/v3/kv/range", '{"key":"YQ=="}');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: Errors.compacted.message, message: Errors.compacted.message, code: 11 });
    const lease = await post(app, "/v3/kv/lease/revoke", '{"ID":1}');
    expect(lease.status).toBe(404);
  });

  test("a body that does not decode is InvalidArgument (400) with the decoder's message", async () => {
    const app = appWith({ "/etcdserverpb.KV/Range": { kind: "unary", handle: () => ({}) } });
    const res = await post(app, "/v3/kv/range", '{"key":"!!"}');
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('{"error":"illegal base64 data at input byte 0","message":"illegal base64 data at input byte 0","code":3}');
  });

  test("a request larger than the gRPC limit is refused as the gRPC server would", async () => {
    const app = appWith({ "/etcdserverpb.KV/Put": { kind: "unary", handle: () => ({ header }) } }, { maxRecvBytes: 100 });
    const res = await post(app, "/v3/kv/put", JSON.stringify({ key: "YQ==", value: Buffer.alloc(150).toString("base64") }));
    expect(res.status).toBe(429);
    expect(((await res.json()) as any).message).toBe("grpc: received message larger than max (156 vs. 100)");
  });

  test("a method missing from the table answers Unimplemented like the gRPC server", async () => {
    const app = appWith({ "/etcdserverpb.KV/Range": { kind: "unary", handle: () => ({}) } });
    const res = await post(app, "/v3/auth/enable", "{}");
    expect(res.status).toBe(501);
    expect(((await res.json()) as any).message).toBe("unknown service etcdserverpb.Auth");
    const kv = await post(app, "/v3/kv/put", "{}");
    expect(((await kv.json()) as any).message).toBe("unknown method Put for service etcdserverpb.KV");
  });
});

describe("routing as grpc-gateway", () => {
  const app = appWith({ "/etcdserverpb.KV/Range": { kind: "unary", handle: () => ({}) } });

  test("other methods on a gateway path are 405, unknown /v3/ paths 404, text as Go writes it", async () => {
    const get = await app.request("/v3/kv/range");
    expect(get.status).toBe(405);
    expect(await get.text()).toBe("Method Not Allowed\n");
    expect(get.headers.get("x-content-type-options")).toBe("nosniff");
    const unknown = await post(app, "/v3/kv/nope", "{}");
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe("Not Found\n");
    const slash = await post(app, "/v3/kv/range/", "{}");
    expect(slash.status).toBe(404);
    expect(await (await app.request("/v3alpha/kv/range", { method: "POST" })).text()).toBe("404 page not found\n");
  });

  test("CORS: every origin by default, OPTIONS answered 200", async () => {
    const res = await app.request("/v3/kv/range", { method: "OPTIONS" });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toBe("POST, GET, OPTIONS, PUT, DELETE");
    expect((await app.request("/health")).headers.get("access-control-allow-headers")).toBe("accept, content-type, authorization");
  });

  test("CORS with --cors: only the listed origins", async () => {
    const limited = appWith({}, { cors: ["http://a.example"] });
    expect((await limited.request("/version", { headers: { origin: "http://a.example" } })).headers.get("access-control-allow-origin")).toBe("http://a.example");
    expect((await limited.request("/version", { headers: { origin: "http://b.example" } })).headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("streams", () => {
  test("server streams: one {result} line per message", async () => {
    const app = appWith({
      "/etcdserverpb.Maintenance/Snapshot": {
        kind: "serverStream",
        async handle(_req, _call, send) {
          await send({ remainingBytes: 1n, blob: Buffer.from("ab") });
          await send({ blob: Buffer.from("c") });
        },
      },
    });
    const res = await post(app, "/v3/maintenance/snapshot", "");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('{"result":{"remaining_bytes":"1","blob":"YWI="}}\n{"result":{"blob":"Yw=="}}\n');
  });

  test("bidi: every JSON value of the body is a request; answers stream as they come", async () => {
    const w = scriptedBidi();
    const app = appWith({ "/etcdserverpb.Watch/Watch": w.handler });
    const resP = post(app, "/v3/watch", '{"create_request":{"key":"YQ=="}} {"cancel_request":{"watch_id":"0"}}');
    await w.ready;
    await w.send({ header, created: true });
    const res = await resP;
    expect(res.status).toBe(200);
    expect(res.headers.get("grpc-metadata-content-type")).toBe("application/grpc");
    await w.send({ header, events: [{ type: 1, kv: { key: Buffer.from("a"), modRevision: 3n } }] });
    expect(await readLines(res, 2)).toEqual([
      `{"result":{"header":${HEADER},"created":true}}`,
      `{"result":{"header":${HEADER},"events":[{"type":"DELETE","kv":{"key":"YQ==","mod_revision":"3"}}]}}`,
    ]);
    expect(w.seen.map((r) => [r.createRequest?.key, r.cancelRequest?.watchId])).toEqual([
      [new Uint8Array([0x61]), undefined],
      [undefined, 0n],
    ]);
    w.end();
  });

  test("the status goes out with the first message: a stream that fails first answers with the error's status", async () => {
    const w = scriptedBidi();
    const app = appWith({ "/etcdserverpb.Lease/LeaseKeepAlive": w.handler });
    const resP = post(app, "/v3/lease/keepalive", '{"ID":1}');
    await w.ready;
    w.end(Errors.leaseNotFound);
    const res = await resP;
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('{"error":{"grpc_code":5,"http_code":404,"message":"etcdserver: requested lease not found","http_status":"Not Found"}}');
  });

  test("an error after messages ends the stream with an {error} object", async () => {
    const w = scriptedBidi();
    const app = appWith({ "/etcdserverpb.Watch/Watch": w.handler });
    const resP = post(app, "/v3/watch", '{"create_request":{"key":"YQ=="}}');
    await w.ready;
    await w.send({ header, created: true });
    w.end(new EtcdError(GrpcCode.Unavailable, "etcdserver: no leader"));
    const res = await resP;
    expect(await res.text()).toBe(
      `{"result":{"header":${HEADER},"created":true}}\n{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}`,
    );
  });

  test("a first request that does not decode fails the call with code Unknown (500); a later one ends the requests", async () => {
    const app = appWith({ "/etcdserverpb.Watch/Watch": scriptedBidi().handler });
    const res = await post(app, "/v3/watch", "garbage");
    expect(res.status).toBe(500);
    expect(await res.text()).toBe(
      '{"error":"invalid character \'g\' looking for beginning of value","message":"invalid character \'g\' looking for beginning of value","code":2}',
    );

    const w = scriptedBidi();
    const app2 = appWith({ "/etcdserverpb.Watch/Watch": w.handler });
    const resP = post(app2, "/v3/watch", '{"progress_request":{}} garbage {"progress_request":{}}');
    await w.ready;
    await w.send({ header });
    await resP;
    await Bun.sleep(10);
    expect(w.seen.length).toBe(1);
    w.end();
  });

  test("a keep-alive with an empty body ends at once with 200 and no messages", async () => {
    const app = appWith({
      "/etcdserverpb.Lease/LeaseKeepAlive": {
        kind: "bidi",
        async handle(reqs, _call, send) {
          for await (const r of reqs) await send({ header, ID: r.ID, TTL: 5n });
        },
      },
    });
    const empty = await post(app, "/v3/lease/keepalive", "");
    expect(empty.status).toBe(200);
    expect(await empty.text()).toBe("");
    const two = await post(app, "/v3/lease/keepalive", '{"ID":7}{"ID":"8"}');
    expect(await two.text()).toBe(`{"result":{"header":${HEADER},"ID":"7","TTL":"5"}}\n{"result":{"header":${HEADER},"ID":"8","TTL":"5"}}\n`);
  });

  test("a client that goes away cancels the call", async () => {
    const w = scriptedBidi();
    const app = appWith({ "/etcdserverpb.Watch/Watch": w.handler });
    const resP = post(app, "/v3/watch", '{"create_request":{"key":"YQ=="}}');
    await w.ready;
    await w.send({ header, created: true });
    const res = await resP;
    await res.body!.cancel();
    expect(w.call.signal.aborted).toBe(true);
    await expect(w.send({ header })).rejects.toThrow("context canceled");
    w.end();
  });
});

describe("counting calls under their gRPC method (the counters the table's entries carry)", () => {
  /** A recording CallCounter: started count and handled codes. */
  function counter() {
    const c = { starts: 0, codes: [] as number[], started: { inc: () => void c.starts++ }, handled: (code: number) => void c.codes.push(code) };
    return c;
  }

  test("a unary call counts once started and once handled, with its status code", async () => {
    const range = counter();
    let fail = false;
    const app = appWith({
      "/etcdserverpb.KV/Range": { kind: "unary", handle: () => (fail ? Promise.reject(Errors.compacted) : { header }), metrics: range },
    });
    expect((await post(app, "/v3/kv/range", '{"key":"YQ=="}')).status).toBe(200);
    fail = true;
    expect((await post(app, "/v3/kv/range", '{"key":"YQ=="}')).status).toBe(400);
    expect(range.starts).toBe(2);
    expect(range.codes).toEqual([GrpcCode.OK, GrpcCode.OutOfRange]);
  });

  test("a request that does not decode never reaches the method and is not counted (as etcd's gateway)", async () => {
    const range = counter();
    const app = appWith({ "/etcdserverpb.KV/Range": { kind: "unary", handle: () => ({}), metrics: range } });
    expect((await post(app, "/v3/kv/range", '{"key":"!!"}')).status).toBe(400);
    expect(range.starts).toBe(0);
    expect(range.codes).toEqual([]);
  });

  test("a stream counts when its handler ends: OK, its error's code, or Canceled if the client went away", async () => {
    const snap = counter();
    let fail = false;
    const app = appWith({
      "/etcdserverpb.Maintenance/Snapshot": {
        kind: "serverStream",
        async handle(_req, _call, send) {
          await send({ blob: Buffer.from("a") });
          if (fail) throw Errors.compacted;
        },
        metrics: snap,
      },
    });
    await (await post(app, "/v3/maintenance/snapshot", "")).text();
    fail = true;
    await (await post(app, "/v3/maintenance/snapshot", "")).text();
    expect(snap.starts).toBe(2);
    expect(snap.codes).toEqual([GrpcCode.OK, GrpcCode.OutOfRange]);

    const watch = counter();
    const w = scriptedBidi();
    const watchApp = appWith({ "/etcdserverpb.Watch/Watch": { ...w.handler, metrics: watch } });
    const resP = post(watchApp, "/v3/watch", '{"create_request":{"key":"YQ=="}}');
    await w.ready;
    await w.send({ header, created: true });
    await (await resP).body!.cancel();
    expect(watch.starts).toBe(1);
    expect(watch.codes).toEqual([]);
    w.end();
    await Bun.sleep(0);
    expect(watch.codes).toEqual([GrpcCode.Canceled]);
  });
});
