// The transport against a small local h2c gRPC server: clientv3's dial-timeout 0 ("no limit"), an
// expired deadline, and the warning clientv3's retry interceptor logs for each failed attempt.
import { afterAll, beforeAll, expect, test } from "bun:test";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { Errors, GrpcCode } from "../pkg/errors.ts";
import type { Logger } from "../pkg/logger.ts";
import { etcdserverpb } from "../proto/etcd.js";
import { effectiveKeepAlive } from "./grpc/channel.ts";
import { encodeFrame } from "./grpc/framing.ts";
import { rpc } from "./rpc.ts";
import { goStatusText, Transport } from "./transport.ts";

let server: http2.Http2Server;
let endpoint = "";

beforeAll(async () => {
  server = http2.createServer();
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    stream.on("error", () => {});
    stream.resume();
    if (headers[":path"] === rpc.range.path) {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(encodeFrame(etcdserverpb.RangeResponse, etcdserverpb.RangeResponse.create({ header: { revision: 7n } })));
    } else {
      const e = Errors.leaseNotFound;
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(e.code), "grpc-message": e.message }, { endStream: true });
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

function recorder(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: (level, msg, fields) => void lines.push({ level, msg, ...fields }), lines };
}

/** A loopback port that refuses connections (bound, then closed). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test("dial timeout 0 means no limit of its own (etcdctl --dial-timeout=0s), not an expired one", async () => {
  const t = new Transport([endpoint], 0);
  try {
    const res = await t.unary(rpc.range, { key: Buffer.from("a") }, {});
    expect(res.header?.revision).toBe(7n);
    // Streams dial the same way, with no deadline at all.
    const closed = new Promise<unknown>((resolve) => {
      void t.stream(rpc.range, { onMessage: () => {}, onClose: resolve }).then((s) => {
        s.send({ key: Buffer.from("a") });
        s.end();
      });
    });
    expect(await closed).toBeNull();
  } finally {
    t.close();
  }
});

test("a deadline already past fails the call with DeadlineExceeded, logged as one failed attempt", async () => {
  const { log, lines } = recorder();
  const t = new Transport([endpoint], 2000, null, null, null, log);
  try {
    const err = await t.unary(rpc.range, { key: Buffer.from("a") }, { deadline: Date.now() }).catch((e) => e);
    expect(err.code).toBe(GrpcCode.DeadlineExceeded);
    expect(lines).toEqual([
      expect.objectContaining({ level: "warn", msg: "retrying of unary invoker failed", attempt: 0, error: "rpc error: code = DeadlineExceeded desc = context deadline exceeded" }),
    ]);
  } finally {
    t.close();
  }
});

test("each failed attempt is logged with grpc-go's status text and clientv3's target", async () => {
  const { log, lines } = recorder();
  const t = new Transport([`http://${endpoint}`], 2000, null, null, null, log);
  try {
    const err = await t.unary(rpc.leaseRevoke, { ID: 1n }, { deadline: Date.now() + 5000 }).catch((e) => e);
    expect(err).toBe(Errors.leaseNotFound);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ attempt: 0, error: "rpc error: code = NotFound desc = etcdserver: requested lease not found" });
    expect(String(lines[0].target)).toMatch(new RegExp(`^endpoint://client-[0-9a-f-]{36}/${endpoint.replace(/\./g, "\\.")}$`));
  } finally {
    t.close();
  }
});

test("waiting for a connection is part of one attempt: a refused endpoint logs once, when the deadline ends it", async () => {
  const { log, lines } = recorder();
  const t = new Transport([`127.0.0.1:${await deadPort()}`], 2000, null, null, null, log);
  try {
    const err = await t.unary(rpc.range, { key: Buffer.from("a") }, { deadline: Date.now() + 300 }).catch((e) => e);
    expect(err.code).toBe(GrpcCode.Unavailable);
    expect(lines).toHaveLength(1);
    expect(String(lines[0].error)).toStartWith("rpc error: code = DeadlineExceeded desc = latest balancer error: ");
  } finally {
    t.close();
  }
});

test("no logger, no log: library users (the proxy) stay quiet", async () => {
  const t = new Transport([endpoint], 2000);
  try {
    await expect(t.unary(rpc.leaseRevoke, { ID: 1n }, {})).rejects.toBe(Errors.leaseNotFound);
  } finally {
    t.close();
  }
});

test("keepalive: time 0 turns pings off; timeout 0 is grpc-go's default (20 s), not an instant failure of every ping", () => {
  expect(effectiveKeepAlive({ timeMs: 0, timeoutMs: 6000 })).toBeNull();
  expect(effectiveKeepAlive({ timeMs: 2000, timeoutMs: 0 })).toEqual({ timeMs: 2000, timeoutMs: 20_000 });
  expect(effectiveKeepAlive({ timeMs: 2000, timeoutMs: 6000 })).toEqual({ timeMs: 2000, timeoutMs: 6000 });
});

test("goStatusText names the code as grpc-go does", () => {
  expect(goStatusText(Errors.authNotEnabled)).toBe("rpc error: code = FailedPrecondition desc = etcdserver: authentication is not enabled");
});
