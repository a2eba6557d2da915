#!/usr/bin/env bun
// `npm run bench`: etcd-ts (dist/etcd) against the real etcd 3.4 in the same run, on loopback.
//
// Phases, each against both servers with the same parameters:
//   put    --total Put requests, --clients concurrent over --conns HTTP/2 connections, 256 B values,
//          random keys of a --keyspace key space;
//   range  --total serializable, then --total linearizable single-key Range requests on the same key
//          space (all keys exist);
//   memory --keys keys loaded with Txns of --batch puts (--inflight in flight), then the server's
//          RSS (VmRSS) and the size of its data dir.
// put and range run --reps times per server on a fresh server each time, in the order A-B-B-A-A-B
// (etcd-ts, etcd, etcd, etcd-ts, ...), and the table shows the median of the repetitions.
// put and range run with each load generator (--client ts|go|both, default both): bench/load.ts in its
// own Bun process, and bench/go/loadgen on Go's clientv3 3.4 (bench/common/goload.ts builds it
// offline), the same for both servers: the client changes the ratio.
//
// Flags (or env): --total (BENCH_TOTAL) 20000, --clients (BENCH_CLIENTS) 100, --conns (BENCH_CONNS) 10,
//   --keyspace 10000, --value-size 256, --warmup 2000, --reps 3, --keys (BENCH_KEYS) 100000,
//   --batch 100, --inflight 8, --max-seconds 90 (per load phase; memory gets more for big --keys),
//   --client both, --skip-kv, --skip-memory, --keep-logs. Progress goes to stderr; the table to stdout and bench/results.md.
import os from "node:os";
import path from "node:path";
import { bool, checkFlags, commandLine as commandLineOf, helpIfAsked, kvOptions, opt } from "./common/options.ts";
import { type Client, CLIENT_NAME, clientsAsked, RUNNER } from "./common/clients.ts";
import { checkLoad, type LoadMode } from "./common/loadgen.ts";
import {
  alternate, cleanupOnSignals, cpuMs, diskUsage, logProblems, logTail, prerequisites, procStatus, removeTmp, runMain, type Side, SIDE_NAME, type SingleMember, sleep, spawnSingleMember, stopServers, waitHealthy,
} from "./common/procs.ts";
import { finish, fmt, log, logStart, markdown, markFailed, median, problems, type Row, runOrder, table } from "./common/report.ts";

// ---------------------------------------------------------------- options

checkFlags([
  "total", "clients", "conns", "keyspace", "value-size", "warmup", "reps", "keys", "batch", "inflight", "max-seconds",
  "skip-kv", "skip-memory", "keep-logs", "client", "help",
]);
helpIfAsked(import.meta.path, "all");

const o = {
  ...kvOptions({ total: 20_000, conns: 10, reps: 3 }),
  keys: opt("keys", 100_000),
  batch: opt("batch", 100),
  inflight: opt("inflight", 8),
  maxSeconds: opt("max-seconds", 90),
  skipKv: bool("skip-kv"),
  skipMemory: bool("skip-memory"),
  keepLogs: bool("keep-logs"),
};

const commandLine = commandLineOf("bun bench/run.ts");
const CLIENTS = clientsAsked();

// ---------------------------------------------------------------- prerequisites

const { ETCD, VERSIONS } = prerequisites();

// ---------------------------------------------------------------- servers

type Server = SingleMember;

async function startServer(side: Side): Promise<Server> {
  const srv = await spawnSingleMember(side, ETCD, "kv");
  await waitHealthy([srv], () => SIDE_NAME[side]);
  return srv;
}

async function stopServer(srv: Server): Promise<{ stopMs: number; problem: string | null }> {
  const t = Date.now();
  const failures = await stopServers([srv], () => SIDE_NAME[srv.side]);
  return { stopMs: Date.now() - t, problem: failures[0] ?? null };
}

function cleanup(srv: Server): void {
  removeTmp(srv.tmp, o.keepLogs, [[srv.logFile, `${path.basename(srv.tmp)}.log`]]);
}

cleanupOnSignals();

// ---------------------------------------------------------------- load generator

