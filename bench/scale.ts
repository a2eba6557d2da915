#!/usr/bin/env bun
// `npm run bench -- scale`: how memory and per-request cost grow with the size of the store, etcd-ts
// (dist/etcd) against the real etcd 3.4 in the same run, each on fresh single-member servers on
// loopback. The load generator is bench/load.ts in its own Bun process, the same for both servers.
//
// Phases, each against both servers with the same parameters:
//   memory  RSS of the idle server 2 s after start; then --mem-puts puts (200000) on random keys of a
//           --mem-keys key space (100000), --clients over --conns, and 3 s later VmRSS, RssAnon,
//           VmHWM (peak) and the data dir on disk (du).
//   growth  for each of --sizes key counts (10000,100000,1000000), a fresh server is filled with that
//           many keys (Txns of --batch puts, --inflight in flight); then --total puts on random keys
//           of the same keys (overwrites) and --total serializable single-key ranges, each after
//           --warmup requests: server CPU per request (utime + stime of /proc/PID/stat around the
//           measured part), p50/p99 and rate. Growth is the cost at the largest size over the cost
//           at the smallest (goal: within 1.2×).
//   range   on the server filled with the largest size: one Range of all its keys on its own
//           connection, timed until the whole response is in, with the server's peak RSS during it
//           (VmHWM reset just before through /proc/PID/clear_refs, else VmRSS polled every 20 ms).
//           The kvs returned must equal the key count (goal: peak RSS ≤ 0.5× etcd's).
// The order alternates: etcd-ts first for the memory phase and the 1st, 3rd… size, etcd 3.4 first
// for the others. Both servers run with --quota-backend-bytes 8 GiB so a big store never trips the
// space alarm. A failed request, a server that exits or a wrong count fails the run (exit 1).
//
// Flags (or BENCH_* env): --sizes 10000,100000,1000000, --total 20000, --warmup 2000, --clients 100,
//   --conns 10, --value-size 256, --batch 100, --inflight 8, --mem-keys 100000, --mem-puts 200000,
//   --max-seconds 90 (per load phase; fills get more for big sizes), --skip-memory, --skip-growth,
//   --skip-range, --keep-logs. Progress goes to stderr; the table to stdout and appended to
//   bench/results.md.
import os from "node:os";
import path from "node:path";
import { bigRange, type BigRangeResult } from "./common/big-range.ts";
import { checkLoad, type LoadMode, runLoad } from "./common/loadgen.ts";
import { bool, checkFlags, commandLine as commandLineOf, flag, helpIfAsked, opt } from "./common/options.ts";
import {
  cleanupOnSignals, cpuMs, diskUsage, logProblems, logTail, prerequisites, procStatus, removeTmp, runMain, type Side, SIDE_NAME, type SingleMember, sleep, spawnSingleMember, stopServers, waitHealthy,
} from "./common/procs.ts";
import { finish, fmt, log, logStart, markdown, markFailed, problems, type Row, table } from "./common/report.ts";

// ---------------------------------------------------------------- options

checkFlags([
  "sizes", "total", "warmup", "clients", "conns", "value-size", "batch", "inflight", "mem-keys", "mem-puts", "max-seconds",
  "skip-memory", "skip-growth", "skip-range", "keep-logs", "help",
]);
helpIfAsked(import.meta.path, "header");

