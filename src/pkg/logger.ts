/**
 * Structured logs as etcd's zap logger writes them — one JSON object per line with level, ts, caller,
 * msg and fields — so log shippers and the habits of etcd operators keep working.
 */
import { appendFileSync, openSync } from "node:fs";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const RANK: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3, panic: 4, fatal: 5 };

/** Field names whose values never reach a log (auth requests carry passwords and tokens). */
const SECRET_FIELD = /pass(word)?|secret|token|authorization|priv(ate)?[-_]?key/i;

/** The caller of the logger as zap prints it ("core/server.ts:1020"), from the stack. */
export function callerOf(stack: string | undefined, depth: number): string {
  const line = stack?.split("\n")[depth] ?? "";
  const m = /\(?([^()\s]+):(\d+):\d+\)?\s*$/.exec(line);
  if (!m) return "";
  const parts = m[1].split("/");
  // The last two path parts, as zap's short caller: enough to find the file, stable across hosts.
  return `${parts.slice(-2).join("/")}:${m[2]}`;
}

function redact(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const k of Object.keys(fields)) {
    if (SECRET_FIELD.test(k)) {
      out ??= { ...fields };
      out[k] = "[redacted]";
    }
  }
  return out ?? fields;
}

/**
 * `outputs` are etcd's --log-outputs: "default" and "stderr" (the same), "stdout", or file paths
 * (appended to, created if missing).
 */
export function createLogger(minLevel: string, outputs: readonly string[] | ((line: string) => void) = ["default"]): Logger {
  const min = RANK[minLevel] ?? 1;
  const write = typeof outputs === "function" ? outputs : writers(outputs);
  return (level, msg, fields) => {
    if (RANK[level] < min) return;
    const entry: Record<string, unknown> = { level, ts: new Date().toISOString(), caller: callerOf(new Error().stack, 2), msg, ...(fields && redact(fields)) };
    if (entry.caller === "") delete entry.caller;
    write(JSON.stringify(entry, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
  };
}

function writers(outputs: readonly string[]): (line: string) => void {
  const targets = [...new Set(outputs.map((o) => (o === "default" ? "stderr" : o)))].map((o): ((line: string) => void) => {
    if (o === "stderr") return (l) => void process.stderr.write(l);
    if (o === "stdout") return (l) => void process.stdout.write(l);
    // Opened once now, so a path that cannot be written is a startup error naming it.
    const fd = openSync(o, "a", 0o600);
    return (l) => appendFileSync(fd, l);
  });
  return targets.length === 1 ? targets[0] : (l) => targets.forEach((t) => t(l));
}
