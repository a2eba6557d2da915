// client_golang's process collector (process_*) and etcd's file descriptor gauges (os_fd_*), under the
// names, help texts and types etcd 3.4 exposes; read from /proc at scrape time, nothing on the hot path.
// Go's runtime collector (go_*) has no counterpart here: this process runs on Bun, and goroutines,
// Go's GC pauses or Go heap statistics would be made-up numbers, so none of them is exported.
import { readdirSync, readFileSync } from "node:fs";
import type { Registry } from "./metrics.ts";

const registered = new WeakSet<Registry>();

/** client_golang's value for an unlimited rlimit (RLIM_INFINITY as a float64). */
const UNLIMITED = 18446744073709551615;

/** Adds the process_* and os_fd_* metrics (once per registry). */
export function registerProcessMetrics(registry: Registry): void {
  if (registered.has(registry)) return;
  registered.add(registry);
  const cpu = registry.counter({ name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds." });
  const rss = registry.gauge({ name: "process_resident_memory_bytes", help: "Resident memory size in bytes." });
  const vsize = registry.gauge({ name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes." });
  const vsizeMax = registry.gauge({ name: "process_virtual_memory_max_bytes", help: "Maximum amount of virtual memory available in bytes." });
  const fds = registry.gauge({ name: "process_open_fds", help: "Number of open file descriptors." });
  const maxFds = registry.gauge({ name: "process_max_fds", help: "Maximum number of open file descriptors." });
  const fdUsed = registry.gauge({ name: "os_fd_used", help: "The number of used file descriptors." });
  const fdLimit = registry.gauge({ name: "os_fd_limit", help: "The file descriptor limit." });
  const start = registry.gauge({ name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds." });
  start.set(Math.round(performance.timeOrigin) / 1000);
  registry.onCollect(() => {
    const u = process.cpuUsage();
    cpu.value = (u.user + u.system) / 1e6;
    rss.set(process.memoryUsage.rss());
    const vm = virtualMemoryBytes();
    if (vm !== undefined) vsize.set(vm);
    const open = openFds();
    if (open !== undefined) {
      fds.set(open);
      fdUsed.set(open);
    }
    const limits = softLimits();
    const files = limits.get("Max open files");
    if (files !== undefined) {
      maxFds.set(files);
      fdLimit.set(files);
    }
    const space = limits.get("Max address space");
    if (space !== undefined) vsizeMax.set(space);
  });
}

/** Entries of /proc/self/fd (Linux), counted as client_golang counts them; undefined elsewhere. */
function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

/** vsize, field 23 of /proc/self/stat (after the parenthesised command name, which may hold spaces). */
function virtualMemoryBytes(): number | undefined {
  try {
    const stat = readFileSync("/proc/self/stat", "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const v = Number(fields[20]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Soft limits from /proc/self/limits by name ("Max open files" → 1024); unlimited as client_golang reports it. */
export function softLimits(text = readLimits()): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n").slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = m[2] === "unlimited" ? UNLIMITED : Number(m[2]);
    if (Number.isFinite(v)) out.set(m[1], v);
  }
  return out;
}

function readLimits(): string {
  try {
    return readFileSync("/proc/self/limits", "latin1");
  } catch {
    return "";
  }
}
