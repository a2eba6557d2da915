#!/usr/bin/env bun
// `npm run bench -- watch`: watch fan-out, etcd-ts (dist/etcd) against the real etcd 3.4 in the same
// run, each on a fresh single-member server on loopback, in the order A-B-B-A… (A = etcd-ts).
//
// --watchers watchers (10000) over --conns HTTP/2 connections (10) × --streams-per-conn gRPC Watch
// streams (10) watch --keys keys (1000), one key each: watcher i watches key i mod keys, so every key
// has watchers/keys watchers, spread over different streams and connections. A writer (this process,
// its own connection) puts to random keys at --rate puts/s (1000), paced, for --warmup s (3) and then
// --seconds s (20) that are measured. Each value carries the put's send time and number; the watch
// clients (bench/watch-client.ts, in --client-procs Bun processes (2), so decoding does not compete
// with the writer) check every event and time it.
//
// Per server: delivery latency (put sent → event decoded by the watcher) p50/p99/max over the events
// of the measured puts; events delivered against expected (each watcher must get every measured put
// to its key exactly once, in revision order; a missing event fails the run); server CPU (utime +
// stime from /proc) from the first measured put until the last measured event arrived, per delivered
// event; the watch clients' CPU (a client near 100% of a core would time its own backlog). Shown is
// the median of --reps runs per server (2).
//
// Flags (or BENCH_* env): --watchers 10000, --keys 1000, --conns 10, --streams-per-conn 10,
//   --rate 1000, --seconds 20, --warmup 3, --value-size 256, --client-procs 2, --reps 2,
//   --drain-seconds 10 (wait for late events after the last put), --seed 1, --keep-logs.
// Progress goes to stderr; the table to stdout and appended to bench/results.md.
import { type ChildProcess, spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import type http2 from "node:http2";
import { etcdserverpb } from "../src/proto/etcd.js";
import { frame } from "../src/server/grpc/framing.ts";
import { connectH2, unaryFramed, type UnaryOptions } from "./common/grpc.ts";
import { bool, checkFlags, commandLine as commandLineOf, helpIfAsked, opt } from "./common/options.ts";
import {
  alternate, BENCH, cleanupOnSignals, cpuMs, logProblems, logTail, prerequisites, removeTmp, ROOT, runMain, type Side, SIDE_NAME, type SingleMember, sleep, spawnSingleMember, stopServers, waitHealthy,
} from "./common/procs.ts";
import { finish, fmt, log, logStart, markdown, markFailed, median, problems, type Row, runOrder, table } from "./common/report.ts";
import { keyName, keyPicks, LatencyHistogram, sharedNowMs, STAMP_BYTES, writeStamp } from "./common/watch-wire.ts";
import type { WatchClientResult } from "./watch-client.ts";

// ---------------------------------------------------------------- options

checkFlags([
  "watchers", "keys", "conns", "streams-per-conn", "rate", "seconds", "warmup", "value-size", "client-procs", "reps",
  "drain-seconds", "seed", "keep-logs", "help",
]);
helpIfAsked(import.meta.path, "header");

const o = {
  watchers: opt("watchers", 10_000),
  keys: opt("keys", 1000),
  conns: opt("conns", 10),
  streamsPerConn: opt("streams-per-conn", 10),
  rate: opt("rate", 1000),
  seconds: opt("seconds", 20),
  warmup: opt("warmup", 3),
  valueSize: Math.max(STAMP_BYTES, opt("value-size", 256)),
  clientProcs: opt("client-procs", 2),
  reps: opt("reps", 2),
  drainSeconds: opt("drain-seconds", 10),
  seed: opt("seed", 1),
  keepLogs: bool("keep-logs"),
};
const clientProcs = Math.min(o.clientProcs, o.conns);
const warmPuts = o.rate * o.warmup;
const measuredPuts = o.rate * o.seconds;
const totalPuts = warmPuts + measuredPuts;
/** The writer gives up when this many puts are unanswered (5 s of them): the server cannot keep up. */
const MAX_INFLIGHT = o.rate * 5;
const PUT_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 120_000;

const commandLine = commandLineOf("bun bench/watch.ts");
const { ETCD, VERSIONS } = prerequisites();
cleanupOnSignals();

// ---------------------------------------------------------------- servers

type Server = SingleMember;

async function startServer(side: Side): Promise<Server> {
  const srv = await spawnSingleMember(side, ETCD, "watch");
  await waitHealthy([srv], () => SIDE_NAME[side]);
  return srv;
}

// ---------------------------------------------------------------- watch client processes

interface Client {
  proc: ChildProcess;
  pid: number;
  ready: Promise<number>;
  result: Promise<WatchClientResult>;
}

function startClient(srv: Server, connIds: number[], seed: number): Client {
  const args = [
    path.join(BENCH, "watch-client.ts"),
    "--port", String(srv.port), "--conn-ids", connIds.join(","), "--conns", String(o.conns),
    "--streams-per-conn", String(o.streamsPerConn), "--watchers", String(o.watchers), "--keys", String(o.keys),
    "--seed", String(seed), "--puts", String(totalPuts), "--measure-from", String(warmPuts), "--measure-to", String(totalPuts),
    "--max-seconds", String(READY_TIMEOUT_MS / 1000 + o.warmup + o.seconds + o.drainSeconds + 30),
  ];
  const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  if (!proc.pid) throw new Error("could not start a watch client");
  let onReady: (ms: number) => void = () => {};
  let onResult: (r: WatchClientResult) => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<number>((res, rej) => ((onReady = res), (onFail = rej)));
  const result = new Promise<WatchClientResult>((res, rej) => {
    onResult = res;
    const prev = onFail;
    onFail = (e) => (prev(e), rej(e));
  });
  ready.catch(() => {});
  result.catch(() => {});
  let pending = "";
  proc.stdout!.setEncoding("utf8");
  proc.stdout!.on("data", (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith("@ready ")) onReady(Number(line.slice(7)));
      else if (line.startsWith("{")) onResult(JSON.parse(line) as WatchClientResult);
    }
  });
  proc.on("close", (code) => onFail(new Error(`watch client (connections ${connIds.join(",")}) exited with code ${code} before reporting`)));
  return { proc, pid: proc.pid, ready, result };
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what}: no answer within ${ms / 1000} s`)))]);

// ---------------------------------------------------------------- writer

interface WriterResult {
  /** performance.now() and shared clock at the first measured put. */
  startPerf: number;
  startShared: number;
  endPerf: number;
  putErrors: number;
  firstErrors: string[];
  putHist: LatencyHistogram;
}

/**
 * Puts totalPuts values, paced at o.rate/s from one connection, each to the key picks[seq] with the
 * stamp (send time, seq) in its value. onMeasureStart runs just before the first measured put.
 */
async function write(session: http2.ClientHttp2Session, picks: Uint32Array, onMeasureStart: () => void): Promise<WriterResult> {
  // A framed PutRequest per key with a zero value; the value is the message's last field, so its
  // bytes are the last valueSize of the frame and each put copies the template and stamps it.
  const templates = Array.from({ length: o.keys }, (_, k) =>
    frame(etcdserverpb.PutRequest.encode({ key: Buffer.from(keyName(k)), value: Buffer.alloc(o.valueSize, 0x78) }).finish()),
  );
  const callOptions: UnaryOptions = { timeoutMs: PUT_TIMEOUT_MS };
  const putHist = new LatencyHistogram();
  const firstErrors: string[] = [];
  let putErrors = 0;
  let inflight = 0;
  const calls: Promise<void>[] = [];
  const res = { startPerf: NaN, startShared: NaN, endPerf: NaN };
  const t0 = performance.now();
  let seq = 0;
  let lastLog = t0;
  while (seq < totalPuts) {
    const now = performance.now();
    const due = Math.min(totalPuts, Math.floor(((now - t0) * o.rate) / 1000) + 1);
    for (; seq < due; seq++) {
      if (seq === warmPuts) {
        onMeasureStart();
        res.startPerf = performance.now();
        res.startShared = sharedNowMs();
      }
      if (inflight >= MAX_INFLIGHT) throw new Error(`the server fell behind: ${inflight} puts unanswered at put #${seq}`);
      const f = Buffer.from(templates[picks[seq]]);
      const sentPerf = performance.now();
      writeStamp(f, f.length - o.valueSize, sharedNowMs(), seq);
      inflight++;
      calls.push(
        unaryFramed(session, "/etcdserverpb.KV/Put", f, callOptions).then(
          () => {
            inflight--;
            putHist.add(performance.now() - sentPerf);
          },
          (err: Error) => {
            inflight--;
            putErrors++;
            if (firstErrors.length < 5) firstErrors.push(err.message);
          },
        ),
      );
    }
    if (now - lastLog >= 5000) {
      lastLog = now;
      log(`  writer: ${seq}/${totalPuts} puts${putErrors ? `, ${putErrors} failed` : ""}, ${inflight} unanswered`);
    }
    await sleep(Math.max(0, t0 + (seq * 1000) / o.rate - performance.now()));
  }
  await Promise.all(calls);
  res.endPerf = performance.now();
  return { ...res, putErrors, firstErrors, putHist };
}

