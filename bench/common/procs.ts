// The servers under test as child processes: prerequisites (the real etcd, an up-to-date dist/etcd),
// starting one on loopback with its log in a temp dir, waiting for /health, stopping, cleaning up
// (also on Ctrl-C), and reading /proc, its data dir size and its log.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../tests/e2e/ports.ts";
import { log } from "./report.ts";

export const ROOT = path.resolve(import.meta.dir, "..", "..");
export const BENCH = path.join(ROOT, "bench");
export const DIST = path.join(ROOT, "dist", "etcd");

// ---------------------------------------------------------------- prerequisites

export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = path.join(dir || ".", cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {}
  }
  return null;
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
  if (process.env.BENCH_NO_BUILD === "1") {
    // For a run against dist/etcd as it is while src/ holds someone's unfinished edits.
    if (!fs.existsSync(DIST)) {
      process.stderr.write("bench: BENCH_NO_BUILD=1 but dist/etcd is missing\n");
      process.exit(1);
    }
    if (newestMtime(path.join(ROOT, "src")) > fs.statSync(DIST).mtimeMs) log("BENCH_NO_BUILD=1: src/ changed after dist/etcd was built; using dist/etcd as it is");
    return;
  }
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

const firstLine = (cmd: string, args: string[]) =>
  (spawnSync(cmd, args, { encoding: "utf8" }).stdout ?? "").split("\n").filter(Boolean).slice(0, 2).join(", ");

/** The real etcd in PATH (else exits 1 saying how to install it), dist/etcd built (npm run build if stale), both versions. */
export function prerequisites(): { ETCD: string; VERSIONS: { ts: string; etcd: string } } {
  const ETCD = which("etcd");
  if (!ETCD) {
    process.stderr.write(
      "bench: the real etcd is not installed (no 'etcd' in PATH); the benchmark compares against it.\n" +
        "       Install it with:  apt-get install -y etcd-server\n",
    );
    process.exit(1);
  }
  ensureBuilt();
  return { ETCD, VERSIONS: { ts: firstLine(DIST, ["--version"]), etcd: firstLine(ETCD, ["--version"]) } };
}

// ---------------------------------------------------------------- servers

export type Side = "ts" | "etcd";
export const SIDE_NAME: Record<Side, string> = { ts: "etcd-ts", etcd: "etcd 3.4" };

/** Runs `run` --reps times per side in the order A-B-B-A-A-B… (A = etcd-ts, B = etcd 3.4). */
export async function alternate(reps: number, run: (side: Side, rep: number) => Promise<void>): Promise<void> {
  for (let rep = 0; rep < reps; rep++) {
    const order: Side[] = rep % 2 === 0 ? ["ts", "etcd"] : ["etcd", "ts"];
    for (const side of order) await run(side, rep);
  }
}

/** A server process: its client port on 127.0.0.1 and its log file. */
export interface ServerProc {
  /** Who it is in messages: "etcd-ts", "etcd 3.4 m2". */
  label: string;
  proc: ChildProcess;
  pid: number;
  port: number;
  logFile: string;
  exited: boolean;
  exitInfo: string;
}

const live = new Set<ServerProc>();
const tmpDirs = new Set<string>();

export { freePort };

/** n different free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const got = new Set<number>();
  while (got.size < n) got.add(await freePort());
  return [...got];
}

/** Child env without ETCD_* (both servers read them) so only the flags given apply. */
export function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("ETCD")) env[k] = v;
  return env;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function logTail(file: string, n = 15): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-n).join("\n");
  } catch {
    return "(no log)";
  }
}

/** A new temp dir, removed by removeTmp or on Ctrl-C. */
export function makeTmp(prefix: string): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(tmp);
  return tmp;
}

