// Running bench/load.ts (the load generator) in its own Bun process, and what it reports.
import { spawn } from "node:child_process";
import path from "node:path";
import { BENCH, ROOT } from "./procs.ts";
import { log, markFailed, problems } from "./report.ts";

export type LoadMode = "put" | "range" | "fill";

/** The JSON line bench/load.ts writes at the end. */
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

/**
 * Runs bench/load.ts against `target` (["--port", P] or ["--ports", "P1,P2"]) with the flags of o,
 * then `more` and extra. cpu() is read when the load generator says the measured part starts and
 * ends (cpuStart, cpuEnd: undefined if it never said so). Throws if the load generator fails.
 */
export async function runLoad<T>(
  target: string[],
  mode: LoadMode,
  label: string,
  o: LoadOptions,
  maxSeconds: number,
  more: string[],
  extra: Record<string, number>,
  cpu: () => T,
): Promise<{ r: LoadResult; cpuStart?: T; cpuEnd?: T }> {
  const args = [
    path.join(BENCH, "load.ts"),
    ...target, "--mode", mode, "--label", label,
    "--clients", String(o.clients), "--conns", String(o.conns), "--keyspace", String(o.keyspace),
    "--value-size", String(o.valueSize), "--max-seconds", String(maxSeconds), ...more,
    ...Object.entries(extra).flatMap(([k, v]) => [`--${k}`, String(v)]),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let cpuStart: T | undefined;
  let cpuEnd: T | undefined;
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
  const code = await new Promise<number | null>((r) => child.on("close", (x) => r(x)));
  if (code !== 0 || !json) throw new Error(`load generator (${label}) failed with exit code ${code}`);
  return { r: JSON.parse(json) as LoadResult, cpuStart, cpuEnd };
}

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
