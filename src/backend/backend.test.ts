import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "./backend.ts";

let dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "backend-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

test("a batch that throws is undone whole, earlier batches stay", () => {
  const b = new Backend(join(tempDir(), "db"));
  b.batch(() => b.setMeta("a", 1n));
  expect(() =>
    b.batch(() => {
      b.setMeta("b", 2n);
      throw new Error("boom");
    }),
  ).toThrow("boom");
  expect(b.getMeta("a")).toBe(1n);
  expect(b.getMeta("b")).toBeUndefined();
  b.close();
});

test("close commits the batches still open", () => {
  const path = join(tempDir(), "db");
  const b = new Backend(path, { commitIntervalMs: 60_000 });
  for (let i = 0; i < 10; i++) b.batch(() => b.setMeta(`k${i}`, BigInt(i)));
  b.close();
  const again = new Backend(path);
  expect(again.getMeta("k9")).toBe(9n);
  again.close();
});

test("a crash before the periodic commit loses whole batches only, never part of one", () => {
  const dir = tempDir();
  const script = join(dir, "crash.ts");
  writeFileSync(
    script,
    `import { Backend } from ${JSON.stringify(join(import.meta.dir, "backend.ts"))};
     const b = new Backend(${JSON.stringify(join(dir, "db"))}, { commitIntervalMs: 60_000, commitBatchesMax: 5 });
     for (let i = 0; i < 12; i++) b.batch(() => { b.setMeta("x" + i, BigInt(i)); b.setMeta("y" + i, BigInt(i)); });
     process.exit(137);`,
  );
  const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 137, stderr: "" });
  const b = new Backend(join(dir, "db"));
  // commitBatchesMax 5: batches 0–9 were committed, 10 and 11 were still open at the crash.
  for (let i = 0; i < 10; i++) expect([b.getMeta(`x${i}`), b.getMeta(`y${i}`)]).toEqual([BigInt(i), BigInt(i)]);
  expect([b.getMeta("x10"), b.getMeta("y10")]).toEqual([undefined, undefined]);
  b.close();
});
