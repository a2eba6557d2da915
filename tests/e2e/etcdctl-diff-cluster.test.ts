// The cluster and maintenance commands (member, endpoint, alarm, defrag, move-leader, check perf,
// cluster-health) run through the real etcdctl 3.4 and through our `etcd ctl` against the same
// three-member dist/etcd cluster: stdout byte for byte, exit codes, and the "Error:" lines.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorLines, ourCtl, realCtl, type CtlOptions, type CtlRun } from "./ctl-diff.ts";
import { Client } from "../../src/client/index.ts";
import { cleanup, freePort, haveEtcdctl, requireTool, startMember, type Member, startTrio } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());
/** Each test runs several etcdctl processes one after another (spawnSync). */
const TEST_TIMEOUT_MS = 60_000;


/** Both tools on the same arguments. */
function both(m: Member | null, args: string[], opts: CtlOptions = {}): { real: CtlRun; ours: CtlRun } {
  return { real: realCtl(m, args, opts), ours: ourCtl(m, args, opts) };
}

/** Same stdout (after `mask`), same exit code, same error lines. */
function expectSame(m: Member | null, args: string[], opts: CtlOptions & { mask?: (s: string) => string } = {}): CtlRun {
  const { real, ours } = both(m, args, opts);
  const mask = opts.mask ?? ((s: string) => s);
  expect({ args, out: mask(ours.stdout), status: ours.status, err: errorLines(ours.stderr) }).toEqual({
    args,
    out: mask(real.stdout),
    status: real.status,
    err: errorLines(real.stderr),
  });
  return ours;
}

/** Go Duration strings ("4.951471ms", "951µs", "1.2s") become "<took>". */
const maskTook = (s: string) => s.replace(/\d+(\.\d+)?(ns|µs|ms|s|m)\b/g, "<took>");
/** etcdctl 3.4 writes healthy lines to stderr, 3.5 (and we) to stdout: compare the lines together, sorted. */
const healthLines = (r: CtlRun) =>
  maskTook(r.stdout + errorLines(r.stderr))
    // A table's column widths follow the timings: compare its shape, not its padding.
    .replace(/-+/g, "-")
    .replace(/ +/g, " ")
    .split("\n")
    .filter((l) => l !== "")
    .sort();