/** Removes a temp dir; with keep, first copies the given [log file, name] pairs to bench/logs/. */
export function removeTmp(tmp: string, keep: boolean, logs: [file: string, name: string][]): void {
  if (keep) {
    const dest = path.join(BENCH, "logs");
    fs.mkdirSync(dest, { recursive: true });
    for (const [file, name] of logs) fs.copyFileSync(file, path.join(dest, name));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  tmpDirs.delete(tmp);
}

/**
 * Starts the binary of `side` (etcd-ts: tsBinary, by default dist/etcd) with args in cwd, stdout and
 * stderr appended to logFile.
 */
export function spawnServer(
  side: Side, etcd: string, args: string[], cwd: string, logFile: string, label: string, port: number, tsBinary: string = DIST,
): ServerProc {
  const fd = fs.openSync(logFile, "a");
  const proc = spawn(side === "ts" ? tsBinary : etcd, args, { cwd, env: serverEnv(), stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  if (!proc.pid) throw new Error(`could not start ${label}`);
  const srv: ServerProc = { label, proc, pid: proc.pid, port, logFile, exited: false, exitInfo: "" };
  live.add(srv);
  proc.on("exit", (code, sig) => {
    srv.exited = true;
    srv.exitInfo = sig ? `signal ${sig}` : `exit code ${code}`;
  });
  return srv;
}

/** A single member the bench started: its temp dir (removed by removeTmp), data dir and flags. */
export interface SingleMember extends ServerProc {
  side: Side;
  tmp: string;
  dataDir: string;
  args: string[];
}

/**
 * A fresh single member of `side` on free loopback ports, its data dir and log in a new temp dir
 * `etcd-bench-<what>-<side>-…`, with `extraArgs` after the URL flags; not waited for (waitHealthy).
 */
export async function spawnSingleMember(side: Side, etcd: string, what: string, extraArgs: string[] = [], tsBinary: string = DIST): Promise<SingleMember> {
  const tmp = makeTmp(`etcd-bench-${what}-${side}-`);
  const dataDir = path.join(tmp, "data");
  const [port, peerPort] = await freePorts(2);
  const url = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    "--data-dir", dataDir,
    "--listen-client-urls", url,
    "--advertise-client-urls", url,
    "--listen-peer-urls", peer,
    "--initial-advertise-peer-urls", peer,
    "--initial-cluster", `default=${peer}`,
    ...extraArgs,
  ];
  const p = spawnServer(side, etcd, args, tmp, path.join(tmp, "server.log"), SIDE_NAME[side], port, tsBinary);
  return Object.assign(p, { side, tmp, dataDir, args });
}

/**
 * Polls /health of every server every 100 ms until each has answered 200. Throws if one exits, or
 * after 30 s with "<who(the rest)> not healthy after 30 s" and the log tail of the first of them.
 */
export async function waitHealthy<P extends ServerProc>(procs: P[], who: (sick: P[]) => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  const healthy = new Set<P>();
  while (healthy.size < procs.length) {
    for (const p of procs) {
      if (p.exited) throw new Error(`${p.label} exited during start-up (${p.exitInfo}):\n${logTail(p.logFile)}`);
      if (healthy.has(p)) continue;
      try {
        const r = await fetch(`http://127.0.0.1:${p.port}/health`, { signal: AbortSignal.timeout(1000) });
        if (r.status === 200) healthy.add(p);
      } catch {}
    }
    if (healthy.size === procs.length) break;
    if (Date.now() > deadline) {
      const sick = procs.filter((p) => !healthy.has(p));
      throw new Error(`${who(sick)} not healthy after 30 s:\n${logTail(sick[0].logFile)}`);
    }
    await sleep(100);
  }
}

/**
 * SIGTERM to each server of the group still running, up to 15 s for all to exit, then SIGKILL.
 * Returns what went wrong, each starting with name(server).
 */
export async function stopServers<P extends ServerProc>(group: P[], name: (p: P) => string): Promise<string[]> {
  const failures: string[] = [];
  for (const p of group) {
    if (p.exited) failures.push(`${name(p)} had already exited (${p.exitInfo})`);
    else p.proc.kill("SIGTERM");
  }
  const deadline = Date.now() + 15_000;
  while (group.some((p) => !p.exited) && Date.now() < deadline) await sleep(50);
  for (const p of group) {
    if (!p.exited) {
      failures.push(`${name(p)} did not stop within 15 s of SIGTERM; killed`);
      p.proc.kill("SIGKILL");
      while (!p.exited) await sleep(50);
    }
    live.delete(p);
  }
  return failures;
}

/**
 * SIGKILL to one server the bench started (through its ChildProcess, i.e. by its PID). The signal
 * is sent before the first await, so a clock read just before the call is the kill instant. Resolves
 * once the process has exited (throws after timeoutMs), and forgets it for the emergency cleanup.
 */
export async function killServer(p: ServerProc, timeoutMs = 5000): Promise<void> {
  if (!p.exited) p.proc.kill("SIGKILL");
  const deadline = Date.now() + timeoutMs;
  while (!p.exited && Date.now() < deadline) await sleep(5);
  if (!p.exited) throw new Error(`${p.label} (pid ${p.pid}) did not exit within ${timeoutMs} ms of SIGKILL`);
  live.delete(p);
}

/** Kill what is still running (by PID) and remove the temp dirs, also on Ctrl-C. */
export function emergencyCleanup(): void {
  for (const s of live) {
    try {
      process.kill(s.pid, "SIGKILL");
    } catch {}
  }
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
}

export function cleanupOnSignals(): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping servers and removing temp dirs`);
      emergencyCleanup();
      process.exit(130);
    });
  }
}

/** Runs main; on an exception prints it, kills the servers, removes the temp dirs and exits 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
    emergencyCleanup();
    process.exit(1);
  });
}

// ---------------------------------------------------------------- /proc and logs

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** utime + stime of a process in ms, from /proc/PID/stat. */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** Memory of a process from /proc/PID/status, in KiB: VmRSS, RssAnon (heap and stacks, without mapped file pages), VmHWM (peak RSS). */
export function procStatus(pid: number): { rssKiB: number; anonKiB: number; hwmKiB: number; threads: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(s)?.[1] ?? NaN);
  return { rssKiB: get("VmRSS"), anonKiB: get("RssAnon"), hwmKiB: get("VmHWM"), threads: get("Threads") };
}

/** Bytes on disk (allocated blocks, like du) and apparent bytes of a tree. */
export function diskUsage(dir: string): { du: number; apparent: number } {
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

/**
 * Warnings and errors in a server log (bytes from..to, to -1 = the end): zap JSON lines (etcd-ts)
 * or capnslog "W |" / "E |" lines (etcd 3.4).
 */
export function logProblems(file: string, from = 0, to = -1): string[] {
  let text = "";
  try {
    const buf = fs.readFileSync(file);
    text = buf.subarray(from, to >= 0 ? to : buf.length).toString("utf8");
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
