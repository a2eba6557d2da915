#!/usr/bin/env bun
// `npm run bench`: etcd-ts (dist/etcd) against the real etcd 3.4 in the same run, on loopback.
//
// Phases, each against both servers with the same parameters:
//   put    --total Put requests, --clients concurrent over --conns HTTP/2 connections, 256 B values,
//          random keys of a --keyspace key space;
//   range  --total serializable single-key Range requests on the same key space (all keys exist);
//   memory --keys keys loaded with Txns of --batch puts (--inflight in flight), then the server's
//          RSS (VmRSS) and the size of its data dir.
// put and range run --reps times per server on a fresh server each time, in the order A-B-B-A-A-B
// (etcd-ts, etcd, etcd, etcd-ts, ...), and the table shows the median of the repetitions.
// The load generator is bench/load.ts in its own Bun process, the same for both servers.
//
// Flags (or env): --total (BENCH_TOTAL) 20000, --clients (BENCH_CLIENTS) 100, --conns (BENCH_CONNS) 10,
//   --keyspace 10000, --value-size 256, --warmup 2000, --reps 3, --keys (BENCH_KEYS) 100000,
//   --batch 100, --inflight 8, --max-seconds 90 (per load phase; memory gets more for big --keys),
//   --skip-kv, --skip-memory, --keep-logs. Progress goes to stderr; the table to stdout and bench/results.md.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dir, "..");
const BENCH = path.join(ROOT, "bench");
const DIST = path.join(ROOT, "dist", "etcd");

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
function flag(name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}
const bool = (name: string): boolean => argv.includes(`--${name}`);
const envName = (name: string) => `BENCH_${name.toUpperCase().replace(/-/g, "_")}`;
function opt(name: string, dflt: number): number {
  const raw = flag(name) ?? process.env[envName(name)];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`bench: --${name} wants a positive number, not '${raw}'\n`);
    process.exit(2);
  }
  return Math.floor(n);
}
const KNOWN = new Set([
  "total", "clients", "conns", "keyspace", "value-size", "warmup", "reps", "keys", "batch", "inflight", "max-seconds",
  "skip-kv", "skip-memory", "keep-logs", "help",
]);
for (const a of argv) {
  if (a.startsWith("--") && !KNOWN.has(a.slice(2).split("=")[0])) {
    process.stderr.write(`bench: unknown flag ${a} (known: ${[...KNOWN].map((k) => "--" + k).join(" ")})\n`);
    process.exit(2);
  }
}
if (bool("help")) {
  const src = fs.readFileSync(import.meta.path, "utf8").split("\n");
  process.stdout.write(src.filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n") + "\n");
  process.exit(0);
}

const o = {
  total: opt("total", 20_000),
  clients: opt("clients", 100),
  conns: opt("conns", 10),
  keyspace: opt("keyspace", 10_000),
  valueSize: opt("value-size", 256),
  warmup: opt("warmup", 2_000),
  reps: opt("reps", 3),
  keys: opt("keys", 100_000),
  batch: opt("batch", 100),
  inflight: opt("inflight", 8),
  maxSeconds: opt("max-seconds", 90),
  skipKv: bool("skip-kv"),
  skipMemory: bool("skip-memory"),
  keepLogs: bool("keep-logs"),
};

const commandLine = (() => {
  const env = Object.keys(process.env)
    .filter((k) => k.startsWith("BENCH_"))
    .map((k) => `${k}=${process.env[k]}`);
  const base = process.env.npm_lifecycle_event === "bench" ? "npm run bench" : "bun bench/run.ts";
  const rest = argv.length ? (base.startsWith("npm") ? ` -- ${argv.join(" ")}` : ` ${argv.join(" ")}`) : "";
  return [...env, base].join(" ") + rest;
})();

const log = (msg: string) => process.stderr.write(`[bench ${elapsed()}] ${msg}\n`);
const T0 = Date.now();
const elapsed = () => `${((Date.now() - T0) / 1000).toFixed(0).padStart(4)}s`;

// ---------------------------------------------------------------- prerequisites

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = path.join(dir || ".", cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {}
  }
  return null;
}

const ETCD = which("etcd");
if (!ETCD) {
  process.stderr.write(
    "bench: the real etcd is not installed (no 'etcd' in PATH); the benchmark compares against it.\n" +
      "       Install it with:  apt-get install -y etcd-server\n",
  );
  process.exit(1);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function ensureBuilt(): void {
  let why: string | null = null;
  if (!fs.existsSync(DIST)) why = "dist/etcd is missing";
  else if (newestMtime(path.join(ROOT, "src")) > fs.statSync(DIST).mtimeMs) why = "src/ changed after dist/etcd was built";
  if (!why) return;
  log(`${why}: running npm run build`);
  const r = spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: ["ignore", 2, 2] });
  if (r.status !== 0 || !fs.existsSync(DIST)) {
    process.stderr.write("bench: npm run build failed\n");
    process.exit(1);
  }
}
ensureBuilt();

