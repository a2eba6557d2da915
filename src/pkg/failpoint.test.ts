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

/** Runs `loop` (code that may call failpoint()) in a child Bun process with `env`; its exit code and output lines. */
function runChild(loop: string, env: Record<string, string>): { exitCode: number | null; lines: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "failpoint-test-"));
  try {
    const script = join(dir, "child.ts");
    const imports = `import { writeSync } from "node:fs";\nimport { failpoint } from ${JSON.stringify(join(import.meta.dir, "failpoint.ts"))};\n`;
    writeFileSync(script, imports + loop);
    const child = Bun.spawnSync([process.execPath, script], { env: { ...process.env, ...env } });
    return { exitCode: child.exitCode, lines: child.stdout.toString().trim().split("\n") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("exits with 137 on the configured hit of the named failpoint only", () => {
  const child = runChild(
    `for (let i = 1; i <= 10; i++) {
  failpoint("other");
  failpoint("target");
  writeSync(1, i + "\\n");
}
`,
    { ETCD_TS_FAILPOINT: "target", ETCD_TS_FAILPOINT_AFTER: "4" },
  );
  expect(child.exitCode).toBe(137);
  expect(child.lines).toEqual(["1", "2", "3"]);
});

test("ETCD_TS_UNSAFE_BUG names one known bug or is refused", () => {
  expect(parseUnsafeBugEnv({})).toBeUndefined();
  expect(parseUnsafeBugEnv({ ETCD_TS_UNSAFE_BUG: "watch-skip-on-compaction" })).toBe("watch-skip-on-compaction");
  expect(() => parseUnsafeBugEnv({ ETCD_TS_UNSAFE_BUG: "watch-skip" })).toThrow("ETCD_TS_UNSAFE_BUG must be one of ack-before-fsync, apply-twice-after-restart, watch-skip-on-compaction");
});

test("error throws once on the configured hit; sleep stalls the thread once", () => {
  const loop = `for (let i = 1; i <= 4; i++) {
  const t0 = performance.now();
  try {
    failpoint("target");
    writeSync(1, i + " ok " + Math.round(performance.now() - t0) + "\\n");
  } catch (e) {
    writeSync(1, i + " " + e.message + "\\n");
  }
}
`;
  const run = (action: string) => runChild(loop, { ETCD_TS_FAILPOINT: "target", ETCD_TS_FAILPOINT_AFTER: "2", ETCD_TS_FAILPOINT_ACTION: action });
  const errored = run("error");
  expect(errored.exitCode).toBe(0);
  expect(errored.lines.map((l) => l.replace(/ ok \d+$/, " ok"))).toEqual([
    "1 ok",
    "2 injected fault at failpoint target (ETCD_TS_FAILPOINT_ACTION=error)",
    "3 ok",
    "4 ok",
  ]);
  const slept = run("sleep:1000").lines;
  expect(slept.length).toBe(4);
  const ms = slept.map((l) => Number(l.split(" ")[2]));
  expect(ms[1]).toBeGreaterThanOrEqual(990);
  // Only the second hit stalls (a loaded machine still runs three empty calls in well under a second).
  expect(Math.max(ms[0], ms[2], ms[3])).toBeLessThan(500);
});
