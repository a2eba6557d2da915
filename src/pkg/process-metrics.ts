// The process_* metrics of client_golang's process collector that mean the same for this process
// (same names, help texts and types as etcd 3.4 exposes them); read at scrape time, nothing on the hot path.
import { readdirSync } from "node:fs";
import type { Registry } from "./metrics.ts";

const registered = new WeakSet<Registry>();

/** Adds process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, process_start_time_seconds (once per registry). */
export function registerProcessMetrics(registry: Registry): void {
  if (registered.has(registry)) return;
  registered.add(registry);
  const cpu = registry.counter({ name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds." });
  const rss = registry.gauge({ name: "process_resident_memory_bytes", help: "Resident memory size in bytes." });
  const fds = registry.gauge({ name: "process_open_fds", help: "Number of open file descriptors." });
  const start = registry.gauge({ name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds." });
  start.set(Math.round(performance.timeOrigin) / 1000);
  registry.onCollect(() => {
    const u = process.cpuUsage();
    cpu.value = (u.user + u.system) / 1e6;
    rss.set(process.memoryUsage.rss());
    const open = openFds();
    if (open !== undefined) fds.set(open);
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
