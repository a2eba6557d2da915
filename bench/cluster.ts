#!/usr/bin/env bun
// `npm run bench -- --members 3`: a 3-member loopback cluster of etcd-ts (dist/etcd) against a
// 3-member cluster of the real etcd 3.4, in the same run.
//
// Each run starts a fresh cluster (all members at once, fresh temp data dirs, free loopback client
// and peer ports), waits until /health answers 200 on every member, then:
//   put    --total Put requests, --clients concurrent over --conns HTTP/2 connections spread
//          round-robin over the members' client URLs (followers forward to the leader), 256 B
//          values, random keys of a --keyspace key space;
//   range  the whole key space written first (Txns of --batch puts), then --total LINEARIZABLE
//          (serializable=false), then --total serializable single-key Range requests, spread the same way.
// Runs alternate A-B-B-A-A-B-B-A (A = etcd-ts, B = etcd 3.4; --reps per side), the table shows the median.
// Server CPU is the sum of utime+stime of the 3 member processes during the measured part; the
// per-run details give each member's share and which member was the leader.
// Each phase runs with each load generator (--client ts|go|both, default both: bench/load.ts and
// bench/go/loadgen on Go's clientv3 3.4, with --ports), the same for both clusters.
//
// Flags (or env BENCH_*): --members 3, --total 30000, --clients 100, --conns 12 (4 per member),
//   --keyspace 10000, --value-size 256, --warmup 2000, --reps 4, --max-seconds 60 (per load phase),
//   --keep-logs (copies the members' logs to bench/logs/). About 1.5 minutes on 2 cores.
//   Progress goes to stderr; the table to stdout and bench/results.md.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { bool, checkFlags, commandLine as commandLineOf, helpIfAsked, kvOptions, opt } from "./common/options.ts";
import { type Client, CLIENT_NAME, clientsAsked, RUNNER } from "./common/clients.ts";
import { checkLoad, type LoadMode } from "./common/loadgen.ts";
import {
  alternate, cleanupOnSignals, cpuMs, freePorts, logProblems, makeTmp, prerequisites, removeTmp, runMain,
  serverEnv, type ServerProc, type Side, SIDE_NAME, spawnServer, stopServers, waitHealthy, which,
} from "./common/procs.ts";
import { finish, fmt, log, logStart, markdown, markFailed, median, problems, type Row, runOrder, table as tableOf } from "./common/report.ts";

// ---------------------------------------------------------------- options

checkFlags(
  ["members", "total", "clients", "conns", "keyspace", "value-size", "warmup", "reps", "max-seconds", "keep-logs", "client", "help"],
  " with --members",
);
helpIfAsked(import.meta.path, "header");

const o = {
  members: opt("members", 3),
  ...kvOptions({ total: 30_000, conns: 12, reps: 4 }),
  batch: 100,
  inflight: 8,
  maxSeconds: opt("max-seconds", 60),
  keepLogs: bool("keep-logs"),
};

const commandLine = commandLineOf("bun bench/main.ts");
const CLIENTS = clientsAsked();

// ---------------------------------------------------------------- prerequisites

const { ETCD, VERSIONS } = prerequisites();
const ETCDCTL = which("etcdctl");

// ---------------------------------------------------------------- clusters

interface Member extends ServerProc {
  name: string;
  /** Size of the log when the cluster became healthy: warnings before that are start-up noise. */
  logOffsetReady: number;
  /** Size of the log when the cluster is told to stop: warnings after that are shut-down noise (peers going away). */
  logOffsetStop: number;
}

interface Cluster {
  side: Side;
  tmp: string;
  members: Member[];
}

