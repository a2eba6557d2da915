import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
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

// ---- defrag ----

/** Rows of 2 KiB, most then deleted, so most of the file is free pages. */
function fillAndDelete(b: Backend, rows: number, keepEvery: number): void {
  b.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)");
  const ins = b.prepare("INSERT INTO t (id, v) VALUES (?1, ?2)");
  for (let i = 0; i < rows; i += 1000) b.batch(() => { for (let j = i; j < i + 1000; j++) ins.run(j, Buffer.alloc(2048, j % 251)); });
  b.batch(() => b.prepare("DELETE FROM t WHERE id % ?1 <> 0").run(keepEvery));
  b.setMeta("consistent_index", 1234n);
  b.commit();
}

/** Every row left by fillAndDelete (and extras), checked by content. */
function expectRows(b: Backend, rows: number, keepEvery: number, extra = 0): void {
  const got = b.prepare<[bigint, Uint8Array]>("SELECT id, v FROM t WHERE id < ?1 ORDER BY id").values(rows as never);
  expect(got.length).toBe(Math.ceil(rows / keepEvery));
  for (const [id, v] of got) {
    expect(Number(id) % keepEvery).toBe(0);
    expect(Buffer.from(v as Uint8Array).equals(Buffer.alloc(2048, Number(id) % 251))).toBe(true);
  }
  expect(b.prepare<[bigint]>("SELECT count(*) FROM t WHERE id >= ?1").values(rows as never)[0][0]).toBe(BigInt(extra));
  expect(b.getMeta("consistent_index")).toBe(1234n);
  expect(b.prepare<[string]>("PRAGMA integrity_check").values()[0][0]).toBe("ok");
}

test("defrag gives free pages back in slices, yielding to the event loop, and keeps every row and write made meanwhile", async () => {
  const path = join(tempDir(), "db");
  const b = new Backend(path, { commitIntervalMs: 60_000 });
  expect(b.incrementalVacuum).toBe(true); // a new file is created in incremental mode
  fillAndDelete(b, 20_000, 10);
  b.checkpoint();
  const [sizeBefore, inUseBefore] = [b.size(), b.sizeInUse()];
  expect(sizeBefore).toBeGreaterThan(3 * inUseBefore);

  // Writes keep coming while the defrag runs; the event loop must turn many times meanwhile.
  const ins = b.prepare("INSERT INTO t (id, v) VALUES (?1, ?2)");
  let turns = 0;
  let done = false;
  const writer = (async () => {
    for (let i = 0; !done && i < 100_000; i++) {
      b.batch(() => ins.run(1_000_000 + i, Buffer.from(`w${i}`)));
      turns++;
      await new Promise<void>((r) => setImmediate(r));
    }
  })();
  const defragging = b.defrag({ stepMs: 2 });
  expect(b.defrag()).toBe(defragging); // a second call joins the first
  await defragging;
  done = true;
  await writer;

  expect(turns).toBeGreaterThan(10);
  expect(b.size()).toBeLessThan(inUseBefore * 1.3);
  expect(statSync(path).size).toBe(b.size()); // the file itself shrank
  expect(Math.abs(b.sizeInUse() - inUseBefore)).toBeLessThan(inUseBefore * 0.2);
  expectRows(b, 20_000, 10, turns);
  b.close();
  const again = new Backend(path);
  expectRows(again, 20_000, 10, turns);
  again.close();
});

test("defrag of a file made before incremental mode: one full VACUUM converts it, later defrags are incremental", async () => {
  const path = join(tempDir(), "db");
  // As the backend created files before: no auto_vacuum pragma.
  const old = new Database(path, { create: true });
  old.exec("PRAGMA journal_mode = WAL");
  old.exec("CREATE TABLE meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID");
  old.close();
  const b = new Backend(path);
  expect(b.incrementalVacuum).toBe(false);
  fillAndDelete(b, 10_000, 5);
  b.checkpoint();
  const sizeBefore = b.size();
  await b.defrag();
  expect(b.incrementalVacuum).toBe(true);
  expect(b.size()).toBeLessThan(sizeBefore / 3);
  expectRows(b, 10_000, 5);

  b.batch(() => b.exec("DELETE FROM t WHERE id % 10 <> 0"));
  b.checkpoint();
  const sizeMid = b.size();
  const freed = sizeMid - b.sizeInUse();
  expect(freed).toBeGreaterThan(sizeMid / 3);
  await b.defrag();
  expect(b.size()).toBeLessThan(sizeMid - freed * 0.8);
  expectRows(b, 10_000, 10);
  b.close();
  const again = new Backend(path);
  expect(again.incrementalVacuum).toBe(true);
  expectRows(again, 10_000, 10);
  again.close();
});

