// `make-mirror` through the real etcdctl 3.4 and through ours: the same source member, one fresh
// destination member each, the same writes on the source; the two destinations must end up with the
// same keys, values, versions and revisions (so the same writes, grouped into the same transactions),
// and argument errors must read the same.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { errorLines, ourCtl, realCtl } from "./ctl-diff.ts";
import { BINARY, cleanup, haveEtcdctl, type Member, requireTool, startMember } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

interface Mirror {
  proc: ChildProcess;
  out: () => string;
}

/** A long-running make-mirror from `src` to `dest`, by the real etcdctl or ours. */
function startMirror(which: "real" | "ours", src: Member, dest: Member, flags: string[]): Mirror {
  const args = ["--endpoints", src.endpoint, "make-mirror", ...flags, dest.endpoint];
  const proc = which === "real" ? spawn("etcdctl", args, { env: { ...process.env, ETCDCTL_API: "3" } }) : spawn(BINARY, ["ctl", ...args]);
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  return { proc, out: () => out };
}

async function stopMirror(m: Mirror): Promise<void> {
  if (m.proc.exitCode !== null || m.proc.signalCode !== null) return;
  const gone = new Promise((r) => m.proc.once("exit", r));
  m.proc.kill("SIGKILL");
  await gone;
}

/** Every key of a member with what a mirror must have copied: value, version, revisions. */
function contents(m: Member): string {
  const r = ourCtl(m, ["get", "--prefix", "", "-w", "json"]);
  if (r.status !== 0) throw new Error(`get on ${m.endpoint} failed: ${r.stderr}`);
  const kvs = (JSON.parse(r.stdout).kvs ?? []) as { key: string; value: string; create_revision: number; mod_revision: number; version: number }[];
  return kvs.map((k) => `${Buffer.from(k.key, "base64")}=${Buffer.from(k.value ?? "", "base64")} v${k.version} c${k.create_revision} m${k.mod_revision}`).join("\n");
}

/** Waits (bounded) until `done` holds. */
async function until(what: string, done: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe.if(run)("etcdctl make-mirror: ours against the real etcdctl", () => {
  let src: Member;
  let destReal: Member;
  let destOurs: Member;
  const put = (k: string, v: string) => expect(ourCtl(src, ["put", k, v]).status).toBe(0);

  beforeAll(async () => {
    [src, destReal, destOurs] = await Promise.all([startMember(), startMember(), startMember()]);
  }, 30_000);
  afterAll(async () => {
    for (const m of [src, destReal, destOurs]) {
      await m?.stop();
      if (m) cleanup(m);
    }
  }, 30_000);

  // Each case starts from empty destinations (cleared the same way, so their revisions stay equal)
  // and a source holding the base keys; the mirror copies those, then follows the changes.
  const cases: { flags: string[]; expectKeys: string[] }[] = [
    { flags: [], expectKeys: ["o_k1", "o_k2", "other", "x_o_y"] },
    { flags: ["--prefix", "o_"], expectKeys: ["o_k1", "o_k2"] },
    { flags: ["--prefix", "o_", "--dest-prefix", "d_"], expectKeys: ["d_k1", "d_k2"] },
    { flags: ["--prefix", "o_", "--no-dest-prefix"], expectKeys: ["k1", "k2"] },
  ];
  for (const c of cases) {
    test(`make-mirror ${c.flags.join(" ") || "(whole key space)"}`, async () => {
      for (const d of [src, destReal, destOurs]) expect(ourCtl(d, ["del", "--prefix", ""]).status).toBe(0);
      put("o_k1", "v1");
      put("o_k2", "v2");
      put("other", "w");
      put("x_o_y", "z");
      const mirrors = [startMirror("real", src, destReal, c.flags), startMirror("ours", src, destOurs, c.flags)];
      try {
        const base = (m: Member) => c.expectKeys.every((k) => contents(m).includes(`${k}=`));
        await until("the base keys on both destinations", () => base(destReal) && base(destOurs));
        // Changes after the base: a put, an overwrite, a delete, and a txn writing two keys at one revision.
        put("o_k3", "v3");
        put("o_k2", "v2b");
        expect(ourCtl(src, ["del", "o_k1"]).status).toBe(0);
        const txn = ourCtl(src, ["txn"], { input: '\nput o_k4 v4\nput o_k5 v5\n\n\n' });
        expect(txn.status).toBe(0);
        put("zz_last", "end"); // outside every prefix but the whole key space: a marker for "all seen" there
        put("o_last", "end");
        const last = (m: Member) => /(^|\n)(o_|d_|)last=end/.test(contents(m));
        await until("the last change on both destinations", () => last(destReal) && last(destOurs));
        expect(contents(destOurs)).toBe(contents(destReal));
        // The txn's two keys arrived in one destination transaction: one revision for both.
        const rev = (k: string) => new RegExp(`(^|\\n)[a-z_]*${k}=v\\d+ v1 c(\\d+)`).exec(contents(destOurs))?.[2];
        expect(rev("k4")).toBeDefined();
        expect(rev("k4")).toBe(rev("k5"));
      } finally {
        for (const m of mirrors) await stopMirror(m);
      }
      // Before the first 30 s report, neither prints anything.
      expect(mirrors.map((m) => errorLines(m.out()))).toEqual(["", ""]);
    }, 60_000);
  }

  test("argument errors: the same messages and exit codes", () => {
    for (const args of [["make-mirror"], ["make-mirror", "a:1", "b:2"], ["make-mirror", "--dest-prefix", "d_", "--no-dest-prefix", destOurs.endpoint]]) {
      const real = realCtl(src, args);
      const ours = ourCtl(src, args);
      expect({ status: ours.status, errors: errorLines(ours.stderr) }).toEqual({ status: real.status, errors: errorLines(real.stderr) });
      expect(ours.status).toBe(128);
    }
  }, 30_000);
});
