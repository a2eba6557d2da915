// The command context: --command-timeout as etcdctl's context, clientv3's log lines, TLS settings.
import { describe, expect, test } from "bun:test";
import { Ctx, tlsOptions } from "./context.ts";
import { CliError } from "./errors.ts";
import { defaultOf } from "./flags.ts";
import { GLOBAL_FLAGS, globalsFrom } from "./global.ts";
import { fakeIo } from "./test-io.ts";

function ctxWith(values: Record<string, unknown> = {}) {
  const v: Record<string, any> = {};
  for (const s of GLOBAL_FLAGS) v[s.name] = defaultOf(s);
  Object.assign(v, values);
  const f = fakeIo();
  return { ctx: new Ctx(globalsFrom(v), f.io), err: f.err };
}

describe("--command-timeout", () => {
  test("is a deadline from now for each request", () => {
    const { ctx } = ctxWith({ "command-timeout": 5000 });
    const before = Date.now();
    const { deadlineMs } = ctx.requestOpts();
    expect(deadlineMs).toBeGreaterThanOrEqual(before + 5000);
    expect(deadlineMs).toBeLessThanOrEqual(Date.now() + 5000);
  });

  test("0 is a deadline already reached (Go's context.WithTimeout(0)), not 'no deadline'", () => {
    const { ctx } = ctxWith({ "command-timeout": 0 });
    expect(ctx.requestOpts().deadlineMs).toBeLessThanOrEqual(Date.now());
  });
});

test("the client's log: zap JSON lines on stderr, warnings and up", () => {
  const { ctx, err } = ctxWith();
  const log = ctx.clientLog();
  log("info", "not shown");
  log("warn", "retrying of unary invoker failed", { attempt: 0, error: "rpc error: code = NotFound desc = x" });
  const lines = err().trim().split("\n").map((l) => JSON.parse(l));
  expect(lines).toEqual([expect.objectContaining({ level: "warn", msg: "retrying of unary invoker failed", attempt: 0, error: "rpc error: code = NotFound desc = x" })]);
  expect(typeof lines[0].ts).toBe("string");
  expect(ctx.clientLog()).toBe(log);
});

describe("tlsOptions (etcdctl's secureCfg)", () => {
  const plain = { cert: "", key: "", cacert: "", insecureTransport: true, insecureSkipVerify: false };
  test("nothing set: cleartext; --insecure-transport=false alone: TLS with the system's CAs", () => {
    expect(tlsOptions(plain, ["a:1"])).toBeNull();
    expect(tlsOptions({ ...plain, insecureTransport: false }, ["a:1"])).toEqual({ ca: undefined, cert: undefined, key: undefined, insecureSkipVerify: false });
  });

  test("a certificate without its key is refused naming the flags given", () => {
    const names = { cert: "--dest-cert", key: "--dest-key", cacert: "--dest-cacert" };
    expect(() => tlsOptions({ ...plain, cert: "c.pem" }, ["a:1"], names)).toThrow(new CliError(128, "--dest-cert needs --dest-key (the client certificate's private key)"));
    expect(() => tlsOptions({ ...plain, cacert: "/nonexistent/ca.pem" }, ["a:1"], names)).toThrow("--dest-cacert: cannot read /nonexistent/ca.pem: no such file");
  });
});