// ---------------------------------------------------------------- one run

interface Run {
  side: Side;
  rep: number;
  createMs: number;
  expected: number;
  delivered: number;
  missing: number;
  errors: number;
  hist: LatencyHistogram;
  windowMs: number;
  serverCpuMs: number;
  /** The busiest watch client process over the window, % of a core. */
  clientCpuPct: number;
  putErrors: number;
  putHist: LatencyHistogram;
  writeRate: number;
}
const runs: Record<Side, Run[]> = { ts: [], etcd: [] };

async function oneRun(side: Side, rep: number): Promise<void> {
  const tag = `${SIDE_NAME[side]} #${rep + 1}`;
  log(`${tag}: starting a fresh server`);
  const srv = await startServer(side);
  const clients: Client[] = [];
  let writer: http2.ClientHttp2Session | null = null;
  try {
    // Both servers of a repetition get the same sequence of keys.
    const seed = o.seed + rep;
    const picks = keyPicks(seed, o.keys, totalPuts);
    for (let p = 0; p < clientProcs; p++) {
      const ids = Array.from({ length: o.conns }, (_, c) => c).filter((c) => c % clientProcs === p);
      clients.push(startClient(srv, ids, seed));
    }
    const createMs = Math.max(...(await withTimeout(Promise.all(clients.map((c) => c.ready)), READY_TIMEOUT_MS, `${tag}: creating the watchers`)));
    log(`${tag}: ${o.watchers} watchers created in ${fmt(createMs, 0)} ms; writing ${o.rate} puts/s for ${o.warmup} s warm-up + ${o.seconds} s`);

    writer = await connectH2(srv.port, 10_000);
    let serverCpu0 = NaN;
    const clientCpu0: number[] = [];
    const w = await write(writer, picks, () => {
      serverCpu0 = cpuMs(srv.pid);
      for (const c of clients) clientCpu0.push(cpuMs(c.pid));
    });
    log(`${tag}: all puts answered; waiting up to ${o.drainSeconds} s for the last events`);

    // The window ends when the last client has every measured event (or gives up after the drain).
    const results: WatchClientResult[] = new Array(clients.length);
    let reported = 0;
    const drainTimer = setTimeout(() => {
      for (const c of clients) c.proc.stdin!.write("end\n");
    }, o.drainSeconds * 1000);
    let serverCpu1 = NaN;
    let endPerf = NaN;
    try {
      await withTimeout(
        Promise.all(
          clients.map((c, i) =>
            c.result.then((r) => {
              results[i] = r;
              if (++reported === clients.length && !srv.exited) {
                serverCpu1 = cpuMs(srv.pid);
                endPerf = performance.now();
              }
            }),
          ),
        ),
        (o.drainSeconds + 30) * 1000,
        `${tag}: watch client results`,
      );
    } finally {
      clearTimeout(drainTimer);
    }
    const windowMs = endPerf - w.startPerf;
    const hist = new LatencyHistogram();
    for (const r of results) hist.merge(r.hist);
    const sum = (f: (r: WatchClientResult) => number) => results.reduce((a, r) => a + f(r), 0);
    // Client CPU over the window: its total at the end less what /proc said at the start.
    const clientCpuPct = Math.max(
      ...results.map((r, i) => (100 * (r.cpuTotalMs - clientCpu0[i])) / (r.finishedAtMs - w.startShared)),
    );
    const run: Run = {
      side, rep, createMs, expected: sum((r) => r.expected), delivered: sum((r) => r.delivered), missing: sum((r) => r.missing),
      errors: sum((r) => r.errors), hist, windowMs, serverCpuMs: serverCpu1 - serverCpu0, clientCpuPct,
      putErrors: w.putErrors, putHist: w.putHist, writeRate: (1000 * measuredPuts) / (w.endPerf - w.startPerf),
    };
    runs[side].push(run);
    log(`${tag}: ${describe(run)}`);
    check(run, tag, results, w);
  } finally {
    writer?.destroy();
    for (const c of clients) if (c.proc.exitCode === null) c.proc.kill("SIGKILL");
    await finishServer(srv, tag);
  }
}

