/** Structured logs as etcd's zap logger writes them (JSON lines on stderr), so log shippers keep working. */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const RANK: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3, panic: 4, fatal: 5 };

export function createLogger(minLevel: string, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = RANK[minLevel] ?? 1;
  return (level, msg, fields) => {
    if (RANK[level] < min) return;
    const entry: Record<string, unknown> = { level, ts: new Date().toISOString(), msg, ...fields };
    write(JSON.stringify(entry, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
  };
}
