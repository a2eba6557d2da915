// Running a load generator (bench/load.ts in its own Bun process, or bench/go/loadgen through
// goload.ts) and what it reports.
import { spawn } from "node:child_process";
import path from "node:path";
import { BENCH, ROOT } from "./procs.ts";
import { log, markFailed, problems } from "./report.ts";

export type LoadMode = "put" | "range" | "fill";

/** The JSON line bench/load.ts (and bench/go/loadgen) writes at the end. */
export interface LoadResult {
  mode: LoadMode;
  label: string;
  requested: number;
  done: number;
  ok: number;
  errors: number;
  firstErrors: string[];
  timedOut: boolean;
  elapsedMs: number;
  /** Requests (put, range) or keys (fill) per second. */
  rate: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  clientCpuMs: number;
}

export interface LoadOptions {
  clients: number;
  conns: number;
  keyspace: number;
  valueSize: number;
}

/** One load run: the result line, and cpu() as read at "@start" and "@end" (undefined if never said). */
export interface LoadRun<T> {
  r: LoadResult;
  cpuStart?: T;
  cpuEnd?: T;
}

/**
 * Runs a load generator against `target` (["--port", P] or ["--ports", "P1,P2"]) with the flags of o,
 * then `more` and extra. cpu() is read when the load generator says the measured part starts and
 * ends (cpuStart, cpuEnd: undefined if it never said so). Throws if the load generator fails.
 */
export type RunLoad = <T>(
  target: string[],
  mode: LoadMode,
  label: string,
  o: LoadOptions,
  maxSeconds: number,
  more: string[],
  extra: Record<string, number>,
  cpu: () => T,
) => Promise<LoadRun<T>>;

/**
 * A RunLoad for the load generator started as `command` (program, then its first arguments): any
 * program with bench/load.ts's flags, its "@start"/"@end" lines and its JSON result line.
 */
export function loadRunner(command: string[]): RunLoad {
  return async (target, mode, label, o, maxSeconds, more, extra, cpu) => {
    const args = [
      ...command.slice(1),
      ...target, "--mode", mode, "--label", label,
      "--clients", String(o.clients), "--conns", String(o.conns), "--keyspace", String(o.keyspace),
      "--value-size", String(o.valueSize), "--max-seconds", String(maxSeconds), ...more,
      ...Object.entries(extra).flatMap(([k, v]) => [`--${k}`, String(v)]),
    ];
    const child = spawn(command[0], args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let cpuStart: ReturnType<typeof cpu> | undefined;
    let cpuEnd: ReturnType<typeof cpu> | undefined;
    let pending = "";
    let json = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line === "@start") cpuStart = cpu();
        else if (line === "@end") cpuEnd = cpu();
        else if (line.startsWith("{")) json = line;
      }
    });
    const code = await new Promise<number | null>((r) => {
      child.on("error", () => r(null)); // could not start it at all
      child.on("close", (x) => r(x));
    });
    if (code !== 0 || !json) throw new Error(`load generator (${label}) failed with exit code ${code}`);
    return { r: JSON.parse(json) as LoadResult, cpuStart, cpuEnd };
  };
}

/** bench/load.ts in its own Bun process. */
export const runLoad: RunLoad = loadRunner([process.execPath, path.join(BENCH, "load.ts")]);

/** Failed requests or a run stopped early fail the bench: noted under problems and logged. */
export function checkLoad(r: LoadResult, label: string, maxSeconds: number): void {
  if (r.errors > 0 || r.timedOut) {
    markFailed();
    const what = `${label}: ${r.errors} failed requests of ${r.done}${r.timedOut ? `, stopped early (time limit ${maxSeconds} s or lost connection)` : ""}`;
    problems.push(`${what}; first errors: ${r.firstErrors.join(" | ")}`);
    log(`!!! ${what}`);
    for (const e of r.firstErrors) log(`!!!   ${e}`);
  }
}
