// Our etcdctl's KV commands (get, put, del, txn, compaction, watch) against the real etcdctl 3.4, on
// one dist/etcd member: the same arguments through both, stdout compared byte for byte where it is
// deterministic, exit codes and "Error:" lines where the command fails. Writes are made so that
// either tool sees the same store (the key is reset between the two runs), or revisions are masked.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { errorLines, ourCtl, realCtl, type CtlRun } from "./ctl-diff.ts";
import { BINARY, cleanup, haveEtcdctl, requireTool, startMember, type Member } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

/** Both tools' raw stdout bytes (for -w protobuf and binary values) and exit codes. */
function bytesOf(m: Member, args: string[], input?: string): { real: Buffer; ours: Buffer; realStatus: number | null; ourStatus: number | null } {
  const opts = { input, env: { ...process.env, ETCDCTL_API: "3" }, timeout: 30_000 };
  const r = spawnSync("etcdctl", ["--endpoints", m.endpoint, ...args], opts);
  const o = spawnSync(BINARY, ["ctl", "--endpoints", m.endpoint, ...args], opts);
  return { real: r.stdout, ours: o.stdout, realStatus: r.status, ourStatus: o.status };
}

function expectSameFailure(real: CtlRun, ours: CtlRun): void {
  expect({ status: ours.status, stdout: ours.stdout, errors: errorLines(ours.stderr) }).toEqual({
    status: real.status,
    stdout: real.stdout,
    errors: errorLines(real.stderr),
  });
}

/** Revisions differ between two writes of the same shape: mask them (json and fields). */
function maskRevisions(text: string): string {
  return text
    .replace(/"(revision|create_revision|mod_revision|version)":\d+/g, '"$1":N')
    .replace(/"(Prev)?(Revision|CreateRevision|ModRevision|Version)" : \d+/g, '"$1$2" : N');
}

setDefaultTimeout(60_000);