const firstLine = (cmd: string, args: string[]) =>
  (spawnSync(cmd, args, { encoding: "utf8" }).stdout ?? "").split("\n").filter(Boolean).slice(0, 2).join(", ");
const VERSIONS = { ts: firstLine(DIST, ["--version"]), etcd: firstLine(ETCD, ["--version"]) };
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

// ---------------------------------------------------------------- servers

type Side = "ts" | "etcd";
const SIDE_NAME: Record<Side, string> = { ts: "etcd-ts", etcd: "etcd 3.4" };

interface Server {
  side: Side;
  proc: ChildProcess;
  pid: number;
  port: number;
  tmp: string;
  dataDir: string;
  logFile: string;
  exited: boolean;
  exitInfo: string;
}

const live = new Set<Server>();
const tmpDirs = new Set<string>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Child env without ETCD_* (both servers read them) so only the flags below apply. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ETCD")) env[k] = v;
  return env;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function logTail(file: string, n = 15): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "(no log)";
  }
}

async function startServer(side: Side): Promise<Server> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `etcd-bench-${side}-`));
  tmpDirs.add(tmp);
  const dataDir = path.join(tmp, "data");
  const logFile = path.join(tmp, "server.log");
  const port = await freePort();
  let peerPort = await freePort();
  while (peerPort === port) peerPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    "--data-dir", dataDir,
    "--listen-client-urls", url,
    "--advertise-client-urls", url,
    "--listen-peer-urls", `http://127.0.0.1:${peerPort}`,
  ];
  const fd = fs.openSync(logFile, "a");
  const proc = spawn(side === "ts" ? DIST : ETCD!, args, { cwd: tmp, env: serverEnv(), stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  if (!proc.pid) throw new Error(`could not start ${SIDE_NAME[side]}`);
  const srv: Server = { side, proc, pid: proc.pid, port, tmp, dataDir, logFile, exited: false, exitInfo: "" };
  live.add(srv);
  proc.on("exit", (code, sig) => {
    srv.exited = true;
    srv.exitInfo = sig ? `signal ${sig}` : `exit code ${code}`;
  });

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (srv.exited) throw new Error(`${SIDE_NAME[side]} exited during start-up (${srv.exitInfo}):\n${logTail(logFile)}`);
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${SIDE_NAME[side]} not healthy after 30 s:\n${logTail(logFile)}`);
    await sleep(100);
  }
  return srv;
}

async function stopServer(srv: Server): Promise<{ stopMs: number; problem: string | null }> {
  const t = Date.now();
  let problem: string | null = null;
  if (srv.exited) problem = `${SIDE_NAME[srv.side]} had already exited (${srv.exitInfo})`;
  else {
    srv.proc.kill("SIGTERM");
    const deadline = Date.now() + 15_000;
    while (!srv.exited && Date.now() < deadline) await sleep(50);
    if (!srv.exited) {
      problem = `${SIDE_NAME[srv.side]} did not stop within 15 s of SIGTERM; killed`;
      srv.proc.kill("SIGKILL");
      while (!srv.exited) await sleep(50);
    }
  }
  live.delete(srv);
  return { stopMs: Date.now() - t, problem };
}

function cleanup(srv: Server): void {
  if (o.keepLogs) {
    const dest = path.join(BENCH, "logs");
    fs.mkdirSync(dest, { recursive: true });
    fs.copyFileSync(srv.logFile, path.join(dest, `${path.basename(srv.tmp)}.log`));
  }
  fs.rmSync(srv.tmp, { recursive: true, force: true });
  tmpDirs.delete(srv.tmp);
}

/** Kill what is still running (by PID) and remove the temp dirs, also on Ctrl-C. */
function emergencyCleanup(): void {
  for (const s of live) {
    try {
      process.kill(s.pid, "SIGKILL");
    } catch {}
  }
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping servers and removing temp dirs`);
    emergencyCleanup();
    process.exit(130);
  });
}

/** utime + stime of a process in ms, from /proc/PID/stat. */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

function procStatus(pid: number): { rssKiB: number; anonKiB: number; hwmKiB: number; threads: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? NaN);
  return { rssKiB: get("VmRSS"), anonKiB: get("RssAnon"), hwmKiB: get("VmHWM"), threads: get("Threads") };
}

/** Bytes on disk (allocated blocks, like du) and apparent bytes of a tree. */
function diskUsage(dir: string): { du: number; apparent: number } {
  let du = 0;
  let apparent = 0;
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    du += st.blocks * 512;
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    else apparent += st.size;
  };
  if (fs.existsSync(dir)) walk(dir);
  return { du, apparent };
}