async function startCluster(side: Side): Promise<Cluster> {
  const tmp = makeTmp(`etcd-bench-cluster-${side}-`);
  const n = o.members;
  const ports = await freePorts(2 * n);
  const clientPorts = ports.slice(0, n);
  const peerPorts = ports.slice(n);
  const initialCluster = peerPorts.map((p, i) => `m${i + 1}=http://127.0.0.1:${p}`).join(",");
  const cluster: Cluster = { side, tmp, members: [] };
  for (let i = 0; i < n; i++) {
    const name = `m${i + 1}`;
    const client = `http://127.0.0.1:${clientPorts[i]}`;
    const peer = `http://127.0.0.1:${peerPorts[i]}`;
    const args = [
      "--name", name,
      "--data-dir", path.join(tmp, name),
      "--listen-client-urls", client,
      "--advertise-client-urls", client,
      "--listen-peer-urls", peer,
      "--initial-advertise-peer-urls", peer,
      "--initial-cluster", initialCluster,
      "--initial-cluster-token", "bench",
      "--initial-cluster-state", "new",
    ];
    const logFile = path.join(tmp, `${name}.log`);
    const srv = spawnServer(side, ETCD, args, tmp, logFile, `${SIDE_NAME[side]} ${name}`, clientPorts[i]);
    cluster.members.push(Object.assign(srv, { name, logOffsetReady: 0, logOffsetStop: -1 }));
  }

  const t = Date.now();
  await waitHealthy(cluster.members, (sick) => `${SIDE_NAME[side]}: ${sick.map((m) => m.name).join(", ")}`);
  for (const m of cluster.members) m.logOffsetReady = fs.statSync(m.logFile).size;
  log(`${SIDE_NAME[side]} cluster healthy after ${((Date.now() - t) / 1000).toFixed(1)} s (client ports ${clientPorts.join(", ")}; leader ${leaderOf(cluster) ?? "?"})`);
  return cluster;
}

/** The leader's member name, asked with etcdctl endpoint status (-w simple: the 5th column is "is leader"). */
function leaderOf(c: Cluster): string | null {
  if (!ETCDCTL) return null;
  const r = spawnSync(
    ETCDCTL,
    ["--endpoints", c.members.map((m) => `127.0.0.1:${m.port}`).join(","), "--command-timeout=3s", "endpoint", "status", "-w", "simple"],
    { encoding: "utf8", env: { ...serverEnv(), ETCDCTL_API: "3" }, timeout: 10_000 },
  );
  for (const line of (r.stdout ?? "").split("\n")) {
    const f = line.split(",").map((s) => s.trim());
    if (f.length >= 5 && f[4] === "true") {
      const m = c.members.find((m) => f[0] === `127.0.0.1:${m.port}`);
      if (m) return m.name;
    }
  }
  return null;
}

/**
 * SIGTERM to the followers first, then to the leader (a leader that is told to stop while its
 * followers run tries to hand over leadership, which with every member stopping at once makes
 * etcd 3.4 wait for seconds). Returns what went wrong (failures) and notes (slow stops).
 */
async function stopCluster(c: Cluster): Promise<{ failures: string[]; notes: string[]; stopMs: number }> {
  const failures: string[] = [];
  const notes: string[] = [];
  const t = Date.now();
  const leader = leaderOf(c);
  for (const m of c.members) {
    try {
      m.logOffsetStop = fs.statSync(m.logFile).size;
    } catch {}
  }
  const groups = [c.members.filter((m) => m.name !== leader), c.members.filter((m) => m.name === leader)];
  for (const group of groups) failures.push(...(await stopServers(group, (m) => m.name)));
  const stopMs = Date.now() - t;
  if (stopMs > 3000) notes.push(`took ${(stopMs / 1000).toFixed(1)} s to stop after SIGTERM (followers first, then the leader)`);
  return { failures, notes, stopMs };
}

function cleanup(c: Cluster, tag: string): void {
  removeTmp(c.tmp, o.keepLogs, c.members.map((m) => [m.logFile, `${tag.replace(/[^a-z0-9.-]+/gi, "_")}-${m.name}.log`]));
}

cleanupOnSignals();

// ---------------------------------------------------------------- load generator

async function load(c: Cluster, mode: LoadMode, extra: Record<string, number>, label: string, client: Client = "ts", serializable = false) {
  const ports = c.members.map((m) => m.port).join(",");
  // Every member's CPU time is read when the load generator says the measured part starts and ends.
  const safeCpu = () => c.members.map((m) => (m.exited ? NaN : cpuMs(m.pid)));
  const { r, cpuStart, cpuEnd } = await RUNNER[client](["--ports", ports], mode, label, o, o.maxSeconds, ["--serializable", serializable ? "1" : "0"], extra, safeCpu);
  const memberCpuMs = c.members.map((_, i) => (cpuEnd?.[i] ?? NaN) - (cpuStart?.[i] ?? NaN));
  const res = { ...r, memberCpuMs, serverCpuMs: memberCpuMs.reduce((a, b) => a + b, 0) };
  for (const m of c.members) {
    if (m.exited) {
      markFailed();
      problems.push(`${SIDE_NAME[c.side]} ${m.name} exited during ${label} (${m.exitInfo})`);
    }
  }
  checkLoad(r, label, o.maxSeconds);
  return res;
}
type Measured = Awaited<ReturnType<typeof load>>;

