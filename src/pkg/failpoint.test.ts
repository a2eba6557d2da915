import { test, expect } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFailpointEnv, parseUnsafeBugEnv } from "./failpoint";

test("parses the environment", () => {
  expect(parseFailpointEnv({})).toBeNull();
  expect(parseFailpointEnv({ ETCD_TS_FAILPOINT: "" })).toBeNull();
  expect(parseFailpointEnv({ ETCD_TS_FAILPOINT: "x" })).toEqual({ name: "x", afterHits: 50 });
  expect(parseFailpointEnv({ ETCD_TS_FAILPOINT: "x", ETCD_TS_FAILPOINT_AFTER: "3" })).toEqual({ name: "x", afterHits: 3 });
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
