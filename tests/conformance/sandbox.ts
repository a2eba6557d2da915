// Runs one e2e test alone: its own working tree, TMPDIR and HOME, and (as root) its own network and
// PID namespaces, so the suite's fixed ports (20000+) never collide with a test running beside it, and
// everything it started dies with it when it ends or times out.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ETCD_SRC } from "./build.ts";

export interface RunSpec {
  e2eBinary: string;
  test: string;
  binDir: string;
  certDir: string;
  /** A fresh directory for this run; removed afterwards. */
  workDir: string;
  timeoutMs: number;
  isolate: boolean;
}

export interface RunResult {
  output: string;
  exitCode: number | null;
  timedOut: boolean;
  ms: number;
}

/** Whether this machine lets us give each test its own network and PID namespace (needs root). */
export function canIsolate(): boolean {
  const r = spawnSync("unshare", ["-n", "-p", "-f", "--kill-child", "--", "sh", "-c", "ip link set lo up"], { stdio: "ignore" });
  return r.status === 0;
}

const OUTPUT_MAX = 8 << 20; // keep the tail of a very chatty run

/** Process groups of the tests running now, for stopAll() on Ctrl-C. */
const running = new Set<number>();

/** Ends every test still running (their whole process groups, hence their namespaces). */
export function stopAll(): void {
  for (const pgid of running) {
    try { process.kill(-pgid, "SIGKILL"); } catch {}
  }
}

/**
 * The tree the suite expects around its working directory: it runs in tests/e2e and reads
 * ../../integration/fixtures, and some tests write data dirs (snap.etcd) into the working
 * directory — a private copy of the layout keeps two tests from sharing those.
 */
function prepareTree(workDir: string): { cwd: string; home: string; tmp: string } {
  const cwd = join(workDir, "tests/e2e");
  const home = join(workDir, "home");
  const tmp = join(workDir, "tmp");
  for (const d of [cwd, home, tmp]) mkdirSync(d, { recursive: true });
  symlinkSync(join(ETCD_SRC, "integration"), join(workDir, "integration"));
  return { cwd, home, tmp };
}

/** Without namespaces, what the test started (etcd runs under its own pty session) is found by its cwd. */
function killStrays(workDir: string): void {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const dir = readlinkSync(`/proc/${pid}/cwd`);
      if (dir === workDir || dir.startsWith(`${workDir}/`)) process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
}

export function runOne(spec: RunSpec): Promise<RunResult> {
  const { cwd, home, tmp } = prepareTree(spec.workDir);
  const testArgs = [`-test.run`, `^${spec.test}$`, "-test.v", "-bin-dir", spec.binDir, "-cert-dir", spec.certDir];
  const [cmd, args] = spec.isolate
    ? ["unshare", ["-n", "-p", "-f", "--kill-child", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', spec.e2eBinary, ...testArgs]]
    : [spec.e2eBinary, testArgs];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd as string, args as string[], {
      cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        HOME: home,
        TMPDIR: tmp,
        // The suite's expect package then echoes every line the processes print: what triage needs.
        EXPECT_DEBUG: "1",
      },
    });
    if (child.pid !== undefined) running.add(child.pid);
    let output = "";
    const take = (d: Buffer) => {
      output += d.toString();
      if (output.length > OUTPUT_MAX) output = output.slice(-OUTPUT_MAX / 2);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The whole process group; with --kill-child the namespace's first process dies with unshare,
      // and the kernel ends everything else in the PID namespace.
      try { process.kill(-child.pid!, "SIGKILL"); } catch {}
    }, spec.timeoutMs);
    let finished = false;
    const done = (exitCode: number | null) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (child.pid !== undefined) running.delete(child.pid);
      if (!spec.isolate) killStrays(spec.workDir);
      rmSync(spec.workDir, { recursive: true, force: true });
      resolve({ output, exitCode, timedOut, ms: Date.now() - started });
    };
    child.on("error", (e) => {
      output += `\nfailed to start ${cmd}: ${e.message}\n`;
      done(null);
    });
    child.on("close", done);
  });
}
