// The process_* and os_fd_* families read from /proc, under client_golang's and etcd's names.
import { expect, test } from "bun:test";
import { Registry } from "./metrics.ts";
import { registerProcessMetrics, softLimits } from "./process-metrics.ts";

test("soft limits by name; unlimited as client_golang's RLIM_INFINITY", () => {
  const text = [
    "Limit                     Soft Limit           Hard Limit           Units     ",
    "Max open files            1024                 524288               files     ",
    "Max address space         unlimited            unlimited            bytes     ",
  ].join("\n");
  const limits = softLimits(text);
  expect(limits.get("Max open files")).toBe(1024);
  expect(limits.get("Max address space")).toBe(18446744073709551615);
});

test.if(process.platform === "linux")("this process: open and maximum descriptors, both under etcd's os_fd_* names too", () => {
  const r = new Registry();
  registerProcessMetrics(r);
  registerProcessMetrics(r); // once per registry
  const text = r.expose();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)![1]);
  expect(value("process_open_fds")).toBeGreaterThan(2);
  expect(value("os_fd_used")).toBe(value("process_open_fds"));
  expect(value("process_max_fds")).toBe(value("os_fd_limit"));
  expect(value("process_max_fds")).toBeGreaterThanOrEqual(value("process_open_fds"));
  expect(value("process_virtual_memory_bytes")).toBeGreaterThan(value("process_resident_memory_bytes"));
  expect(text).not.toMatch(/^go_/m);
});
