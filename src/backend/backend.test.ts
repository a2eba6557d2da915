import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

test("copyTo: a consistent, compact copy made page by page while writes go on; checkpoints wait it out", async () => {
  const dir = tempDir();
  const b = new Backend(join(dir, "db"));
  b.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
  b.exec("CREATE TABLE w (k BLOB PRIMARY KEY, v INTEGER) WITHOUT ROWID");
  b.exec("CREATE INDEX t_v ON t (v)");
  const ins = b.prepare("INSERT INTO t (v) VALUES (?1)");
  const insW = b.prepare("INSERT INTO w (k, v) VALUES (?1, ?2)");
  b.batch(() => {
    for (let i = 0; i < 2500; i++) ins.run(Buffer.from(`v${i}`));
    for (let i = 0; i < 700; i++) insW.run(Buffer.from(`k${String(i).padStart(4, "0")}`), BigInt(i));
    b.setMeta("revision", 42n);
  });
  const copying = b.copyTo(join(dir, "copy"), { pageRows: 100 });
  // The copy yields between pages: writes made meanwhile are not in it, and a checkpoint cannot
  // finish (and says so at once rather than blocking) while the copy reads.
  await new Promise((r) => setImmediate(r));
  b.batch(() => ins.run(Buffer.from("later")));
  const started = performance.now();
  expect(b.checkpoint()).toBe(false);
  expect(performance.now() - started).toBeLessThan(500);
  const { size, sha256 } = await copying;
  expect(b.checkpoint()).toBe(true);

  const bytes = readFileSync(join(dir, "copy"));
  expect(size).toBe(bytes.length);
  expect(sha256.equals(createHash("sha256").update(bytes).digest())).toBe(true);
  const c = new Backend(join(dir, "copy"));
  expect(c.prepare<[bigint]>("SELECT count(*) FROM t").values()[0][0]).toBe(2500n);
  expect(c.prepare<[bigint]>("SELECT count(*) FROM w").values()[0][0]).toBe(700n);
  expect(c.prepare<[Uint8Array]>("SELECT v FROM t WHERE id = 2500").values()[0][0]).toEqual(new Uint8Array(Buffer.from("v2499")));
  expect(c.prepare<[bigint]>("SELECT v FROM w WHERE k = ?1").values(Buffer.from("k0699") as never)[0][0]).toBe(699n);
  expect(c.getMeta("revision")).toBe(42n);
  expect(c.prepare<[string]>("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 't_v'").values()).toHaveLength(1);
  c.close();
  b.close();
});