async function load(srv: Server, mode: LoadMode, extra: Record<string, number>, label: string, maxSeconds = o.maxSeconds, client: Client = "ts") {
  // Server CPU time is read when the load generator says the measured part starts and ends.
  const safeCpu = () => (srv.exited ? NaN : cpuMs(srv.pid));
  const { r, cpuStart, cpuEnd } = await RUNNER[client](["--port", String(srv.port)], mode, label, o, maxSeconds, [], extra, safeCpu);
  const res = { ...r, serverCpuMs: (cpuEnd ?? NaN) - (cpuStart ?? NaN) };
  if (srv.exited) {
    markFailed();
    problems.push(`${SIDE_NAME[srv.side]} exited during ${label} (${srv.exitInfo})`);
  }
  checkLoad(r, label, maxSeconds);
  return res;
}
type Measured = Awaited<ReturnType<typeof load>>;

function describe(r: Measured, unit = "req/s"): string {
  return (
    `${fmt(r.rate, 0)} ${unit}, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, ` +
    `${fmt(r.elapsedMs / 1000, 1)} s; server CPU ${fmt(r.serverCpuMs / 1000, 2)} s ` +
    `(${fmt((100 * r.serverCpuMs) / r.elapsedMs, 0)}% of a core), load generator CPU ${fmt(r.clientCpuMs / 1000, 2)} s`
  );
}

// ---------------------------------------------------------------- phases

interface KvRun {
  put: Measured;
  range: Measured;
  lin: Measured;
}
/** One server's runs, by load generator. */
const kvRuns: Record<Client, Record<Side, KvRun[]>> = { ts: { ts: [], etcd: [] }, go: { ts: [], etcd: [] } };

async function kvRun(side: Side, rep: number): Promise<void> {
  const tag = `${SIDE_NAME[side]} #${rep + 1}`;
  log(`put/range ${tag}: starting a fresh server`);
  const srv = await startServer(side);
  try {
    const warm = Math.min(o.warmup, o.total);
    const puts: Partial<Record<Client, Measured>> = {};
    for (const c of CLIENTS) {
      const t = `${tag} ${CLIENT_NAME[c]}`;
      if (warm > 0) await load(srv, "put", { total: warm, seed: 1000 + rep }, `${t} put warm-up`, o.maxSeconds, c);
      log(`put ${t}: ${o.total} puts, ${o.clients} clients over ${o.conns} connections`);
      puts[c] = await load(srv, "put", { total: o.total, seed: 1 + rep }, `${t} put`, o.maxSeconds, c);
      log(`put ${t}: ${describe(puts[c]!)}`);
    }
    log(`range ${tag}: writing all ${o.keyspace} keys of the key space first (Txns of ${o.batch} puts)`);
    await load(srv, "fill", { keys: o.keyspace, batch: o.batch, inflight: o.inflight }, `${tag} key space fill`);
    for (const c of CLIENTS) {
      const t = `${tag} ${CLIENT_NAME[c]}`;
      if (warm > 0) await load(srv, "range", { total: warm, seed: 2000 + rep }, `${t} range warm-up`, o.maxSeconds, c);
      log(`range ${t}: ${o.total} serializable ranges, ${o.clients} clients over ${o.conns} connections`);
      const range = await load(srv, "range", { total: o.total, seed: 3000 + rep }, `${t} range`, o.maxSeconds, c);
      log(`range ${t}: ${describe(range)}`);
      log(`range ${t}: ${o.total} linearizable ranges`);
      const lin = await load(srv, "range", { total: o.total, seed: 4000 + rep, serializable: 0 }, `${t} linearizable range`, o.maxSeconds, c);
      log(`linearizable range ${t}: ${describe(lin)}`);
      kvRuns[c][side].push({ put: puts[c]!, range, lin });
    }
  } finally {
    await finishServer(srv, tag);
  }
}

async function finishServer(srv: Server, tag: string, afterStop?: () => void): Promise<void> {
  const { stopMs, problem } = await stopServer(srv);
  afterStop?.();
  if (problem) {
    markFailed();
    problems.push(`${tag}: ${problem}`);
    log(`!!! ${problem}\n${logTail(srv.logFile)}`);
  }
  if (stopMs > 3000) problems.push(`${tag}: took ${fmt(stopMs / 1000)} s to stop after SIGTERM`);
  const lp = logProblems(srv.logFile);
  if (lp.length) {
    problems.push(`${tag}: ${lp.length} warning/error lines in the server log, e.g. ${lp[0]}`);
    log(`${tag}: ${lp.length} warning/error lines in the server log:`);
    for (const l of lp.slice(0, 5)) log(`    ${l}`);
  }
  cleanup(srv);
}