/** --sizes: positive key counts, ascending, without repeats; exits 2 on anything else. */
function sizesFlag(): number[] {
  const raw = flag("sizes") ?? process.env.BENCH_SIZES ?? "10000,100000,1000000";
  const sizes = raw.split(",").map((s) => Number(s.trim()));
  if (!sizes.length || sizes.some((n) => !Number.isInteger(n) || n <= 0)) {
    process.stderr.write(`bench: --sizes wants positive key counts separated by commas, not '${raw}'\n`);
    process.exit(2);
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

const o = {
  sizes: sizesFlag(),
  total: opt("total", 20_000),
  warmup: opt("warmup", 2_000),
  clients: opt("clients", 100),
  conns: opt("conns", 10),
  valueSize: opt("value-size", 256),
  batch: opt("batch", 100),
  inflight: opt("inflight", 8),
  memKeys: opt("mem-keys", 100_000),
  memPuts: opt("mem-puts", 200_000),
  maxSeconds: opt("max-seconds", 90),
  skipMemory: bool("skip-memory"),
  skipGrowth: bool("skip-growth"),
  skipRange: bool("skip-range"),
  keepLogs: bool("keep-logs"),
};
const smallest = o.sizes[0];
const largest = o.sizes[o.sizes.length - 1];
/** Keys are "bench/00000042" (bench/load.ts): this prefix holds all of them. */
const KEY_PREFIX = "bench/";
const n = (k: number) => k.toLocaleString("en-US");

const commandLine = commandLineOf("bun bench/scale.ts");
const { ETCD, VERSIONS } = prerequisites();
cleanupOnSignals();

// ---------------------------------------------------------------- servers

type Server = SingleMember;

async function startServer(side: Side): Promise<Server> {
  const srv = await spawnSingleMember(side, ETCD, "scale", ["--quota-backend-bytes", String(8 * 1024 ** 3)]);
  try {
    await waitHealthy([srv], () => SIDE_NAME[side]);
  } catch (err) {
    await finishServer(srv, `${SIDE_NAME[side]} start-up`);
    throw err;
  }
  return srv;
}

/** Stops the server; anything wrong (it had exited, needed SIGKILL, logged warnings) goes under problems. */
async function finishServer(srv: Server, tag: string): Promise<void> {
  const failures = await stopServers([srv], () => SIDE_NAME[srv.side]);
  for (const f of failures) {
    markFailed();
    problems.push(`${tag}: ${f}`);
    log(`!!! ${tag}: ${f}\n${logTail(srv.logFile)}`);
  }
  const lp = logProblems(srv.logFile);
  if (lp.length) {
    problems.push(`${tag}: ${lp.length} warning/error lines in the server log, e.g. ${lp[0]}`);
    log(`${tag}: ${lp.length} warning/error lines in the server log:`);
    for (const l of lp.slice(0, 5)) log(`    ${l}`);
  }
  removeTmp(srv.tmp, o.keepLogs, [[srv.logFile, `${path.basename(srv.tmp)}.log`]]);
}

/** Runs one server's part of a phase; an exception fails the run but the other runs still go on. */
async function guarded(tag: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    markFailed();
    const msg = (err as Error)?.message ?? String(err);
    problems.push(`${tag}: ${msg.split("\n")[0]}`);
    log(`!!! ${tag}: ${msg}`);
  }
}

// ---------------------------------------------------------------- load generator

/** One bench/load.ts run on `keyspace` keys; server CPU is read at its @start and @end lines. */
async function load(srv: Server, mode: LoadMode, keyspace: number, extra: Record<string, number>, label: string, maxSeconds = o.maxSeconds) {
  const lo = { clients: o.clients, conns: o.conns, keyspace, valueSize: o.valueSize };
  const safeCpu = () => (srv.exited ? NaN : cpuMs(srv.pid));
  const { r, cpuStart, cpuEnd } = await runLoad(["--port", String(srv.port)], mode, label, lo, maxSeconds, [], extra, safeCpu);
  const res = { ...r, serverCpuMs: (cpuEnd ?? NaN) - (cpuStart ?? NaN) };
  // The log tail comes with the stop (finishServer).
  if (srv.exited) throw new Error(`the server exited during ${label} (${srv.exitInfo})`);
  checkLoad(r, label, maxSeconds);
  return res;
}
type Measured = Awaited<ReturnType<typeof load>>;

const cpuPerReqUs = (r: Measured) => (1000 * r.serverCpuMs) / r.ok;

function describe(r: Measured, unit = "req/s"): string {
  return (
    `${fmt(r.rate, 0)} ${unit}, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, ${fmt(r.elapsedMs / 1000, 1)} s; ` +
    `server CPU ${fmt(r.serverCpuMs / 1000, 2)} s (${fmt(cpuPerReqUs(r), 1)} µs per request), load generator CPU ${fmt(r.clientCpuMs / 1000, 2)} s`
  );
}

/** Fills keys 0..keys-1 with Txns; a big fill gets more time than --max-seconds. */
function fill(srv: Server, keys: number, label: string): Promise<Measured> {
  return load(srv, "fill", keys, { keys, batch: o.batch, inflight: o.inflight }, label, Math.max(o.maxSeconds, 120 + Math.ceil(keys / 2000)));
}

// ---------------------------------------------------------------- phase 1: memory

interface MemRun {
  put: Measured;
  idleRssKiB: number;
  rssKiB: number;
  anonKiB: number;
  hwmKiB: number;
  diskBytes: number;
}
const memRuns: Partial<Record<Side, MemRun>> = {};

async function memRun(side: Side): Promise<void> {
  const tag = `${SIDE_NAME[side]} memory`;
  log(`${tag}: starting a fresh server`);
  const srv = await startServer(side);
  try {
    await sleep(2000);
    const idle = procStatus(srv.pid);
    log(`${tag}: idle RSS ${fmt(idle.rssKiB / 1024)} MiB; ${o.memPuts} puts on ${o.memKeys} keys, ${o.clients} clients over ${o.conns} connections`);
    const put = await load(srv, "put", o.memKeys, { total: o.memPuts, seed: 7 }, `${tag} puts`, Math.max(o.maxSeconds, 120 + Math.ceil(o.memPuts / 1000)));
    log(`${tag}: ${describe(put)}`);
    // Let the server settle (batched commits, GC) before reading RSS.
    await sleep(3000);
    if (srv.exited) throw new Error(`${SIDE_NAME[side]} exited after the puts (${srv.exitInfo})`);
    const st = procStatus(srv.pid);
    const disk = diskUsage(srv.dataDir);
    log(
      `${tag}: RSS ${fmt(st.rssKiB / 1024)} MiB (anonymous ${fmt(st.anonKiB / 1024)} MiB, peak ${fmt(st.hwmKiB / 1024)} MiB); ` +
        `data dir ${fmt(disk.du / 2 ** 20)} MiB on disk`,
    );
    memRuns[side] = { put, idleRssKiB: idle.rssKiB, rssKiB: st.rssKiB, anonKiB: st.anonKiB, hwmKiB: st.hwmKiB, diskBytes: disk.du };
  } finally {
    await finishServer(srv, tag);
  }
}

// ---------------------------------------------------------------- phases 2 and 3: cost growth, big range

interface SizeRun {
  fill: Measured;
  put?: Measured;
  range?: Measured;
  big?: BigRangeResult;
}
const sizeRuns: Record<Side, Map<number, SizeRun>> = { ts: new Map(), etcd: new Map() };

async function sizeRun(side: Side, keys: number): Promise<void> {
  const tag = `${SIDE_NAME[side]} ${n(keys)} keys`;
  log(`${tag}: starting a fresh server; filling it (Txns of ${o.batch} puts, ${o.inflight} in flight)`);
  const srv = await startServer(side);
  try {
    const run: SizeRun = { fill: await fill(srv, keys, `${tag} fill`) };
    sizeRuns[side].set(keys, run);
    log(`${tag}: fill ${describe(run.fill, "keys/s")}`);
    if (!o.skipGrowth) {
      const warm = Math.min(o.warmup, o.total);
      await load(srv, "put", keys, { total: warm, seed: 1000 }, `${tag} put warm-up`);
      run.put = await load(srv, "put", keys, { total: o.total, seed: 1 }, `${tag} put`);
      log(`${tag}: put ${describe(run.put)}`);
      await load(srv, "range", keys, { total: warm, seed: 2000 }, `${tag} range warm-up`);
      run.range = await load(srv, "range", keys, { total: o.total, seed: 3000 }, `${tag} range`);
      log(`${tag}: range ${describe(run.range)}`);
    }
    if (!o.skipRange && keys === largest) {
      await sleep(1000); // let the last requests' garbage go before the RSS baseline
      log(`${tag}: one Range of all ${n(keys)} keys`);
      const timeoutMs = 1000 * Math.max(o.maxSeconds, 120 + Math.ceil(keys / 5000));
      let big: BigRangeResult;
      try {
        big = await bigRange(srv.port, srv.pid, KEY_PREFIX, timeoutMs);
      } catch (err) {
        const why = srv.exited ? `${SIDE_NAME[side]} exited (${srv.exitInfo})` : (err as Error).message;
        throw new Error(`Range of all ${n(keys)} keys failed: ${why}`);
      }
      run.big = big;
      log(`${tag}: ${describeBig(big)}`);
      if (big.kvs !== keys || big.count !== keys || big.more) {
        markFailed();
        const what = `${tag}: Range of all keys returned ${big.kvs} kvs (count ${big.count}, more ${big.more}), expected ${keys}`;
        problems.push(what);
        log(`!!! ${what}`);
      }
    }
  } finally {
    await finishServer(srv, tag);
  }
}

function describeBig(b: BigRangeResult): string {
  return (
    `${b.kvs} kvs (count ${b.count}, more ${b.more}, ${b.firstKey} … ${b.lastKey}), ${fmt(b.bytes / 2 ** 20)} MiB in ${fmt(b.ms / 1000, 2)} s; ` +
    `server RSS ${fmt(b.rssBeforeKiB / 1024)} MiB before, peak ${fmt(b.peakKiB / 1024)} MiB (${b.peakFrom})`
  );
}

// ---------------------------------------------------------------- report

function buildRows(): Row[] {
  const rows: Row[] = [];
  const MiB = (k: number | undefined) => (k === undefined ? NaN : k / 1024);
  const a = memRuns.ts;
  const b = memRuns.etcd;
  if (a || b) {
    const mem = (metric: string, f: (m: MemRun) => number, digits: number, better: Row["better"]) =>
      rows.push({ metric, ts: a ? f(a) : NaN, etcd: b ? f(b) : NaN, digits, better });
    const what = `${n(o.memPuts)} puts on ${n(o.memKeys)} keys`;
    mem("RSS idle, empty store (MiB)", (m) => MiB(m.idleRssKiB), 1, "lower");
    mem(`${what} (req/s)`, (m) => m.put.rate, 0, "higher");
    mem(`RSS after ${what} (MiB)`, (m) => MiB(m.rssKiB), 1, "lower");
    mem("… of which anonymous (RssAnon, MiB)", (m) => MiB(m.anonKiB), 1, "lower");
    mem("peak RSS (VmHWM, MiB)", (m) => MiB(m.hwmKiB), 1, "lower");
    mem(`data dir on disk after ${what} (MiB)`, (m) => m.diskBytes / 2 ** 20, 1, "lower");
  }

  const at = (side: Side, keys: number) => sizeRuns[side].get(keys);
  const sizeRow = (keys: number, metric: string, f: (r: SizeRun) => number | undefined, digits: number, better: Row["better"]) => {
    const v = (side: Side) => {
      const r = at(side, keys);
      return r ? (f(r) ?? NaN) : NaN;
    };
    rows.push({ metric, ts: v("ts"), etcd: v("etcd"), digits, better });
  };
  if (!o.skipGrowth) {
    for (const keys of o.sizes) {
      const k = n(keys);
      sizeRow(keys, `${k} keys: Txn fill (keys/s)`, (r) => r.fill.rate, 0, "higher");
      for (const ph of ["put", "range"] as const) {
        const name = ph === "put" ? "put" : "range (serializable)";
        sizeRow(keys, `${k} keys: ${name} server CPU per request (µs)`, (r) => r[ph] && cpuPerReqUs(r[ph]), 1, "lower");
        sizeRow(keys, `${k} keys: ${name} p50 (ms)`, (r) => r[ph]?.p50Ms, 2, "lower");
        sizeRow(keys, `${k} keys: ${name} p99 (ms)`, (r) => r[ph]?.p99Ms, 2, "lower");
        sizeRow(keys, `${k} keys: ${name} (req/s)`, (r) => r[ph]?.rate, 0, "higher");
      }
    }
    if (o.sizes.length > 1) {
      // Growth of each server against itself: the ratio column compares the two growths.
      const growth = (side: Side, f: (r: SizeRun) => number | undefined) => {
        const lo = at(side, smallest);
        const hi = at(side, largest);
        return lo && hi ? (f(hi) ?? NaN) / (f(lo) ?? NaN) : NaN;
      };
      const span = `${n(largest)} vs ${n(smallest)} keys`;
      for (const ph of ["put", "range"] as const) {
        const cpu = (r: SizeRun) => r[ph] && cpuPerReqUs(r[ph]);
        const p50 = (r: SizeRun) => r[ph]?.p50Ms;
        rows.push({ metric: `${ph} CPU per request, ${span} (×, goal ≤ 1.2)`, ts: growth("ts", cpu), etcd: growth("etcd", cpu), digits: 2, better: "lower" });
        rows.push({ metric: `${ph} p50, ${span} (×)`, ts: growth("ts", p50), etcd: growth("etcd", p50), digits: 2, better: "lower" });
      }
    }
  }
  if (!o.skipRange) {
    const k = n(largest);
    sizeRow(largest, `Range of all ${k} keys (s)`, (r) => r.big && r.big.ms / 1000, 2, "lower");
    sizeRow(largest, `… server peak RSS during it (MiB, goal ≤ 0.5× etcd)`, (r) => r.big && MiB(r.big.peakKiB), 1, "lower");
    sizeRow(largest, `… server RSS growth during it (peak − before, MiB)`, (r) => r.big && MiB(r.big.peakKiB - r.big.rssBeforeKiB), 1, "lower");
  }
  return rows;
}

function details(): string[] {
  const out: string[] = [];
  for (const side of ["ts", "etcd"] as Side[]) {
    const name = SIDE_NAME[side];
    const m = memRuns[side];
    if (m) out.push(`- ${name} memory: ${describe(m.put)}`);
    for (const [keys, r] of sizeRuns[side]) {
      out.push(`- ${name} ${n(keys)} keys: fill ${describe(r.fill, "keys/s")}`);
      if (r.put) out.push(`- ${name} ${n(keys)} keys: put ${describe(r.put)}`);
      if (r.range) out.push(`- ${name} ${n(keys)} keys: range ${describe(r.range)}`);
      if (r.big) out.push(`- ${name} ${n(keys)} keys: Range of all keys: ${describeBig(r.big)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  logStart(VERSIONS, ETCD, o);
  if (!o.skipMemory) {
    for (const side of ["ts", "etcd"] as Side[]) await guarded(`${SIDE_NAME[side]} memory`, () => memRun(side));
  }
  if (!o.skipGrowth || !o.skipRange) {
    // Without the growth phase only the largest size is filled, for the big Range.
    const sizes = o.skipGrowth ? [largest] : o.sizes;
    for (const [i, keys] of sizes.entries()) {
      const order: Side[] = i % 2 === 0 ? ["ts", "etcd"] : ["etcd", "ts"];
      for (const side of order) await guarded(`${SIDE_NAME[side]} ${n(keys)} keys`, () => sizeRun(side, keys));
    }
  }

  const md = markdown(
    (when) => `Scale: etcd-ts (dist/etcd) vs etcd 3.4 as the store grows, same machine, same run (${when}, ${os.cpus().length} cores, loopback).`,
    commandLine,
    table(buildRows()),
    [
      o.skipMemory
        ? ""
        : `Memory: RSS 2 s after start, then ${n(o.memPuts)} puts of ${o.valueSize} B values on random keys of a ` +
          `${n(o.memKeys)}-key space (${o.clients} clients over ${o.conns} HTTP/2 connections), read from /proc/PID/status ` +
          `3 s later; disk is allocated blocks (du). `,
      o.skipGrowth
        ? ""
        : `Growth: per size a fresh server filled with that many keys (Txns of ${o.batch} puts), then ${o.total} puts ` +
          `(overwrites) and ${o.total} serializable single-key ranges on random keys of them, each after ${o.warmup} ` +
          `warm-up requests; server CPU from /proc/PID/stat during the measured part. `,
      o.skipRange
        ? ""
        : `Range: one linearizable Range of all ${n(largest)} keys on its own connection (64 MiB HTTP/2 window), timed ` +
          `until the whole response is in; peak RSS is VmHWM reset just before the call (or VmRSS polled every 20 ms). `,
      "Order: etcd-ts first for memory and odd sizes, etcd 3.4 first for even sizes; one run each. ",
      "Ratios matter, not absolute numbers: the machine is shared and the load generator shares its cores.",
    ].join(""),
    details(),
  );
  finish(md, { append: true });
}

runMain(main);