/** Warnings and errors in a server log: zap JSON lines (etcd-ts) or capnslog "W |" / "E |" lines (etcd 3.4). */
function logProblems(srv: Server): string[] {
  let text = "";
  try {
    text = fs.readFileSync(srv.logFile, "utf8");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    if (line.startsWith("{")) {
      try {
        const j = JSON.parse(line);
        if (["warn", "error", "panic", "fatal", "dpanic"].includes(j.level)) out.push(line.slice(0, 300));
      } catch {
        out.push(line.slice(0, 300));
      }
    } else if (/ [WECP] \| /.test(line) || /panic|fatal/i.test(line)) {
      // etcd 3.4 always says this without --auth-token=jwt; not a problem of the run.
      if (!/simple token is not cryptographically signed/.test(line)) out.push(line.slice(0, 300));
    }
  }
  return out;
}

// ---------------------------------------------------------------- load generator

interface LoadResult {
  mode: string;
  label: string;
  requested: number;
  done: number;
  ok: number;
  errors: number;
  firstErrors: string[];
  timedOut: boolean;
  elapsedMs: number;
  rate: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  clientCpuMs: number;
}

const problems: string[] = [];
let failed = false;

async function load(srv: Server, mode: "put" | "range" | "fill", extra: Record<string, number>, label: string, maxSeconds = o.maxSeconds) {
  const args = [
    path.join(BENCH, "load.ts"),
    "--port", String(srv.port), "--mode", mode, "--label", label,
    "--clients", String(o.clients), "--conns", String(o.conns), "--keyspace", String(o.keyspace),
    "--value-size", String(o.valueSize), "--max-seconds", String(maxSeconds),
    ...Object.entries(extra).flatMap(([k, v]) => [`--${k}`, String(v)]),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  // Server CPU time is read when the load generator says the measured part starts and ends.
  const safeCpu = () => (srv.exited ? NaN : cpuMs(srv.pid));
  let cpuStart = NaN;
  let cpuEnd = NaN;
  let pending = "";
  let json = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (c: string) => {
    pending += c;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line === "@start") cpuStart = safeCpu();
      else if (line === "@end") cpuEnd = safeCpu();
      else if (line.startsWith("{")) json = line;
    }
  });
  const code = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
  if (code !== 0 || !json) throw new Error(`load generator (${label}) failed with exit code ${code}`);
  const r = JSON.parse(json) as LoadResult;
  const res = { ...r, serverCpuMs: cpuEnd - cpuStart };
  if (srv.exited) {
    failed = true;
    problems.push(`${SIDE_NAME[srv.side]} exited during ${label} (${srv.exitInfo})`);
  }
  if (r.errors > 0 || r.timedOut) {
    failed = true;
    const what = `${label}: ${r.errors} failed requests of ${r.done}${r.timedOut ? `, stopped early (time limit ${maxSeconds} s or lost connection)` : ""}`;
    problems.push(`${what}; first errors: ${r.firstErrors.join(" | ")}`);
    log(`!!! ${what}`);
    for (const e of r.firstErrors) log(`!!!   ${e}`);
  }
  return res;
}
type Measured = Awaited<ReturnType<typeof load>>;

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");
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
  fill: Measured;
}
const kvRuns: Record<Side, KvRun[]> = { ts: [], etcd: [] };

async function kvRun(side: Side, rep: number): Promise<void> {
  const tag = `${SIDE_NAME[side]} #${rep + 1}`;
  log(`put/range ${tag}: starting a fresh server`);
  const srv = await startServer(side);
  try {
    const warm = Math.min(o.warmup, o.total);
    if (warm > 0) await load(srv, "put", { total: warm, seed: 1000 + rep }, `${tag} put warm-up`);
    log(`put ${tag}: ${o.total} puts, ${o.clients} clients over ${o.conns} connections`);
    const put = await load(srv, "put", { total: o.total, seed: 1 + rep }, `${tag} put`);
    log(`put ${tag}: ${describe(put)}`);
    log(`range ${tag}: writing all ${o.keyspace} keys of the key space first (Txns of ${o.batch} puts)`);
    const fill = await load(srv, "fill", { keys: o.keyspace, batch: o.batch, inflight: o.inflight }, `${tag} key space fill`);
    if (warm > 0) await load(srv, "range", { total: warm, seed: 2000 + rep }, `${tag} range warm-up`);
    log(`range ${tag}: ${o.total} serializable ranges, ${o.clients} clients over ${o.conns} connections`);
    const range = await load(srv, "range", { total: o.total, seed: 3000 + rep }, `${tag} range`);
    log(`range ${tag}: ${describe(range)}`);
    kvRuns[side].push({ put, range, fill });
  } finally {
    await finishServer(srv, tag);
  }
}