interface MemRun {
  fill: Measured;
  idleRssKiB: number;
  rssKiB: number;
  /** RssAnon: heap and stacks, without file pages mapped in (bbolt maps its db file). */
  anonKiB: number;
  hwmKiB: number;
  threads: number;
  disk: { du: number; apparent: number };
  snap: { du: number; apparent: number };
  wal: { du: number; apparent: number };
  /** Data dir after a clean stop (SIGTERM), when SQLite has checkpointed its -wal file. */
  stopped?: { du: number; apparent: number };
}
const memRuns: Partial<Record<Side, MemRun>> = {};

async function memRun(side: Side): Promise<void> {
  const tag = `${SIDE_NAME[side]} memory`;
  log(`memory ${SIDE_NAME[side]}: starting a fresh server`);
  const srv = await startServer(side);
  try {
    await sleep(1000);
    const idle = procStatus(srv.pid);
    log(`memory ${SIDE_NAME[side]}: idle RSS ${fmt(idle.rssKiB / 1024)} MiB; loading ${o.keys} keys (Txns of ${o.batch} puts, ${o.inflight} in flight)`);
    const fill = await load(
      srv,
      "fill",
      { keys: o.keys, batch: o.batch, inflight: o.inflight },
      `${tag} load`,
      Math.max(o.maxSeconds, 120 + Math.ceil(o.keys / 2000)),
    );
    log(`memory ${SIDE_NAME[side]}: ${describe(fill, "keys/s")}`);
    // Let the servers settle (batched commits, GC) before reading RSS.
    await sleep(3000);
    const st = procStatus(srv.pid);
    const disk = diskUsage(srv.dataDir);
    const snap = diskUsage(path.join(srv.dataDir, "member", "snap"));
    const wal = diskUsage(path.join(srv.dataDir, "member", "wal"));
    log(
      `memory ${SIDE_NAME[side]}: RSS ${fmt(st.rssKiB / 1024)} MiB (anonymous ${fmt(st.anonKiB / 1024)} MiB, peak ${fmt(st.hwmKiB / 1024)} MiB, ${st.threads} threads); ` +
        `data dir ${fmt(disk.du / 2 ** 20)} MiB on disk (${fmt(disk.apparent / 2 ** 20)} MiB apparent): ` +
        `member/snap ${fmt(snap.du / 2 ** 20)} MiB, member/wal ${fmt(wal.du / 2 ** 20)} MiB`,
    );
    memRuns[side] = { fill, idleRssKiB: idle.rssKiB, rssKiB: st.rssKiB, anonKiB: st.anonKiB, hwmKiB: st.hwmKiB, threads: st.threads, disk, snap, wal };
  } finally {
    await finishServer(srv, tag, () => {
      const m = memRuns[side];
      if (m && srv.exitInfo !== "signal SIGKILL") {
        m.stopped = diskUsage(srv.dataDir);
        log(`memory ${SIDE_NAME[side]}: data dir after a clean stop ${fmt(m.stopped.du / 2 ** 20)} MiB on disk`);
      }
    });
  }
}

// ---------------------------------------------------------------- report