function check(r: Run, tag: string, results: WatchClientResult[], w: WriterResult): void {
  const fail = (what: string) => {
    markFailed();
    problems.push(`${tag}: ${what}`);
    log(`!!! ${what}`);
  };
  if (r.missing > 0) fail(`${r.missing} of ${r.expected} events never arrived (waited ${o.drainSeconds} s after the last put)`);
  if (r.errors > 0) fail(`${r.errors} watch errors; first: ${results.flatMap((x) => x.firstErrors).slice(0, 5).join(" | ")}`);
  if (w.putErrors > 0) fail(`${w.putErrors} puts failed; first: ${w.firstErrors.join(" | ")}`);
  if (r.clientCpuPct > 85) problems.push(`${tag}: a watch client used ${fmt(r.clientCpuPct, 0)}% of a core: latencies may include its own backlog`);
}

async function finishServer(srv: Server, tag: string): Promise<void> {
  const failures = await stopServers([srv], () => SIDE_NAME[srv.side]);
  for (const f of failures) {
    markFailed();
    problems.push(`${tag}: ${f}`);
    log(`!!! ${f}\n${logTail(srv.logFile)}`);
  }
  const lp = logProblems(srv.logFile);
  if (lp.length) {
    problems.push(`${tag}: ${lp.length} warning/error lines in the server log, e.g. ${lp[0]}`);
    log(`${tag}: ${lp.length} warning/error lines in the server log:`);
    for (const l of lp.slice(0, 5)) log(`    ${l}`);
  }
  removeTmp(srv.tmp, o.keepLogs, [[srv.logFile, `${path.basename(srv.tmp)}.log`]]);
}