test("a crash in the middle of a defrag leaves a file with every committed row", () => {
  const dir = tempDir();
  const path = join(dir, "db");
  const b = new Backend(path);
  fillAndDelete(b, 20_000, 10);
  b.close();
  const script = join(dir, "crash.ts");
  // Dies from inside the defrag's event-loop turns, after some steps ran and before it finished.
  writeFileSync(
    script,
    `import { Backend } from ${JSON.stringify(join(import.meta.dir, "backend.ts"))};
     const b = new Backend(${JSON.stringify(path)});
     const start = b.size();
     let n = 0;
     const tick = () => { if (b.size() < start && ++n > 3) process.kill(process.pid, "SIGKILL"); setImmediate(tick); };
     setImmediate(tick);
     await b.defrag({ stepMs: 1 });
     console.log("defrag finished before the kill");`,
  );
  const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
  expect({ signal: r.signal, stdout: r.stdout }).toEqual({ signal: "SIGKILL", stdout: "" });
  const again = new Backend(path);
  expectRows(again, 20_000, 10);
  expect(again.incrementalVacuum).toBe(true);
  again.close();
});

test("sync() commits what is open, makes it durable at synchronous=FULL, then goes back to NORMAL; a process that dies after it keeps everything", () => {
  const path = join(tempDir(), "db");
  const b = new Backend(path, { commitIntervalMs: 60_000 });
  for (let i = 0; i < 10; i++) b.batch(() => b.setMeta(`k${i}`, BigInt(i)));
  b.sync();
  // NORMAL again for the batches that follow: FULL on every commit would fsync each one.
  expect(Number(b.prepare("PRAGMA synchronous").values()[0][0])).toBe(1);
  b.batch(() => b.setMeta("after", 1n));
  b.abandon(); // kill -9: what was not committed is gone, what sync() committed stays
  const again = new Backend(path);
  for (let i = 0; i < 10; i++) expect(again.getMeta(`k${i}`)).toBe(BigInt(i));
  expect(again.getMeta("after")).toBeUndefined();
  again.close();
});

test("a new database has 16 KiB pages and checkpoints SQLite's WAL at ~40 MiB; a copy gets the same pages", async () => {
  const dir = tempDir();
  const b = new Backend(join(dir, "db"));
  b.batch(() => b.setMeta("a", 1n));
  expect(Number(b.prepare("PRAGMA page_size").values()[0][0])).toBe(16384);
  expect(Number(b.prepare("PRAGMA wal_autocheckpoint").values()[0][0])).toBe(2560);
  await b.copyTo(join(dir, "copy"), { hash: false });
  b.close();
  const copy = new Database(join(dir, "copy"), { readonly: true });
  expect(Number((copy.query("PRAGMA page_size").values()[0] as unknown[])[0])).toBe(16384);
  copy.close();
});

test("a database that cannot be written calls onStorageFailure before the error goes on", () => {
  const dir = mkdtempSync(join(tmpdir(), "backend-full-"));
  const failures: unknown[] = [];
  const b = new Backend(join(dir, "db"), { onStorageFailure: (err) => failures.push(err) });
  try {
    b.exec("CREATE TABLE t (v BLOB)");
    b.commit();
    // A full disk, as SQLite sees one: no page may be added past the current ones.
    const pages = Number(b.prepare("PRAGMA page_count").values()[0][0]);
    b.exec(`PRAGMA max_page_count = ${pages + 1}`);
    const insert = b.prepare("INSERT INTO t VALUES (?1)");
    expect(() => b.batch(() => insert.run(new Uint8Array(1 << 20)))).toThrow();
    expect(failures.length).toBe(1);
    expect((failures[0] as { code: string }).code).toMatch(/^SQLITE_FULL/);
    // A statement that is merely wrong is the caller's error, not a storage failure.
    expect(() => b.batch(() => b.exec("INSERT INTO nowhere VALUES (1)"))).toThrow();
    expect(failures.length).toBe(1);
  } finally {
    // SQLite rolled the whole open transaction back on SQLITE_FULL (why the server must stop): the
    // final commit has nothing to commit and fails too.
    expect(() => b.close()).toThrow("no transaction is active");
    rmSync(dir, { recursive: true, force: true });
  }
});
