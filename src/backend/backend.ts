import { Database, type Statement } from "bun:sqlite";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { backendCommitSeconds } from "./metrics.ts";

export type { Statement };
export type SqlValue = bigint | number | string | Uint8Array | null;

/**
 * The only user of bun:sqlite (etcd's bbolt role). The WAL, not this file, is the durability point:
 * SQLite runs in WAL journal mode with synchronous=NORMAL, so a commit survives a process crash
 * (kill -9) but may be lost on power loss — the server then replays its own WAL past the applied index
 * stored in the same transaction. `checkpoint()` makes everything durable before the WAL is purged.
 *
 * Because the server's WAL already holds every applied entry, batches are not committed one by one:
 * they accumulate in one open SQLite transaction (each batch a savepoint, atomic on its own) that is
 * committed every `commitIntervalMs` or `commitBatchesMax` batches, as etcd's backend commits bbolt
 * in periodic batches. Re-writing a hot page costs memory, not another page write per batch. This
 * process is the only reader, so what it reads is what it applied.
 */
export class Backend {
  readonly path: string;
  #db: Database;
  #inBatch = false;
  #open = false;
  #batchesSinceCommit = 0;
  #commitTimer: ReturnType<typeof setTimeout> | null = null;
  #commitIntervalMs: number;
  #commitBatchesMax: number;

