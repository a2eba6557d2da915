import { test, expect } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFailpointEnv, parseUnsafeBugEnv } from "./failpoint";

test("parses the environment", () => {
  expect(parseFailpointEnv({})).toBeNull();
  expect(parseFailpointEnv({ ETCD_TS_FAILPOINT: "" })).toBeNull();
  expect(parseFailpointEnv({ ETCD_TS_FAILPOINT: "x" })).toEqual({ name: "x", afterHits: 50, action: { kind: "exit" } });
  expect(parseFailpointEnv({ ETCD_TS_FAILPOINT: "x", ETCD_TS_FAILPOINT_AFTER: "3" })).toEqual({ name: "x", afterHits: 3, action: { kind: "exit" } });
  expect(parseFailpointEnv({ ETCD_TS_FAILPOINT: "x", ETCD_TS_FAILPOINT_ACTION: "error" })?.action).toEqual({ kind: "error" });
  expect(parseFailpointEnv({ ETCD_TS_FAILPOINT: "x", ETCD_TS_FAILPOINT_ACTION: "sleep:1500" })?.action).toEqual({ kind: "sleep", ms: 1500 });
  expect(() => parseFailpointEnv({ ETCD_TS_FAILPOINT: "x", ETCD_TS_FAILPOINT_ACTION: "stall" })).toThrow("ETCD_TS_FAILPOINT_ACTION must be exit, error or sleep:<ms>");
  expect(() => parseFailpointEnv({ ETCD_TS_FAILPOINT: "x", ETCD_TS_FAILPOINT_AFTER: "0" })).toThrow();
  expect(() => parseFailpointEnv({ ETCD_TS_FAILPOINT: "x", ETCD_TS_FAILPOINT_AFTER: "two" })).toThrow();
});

test("exits with 137 on the configured hit of the named failpoint only", () => {
  const dir = mkdtempSync(join(tmpdir(), "failpoint-test-"));
  try {
    const script = join(dir, "child.ts");
    writeFileSync(
      script,
      `import { writeSync } from "node:fs";
import { failpoint } from ${JSON.stringify(join(import.meta.dir, "failpoint.ts"))};
for (let i = 1; i <= 10; i++) {
  failpoint("other");
  failpoint("target");
  writeSync(1, i + "\\n");
}
`,
    );
    const child = Bun.spawnSync([process.execPath, script], {
      env: { ...process.env, ETCD_TS_FAILPOINT: "target", ETCD_TS_FAILPOINT_AFTER: "4" },
    });
    expect(child.exitCode).toBe(137);
    expect(child.stdout.toString().trim().split("\n")).toEqual(["1", "2", "3"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ETCD_TS_UNSAFE_BUG names one known bug or is refused", () => {
  expect(parseUnsafeBugEnv({})).toBeUndefined();
  expect(parseUnsafeBugEnv({ ETCD_TS_UNSAFE_BUG: "watch-skip-on-compaction" })).toBe("watch-skip-on-compaction");
  expect(() => parseUnsafeBugEnv({ ETCD_TS_UNSAFE_BUG: "watch-skip" })).toThrow("ETCD_TS_UNSAFE_BUG must be one of ack-before-fsync, apply-twice-after-restart, watch-skip-on-compaction");
});

test("error throws once on the configured hit; sleep stalls the thread once", () => {
  const dir = mkdtempSync(join(tmpdir(), "failpoint-test-"));
  try {
    const script = join(dir, "child.ts");
    writeFileSync(
      script,
      `import { writeSync } from "node:fs";
import { failpoint } from ${JSON.stringify(join(import.meta.dir, "failpoint.ts"))};
for (let i = 1; i <= 4; i++) {
  const t0 = performance.now();
  try {
    failpoint("target");
    writeSync(1, i + " ok " + Math.round(performance.now() - t0) + "\\n");
  } catch (e) {
    writeSync(1, i + " " + e.message + "\\n");
  }
}
`,
    );
    const run = (action: string) =>
      Bun.spawnSync([process.execPath, script], { env: { ...process.env, ETCD_TS_FAILPOINT: "target", ETCD_TS_FAILPOINT_AFTER: "2", ETCD_TS_FAILPOINT_ACTION: action } });
    const errored = run("error");
    expect(errored.exitCode).toBe(0);
    expect(errored.stdout.toString().trim().split("\n").map((l) => l.replace(/ ok \d+$/, " ok"))).toEqual([
      "1 ok",
      "2 injected fault at failpoint target (ETCD_TS_FAILPOINT_ACTION=error)",
      "3 ok",
      "4 ok",
    ]);
    const slept = run("sleep:1000").stdout.toString().trim().split("\n");
    expect(slept.length).toBe(4);
    const ms = slept.map((l) => Number(l.split(" ")[2]));
    expect(ms[1]).toBeGreaterThanOrEqual(990);
    // Only the second hit stalls (a loaded machine still runs three empty calls in well under a second).
    expect(Math.max(ms[0], ms[2], ms[3])).toBeLessThan(500);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