function describe(r: Measured, c: Cluster | null, leader: string | null): string {
  const per = r.memberCpuMs
    .map((ms, i) => {
      const name = c ? c.members[i].name : `m${i + 1}`;
      return `${name}${name === leader ? " (leader)" : ""} ${fmt(ms / 1000, 2)} s`;
    })
    .join(", ");
  return (
    `${fmt(r.rate, 0)} req/s, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, p99.9 ${fmt(r.p999Ms, 1)} ms, max ${fmt(r.maxMs, 1)} ms, ` +
    `${fmt(r.elapsedMs / 1000, 1)} s; server CPU ${fmt(r.serverCpuMs / 1000, 2)} s ` +
    `(${fmt((100 * r.serverCpuMs) / r.elapsedMs, 0)}% of a core: ${per}), load generator CPU ${fmt(r.clientCpuMs / 1000, 2)} s`
  );
}

// ---------------------------------------------------------------- runs

interface KvRun {
  put: Measured;
  range: Measured;
  ser: Measured;
}
/** By load generator, then side. */
const kvRuns: Record<Client, Record<Side, KvRun[]>> = { ts: { ts: [], etcd: [] }, go: { ts: [], etcd: [] } };
const details: Record<Side, string[]> = { ts: [], etcd: [] };

async function kvRun(side: Side, rep: number): Promise<void> {
  const tag = `${SIDE_NAME[side]} #${rep + 1}`;
  log(`${tag}: starting a fresh ${o.members}-member cluster`);
  const c = await startCluster(side);
  try {
    const leader0 = leaderOf(c);
    const warm = Math.min(o.warmup, o.total);
    const puts: Partial<Record<Client, Measured>> = {};
    for (const cl of CLIENTS) {
      const t = `${tag} ${CLIENT_NAME[cl]}`;
      if (warm > 0) await load(c, "put", { total: warm, seed: 1000 + rep }, `${t} put warm-up`, cl);
      log(`put ${t}: ${o.total} puts, ${o.clients} clients over ${o.conns} connections to ${o.members} members`);
      puts[cl] = await load(c, "put", { total: o.total, seed: 1 + rep }, `${t} put`, cl);
      log(`put ${t}: ${describe(puts[cl]!, c, leader0)}`);
    }
    log(`range ${tag}: writing all ${o.keyspace} keys of the key space first (Txns of ${o.batch} puts)`);
    const fill = await load(c, "fill", { keys: o.keyspace, batch: o.batch, inflight: o.inflight }, `${tag} key space fill`);
    const leader1 = leaderOf(c);
    for (const cl of CLIENTS) {
      const t = `${tag} ${CLIENT_NAME[cl]}`;
      if (warm > 0) await load(c, "range", { total: warm, seed: 2000 + rep }, `${t} range warm-up`, cl);
      log(`range ${t}: ${o.total} linearizable ranges, ${o.clients} clients over ${o.conns} connections to ${o.members} members`);
      const range = await load(c, "range", { total: o.total, seed: 3000 + rep }, `${t} range`, cl);
      log(`range ${t}: ${describe(range, c, leader1)}`);
      const ser = await load(c, "range", { total: o.total, seed: 4000 + rep }, `${t} serializable range`, cl, true);
      log(`serializable range ${t}: ${describe(ser, c, leader1)}`);
      kvRuns[cl][side].push({ put: puts[cl]!, range, ser });
      details[side].push(`- ${t}: leader ${leader1 ?? "?"}; put ${describe(puts[cl]!, c, leader1)}`);
      details[side].push(`- ${t}: range (linearizable) ${describe(range, c, leader1)}`);
      details[side].push(`- ${t}: range (serializable) ${describe(ser, c, leader1)}`);
    }
    if (leader0 !== leader1) {
      problems.push(`${tag}: leader changed during the run (${leader0 ?? "?"} → ${leader1 ?? "?"})`);
      log(`!!! ${tag}: leader changed during the run (${leader0} → ${leader1})`);
    }
    const startupWarnings = c.members.reduce((a, m) => a + logProblems(m.logFile, 0, m.logOffsetReady).length, 0);
    details[side].push(`- ${tag}: key space fill ${fmt(fill.rate, 0)} keys/s; ${startupWarnings} warning lines during cluster start-up`);
  } finally {
    const stop = await stopCluster(c);
    for (const p of stop.failures) {
      markFailed();
      problems.push(`${tag}: ${p}`);
      log(`!!! ${tag}: ${p}`);
    }
    for (const p of stop.notes) {
      problems.push(`${tag}: ${p}`);
      log(`${tag}: ${p}`);
    }
    details[side].push(`- ${tag}: cluster stopped in ${fmt(stop.stopMs / 1000, 1)} s`);
    for (const m of c.members) {
      const lp = logProblems(m.logFile, m.logOffsetReady, m.logOffsetStop);
      if (lp.length) {
        problems.push(`${tag} ${m.name}: ${lp.length} warning/error lines in the log while it served, e.g. ${lp[0]}`);
        log(`${tag} ${m.name}: ${lp.length} warning/error lines in the log while it served:`);
        for (const l of lp.slice(0, 3)) log(`    ${l}`);
      }
    }
    cleanup(c, tag);
  }
}

