// Tokens: when the client authenticates, what it sends, and how it gets a new token. The transport
// part runs against a small local h2c server that plays etcd's Authenticate, Range and Watch.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Errors } from "../pkg/errors.ts";
import { etcdserverpb } from "../proto/etcd.js";
import { needsNewToken, TokenKeeper } from "./auth.ts";
import { Client } from "./client.ts";

describe("TokenKeeper", () => {
  const keeper = (answers: (string | Error)[], password: string | (() => Promise<string>) = "pw", onFailure?: (e: Error) => unknown) => {
    const calls: string[] = [];
    const k = new TokenKeeper({ username: "root", password, onFailure }, async (name, pw) => {
      calls.push(`${name}:${pw}`);
      const a = answers.shift();
      if (a === undefined) throw new Error("no more answers");
      if (a instanceof Error) throw a;
      return a;
    });
    return { k, calls };
  };

  test("authenticates once and shares the token, also between concurrent callers", async () => {
    const { k, calls } = keeper(["t1"]);
    expect(await Promise.all([k.token(undefined), k.token(undefined)])).toEqual(["t1", "t1"]);
    expect(await k.token(undefined)).toBe("t1");
    expect(calls).toEqual(["root:pw"]);
  });

  test("fresh asks again; invalidate drops only the token it names", async () => {
    const { k, calls } = keeper(["t1", "t2", "t3"]);
    await k.token(undefined);
    expect(await k.token(undefined, true)).toBe("t2");
    k.invalidate("t1"); // stale: t2 stays
    expect(await k.token(undefined)).toBe("t2");
    k.invalidate("t2");
    expect(await k.token(undefined)).toBe("t3");
    expect(calls.length).toBe(3);
  });

  test("auth not enabled on the server: no token, no error", async () => {
    const { k } = keeper([Errors.authNotEnabled]);
    expect(await k.token(undefined)).toBe("");
  });

  test("a failure is thrown (mapped by onFailure) and not kept: the next call tries again", async () => {
    const { k, calls } = keeper([Errors.authFailed, "t1"], "pw", (e) => new Error(`mapped: ${e.message}`));
    await expect(k.token(undefined)).rejects.toThrow("mapped: etcdserver: authentication failed, invalid user ID or password");
    expect(await k.token(undefined)).toBe("t1");
    expect(calls.length).toBe(2);
  });

  test("a password function is asked once; an empty password means no authentication", async () => {
    let asked = 0;
    const { k, calls } = keeper(["t1", "t2"], async () => (asked++, "secret"));
    await k.token(undefined);
    await k.token(undefined, true);
    expect([asked, calls]).toEqual([1, ["root:secret", "root:secret"]]);
    const empty = keeper([], async () => "");
    expect(await empty.k.token(undefined)).toBe("");
    expect(empty.calls).toEqual([]);
  });

  test("the errors after which clientv3 gets a new token", () => {
    expect([Errors.invalidAuthToken, Errors.authOldRevision, Errors.userEmpty].every(needsNewToken)).toBe(true);
    expect([Errors.permissionDenied, Errors.authFailed, new Error("x")].some(needsNewToken)).toBe(false);
  });
});

describe("a client with credentials, against a fake server", () => {
  let server: http2.Http2Server;
  let endpoint = "";
  /** Tokens the server accepts; Authenticate adds one (tN). */
  const valid = new Set<string>();
  let issued = 0;
  const seen: { path: string; token: string | undefined }[] = [];

  const reply = (stream: http2.ServerHttp2Stream, body: Uint8Array | null, status = 0, message = "") => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": String(status), ...(message ? { "grpc-message": encodeURIComponent(message) } : {}) }));
    if (body) {
      const f = Buffer.alloc(5 + body.length);
      f.writeUInt32BE(body.length, 1);
      f.set(body, 5);
      stream.end(f);
    } else stream.end();
  };

  beforeAll(async () => {
    server = http2.createServer();
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      const path = String(headers[":path"]);
      const token = headers.token as string | undefined;
      seen.push({ path, token });
      stream.on("error", () => {});
      stream.on("data", () => {});
      if (path === "/etcdserverpb.Auth/Authenticate") {
        const t = `t${++issued}`;
        valid.add(t);
        return reply(stream, etcdserverpb.AuthenticateResponse.encode({ token: t }).finish());
      }
      if (!token) return reply(stream, null, Errors.userEmpty.code, Errors.userEmpty.message);
      if (!valid.has(token)) return reply(stream, null, Errors.invalidAuthToken.code, Errors.invalidAuthToken.message);
      if (path === "/etcdserverpb.KV/Range") return reply(stream, etcdserverpb.RangeResponse.encode({ count: 7n }).finish());
      reply(stream, null, 12, "unimplemented");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  test("authenticates on first use and sends the token with every call", async () => {
    seen.length = 0;
    const c = new Client({ endpoints: [endpoint], username: "root", password: "pw", keepAliveTimeMs: 0 });
    try {
      expect((await c.get("k")).count).toBe(7n);
      expect((await c.get("k")).count).toBe(7n);
      expect(seen.map((s) => s.path)).toEqual(["/etcdserverpb.Auth/Authenticate", "/etcdserverpb.KV/Range", "/etcdserverpb.KV/Range"]);
      expect(seen[0].token).toBeUndefined();
      expect(seen[1].token).toBe(seen[2].token!);
      expect(valid.has(seen[1].token!)).toBe(true);
    } finally {
      c.close();
    }
  });

  test("a token the server forgot: authenticates again once and repeats the call", async () => {
    const c = new Client({ endpoints: [endpoint], username: "root", password: "pw", keepAliveTimeMs: 0 });
    try {
      await c.get("k");
      valid.clear(); // as a restarted member with simple tokens
      seen.length = 0;
      expect((await c.get("k")).count).toBe(7n);
      expect(seen.map((s) => s.path)).toEqual(["/etcdserverpb.KV/Range", "/etcdserverpb.Auth/Authenticate", "/etcdserverpb.KV/Range"]);
      expect(seen[0].token).not.toBe(seen[2].token);
    } finally {
      c.close();
    }
  });

  test("a stream authenticates before it opens and carries the token", async () => {
    const c = new Client({ endpoints: [endpoint], username: "root", password: "pw", keepAliveTimeMs: 0 });
    try {
      await c.get("k");
      seen.length = 0;
      const it = c.serverStream(
        { path: "/etcdserverpb.KV/Range", request: etcdserverpb.RangeRequest, response: etcdserverpb.RangeResponse, repeatable: true },
        { key: Buffer.from("k") },
      );
      for await (const r of it) expect(r.count).toBe(7n);
      expect(seen.map((s) => s.path)).toEqual(["/etcdserverpb.Auth/Authenticate", "/etcdserverpb.KV/Range"]);
      expect(valid.has(seen[1].token!)).toBe(true);
    } finally {
      c.close();
    }
  });

  test("without credentials nothing is sent, and nothing is retried", async () => {
    const c = new Client({ endpoints: [endpoint], keepAliveTimeMs: 0 });
    try {
      seen.length = 0;
      await expect(c.get("k")).rejects.toBe(Errors.userEmpty);
      expect(seen).toEqual([{ path: "/etcdserverpb.KV/Range", token: undefined }]);
    } finally {
      c.close();
    }
  });
});