// ---------------------------------------------------------------- report

const cpuPerEventUs = (r: Run) => (1000 * r.serverCpuMs) / r.delivered;

function describe(r: Run): string {
  return (
    `${r.delivered}/${r.expected} events (${r.missing} missing, ${r.errors} errors); latency p50 ${fmt(r.hist.quantileMs(50), 2)} ms, ` +
    `p99 ${fmt(r.hist.quantileMs(99), 2)} ms, max ${fmt(r.hist.maxMs, 1)} ms; server CPU ${fmt(r.serverCpuMs / 1000, 2)} s over ` +
    `${fmt(r.windowMs / 1000, 1)} s (${fmt((100 * r.serverCpuMs) / r.windowMs, 0)}% of a core, ${fmt(cpuPerEventUs(r), 1)} µs/event); ` +
    `busiest watch client ${fmt(r.clientCpuPct, 0)}% of a core; puts ${fmt(r.writeRate, 0)}/s, p99 ${fmt(r.putHist.quantileMs(99), 2)} ms; ` +
    `watchers created in ${fmt(r.createMs, 0)} ms`
  );
}

function buildRows(): Row[] {
  const m = (side: Side, f: (r: Run) => number) => median(runs[side].map(f));
  const rows: Row[] = [];
  const row = (metric: string, f: (r: Run) => number, digits: number, better: Row["better"]) =>
    rows.push({ metric, ts: m("ts", f), etcd: m("etcd", f), digits, better });
  row("delivery latency p50 (ms)", (r) => r.hist.quantileMs(50), 2, "lower");
  row("delivery latency p99 (ms)", (r) => r.hist.quantileMs(99), 2, "lower");
  row("delivery latency max (ms)", (r) => r.hist.maxMs, 1, "lower");
  row("events delivered (% of expected)", (r) => (100 * r.delivered) / r.expected, 2, "higher");
  row("events missing", (r) => r.missing, 0, "lower");
  row("server CPU per delivered event (µs)", cpuPerEventUs, 2, "lower");
  row("server CPU (% of a core)", (r) => (100 * r.serverCpuMs) / r.windowMs, 0, "lower");
  row("busiest watch client CPU (% of a core)", (r) => r.clientCpuPct, 0, "lower");
  row("put latency p99 (ms)", (r) => r.putHist.quantileMs(99), 2, "lower");
  row(`creating ${o.watchers} watchers (ms)`, (r) => r.createMs, 0, "lower");
  return rows;
}

async function main(): Promise<void> {
  logStart(VERSIONS, ETCD, o);
  await alternate(o.reps, oneRun);
  const perSecond = (o.rate * o.watchers) / o.keys;
  const md = markdown(
    (when) => `Watch fan-out: etcd-ts (dist/etcd) vs etcd 3.4, same machine, same run (${when}, ${os.cpus().length} cores, loopback).`,
    commandLine,
    table(buildRows()),
    `${o.watchers} watchers on ${o.keys} keys (${o.watchers / o.keys} per key) over ${o.conns} HTTP/2 connections × ` +
      `${o.streamsPerConn} Watch streams, in ${clientProcs} client processes; one writer on its own connection puts ` +
      `${o.valueSize} B values to random keys at ${o.rate}/s (≈${fmt(perSecond, 0)} events/s to deliver), ${o.warmup} s ` +
      `warm-up then ${o.seconds} s measured. Latency: put sent → event decoded, on a clock the processes share, over ` +
      `every event of a measured put (2% buckets). Server CPU from /proc over the first measured put → last measured ` +
      `event; it includes serving the puts. Median of ${o.reps} runs per server (order ${runOrder(o.reps)}, fresh ` +
      `server each run). Ratios matter, not absolute numbers: the clients share the machine's cores with the server.`,
    (["ts", "etcd"] as Side[]).flatMap((s) => runs[s].map((r) => `- ${SIDE_NAME[s]} run ${r.rep + 1}: ${describe(r)}`)),
  );
  finish(md, { append: true });
}

runMain(main);
