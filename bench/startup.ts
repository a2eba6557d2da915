#!/usr/bin/env bun
// `npm run bench -- startup`: how long etcd-ts takes to start things, against etcd 3.4 in the same run.
//
//   cli      each etcdctl command below as a whole process, ours (dist/etcd started through a link
//            named etcdctl) against the real etcdctl, in turns (A B A B …), both against the same
//            running etcd 3.4, so only the client differs; and `etcd --version` of both binaries.
//   start    a new single member on an empty data dir: from spawn to its first answered Put.
//   restart  the same member after --keys keys were written (Txns of 100 puts), stopped with
//            SIGTERM, then after a kill -9: from spawn to its first answered Put.
// Each figure is the median of --reps runs (--cli-reps for the CLI); the table gives etcd-ts / etcd.
//
// Flags (or BENCH_*): --reps 5, --cli-reps 20, --keys 100000, --skip-cli, --skip-start, --skip-restart,
//   --keep-logs. Progress goes to stderr; the table to stdout and, appended, to bench/results.md.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { CallError, connectH2, put } from "./common/grpc.ts";
import { checkLoad, runLoad } from "./common/loadgen.ts";
import { bool, checkFlags, commandLine as commandLineOf, helpIfAsked, opt } from "./common/options.ts";
import {
  cleanupOnSignals, DIST, killServer, logProblems, logTail, prerequisites, removeTmp, runMain, type Side, SIDE_NAME,
  type SingleMember, sleep, spawnServer, spawnSingleMember, stopServers, waitHealthy, which,
} from "./common/procs.ts";
import { finish, fmt, log, logStart, markdown, markFailed, median, problems, type Row, table } from "./common/report.ts";

checkFlags(["reps", "cli-reps", "keys", "skip-cli", "skip-start", "skip-restart", "keep-logs", "help"]);
helpIfAsked(import.meta.path, "header");

const o = {
  reps: opt("reps", 5),
  cliReps: opt("cli-reps", 20),
  keys: opt("keys", 100_000),
  skipCli: bool("skip-cli"),
  skipStart: bool("skip-start"),
  skipRestart: bool("skip-restart"),
  keepLogs: bool("keep-logs"),
};
const commandLine = commandLineOf("bun bench/startup.ts");
const { ETCD, VERSIONS } = prerequisites();
const ETCDCTL = which("etcdctl");
if (!ETCDCTL && !o.skipCli) {
  process.stderr.write("bench: the real etcdctl is not installed (apt-get install -y etcd-client); or give --skip-cli\n");
  process.exit(1);
}
cleanupOnSignals();

type Member = SingleMember;

/** The same member started again (same flags, data dir and ports), its output in another log file. */
function respawn(m: Member, logName: string): Member {
  const p = spawnServer(m.side, ETCD, m.args, m.tmp, path.join(m.tmp, logName), SIDE_NAME[m.side], m.port);
  return Object.assign(p, { side: m.side, tmp: m.tmp, dataDir: m.dataDir, args: m.args });
}

/**
 * Milliseconds from `t0` until the member answers a Put: connection attempts every 5 ms until one is
 * accepted (a listener may accept before it serves: the call then waits), then one Put with 30 s.
 */
async function untilFirstPut(m: Member, t0: number): Promise<number> {
  const deadline = t0 + 30_000;
  for (;;) {
    if (m.exited) throw new Error(`${m.label} exited while starting (${m.exitInfo}):\n${logTail(m.logFile)}`);
    if (performance.now() > deadline) throw new Error(`${m.label} did not answer a Put within 30 s:\n${logTail(m.logFile)}`);
    let session;
    try {
      session = await connectH2(m.port, 1000);
    } catch {
      await sleep(5);
      continue;
    }
    try {
      await put(session, "bench/startup", "1", Math.max(1, deadline - performance.now()));
      return performance.now() - t0;
    } catch (err) {
      // Refused or reset while the server was still coming up: try again on a new connection.
      if (!(err instanceof CallError)) throw err;
      await sleep(5);
    } finally {
      session.close();
    }
  }
}

async function stop(m: Member, tag: string): Promise<void> {
  const failures = await stopServers([m], () => `${SIDE_NAME[m.side]} ${tag}`);
  for (const f of failures) {
    markFailed();
    problems.push(f);
  }
}

function finishTmp(m: Member, tag: string): void {
  const lp = logProblems(m.logFile);
  if (lp.length) problems.push(`${SIDE_NAME[m.side]} ${tag}: ${lp.length} warning/error lines in the server log, e.g. ${lp[0]}`);
  removeTmp(m.tmp, o.keepLogs, [[m.logFile, `${path.basename(m.tmp)}.log`]]);
}

// ---------------------------------------------------------------- cli

