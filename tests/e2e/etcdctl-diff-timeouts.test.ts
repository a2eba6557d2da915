// Zero durations and clientv3's retry warning, through the real etcdctl 3.4 and ours against one
// dist/etcd member: --dial-timeout=0s and --keepalive-*=0s are "none"/"default" (not "at once"),
// --command-timeout=0s is a deadline already reached, and a failed request attempt is logged as
// clientv3's "retrying of unary invoker failed" zap line on stderr.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type CtlRun, errorLines, ourCtl, realCtl } from "./ctl-diff.ts";
import { cleanup, haveEtcdctl, type Member, requireTool, startMember } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

function seen(r: CtlRun) {
  return { status: r.status, stdout: r.stdout, errors: errorLines(r.stderr) };
}

/** The zap lines of stderr, parsed. */
function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith('{"level":'))
    .map((l) => JSON.parse(l));
}

describe.if(run)("etcdctl zero timeouts and retry warnings: ours against the real etcdctl", () => {
  let m: Member;
  const both = (args: string[]) => ({ real: realCtl(m, args), ours: ourCtl(m, args) });

  beforeAll(async () => {
    m = await startMember();
  }, 20_000);
  afterAll(async () => {
    await m?.stop();
    if (m) cleanup(m);
  }, 20_000);

  test("--dial-timeout=0s and --keepalive-*=0s: commands work as with the defaults", () => {
    for (const flag of ["--dial-timeout=0s", "--keepalive-time=0s", "--keepalive-timeout=0s"]) {
      for (const args of [["put", "zt", "v"], ["get", "zt"]]) {
        const r = both([flag, ...args]);
        expect(seen(r.ours)).toEqual(seen(r.real));
        expect(r.ours.status).toBe(0);
      }
      // Each deletes the key the other would: put it back in between.
      const real = seen(realCtl(m, [flag, "del", "zt"]));
      expect(ourCtl(m, ["put", "zt", "v"]).status).toBe(0);
      expect(seen(ourCtl(m, [flag, "del", "zt"]))).toEqual(real);
      expect(real).toEqual({ status: 0, stdout: "1\n", errors: "" });
    }
  });

  test("--command-timeout=0s: the request's deadline has passed before it starts", () => {
    const r = both(["--command-timeout=0s", "get", "zt"]);
    expect(seen(r.ours)).toEqual(seen(r.real));
    expect(seen(r.ours)).toEqual({ status: 1, stdout: "", errors: "Error: context deadline exceeded" });
    for (const x of [r.real, r.ours]) {
      expect(logLines(x.stderr)).toEqual([expect.objectContaining({ level: "warn", msg: "retrying of unary invoker failed", attempt: 0, error: "rpc error: code = DeadlineExceeded desc = context deadline exceeded" })]);
    }
  });

  test("a failed request attempt is logged as clientv3 logs it; the command goes on or fails as before", () => {
    // --user with auth disabled: Authenticate fails ("authentication is not enabled"), the get goes on.
    expect(ourCtl(m, ["put", "zk", "zv"]).status).toBe(0);
    const auth = both(["--user=root:root", "get", "zk"]);
    expect(seen(auth.ours)).toEqual(seen(auth.real));
    expect(auth.ours.stdout).toBe("zk\nzv\n");
    // A lease that does not exist: the warning, then etcdctl's error.
    const revoke = both(["lease", "revoke", "1234"]);
    expect(seen(revoke.ours)).toEqual(seen(revoke.real));
    for (const [r, error] of [
      [auth, "rpc error: code = FailedPrecondition desc = etcdserver: authentication is not enabled"],
      [revoke, "rpc error: code = NotFound desc = etcdserver: requested lease not found"],
    ] as const) {
      const pick = (x: CtlRun) => logLines(x.stderr).map((l) => ({ level: l.level, msg: l.msg, attempt: l.attempt, error: l.error, target: String(l.target).replace(/client-[0-9a-f-]+/, "client-<ID>") }));
      expect(pick(r.ours)).toEqual(pick(r.real));
      expect(pick(r.ours)).toEqual([{ level: "warn", msg: "retrying of unary invoker failed", attempt: 0, error, target: `endpoint://client-<ID>/${m.endpoint}` }]);
    }
  });
});