describe.if(run)("etcdctl cluster commands, real etcdctl 3.4 vs ours", () => {
  let members: Member[] = [];
  let root = "";
  let all = "";
  let m0: Member;

  beforeAll(async () => {
    ({ members, root } = await startTrio("ctlc"));
    m0 = members[0];
    all = members.map((m) => m.endpoint).join(",");
  }, 60_000);

  afterAll(async () => {
    for (const m of members) await m.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 30_000);

  test("member list in every format", () => {
    for (const w of ["simple", "table", "json", "fields", "protobuf"]) expectSame(m0, ["member", "list", "-w", w]);
    const out = expectSame(m0, ["member", "list"]).stdout;
    expect(out.split("\n").filter((l) => l.includes(", started, ")).length).toBe(3);
  }, TEST_TIMEOUT_MS);

  test("endpoint status and hashkv in every format, for --endpoints and --cluster", () => {
    ourCtl(m0, ["put", "status-key", "v"]);
    for (const sub of ["status", "hashkv"]) {
      for (const w of ["simple", "table", "json", "fields", "protobuf"]) {
        expectSame(null, ["endpoint", sub, "-w", w], { endpoints: all });
        expectSame(m0, ["endpoint", sub, "--cluster", "-w", w]);
      }
    }
    expectSame(m0, ["endpoint", "hashkv", "--rev", "1"]);
  }, TEST_TIMEOUT_MS);

  test("endpoint health: the same verdicts, timings masked; table/json/fields too", () => {
    for (const w of ["simple", "table", "json", "fields"]) {
      const { real, ours } = both(null, ["endpoint", "health", "-w", w], { endpoints: all });
      expect(ours.status).toBe(0);
      expect(real.status).toBe(0);
      if (w === "json") {
        // One line, its items in the order the checks finished.
        const items = (r: CtlRun) => JSON.parse(maskTook(r.stdout)).sort((a: { endpoint: string }, b: { endpoint: string }) => a.endpoint.localeCompare(b.endpoint));
        expect(items(ours)).toEqual(items(real));
      } else {
        expect(healthLines(ours)).toEqual(healthLines(real));
      }
    }
    const c = both(m0, ["endpoint", "health", "--cluster"]);
    expect(healthLines(c.ours)).toEqual(healthLines(c.real));
    expect(c.ours.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+ is healthy: successfully committed proposal: took = [\d.]+(µs|ms|s)\n/);
    expectSame(m0, ["endpoint", "health", "-w", "protobuf"]);
  }, TEST_TIMEOUT_MS);

  test("alarm list and disarm without alarms, in every format", () => {
    for (const w of ["simple", "json", "fields", "protobuf", "table"]) {
      expectSame(m0, ["alarm", "list", "-w", w]);
      expectSame(m0, ["alarm", "disarm", "-w", w === "fields" ? "json" : w]);
    }
    expectSame(m0, ["alarm", "list", "extra"]);
  }, TEST_TIMEOUT_MS);

  test("defrag one endpoint, all endpoints and the whole cluster", () => {
    expectSame(m0, ["defrag"]);
    expectSame(null, ["defrag"], { endpoints: all });
    expectSame(m0, ["defrag", "--cluster"]);
  }, TEST_TIMEOUT_MS);

  test("errors: bad ids, unknown member, non-member transferee, missing arguments", () => {
    for (const args of [
      ["member", "remove", "zz"],
      ["member", "remove", "ffffffffffffffffff"],
      ["member", "remove"],
      ["member", "update", "12x", "--peer-urls=http://127.0.0.1:1"],
      ["member", "update", "1234"],
      ["member", "promote", "g1"],
      ["member", "remove", "1234"],
      ["member", "update", "1234", "--peer-urls=http://127.0.0.1:1"],
      ["member", "add"],
      ["member", "add", "x"],
      ["member", "add", "x", "http://127.0.0.1:1"],
      ["move-leader"],
      ["move-leader", "xyz"],
      ["move-leader", "1234"],
    ]) {
      const ours = expectSame(null, args, { endpoints: all });
      expect(ours.status).not.toBe(0);
    }
    expect(errorLines(ourCtl(m0, ["member", "remove", "1234"]).stderr)).toBe("Error: etcdserver: member not found");
  }, TEST_TIMEOUT_MS);

  test("a dead endpoint: status, hashkv, defrag and health fail the same way", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const opts = { endpoints: `${m0.endpoint},${dead}` };
    for (const args of [["endpoint", "status"], ["endpoint", "hashkv"], ["defrag"]]) {
      expectSame(null, ["--command-timeout=1s", ...args], opts);
    }
    const h = both(null, ["--command-timeout=1s", "endpoint", "health"], opts);
    expect(h.ours.status).toBe(1);
    expect(h.real.status).toBe(1);
    expect(healthLines(h.ours)).toEqual(healthLines(h.real));
  }, TEST_TIMEOUT_MS);

  test("member add, update and remove, once with each tool, same output up to the new ids", () => {
    const norm = (out: string, id: string) => out.replaceAll(id.padStart(16, " "), "<id>").replaceAll(id, "<id>");
    const results: string[] = [];
    for (const [tool, name, port] of [
      [realCtl, "extra-real", 42991],
      [ourCtl, "extra-ours", 42992],
    ] as const) {
      const url = `http://127.0.0.1:${port}`;
      const add = tool(m0, ["member", "add", name, `--peer-urls=${url}`]);
      expect(add.status).toBe(0);
      const id = /^Member +([0-9a-f]+) added/.exec(add.stdout)![1];
      const update = tool(m0, ["member", "update", id, `--peer-urls=http://127.0.0.1:${port + 100}`]);
      const remove = tool(m0, ["member", "remove", id]);
      expect([update.status, remove.status]).toEqual([0, 0]);
      results.push(norm(add.stdout + update.stdout + remove.stdout, id).replaceAll(name, "<name>").replaceAll(url, "<url>"));
    }
    expect(results[1]).toBe(results[0]);
    expect(results[1]).toContain('ETCD_INITIAL_CLUSTER_STATE="existing"\n');
  }, TEST_TIMEOUT_MS);

  test("a learner: add with --learner, promote fails while it is not in sync; -w json after add", () => {
    const outs: string[] = [];
    for (const [tool, port] of [
      [realCtl, 42993],
      [ourCtl, 42994],
    ] as const) {
      const add = tool(m0, ["member", "add", "learner", "--learner", `--peer-urls=http://127.0.0.1:${port}`, "-w", "json"]);
      expect(add.status).toBe(0);
      const id = BigInt(JSON.parse(add.stdout.replace(/"ID":(\d+)/g, '"ID":"$1"')).member.ID).toString(16);
      const promote = tool(m0, ["member", "promote", id]);
      outs.push(`${promote.status} ${errorLines(promote.stderr)}`);
      expect(tool(m0, ["member", "remove", id]).status).toBe(0);
    }
    expect(outs[1]).toBe(outs[0]);
  }, TEST_TIMEOUT_MS);

  test("move-leader: to a non-member fails alike; a transfer by each tool reads the same", async () => {
    expectSame(null, ["move-leader", "1234"], { endpoints: all });
    /** A member's own id and its leader's, in hex, from our `endpoint status -w json`. */
    const statusOf = (m: Member | null) => {
      const out = ourCtl(m, ["endpoint", "status", "-w", "json"], m ? {} : { endpoints: all }).stdout;
      const st = JSON.parse(out.replace(/:(\d{16,})/g, ':"$1"'))[0].Status;
      return { id: BigInt(st.header.member_id).toString(16), leader: BigInt(st.leader).toString(16) };
    };
    const leaderOf = () => statusOf(null).leader;
    const ids = ourCtl(m0, ["member", "list"]).stdout.split("\n").filter(Boolean).map((l) => l.split(", ")[0]);
    for (const tool of [realCtl, ourCtl]) {
      const from = leaderOf();
      const to = ids.find((i) => i !== from)!;
      const r = tool(null, ["move-leader", to], { endpoints: all });
      expect({ status: r.status, out: r.stdout }).toEqual({ status: 0, out: `Leadership transferred from ${from} to ${to}\n` });
      // The new leader has to settle before the other tool's turn.
      for (let i = 0; i < 50 && leaderOf() !== to; i++) await Bun.sleep(100);
    }
    // Only the leader can transfer: a follower alone has no leader to ask.
    const follower = members.find((m) => statusOf(m).id !== statusOf(m).leader)!;
    expectSame(follower, ["move-leader", ids[0]]);
  }, TEST_TIMEOUT_MS);

  test("check perf: argument errors alike; a short run (test-only override) prints etcdctl's verdict", () => {
    expectSame(m0, ["check", "perf", "--load", "huge"]);
    ourCtl(m0, ["put", "/busy/k", "v"]);
    expectSame(m0, ["check", "perf", "--prefix", "/busy/"]);
    ourCtl(m0, ["del", "/busy/k"]);
    const r = ourCtl(m0, ["check", "perf", "--auto-compact", "--auto-defrag"], { env: { ETCD_TS_CHECK_PERF_SECONDS: "2" } });
    expect(r.stdout).toMatch(
      /^Compacting with revision \d+\nCompacted with revision \d+\nDefragmenting "127\.0\.0\.1:\d+"\nDefragmented "127\.0\.0\.1:\d+"\n(PASS: Throughput is \d+ writes\/s|FAIL: Throughput too low: \d+ writes\/s)\n(PASS: Slowest request took|Slowest request took too long:) \d+\.\d{6}s\n(PASS: Stddev is|Stddev too high:) \d+\.\d{6}s\n(PASS|FAIL)\n$/,
    );
    expect(r.status).toBe(r.stdout.endsWith("PASS\n") ? 0 : 1);
    expect(ourCtl(m0, ["get", "/etcdctl-check-perf/", "--prefix", "--count-only", "-w", "fields"]).stdout).toContain('"Count" : 0');
  }, TEST_TIMEOUT_MS);

  test("cluster-health: etcdctl v2's summary through the v3 API, exit 5 when a member is down", async () => {
    const ok = ourCtl(m0, ["cluster-health"]);
    const ids = ourCtl(m0, ["member", "list"]).stdout.split("\n").filter(Boolean).map((l) => l.split(", "));
    expect(ok.stdout).toBe(ids.map(([id, , , , client]) => `member ${id} is healthy: got healthy result from ${client}\n`).join("") + "cluster is healthy\n");
    expect(ok.status).toBe(0);

    const victim = members[2];
    await victim.stop();
    const bad = ourCtl(m0, ["--command-timeout=1s", "cluster-health"]);
    expect(bad.status).toBe(5);
    const lines = bad.stdout.split("\n");
    const victimId = ids.find(([, , , , client]) => client === victim.clientUrl)![0];
    expect(lines).toContain(`member ${victimId} is unreachable: [${victim.clientUrl}] are all unreachable`);
    expect(lines.some((l) => l.startsWith(`failed to check the health of member ${victimId} on ${victim.clientUrl}: `))).toBe(true);
    expect(lines.filter((l) => l.endsWith("got healthy result from " + m0.clientUrl)).length).toBe(1);
    expect(lines.at(-2)).toBe("cluster is degraded");
  }, TEST_TIMEOUT_MS);
});