  constructor(path: string, opts: { commitIntervalMs?: number; commitBatchesMax?: number } = {}) {
    this.#commitIntervalMs = opts.commitIntervalMs ?? 100;
    this.#commitBatchesMax = opts.commitBatchesMax ?? 1000;
    this.path = path;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // safeIntegers: revisions and lease ids are int64 and must not round through number.
    this.#db = new Database(path, { create: true, strict: true, safeIntegers: true });
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    this.#db.exec("PRAGMA cache_size = -65536"); // 64 MiB page cache
    this.#db.exec("PRAGMA temp_store = MEMORY");
    this.#db.exec("PRAGMA wal_autocheckpoint = 10000");
    this.#db.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID");
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  prepare<Row = unknown[]>(sql: string): Statement<Row> {
    return this.#db.prepare(sql) as unknown as Statement<Row>;
  }

  /** Runs fn atomically (all or nothing); nested calls join the outer batch. */
  batch<T>(fn: () => T): T {
    if (this.#inBatch) return fn();
    if (!this.#open) {
      this.#db.exec("BEGIN IMMEDIATE");
      this.#open = true;
      this.#commitTimer = setTimeout(() => this.commit(), this.#commitIntervalMs);
      (this.#commitTimer as { unref?: () => void }).unref?.();
    }
    this.#inBatch = true;
    this.#db.exec("SAVEPOINT batch");
    let out: T;
    try {
      out = fn();
      this.#db.exec("RELEASE batch");
    } catch (err) {
      this.#db.exec("ROLLBACK TO batch");
      this.#db.exec("RELEASE batch");
      throw err;
    } finally {
      this.#inBatch = false;
    }
    if (++this.#batchesSinceCommit >= this.#commitBatchesMax) this.commit();
    return out;
  }

  /** Commits the open transaction, if any (a crash loses nothing: the server WAL replays it). */
  commit(): void {
    if (this.#inBatch) throw new Error("assertion failed: commit inside a batch");
    if (this.#commitTimer) clearTimeout(this.#commitTimer);
    this.#commitTimer = null;
    this.#batchesSinceCommit = 0;
    if (!this.#open) return;
    this.#open = false;
    const startMs = performance.now();
    this.#db.exec("COMMIT");
    backendCommitSeconds.observe((performance.now() - startMs) / 1000);
  }

  getMeta(name: string): SqlValue | undefined {
    const row = this.#db.query("SELECT value FROM meta WHERE name = ?").values(name)[0];
    return row ? (row[0] as SqlValue) : undefined;
  }

  setMeta(name: string, value: SqlValue): void {
    this.#db
      .query("INSERT INTO meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value")
      .run(name, value);
  }

  /** Bytes the database occupies on disk (main file; the SQLite WAL is transient). */
  size(): number {
    const [pages, pageSize] = this.#pragmaPair("page_count", "page_size");
    return Math.max(pages * pageSize, safeFileSize(this.path));
  }

  /** Bytes in pages that hold data (size minus the free list), as etcd's dbSizeInUse. */
  sizeInUse(): number {
    const [pages, pageSize] = this.#pragmaPair("page_count", "page_size");
    const free = Number(this.#db.query("PRAGMA freelist_count").values()[0][0]);
    return (pages - free) * pageSize;
  }

  /**
   * Makes every committed transaction durable in the main file (fsync). False when a reader (a copy
   * in progress, see copyTo) kept it from finishing: then nothing may rely on it.
   */
  checkpoint(): boolean {
    this.commit();
    const [busy, logPages, done] = (this.#db.query("PRAGMA wal_checkpoint(TRUNCATE)").values()[0] as unknown[]).map(Number);
    return busy === 0 && logPages === done;
  }


  /**
   * Writes a compact copy of the committed state to path and returns its size and sha256 — the
   * database a lagging follower or `etcdctl snapshot save` receives. It is read through a second,
   * read-only connection (one consistent snapshot of the file) a page of rows at a time, yielding to
   * the event loop between pages, so copying a large database never stalls Raft heartbeats or clients.
   */
  async copyTo(path: string, opts: { pageRows?: number } = {}): Promise<{ size: number; sha256: Buffer }> {
    const pageRows = opts.pageRows ?? 5000;
    this.commit(); // the copy sees what is committed
    rmSync(path, { force: true });
    const src = new Database(this.path, { readonly: true, strict: true, safeIntegers: true });
    let out: Database | null = null;
    try {
      src.exec("BEGIN");
      const tables = src.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").values() as [string, string][];
      const indexes = src.query("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").values() as [string][];
      out = new Database(path, { create: true, strict: true, safeIntegers: true });
      out.exec("PRAGMA journal_mode = OFF");
      out.exec("PRAGMA synchronous = OFF");
      for (const [, sql] of tables) out.exec(sql);
      for (const [name, sql] of tables) {
        const q = (id: string) => `"${id.replaceAll('"', '""')}"`;
        const cols = (src.query(`PRAGMA table_info(${q(name)})`).values() as [unknown, string, unknown, unknown, unknown, bigint][]);
        const pk = cols.filter((c) => Number(c[5]) > 0);
        // Rowid tables page by rowid; WITHOUT ROWID ones by their (single-column) primary key.
        const withoutRowid = /WITHOUT\s+ROWID\s*$/i.test(sql);
        if (withoutRowid && pk.length !== 1) throw new Error(`copyTo: table ${name} has a composite primary key`);
        const order = withoutRowid ? q(pk[0][1]) : "rowid";
        const names = cols.map((c) => q(c[1]));
        const select = src.prepare(`SELECT ${order}, ${names.join(", ")} FROM ${q(name)} WHERE ?1 IS NULL OR ${order} > ?1 ORDER BY ${order} LIMIT ?2`);
        const insert = out.prepare(`INSERT INTO ${q(name)} (${names.join(", ")}) VALUES (${names.map((_, i) => `?${i + 1}`).join(", ")})`);
        for (let after: unknown = null; ; ) {
          const rows = select.values(after as never, pageRows) as unknown[][];
          out.transaction(() => {
            for (const r of rows) insert.run(...(r.slice(1) as never[]));
          })();
          if (rows.length < pageRows) break;
          after = rows[rows.length - 1][0];
          await new Promise<void>((r) => setImmediate(r));
        }
      }
      for (const [sql] of indexes) out.exec(sql);
      out.close();
      out = null;
    } finally {
      out?.close();
      try {
        src.exec("ROLLBACK");
      } catch {}
      src.close();
    }
    const hash = createHash("sha256");
    const fd = openSync(path, "r");
    try {
      const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
      let size = 0;
      for (let n, reads = 1; (n = readSync(fd, buf, 0, buf.length, size)) > 0; size += n, reads++) {
        hash.update(buf.subarray(0, n));
        if (reads % 4 === 0) await new Promise<void>((r) => setImmediate(r)); // 16 MiB at a time
      }
      return { size, sha256: hash.digest() };
    } finally {
      closeSync(fd);
    }
  }

  /** Rewrites the file without free pages: etcd's defrag. Blocks this process while it runs. */
  defrag(): void {
    this.commit();
    this.#db.exec("VACUUM");
    this.checkpoint();
  }

  close(): void {
    this.commit();
    this.#db.close();
  }

  #pragmaPair(a: string, b: string): [number, number] {
    const x = Number(this.#db.query(`PRAGMA ${a}`).values()[0][0]);
    const y = Number(this.#db.query(`PRAGMA ${b}`).values()[0][0]);
    return [x, y];
  }
}

function safeFileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