async function finishServer(srv: Server, tag: string, afterStop?: () => void): Promise<void> {
  const { stopMs, problem } = await stopServer(srv);
  afterStop?.();
  if (problem) {
    failed = true;
    problems.push(`${tag}: ${problem}`);
    log(`!!! ${problem}\n${logTail(srv.logFile)}`);
  }
  if (stopMs > 3000) problems.push(`${tag}: took ${fmt(stopMs / 1000)} s to stop after SIGTERM`);
  const lp = logProblems(srv);
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

const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface Row {
  metric: string;
  ts: number;
  etcd: number;
  digits: number;
  better: "higher" | "lower";
}

function table(rows: Row[]): string {
  const lines = ["| metric | etcd-ts | etcd 3.4 | ratio (etcd-ts / etcd) |", "| --- | ---: | ---: | ---: |"];
  for (const r of rows) {
    const ratio = r.ts / r.etcd;
    lines.push(`| ${r.metric} | ${fmt(r.ts, r.digits)} | ${fmt(r.etcd, r.digits)} | ${fmt(ratio, 2)}× (${r.better} is better) |`);
  }
  return lines.join("\n");
}

function buildRows(): Row[] {
  const rows: Row[] = [];
  if (kvRuns.ts.length && kvRuns.etcd.length) {
    for (const ph of ["put", "range"] as const) {
      const name = ph === "put" ? "put" : "range (serializable)";
      const m = (side: Side, f: (r: Measured) => number) => median(kvRuns[side].map((r) => f(r[ph])));
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
    kvRuns[side].forEach((r, i) => {
      out.push(`- ${SIDE_NAME[side]} run ${i + 1}: put ${describe(r.put)}`);
      out.push(`- ${SIDE_NAME[side]} run ${i + 1}: range ${describe(r.range)}`);
    });
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

/** The order of the put/range runs: A = etcd-ts, B = etcd 3.4. */
const runOrder = () =>
  Array.from({ length: o.reps }, (_, rep) => (rep % 2 === 0 ? "A-B" : "B-A")).join("-") + " with A = etcd-ts, B = etcd 3.4";

async function main(): Promise<void> {
  log(`etcd-ts: ${VERSIONS.ts}`);
  log(`etcd:    ${VERSIONS.etcd} (${ETCD})`);
  log(`options: ${JSON.stringify(o)}`);
  if (!o.skipKv) {
    for (let rep = 0; rep < o.reps; rep++) {
      const order: Side[] = rep % 2 === 0 ? ["ts", "etcd"] : ["etcd", "ts"];
      for (const side of order) await kvRun(side, rep);
    }
  }
  if (!o.skipMemory) {
    await memRun("ts");
    await memRun("etcd");
  }

  const rows = buildRows();
  const when = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const md = [
    `Benchmark: etcd-ts (dist/etcd) vs etcd 3.4, same machine, same run (${when}, ${os.cpus().length} cores, loopback).`,
    "",
    `Command: \`${commandLine}\``,
    "",
    table(rows),
    "",
    [
      o.skipKv
        ? ""
        : `put/range: ${o.total} requests per run, ${o.clients} concurrent clients over ${o.conns} HTTP/2 connections, ` +
          `${o.valueSize} B values, random keys of a ${o.keyspace}-key space, ${o.warmup} warm-up requests; median of ` +
          `${o.reps} runs per server (order ${runOrder()}, fresh server and data dir each run); server CPU from ` +
          `/proc/PID/stat during the measured part. `,
      o.skipMemory
        ? ""
        : `Memory: ${o.keys} keys of ${o.valueSize} B in Txns of ${o.batch} puts (${o.inflight} in flight), RSS read ` +
          `from /proc/PID/status 3 s after loading; disk is allocated blocks (du). `,
      "Ratios matter, not absolute numbers: the machine is shared and the load generator shares its 2 cores.",
    ].join(""),
    "",
    "<details><summary>Per-run numbers</summary>",
    "",
    details(),
    "",
    "</details>",
    ...(problems.length ? ["", "Problems noticed:", "", ...problems.map((p) => `- ${p}`)] : []),
    "",
  ].join("\n");
  fs.writeFileSync(path.join(BENCH, "results.md"), md);
  log(`done in ${elapsed().trim()}; table written to bench/results.md`);
  process.stdout.write("\n" + md);
  if (failed) {
    process.stderr.write("\nbench: FAILED: some requests failed or a server misbehaved (see 'Problems noticed' above)\n");
    process.exit(1);
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
  emergencyCleanup();
  process.exit(1);
});
