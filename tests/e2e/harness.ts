// Starts the compiled dist/etcd on free loopback ports and drives it with real clients.
import { afterAll, beforeAll } from "bun:test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { frame } from "../../src/server/grpc/framing.ts";
import { freePort } from "./ports.ts";

export const ROOT = resolve(import.meta.dir, "../..");
/** The binary under test; ETCD_TS_BINARY points elsewhere (a build of work in progress). */
export const BINARY = process.env.ETCD_TS_BINARY ?? join(ROOT, "dist/etcd");

export function haveEtcdctl(): boolean {
  return spawnSync("etcdctl", ["version"], { encoding: "utf8" }).status === 0;
}

/** CI must run the compatibility tests; a developer without etcdctl sees them skipped with a reason. */
export function requireTool(name: string, present: boolean): boolean {
  if (present) return true;
  if (process.env.CI === "true") throw new Error(`${name} is required when CI=true (install it: apt-get install -y etcd-client)`);
  console.warn(`skipping: ${name} is not installed`);
  return false;
}

export { freePort };

export interface Member {
  proc: ChildProcess;
  endpoint: string;
  clientUrl: string;
  dataDir: string;
  logs: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  port?: number;
  peerPort?: number;
  /** What "started" means: /health true (default), or only /livez (serving, whatever its alarms). */
  until?: "health" | "live";
}

/**
 * The environment a server starts with: ours, minus the test settings named ETCD_TS_* (the server
 * refuses ETCD_* variables it does not know, as etcd does).
 */
export function serverEnv(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_TS_")));
}

export async function startMember(opts: StartOptions = {}): Promise<Member> {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run 'npm run build' first`);
  return launch("etcd-ts", BINARY, { ...opts, dataDir: opts.dataDir ?? mkdtempSync(join(tmpdir(), "etcd-ts-e2e-")) });
}

/** Spawns a server on loopback ports with etcd's flags and waits until /health answers. */
async function launch(
  what: string,
  command: string,
  opts: StartOptions & { dataDir: string },
): Promise<Member> {
  const dataDir = opts.dataDir;
  const port = opts.port ?? (await freePort());
  const peerPort = opts.peerPort ?? (await freePort());
  const clientUrl = `http://127.0.0.1:${port}`;
  const proc = spawn(
    command,
    [
      "--data-dir", dataDir,
      "--listen-client-urls", clientUrl,
      "--advertise-client-urls", clientUrl,
      "--listen-peer-urls", `http://127.0.0.1:${peerPort}`,
      ...(opts.args ?? []),
    ],
    { env: { ...serverEnv(), ...opts.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const m: Member = {
    proc,
    endpoint: `127.0.0.1:${port}`,
    clientUrl,
    dataDir,
    logs: () => out,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode} at start:\n${out}`);
    try {
      // A member that is not ready holds client connections unanswered (as etcd): bound the wait.
      const res = await fetch(`${clientUrl}/${opts.until === "live" ? "livez" : "health"}`, { signal: AbortSignal.timeout(Math.max(100, deadline - Date.now())) });
      if (res.ok) return m;
    } catch {}
    await Bun.sleep(50);
  }
  await m.stop("SIGKILL");
  throw new Error(`${what} did not become healthy within 15 s:\n${out}`);
}

/**
 * Three members on fresh loopback ports in a temp dir, not started yet: start(i) (re)starts member i
 * with `extraArgs`, on the same ports and data dir each time.
 */
export async function trio(prefix: string, extraArgs: string[] = []) {
  const root = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const names = [1, 2, 3].map((i) => `${prefix}${i}`);
  const clients = [await freePort(), await freePort(), await freePort()];
  const peers = [await freePort(), await freePort(), await freePort()];
  const cluster = names.map((n, j) => `${n}=http://127.0.0.1:${peers[j]}`).join(",");
  const start = (i: number, until: "health" | "live" = "health") =>
    startMember({
      dataDir: join(root, names[i]),
      port: clients[i],
      peerPort: peers[i],
      args: ["--name", names[i], "--initial-advertise-peer-urls", `http://127.0.0.1:${peers[i]}`, "--initial-cluster", cluster, ...extraArgs],
      until,
    });
  return { root, names, start };
}

/** Three members on fresh loopback ports, started together (none is ready before a quorum exists). */
export async function startTrio(prefix: string, extraArgs: string[] = []): Promise<{ members: Member[]; root: string }> {
  const { root, start } = await trio(prefix, extraArgs);
  const members = await Promise.all([0, 1, 2].map((i) => start(i)));
  return { members, root };
}

export function cleanup(m: Member): void {
  rmSync(m.dataDir, { recursive: true, force: true });
}

/**
 * One member for a describe block: dist/etcd, or the real etcd 3.4 when `real` (for checking a
 * test's expectations against etcd), started before the block's tests and stopped and removed after.
 * Register client set-up after calling this (hooks run in order).
 */
export function suiteMember(real = false): { readonly m: Member } {
  const suite = { m: undefined as unknown as Member };
  beforeAll(async () => {
    suite.m = real ? await startRealEtcd() : await startMember();
  }, 20_000);
  afterAll(async () => {
    await suite.m?.stop();
    if (suite.m) cleanup(suite.m);
  }, 20_000);
  return suite;
}

export interface CtlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function etcdctl(m: Member | string, args: string[], input?: string): CtlResult {
  const endpoints = typeof m === "string" ? m : m.endpoint;
  const r = spawnSync("etcdctl", ["--endpoints", endpoints, "--dial-timeout", "3s", "--command-timeout", "10s", ...args], {
    encoding: "utf8",
    input,
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs etcdctl and fails with its stderr when it does not succeed. */
/** m is a member, or a comma-separated list of endpoints. */
export function ctl(m: Member | string, args: string[], input?: string): string {
  const r = etcdctl(m, args, input);
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** etcdctl -w json prints 64-bit ids as bare JSON numbers: parse them without losing precision. */
export function parseJsonExact(text: string): any {
  return JSON.parse(text.replace(/(:\s*)(\d{16,})/g, '$1"$2"'));
}

export function haveEtcdServer(): boolean {
  return spawnSync("etcd", ["--version"], { encoding: "utf8" }).status === 0;
}

/** Starts the real etcd (Debian's etcd-server) the same way, for differential tests and benchmarks. */
export async function startRealEtcd(opts: StartOptions = {}): Promise<Member> {
  return launch("real etcd", "etcd", { ...opts, dataDir: opts.dataDir ?? mkdtempSync(join(tmpdir(), "real-etcd-")) });
}

/** One gRPC unary call over a fresh HTTP/2 connection (no client library): for tests that need a write. */
export async function grpcUnary(m: Member, path: string, message: Uint8Array): Promise<{ status: number; message: string; body: Uint8Array }> {
  const http2 = await import("node:http2");
  const session = http2.connect(m.clientUrl);
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
      const chunks: Buffer[] = [];
      let headers: Record<string, unknown> = {};
      req.on("response", (h) => (headers = h));
      req.on("trailers", (t) => (headers = { ...headers, ...t }));
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("error", reject);
      req.on("end", () => {
        const all = Buffer.concat(chunks);
        resolve({
          status: Number(headers["grpc-status"] ?? -1),
          message: decodeURIComponent(String(headers["grpc-message"] ?? "")),
          body: all.length >= 5 ? all.subarray(5) : new Uint8Array(0),
        });
      });
      req.end(frame(message));
    });
  } finally {
    session.close();
  }
}