// ---------------------------------------------------------------- report

function table(): string {
  const rows: Row[] = [];
  for (const cl of CLIENTS) {
    for (const ph of ["put", "range", "ser"] as const) {
      const name = `${ph === "put" ? "put" : ph === "range" ? "range (linearizable)" : "range (serializable)"}, ${CLIENT_NAME[cl]},`;
      const row = (metric: string, f: (r: Measured) => number, digits: number, better: Row["better"]) => {
        const ts = median(kvRuns[cl].ts.map((r) => f(r[ph])));
        const etcd = median(kvRuns[cl].etcd.map((r) => f(r[ph])));
        rows.push({ metric: `${name} ${metric}`, ts, etcd, digits, better });
      };
      row("throughput (req/s)", (r) => r.rate, 0, "higher");
      row("latency p50 (ms)", (r) => r.p50Ms, 2, "lower");
      row("latency p99 (ms)", (r) => r.p99Ms, 2, "lower");
      row(`server CPU, sum of ${o.members} members, per 1 000 requests (ms)`, (r) => (1000 * r.serverCpuMs) / r.ok, 0, "lower");
      row(`busiest member's CPU, % of a core`, (r) => (100 * Math.max(...r.memberCpuMs)) / r.elapsedMs, 0, "lower");
    }
  }
  return tableOf(rows);
}

async function main(): Promise<void> {
  logStart(VERSIONS, ETCD, o);
  await alternate(o.reps, kvRun);
  const md = markdown(
    (when) =>
      `Benchmark: ${o.members}-member loopback cluster of etcd-ts (dist/etcd) vs ${o.members}-member cluster of etcd 3.4, same machine, same run (${when}, ${os.cpus().length} cores).`,
    commandLine,
    table(),
    `put/range: ${o.total} requests per run, ${o.clients} concurrent clients over ${o.conns} HTTP/2 connections spread ` +
      `round-robin over the ${o.members} members' client URLs (followers forward to the leader), ${o.valueSize} B values, random keys ` +
      `of a ${o.keyspace}-key space (filled before range), range with serializable=false, ${o.warmup} warm-up requests; median of ` +
      `${o.reps} runs per side (order ${runOrder(o.reps)}, fresh cluster and data dirs each run); server CPU from /proc/PID/stat of ` +
      `the ${o.members} member processes during the measured part. Ratios matter, not absolute numbers: the machine is ` +
      `shared and all ${o.members} members and the load generator share its ${os.cpus().length} cores.`,
    [...details.ts, ...details.etcd],
  );
  finish(md);
}

runMain(main);