describe.if(run)("etcdctl KV commands: ours against etcdctl 3.4", () => {
  let m: Member;
  beforeAll(async () => {
    m = await startMember();
    for (const [k, v] of [["a", "1"], ["b", "2"], ["b2", "two"], ["c", "3"], ["uni", "héllo wörld"], ["sp", "with space"]]) {
      expect(realCtl(m, ["put", k, v]).status).toBe(0);
    }
    expect(realCtl(m, ["put", "bin", "\x01\x02 tab\tnl\n"]).status).toBe(0);
    expect(realCtl(m, ["put", "a", "1b"]).status).toBe(0);
  }, 30_000);
  afterAll(async () => {
    await m?.stop();
    if (m) cleanup(m);
  });

  const GETS: string[][] = [
    ["get", "a"],
    ["get", "b", "--prefix"],
    ["get", "a", "c"],
    ["get", "", "--prefix"],
    ["get", "", "--from-key", "--keys-only"],
    ["get", "b", "--from-key", "--limit", "2"],
    ["get", "", "--prefix", "--sort-by", "VALUE", "--order", "DESCEND"],
    ["get", "", "--prefix", "--sort-by", "create", "--order", "ascend", "--limit", "3"],
    ["get", "", "--prefix", "--sort-by", "MODIFY"],
    ["get", "", "--prefix", "--sort-by", "VERSION", "--order", "DESCEND"],
    ["get", "a", "--rev", "2"],
    ["get", "a", "--consistency", "s"],
    ["get", "nothing"],
    ["get", "bin"],
    ["get", "uni"],
  ];

  test("get: simple, json, fields and --hex output are byte for byte etcdctl's", () => {
    for (const args of GETS) {
      for (const format of [[], ["-w", "json"], ["-w", "fields"], ["--hex"], ["-w", "fields", "--hex"]]) {
        const b = bytesOf(m, [...args, ...format]);
        expect({ args: [...args, ...format], status: b.ourStatus, out: b.ours.toString("latin1") }).toEqual({
          args: [...args, ...format],
          status: b.realStatus,
          out: b.real.toString("latin1"),
        });
      }
    }
    for (const extra of [["--print-value-only"], ["--keys-only"], ["--keys-only", "--hex"]]) {
      const b = bytesOf(m, ["get", "", "--prefix", ...extra]);
      expect(b.ours.toString("latin1")).toBe(b.real.toString("latin1"));
    }
  });

  test("get -w protobuf writes the same RangeResponse bytes", () => {
    for (const args of GETS) {
      const b = bytesOf(m, [...args, "-w", "protobuf"]);
      expect({ args, hex: b.ours.toString("hex") }).toEqual({ args, hex: b.real.toString("hex") });
    }
  });

  test("get: argument and flag errors, exit codes and messages", () => {
    const bad: string[][] = [
      ["get"],
      ["get", "a", "--prefix", "--from-key"],
      ["get", "a", "b", "--prefix"],
      ["get", "a", "b", "--from-key"],
      ["get", "a", "--consistency", "x"],
      ["get", "a", "--order", "sideways"],
      ["get", "a", "--sort-by", "colour"],
      ["get", "a", "--print-value-only", "-w", "json"],
      ["get", "a", "-w", "table"],
      ["get", "a", "--rev", "99999"],
      ["get", "a", "--limit", "x"],
      ["get", "a", "--bogus"],
      ["get", "a", "-w", "yaml"],
    ];
    for (const args of bad) {
      const real = realCtl(m, args);
      const ours = ourCtl(m, args);
      expect(real.status).not.toBe(0);
      // cobra prints the usage on stdout for a flag it cannot parse; only the error is compared.
      const flagError = args.includes("--bogus") || args.includes("--limit");
      // etcdctl 3.4 prints a flag error twice (cobra, then its main); the framework prints it once.
      const once = (s: string) => [...new Set(errorLines(s).split("\n"))].join("\n");
      if (flagError) expect({ status: ours.status, errors: once(ours.stderr) }).toEqual({ status: real.status, errors: once(real.stderr) });
      else expectSameFailure(real, ours);
    }
  });

  test("put and del: the same writes print the same (key reset between the two tools)", () => {
    const reset = () => {
      expect(realCtl(m, ["put", "w", "old"]).status).toBe(0);
    };
    const cases: { args: string[]; input?: string; mask?: boolean }[] = [
      { args: ["put", "w", "new"] },
      { args: ["put", "w", "new", "--prev-kv"] },
      { args: ["put", "w", "new", "--prev-kv", "--hex"] },
      { args: ["put", "w", "--prev-kv"], input: "from stdin\n" },
      { args: ["put", "w", "--ignore-value", "--prev-kv"] },
      { args: ["put", "w", "new", "--prev-kv", "-w", "json"], mask: true },
      { args: ["put", "w", "new", "--prev-kv", "-w", "fields"], mask: true },
      { args: ["put", "--", "w", "-dash-value"] },
      { args: ["del", "w"] },
      { args: ["del", "w", "--prev-kv"] },
      { args: ["del", "w", "--prev-kv", "--hex"] },
      { args: ["del", "w", "--prev-kv", "-w", "json"], mask: true },
      { args: ["del", "w", "--prev-kv", "-w", "fields"], mask: true },
      { args: ["del", "nothing-here"] },
    ];
    for (const c of cases) {
      reset();
      const real = realCtl(m, c.args, { input: c.input });
      const realValue = realCtl(m, ["get", "w", "--print-value-only"]).stdout;
      reset();
      const ours = ourCtl(m, c.args, { input: c.input });
      const ourValue = realCtl(m, ["get", "w", "--print-value-only"]).stdout;
      const show = (r: CtlRun) => (c.mask ? maskRevisions(r.stdout) : r.stdout);
      expect({ args: c.args, status: ours.status, out: show(ours), stored: ourValue }).toEqual({
        args: c.args,
        status: real.status,
        out: show(real),
        stored: realValue,
      });
    }
  });

  test("del --prefix and --from-key remove the same keys", () => {
    // Keys that sort last, so --from-key removes only what the seed puts back.
    const seed = () => {
      for (const k of ["zz/1", "zz/2", "zz/3", "zzz"]) realCtl(m, ["put", k, k]);
    };
    for (const args of [["del", "zz/", "--prefix", "--prev-kv"], ["del", "zz/2", "--from-key"], ["del", "zz/1", "zz/3"]]) {
      seed();
      const real = realCtl(m, args);
      seed();
      const ours = ourCtl(m, args);
      expect({ args, status: ours.status, out: ours.stdout }).toEqual({ args, status: real.status, out: real.stdout });
    }
    realCtl(m, ["del", "zz", "--prefix"]);
  });

  test("put and del: argument errors", () => {
    const bad: { args: string[]; input?: string }[] = [
      { args: ["put"] },
      { args: ["put", "k"], input: "" },
      { args: ["put", "k", "v", "--ignore-value"] },
      { args: ["put", "k", "v", "--lease", "xyz"] },
      { args: ["put", "k", "v", "--lease", "0x12"] },
      { args: ["put", "k", "v", "--lease", "1234abcd"] },
      { args: ["put", "k", "--ignore-value"] },
      { args: ["del"] },
      { args: ["del", "a", "b", "c"] },
      { args: ["del", "a", "--prefix", "--from-key"] },
      { args: ["del", "a", "b", "--prefix"] },
    ];
    for (const c of bad) {
      const real = realCtl(m, c.args, { input: c.input ?? "" });
      const ours = ourCtl(m, c.args, { input: c.input ?? "" });
      expect(real.status).not.toBe(0);
      expectSameFailure(real, ours);
    }
  });

  test("txn: read-only transactions print the same in every format", () => {
    const scripts = [
      'value("a") = "1b"\n\nget a\nget b --prefix\n\nget c\n\n',
      'value("a") = "nope"\n\nget a\n\nget c --keys-only\nget "" --prefix --limit 2\n\n',
      'mod("a") > "1"\nver("b") = "1"\ncreate("c") != "0"\nval("b2") < "zzz"\n\nget b2\n\n\n',
      "\n\n\n",
      'version("a") > "0"\nc("a") > "0"\nm("a") > "0"\nvalue(`a`) = "\\x31b"\n\nget a -w json\n\n\n',
    ];
    for (const script of scripts) {
      for (const format of [[], ["-w", "json"], ["-w", "fields"], ["-w", "protobuf"], ["--hex"], ["-w", "table"]]) {
        const b = bytesOf(m, ["txn", ...format], script);
        expect({ script, format, status: b.ourStatus, out: b.ours.toString("hex") }).toEqual({
          script,
          format,
          status: b.realStatus,
          out: b.real.toString("hex"),
        });
      }
    }
  });

  test("txn: writes in both branches, interactive prompts", () => {
    const script = 'value("t") = "0"\n\nput t 1 --prev-kv\nget t\n\nput t 2\ndel t2 --prev-kv\n\n';
    for (const [setup, extra] of [["0", []], ["x", []], ["0", ["-i"]], ["x", ["-w", "json"]], ["0", ["-w", "fields"]]] as const) {
      realCtl(m, ["put", "t", setup]);
      realCtl(m, ["put", "t2", "v"]);
      const real = realCtl(m, ["txn", ...extra], { input: script });
      realCtl(m, ["put", "t", setup]);
      realCtl(m, ["put", "t2", "v"]);
      const ours = ourCtl(m, ["txn", ...extra], { input: script });
      expect({ setup, extra, status: ours.status, out: maskRevisions(ours.stdout) }).toEqual({
        setup,
        extra,
        status: real.status,
        out: maskRevisions(real.stdout),
      });
    }
  });

  test("txn: bad input fails with etcdctl's message and exit code 3", () => {
    const scripts = [
      "bad\n",
      'value("a") = "1"\n',
      'value("a") = "1"\n\nget a\n',
      'ver("a") = "x"\n\n',
      'xx("a") = "x"\n\n',
      'ver("a" = "x"\n\n',
      'ver(a) = "x"\n\n',
      'ver("a") = x\n\n',
      'ver("a") =\n\n',
      'ver("a")\n\n',
      'val("a\\q") = "1"\n\n',
      '\n\nfoo bar\n\n\n',
      '\n\nget\n\n\n',
      '\n\nput k\n\n\n',
      '\n\nget a b --prefix\n\n\n',
      '\n\ndel a b c\n\n\n',
      '\n\nput a b --foo\n\n\n',
      '\n\ndel a -w json\n\n\n',
      '\n\nput k v --lease zz\n\n\n',
      '\n\nget a --rev 99999\n\n\n',
    ];
    for (const script of scripts) {
      const real = realCtl(m, ["txn"], { input: script });
      const ours = ourCtl(m, ["txn"], { input: script });
      expectSameFailure(real, ours);
    }
    const real = realCtl(m, ["txn", "extra"]);
    expectSameFailure(real, ourCtl(m, ["txn", "extra"]));
  });

  test("compaction: prints the revision; compacted and future revisions fail alike", () => {
    const rev = (): number => JSON.parse(realCtl(m, ["get", "a", "-w", "json"]).stdout).header.revision;
    realCtl(m, ["put", "cmp", "1"]);
    const r1 = rev();
    expect(realCtl(m, ["compaction", String(r1)]).stdout).toBe(`compacted revision ${r1}\n`);
    realCtl(m, ["put", "cmp", "2"]);
    const r2 = rev();
    const ours = ourCtl(m, ["compaction", String(r2), "--physical"]);
    expect({ status: ours.status, out: ours.stdout }).toEqual({ status: 0, out: `compacted revision ${r2}\n` });
    for (const args of [["compaction", "1"], ["compaction", "99999999"], ["compaction"], ["compaction", "x"], ["compaction", "1", "2"], ["get", "a", "--rev", "1"]]) {
      expectSameFailure(realCtl(m, args), ourCtl(m, args));
    }
  });

  test("no server: context deadline exceeded after --command-timeout, exit 1", async () => {
    const dead = "127.0.0.1:1";
    for (const args of [["get", "a"], ["put", "a", "b"], ["del", "a"], ["compaction", "5"]]) {
      const full = ["--command-timeout=1s", "--dial-timeout=500ms", ...args];
      const real = realCtl(null, full, { endpoints: dead });
      const ours = ourCtl(null, full, { endpoints: dead });
      expect({ args, status: ours.status, errors: errorLines(ours.stderr) }).toEqual({ args, status: real.status, errors: errorLines(real.stderr) });
    }
  });

  test("watch: the same events in every format, and the command per event", async () => {
    const exec = ["--", "sh", "-c", 'echo "$ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'];
    const variants: string[][] = [
      ["watch", "wa", "--prefix", "--prev-kv"],
      ["watch", "wa", "--prefix", "-w", "json"],
      ["watch", "wa", "--prefix", "--prev-kv", "-w", "fields"],
      ["watch", "wa", "--prefix", "--prev-kv", "-w", "protobuf"],
      ["watch", "wa1", "wa3", "--hex"],
      ["watch", "wa1", ...exec],
    ];
    const started: { args: string[]; tool: "real" | "ours"; out: Buffer[]; done: Promise<void>; kill: () => void }[] = [];
    for (const args of variants) {
      for (const tool of ["real", "ours"] as const) {
        const [cmd, pre] = tool === "real" ? ["etcdctl", []] : [BINARY, ["ctl"]];
        const p = spawn(cmd, [...pre, "--endpoints", m.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
        const out: Buffer[] = [];
        p.stdout.on("data", (d: Buffer) => out.push(d));
        const done = new Promise<void>((r) => p.once("exit", () => r()));
        started.push({ args, tool, out, done, kill: () => p.kill("SIGKILL") });
      }
    }
    try {
      await Bun.sleep(1500);
      realCtl(m, ["put", "wa1", "x"]);
      realCtl(m, ["put", "wa1", "y"]);
      realCtl(m, ["put", "wa2", "z"]);
      realCtl(m, ["del", "wa1"]);
      realCtl(m, ["txn"], { input: "\n\nput wa1 p\nput wa2 q\n\n\n" });
      realCtl(m, ["del", "wa", "--prefix"]);
      await Bun.sleep(1500);
    } finally {
      for (const s of started) s.kill();
      await Promise.all(started.map((s) => s.done));
    }
    for (let i = 0; i < started.length; i += 2) {
      const [real, ours] = [started[i], started[i + 1]];
      expect(Buffer.concat(real.out).length).toBeGreaterThan(0);
      expect({ args: ours.args, out: Buffer.concat(ours.out).toString("hex") }).toEqual({ args: real.args, out: Buffer.concat(real.out).toString("hex") });
    }
  }, 20_000);

  test("watch: a compacted start revision cancels the watch (exit 5), argument errors alike", () => {
    realCtl(m, ["put", "wc", "1"]);
    const rev = JSON.parse(realCtl(m, ["get", "wc", "-w", "json"]).stdout).header.revision as number;
    realCtl(m, ["compaction", String(rev)]);
    for (const format of ["simple", "json"]) {
      const args = ["watch", "wc", "--rev", "2", "-w", format];
      expectSameFailure(realCtl(m, args, { timeoutMs: 10_000 }), ourCtl(m, args, { timeoutMs: 10_000 }));
    }
    const bad: { args: string[]; env?: Record<string, string> }[] = [
      { args: ["watch"] },
      { args: ["watch", "a", "--"] },
      { args: ["watch", "a", "b", "--prefix"] },
      { args: ["watch", "b"], env: { ETCDCTL_WATCH_KEY: "a" } },
      { args: ["watch", "b", "--", "echo"], env: { ETCDCTL_WATCH_KEY: "a" } },
      { args: ["watch", "b"], env: { ETCDCTL_WATCH_RANGE_END: "c" } },
      { args: ["watch", "--", "echo", "hi"] },
    ];
    for (const c of bad) expectSameFailure(realCtl(m, c.args, { env: c.env, timeoutMs: 10_000 }), ourCtl(m, c.args, { env: c.env, timeoutMs: 10_000 }));
  });

  test("watch -i: watch lines, invalid lines, and the end of stdin (exit 3)", () => {
    const input = "watch a\nbogus\nwatch\nwatch a b --prefix\n";
    const real = realCtl(m, ["watch", "-i"], { input, timeoutMs: 10_000 });
    const ours = ourCtl(m, ["watch", "-i"], { input, timeoutMs: 10_000 });
    expectSameFailure(real, ours);
  });
});