describe.if(run)("etcdctl with a NOSPACE alarm raised, real etcdctl 3.4 vs ours", () => {
  let m: Member;
  let client: Client;

  /** Writes until the quota trips the alarm (a put fails with "database space exceeded"). */
  async function fill(): Promise<void> {
    const value = "x".repeat(4096);
    for (let i = 0; i < 400; i++) {
      try {
        await client.put(`big${i}`, value, { timeoutMs: 3000 });
      } catch {
        return;
      }
    }
    throw new Error("the quota never tripped");
  }

  beforeAll(async () => {
    m = await startMember({ args: ["--quota-backend-bytes", String(600 * 1024)] });
    client = new Client({ endpoints: [m.endpoint], dialTimeoutMs: 2000 });
    await fill();
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await m?.stop();
    if (m) cleanup(m);
  });

  test("alarm list in every format; status shows the alarm; table is refused alike", () => {
    for (const w of ["simple", "json", "fields", "protobuf", "table"]) expectSame(m, ["alarm", "list", "-w", w]);
    expect(ourCtl(m, ["alarm", "list"]).stdout).toMatch(/^memberID:\d+ alarm:NOSPACE \n$/);
    for (const w of ["simple", "json", "fields", "table"]) expectSame(m, ["endpoint", "status", "-w", w]);
  }, TEST_TIMEOUT_MS);

  test("health: etcdctl 3.5's alarm check makes the member unhealthy (3.4 did not look); cluster-health agrees", () => {
    const h = ourCtl(m, ["endpoint", "health"]);
    expect(h.status).toBe(1);
    expect(h.stdout).toBe("");
    expect(maskTook(h.stderr)).toBe(`${m.endpoint} is unhealthy: failed to commit proposal: Active Alarm(s): NOSPACE \nError: unhealthy cluster\n`);
    const table = ourCtl(m, ["endpoint", "health", "-w", "table"]).stdout;
    expect(table).toContain("|  false |");
    expect(table).toContain(" Active Alarm(s): NOSPACE  |");
    const c = ourCtl(m, ["cluster-health"]);
    expect(c.stdout).toMatch(new RegExp(`^member [0-9a-f]+ is unhealthy: got unhealthy result from ${m.clientUrl}\ncluster is unavailable\n$`));
    expect(c.status).toBe(5);
  }, TEST_TIMEOUT_MS);

  test("alarm disarm, once with each tool, prints the same", async () => {
    const real = realCtl(m, ["alarm", "disarm"]);
    expect(realCtl(m, ["alarm", "list"]).stdout).toBe("");
    await fill();
    const ours = ourCtl(m, ["alarm", "disarm"]);
    expect({ out: ours.stdout, status: ours.status }).toEqual({ out: real.stdout, status: real.status });
    expect(ours.stdout).toMatch(/^memberID:\d+ alarm:NOSPACE \n$/);
    expect(ourCtl(m, ["alarm", "list"]).stdout).toBe("");
  }, TEST_TIMEOUT_MS);
});