/** Wall milliseconds of one run of argv, and whether it exited 0. */
function timeProcess(argv: string[]): { ms: number; ok: boolean; out: string } {
  const t = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return { ms: performance.now() - t, ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

const cliRows: Row[] = [];
const cliDetails: string[] = [];

async function cliPhase(): Promise<void> {
  // The server both clients talk to: the real etcd, so that the server is not what differs.
  const m = await spawnSingleMember("etcd", ETCD, "cli");
  const ours = path.join(m.tmp, "etcdctl");
  fs.symlinkSync(DIST, ours);
  await waitHealthy([m], () => m.label);
  const ep = `127.0.0.1:${m.port}`;
  const commands: [string, string[], string[]][] = [
    ["etcdctl put", [ours, "--endpoints", ep, "put", "bench/cli", "v"], [ETCDCTL!, "--endpoints", ep, "put", "bench/cli", "v"]],
    ["etcdctl get", [ours, "--endpoints", ep, "get", "bench/cli"], [ETCDCTL!, "--endpoints", ep, "get", "bench/cli"]],
    ["etcdctl endpoint health", [ours, "--endpoints", ep, "endpoint", "health"], [ETCDCTL!, "--endpoints", ep, "endpoint", "health"]],
    ["etcd --version", [DIST, "--version"], [ETCD, "--version"]],
  ];
  try {
    for (const [name, a, b] of commands) {
      // One warm-up each (page cache), then A B A B …
      timeProcess(a);
      timeProcess(b);
      const ta: number[] = [];
      const tb: number[] = [];
      for (let i = 0; i < o.cliReps; i++) {
        const ra = timeProcess(a);
        const rb = timeProcess(b);
        for (const [r, who] of [[ra, "etcd-ts"], [rb, "etcd 3.4"]] as const) {
          if (!r.ok) {
            markFailed();
            problems.push(`${name} (${who}) failed: ${r.out.split("\n")[0]}`);
          }
        }
        ta.push(ra.ms);
        tb.push(rb.ms);
      }
      cliRows.push({ metric: `${name}, wall ms (median of ${o.cliReps})`, ts: median(ta), etcd: median(tb), digits: 1, better: "lower" });
      cliDetails.push(`- ${name}: etcd-ts ${ta.map((x) => fmt(x, 0)).join(", ")} ms; etcd 3.4 ${tb.map((x) => fmt(x, 0)).join(", ")} ms`);
      log(`cli ${name}: etcd-ts ${fmt(median(ta))} ms, etcd 3.4 ${fmt(median(tb))} ms`);
    }
  } finally {
    await stop(m, "cli server");
    finishTmp(m, "cli server");
  }
}

// ---------------------------------------------------------------- start and restart

const startMs: Record<Side, number[]> = { ts: [], etcd: [] };
const restartTermMs: Record<Side, number[]> = { ts: [], etcd: [] };
const restartKillMs: Record<Side, number[]> = { ts: [], etcd: [] };

async function startRun(side: Side, rep: number): Promise<void> {
  const t0 = performance.now();
  const m = await spawnSingleMember(side, ETCD, "start");
  try {
    const ms = await untilFirstPut(m, t0);
    startMs[side].push(ms);
    log(`start ${SIDE_NAME[side]} #${rep + 1}: first Put answered ${fmt(ms, 0)} ms after spawn`);
  } finally {
    await stop(m, `start #${rep + 1}`);
    finishTmp(m, `start #${rep + 1}`);
  }
}

async function restartRun(side: Side, rep: number): Promise<void> {
  const tag = `restart #${rep + 1}`;
  let m = await spawnSingleMember(side, ETCD, "restart");
  try {
    await waitHealthy([m], () => m.label);
    const label = `${SIDE_NAME[side]} ${tag} fill`;
    const load = { clients: 8, conns: 1, keyspace: o.keys, valueSize: 256 };
    const { r } = await runLoad(["--port", String(m.port)], "fill", label, load, 300, [], { keys: o.keys, batch: 100, inflight: 8 }, () => 0);
    checkLoad(r, label, 300);
    await stop(m, tag);
    let t0 = performance.now();
    m = respawn(m, "server-2.log");
    const term = await untilFirstPut(m, t0);
    restartTermMs[side].push(term);
    await killServer(m);
    t0 = performance.now();
    m = respawn(m, "server-3.log");
    const kill = await untilFirstPut(m, t0);
    restartKillMs[side].push(kill);
    log(`${tag} ${SIDE_NAME[side]} with ${o.keys} keys: after SIGTERM ${fmt(term, 0)} ms, after kill -9 ${fmt(kill, 0)} ms`);
  } finally {
    await stop(m, tag);
    finishTmp(m, tag);
  }
}

async function alternateRuns(reps: number, run: (side: Side, rep: number) => Promise<void>): Promise<void> {
  for (let rep = 0; rep < reps; rep++) for (const side of (rep % 2 === 0 ? ["ts", "etcd"] : ["etcd", "ts"]) as Side[]) await run(side, rep);
}

runMain(async () => {
  logStart(VERSIONS, ETCD, o);
  if (!o.skipCli) await cliPhase();
  if (!o.skipStart) await alternateRuns(o.reps, startRun);
  if (!o.skipRestart) await alternateRuns(Math.max(1, Math.ceil(o.reps / 2)), restartRun);

  const rows: Row[] = [...cliRows];
  const details = [...cliDetails];
  const add = (metric: string, xs: Record<Side, number[]>) => {
    if (xs.ts.length === 0) return;
    rows.push({ metric, ts: median(xs.ts), etcd: median(xs.etcd), digits: 0, better: "lower" });
    details.push(`- ${metric}: etcd-ts ${xs.ts.map((x) => fmt(x, 0)).join(", ")}; etcd 3.4 ${xs.etcd.map((x) => fmt(x, 0)).join(", ")}`);
  };
  add("start on an empty data dir → first Put answered, ms", startMs);
  add(`restart after SIGTERM with ${o.keys} keys → first Put answered, ms`, restartTermMs);
  add(`restart after kill -9 with ${o.keys} keys → first Put answered, ms`, restartKillMs);
  const how =
    "CLI: each command run as a whole process (fork to exit), ours and the real one in turns against the same running etcd 3.4, " +
    "after one warm-up run each. Start and restart: from spawn until the first Put is answered (connection attempts every 5 ms), " +
    "single member on loopback, in the order A-B-B-A with A = etcd-ts, B = etcd 3.4.";
  finish(markdown((when) => `## Start-up: CLI calls, start and restart — ${when}`, commandLine, table(rows), how, details), { append: true });
});
