// Kills a child process at the WAL failpoints (exit 137, as after kill -9) and
// checks that every append the child saw acknowledged survives the crash.
import { test, expect } from "bun:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { withTempDir } from "./test-support";
import { Wal } from "./wal";

const CHILD_SCRIPT = `
import { writeSync } from "node:fs";
import { Wal } from ${JSON.stringify(join(import.meta.dir, "wal.ts"))};

const dir = process.argv[2];
const { wal, records } = await Wal.open(dir, { segmentBytes: 4096, log: () => {} });
let next = records.length === 0 ? 1n : records[records.length - 1].index + 1n;
const payload = (index) => new TextEncoder().encode(("r" + index + ";").repeat(Number(index % 37n) + 1));
const inFlight = new Set();
for (let i = 0; i < 5000; i++) {
  const index = next++;
  const appended = wal.append([{ type: 1, data: payload(index), index }]).then(() => {
    // Synchronous, so the line is out before the process can die.
    writeSync(1, index + "\\n");
  });
  inFlight.add(appended);
  appended.finally(() => inFlight.delete(appended));
  // A few appends in flight at once, so crashes also hit group-committed batches.
  if (inFlight.size >= 4) await Promise.race(inFlight);
}
await Promise.all(inFlight);
await wal.close();
`;

async function runChild(script: string, dir: string, failpoint: string, afterHits: number) {
  const child = Bun.spawn([process.execPath, script, dir], {
    env: { ...process.env, ETCD_TS_FAILPOINT: failpoint, ETCD_TS_FAILPOINT_AFTER: String(afterHits) },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const acknowledged = stdout.split("\n").filter((line) => line !== "").map((line) => BigInt(line));
  return { exitCode, stderr, acknowledged };
}

for (const failpoint of ["wal-after-sync", "wal-before-sync"]) {
  test(`crash at ${failpoint}: every acknowledged append survives, across two crashes`, async () => {
    await withTempDir(async (root) => {
      const script = join(root, "child.ts");
      await writeFile(script, CHILD_SCRIPT);
      const dir = join(root, "wal");
      const acknowledged: bigint[] = [];
      for (const afterHits of [40, 25]) {
        const run = await runChild(script, dir, failpoint, afterHits);
        expect(run.stderr).toBe("");
        expect(run.exitCode).toBe(137);
        expect(run.acknowledged.length).toBeGreaterThan(0);
        acknowledged.push(...run.acknowledged);
      }

      const { wal, records } = await Wal.open(dir, { log: () => {} });
      await wal.close();
      const present = new Map(records.map((record) => [record.index!, new TextDecoder().decode(record.data)]));
      for (const index of acknowledged) {
        expect(present.get(index)).toBe(`r${index};`.repeat(Number(index % 37n) + 1));
      }
      // The log has no holes: indexes run 1..n in order.
      expect(records.map((r) => r.index)).toEqual(records.map((_, i) => BigInt(i + 1)));
      if (failpoint === "wal-after-sync") {
        // The fatal batch was synced but never acknowledged, so the log holds more than was acked.
        expect(records.length).toBeGreaterThan(acknowledged.length);
      }
    });
  }, 30_000);
}
