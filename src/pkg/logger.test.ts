import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { callerOf, createLogger } from "./logger.ts";

function capture(level = "info") {
  const lines: any[] = [];
  const log = createLogger(level, (l) => lines.push(JSON.parse(l)));
  return { log, lines };
}

test("one JSON object per line: level, ts, caller, msg, then the fields; bigints as strings", () => {
  const { log, lines } = capture();
  log("info", "started", { member: 5n, name: "n1" });
  expect(Object.keys(lines[0])).toEqual(["level", "ts", "caller", "msg", "member", "name"]);
  expect(lines[0]).toMatchObject({ level: "info", msg: "started", member: "5", name: "n1" });
  expect(lines[0].caller).toMatch(/^pkg\/logger\.test\.ts:\d+$/);
  expect(new Date(lines[0].ts).toISOString()).toBe(lines[0].ts);
});

test("levels below the minimum are dropped; debug shows everything", () => {
  const warn = capture("warn");
  warn.log("info", "no");
  warn.log("error", "yes");
  expect(warn.lines.map((l) => l.msg)).toEqual(["yes"]);
  const debug = capture("debug");
  debug.log("debug", "d");
  expect(debug.lines).toHaveLength(1);
});

test("secrets never reach a log", () => {
  const { log, lines } = capture();
  log("warn", "authentication failed", { user: "root", password: "hunter2", token: "abc.def", simpleToken: "x", privKey: "k", key: "/app/x" });
  expect(lines[0]).toMatchObject({ user: "root", password: "[redacted]", token: "[redacted]", simpleToken: "[redacted]", privKey: "[redacted]", key: "/app/x" });
  expect(JSON.stringify(lines[0])).not.toContain("hunter2");
});

test("--log-outputs: a file path is appended to", () => {
  const dir = mkdtempSync(join(tmpdir(), "log-"));
  try {
    const file = join(dir, "etcd.log");
    const log = createLogger("info", [file]);
    log("info", "one");
    log("info", "two");
    expect(readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l).msg)).toEqual(["one", "two"]);
    expect(() => createLogger("info", [join(dir, "missing/dir/etcd.log")])).toThrow(/ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("callerOf reads Bun's and V8's stack lines", () => {
  expect(callerOf("Error\n    at f (/a/b/src/server/core/server.ts:10:5)\n    at g (/x/src/main.ts:3:1)", 2)).toBe("src/main.ts:3");
  expect(callerOf("Error\n    at f (src/server/core/server.ts:10:5)", 1)).toBe("core/server.ts:10");
  expect(callerOf("Error", 2)).toBe("");
});