function buildRows(): Row[] {
  const rows: Row[] = [];
  for (const c of CLIENTS) {
    const runs = kvRuns[c];
    if (!runs.ts.length || !runs.etcd.length) continue;
    for (const ph of ["put", "range", "lin"] as const) {
      const name = `${ph === "put" ? "put" : ph === "range" ? "range (serializable)" : "range (linearizable)"}, ${CLIENT_NAME[c]}`;
      const m = (side: Side, f: (r: Measured) => number) => median(runs[side].map((r) => f(r[ph])));
      const row = (metric: string, f: (r: Measured) => number, digits: number, better: Row["better"]) =>
        rows.push({ metric, ts: m("ts", f), etcd: m("etcd", f), digits, better });
      row(`${name} throughput (req/s)`, (r) => r.rate, 0, "higher");
      row(`${name} latency p50 (ms)`, (r) => r.p50Ms, 2, "lower");
      row(`${name} latency p99 (ms)`, (r) => r.p99Ms, 2, "lower");
      row(`${name} server CPU per 1 000 requests (ms)`, (r) => (1000 * r.serverCpuMs) / r.ok, 0, "lower");
    }
  }
  const a = memRuns.ts;
  const b = memRuns.etcd;
  if (a && b) {
    const MiB = (k: number) => k / 1024;
    const n = o.keys.toLocaleString("en-US");
    rows.push({ metric: `Txn load of ${n} keys (keys/s)`, ts: a.fill.rate, etcd: b.fill.rate, digits: 0, better: "higher" });
    rows.push({ metric: "RSS idle, empty store (MiB)", ts: MiB(a.idleRssKiB), etcd: MiB(b.idleRssKiB), digits: 1, better: "lower" });
    rows.push({ metric: `RSS with ${n} keys (MiB)`, ts: MiB(a.rssKiB), etcd: MiB(b.rssKiB), digits: 1, better: "lower" });
    rows.push({ metric: "… of which anonymous (RssAnon, MiB)", ts: MiB(a.anonKiB), etcd: MiB(b.anonKiB), digits: 1, better: "lower" });
    rows.push({ metric: `peak RSS while loading (VmHWM, MiB)`, ts: MiB(a.hwmKiB), etcd: MiB(b.hwmKiB), digits: 1, better: "lower" });
    rows.push({ metric: `data dir on disk with ${n} keys (MiB)`, ts: a.disk.du / 2 ** 20, etcd: b.disk.du / 2 ** 20, digits: 1, better: "lower" });
    rows.push({ metric: "… of which member/snap (db)", ts: a.snap.du / 2 ** 20, etcd: b.snap.du / 2 ** 20, digits: 1, better: "lower" });
    rows.push({ metric: "… of which member/wal", ts: a.wal.du / 2 ** 20, etcd: b.wal.du / 2 ** 20, digits: 1, better: "lower" });
    if (a.stopped && b.stopped)
      rows.push({ metric: "data dir after a clean stop (MiB)", ts: a.stopped.du / 2 ** 20, etcd: b.stopped.du / 2 ** 20, digits: 1, better: "lower" });
  }
  return rows;
}

function details(): string {
  const out: string[] = [];
  for (const side of ["ts", "etcd"] as Side[]) {
    for (const c of CLIENTS) {
      kvRuns[c][side].forEach((r, i) => {
        out.push(`- ${SIDE_NAME[side]} run ${i + 1}, ${CLIENT_NAME[c]}: put ${describe(r.put)}`);
        out.push(`- ${SIDE_NAME[side]} run ${i + 1}, ${CLIENT_NAME[c]}: serializable range ${describe(r.range)}`);
        out.push(`- ${SIDE_NAME[side]} run ${i + 1}, ${CLIENT_NAME[c]}: linearizable range ${describe(r.lin)}`);
      });
    }
    const m = memRuns[side];
    if (m) {
      out.push(
        `- ${SIDE_NAME[side]} memory: ${describe(m.fill, "keys/s")}; ${m.threads} threads; data dir ${fmt(m.disk.apparent / 2 ** 20)} MiB apparent`,
      );
    }
  }
  return out.join("\n");
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  logStart(VERSIONS, ETCD, o);
  if (!o.skipKv) await alternate(o.reps, kvRun);
  if (!o.skipMemory) {
    await memRun("ts");
    await memRun("etcd");
  }

  const rows = buildRows();
  const md = markdown(
    (when) => `Benchmark: etcd-ts (dist/etcd) vs etcd 3.4, same machine, same run (${when}, ${os.cpus().length} cores, loopback).`,
    commandLine,
    table(rows),
    [
      o.skipKv
        ? ""
        : `put/range: ${o.total} requests per run and load generator (${CLIENTS.map((c) => CLIENT_NAME[c]).join(", ")}), ${o.clients} concurrent clients over ${o.conns} HTTP/2 connections, ` +
          `${o.valueSize} B values, random keys of a ${o.keyspace}-key space, ${o.warmup} warm-up requests; median of ` +
          `${o.reps} runs per server (order ${runOrder(o.reps)}, fresh server and data dir each run); server CPU from ` +
          `/proc/PID/stat during the measured part. `,
      o.skipMemory
        ? ""
        : `Memory: ${o.keys} keys of ${o.valueSize} B in Txns of ${o.batch} puts (${o.inflight} in flight), RSS read ` +
          `from /proc/PID/status 3 s after loading; disk is allocated blocks (du). `,
      "Ratios matter, not absolute numbers: the machine is shared and the load generator shares its 2 cores.",
    ].join(""),
    [details()],
  );
  finish(md);
}

runMain(main);
