import { Database, type Statement } from "bun:sqlite";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { type Clock, systemClock } from "../pkg/clock.ts";
import { failpoint } from "../pkg/failpoint.ts";
import { backendCommitSeconds, backendCommitWriteSeconds, backendDefragSeconds, defragInflight, openReadTxns } from "./metrics.ts";

export type { Statement };
export type SqlValue = bigint | number | string | Uint8Array | null;

/**
 * How often the open transaction is committed. A commit writes every page the batches dirtied since
 * the last one: the longer the interval, the more rewrites of the same hot pages (the keys' index,
 * the meta row) fold into one page write — at 100 ms a put load wrote twice as many pages as at 1 s.
 * What a crash loses of it is replayed from the server's WAL at restart (at most an interval's worth).
 */
export const COMMIT_INTERVAL_MS = 1000;
export const COMMIT_BATCHES_MAX = 10_000;

/**
 * The only user of bun:sqlite (etcd's bbolt role). The WAL, not this file, is the durability point:
 * SQLite runs in WAL journal mode with synchronous=NORMAL, so a commit survives a process crash
 * (kill -9) but may be lost on power loss — the server then replays its own WAL past the applied index
 * stored in the same transaction. `sync()` makes everything durable before the WAL is purged.
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
  #cancelCommit: (() => void) | null = null;
  #commitIntervalMs: number;
  #commitBatchesMax: number;
  #clock: Clock;

  #onStorageFailure: ((err: unknown) => void) | null;

  /**
   * clock: when the periodic commit runs (default the system's; the whole-server simulation's is fake).
   * onStorageFailure: called (then the error is thrown on) when SQLite could not write — a commit
   * that failed, a disk full or an I/O error inside a batch. SQLite may then have rolled back
   * batches this process already counts as applied, so its view and the file differ: a server stops
   * at once and lets its WAL replay them (etcd's backend is fatal there too).
   */
  constructor(path: string, opts: { commitIntervalMs?: number; commitBatchesMax?: number; clock?: Clock; onStorageFailure?: (err: unknown) => void } = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#onStorageFailure = opts.onStorageFailure ?? null;
    this.#commitIntervalMs = opts.commitIntervalMs ?? COMMIT_INTERVAL_MS;
    this.#commitBatchesMax = opts.commitBatchesMax ?? COMMIT_BATCHES_MAX;
    this.path = path;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // safeIntegers: revisions and lease ids are int64 and must not round through number.
    this.#db = new Database(path, { create: true, strict: true, safeIntegers: true });
    // First, before any table exists: only a file created in this mode (or rewritten by a full VACUUM
    // after this pragma, see defrag) can give free pages back a slice at a time. On an existing file
    // in another mode it is a no-op until then.
    // 16 KiB pages for a new file (an existing one keeps its own): a commit writes a page per system
    // call, and under a put load most pages written are appended history — a quarter of the calls
    // for the same bytes (server CPU per put ~10 % lower than with 4 KiB, same-run A/B).
    this.#db.exec("PRAGMA page_size = 16384");
    this.#db.exec("PRAGMA auto_vacuum = INCREMENTAL");
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec("PRAGMA synchronous = NORMAL");
    // Reads go through a memory map of the file (as bbolt's): the kernel's page cache holds the pages,
    // shared and reclaimable, instead of a private copy in SQLite's cache. That cache then only needs
    // to hold what a commit interval dirties (64 MiB of cache cost ~60 MiB of RSS after 200k puts).
    // 16 MiB: at 1M keys 8 MiB made a put 15 % dearer; 32 MiB cost 20 MiB of RSS after 200k puts,
    // which the server's allocator setting (entry/allocator-env.ts) needs more.
    this.#db.exec("PRAGMA cache_size = -16384");
    this.#db.exec("PRAGMA mmap_size = 1073741824"); // 1 GiB; pages past it are read with pread
    this.#db.exec("PRAGMA temp_store = MEMORY");
    // SQLite's WAL is copied back into the main file when it reaches ~40 MiB, whatever the page size
    // (10,000 pages of 4 KiB before pages grew to 16 KiB), and a WAL file left bigger than 64 MiB by a
    // burst is cut back after the copy rather than kept at its largest.
    const pageBytes = Number(this.#db.query("PRAGMA page_size").values()[0][0]);
    this.#db.exec(`PRAGMA wal_autocheckpoint = ${Math.round((40 * 2 ** 20) / pageBytes)}`);
    this.#db.exec(`PRAGMA journal_size_limit = ${64 * 2 ** 20}`);
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
      this.#cancelCommit = this.#clock.after(this.#commitIntervalMs, () => this.commit());
    }
    this.#inBatch = true;
    this.#db.exec("SAVEPOINT batch");
    let out: T;
    try {
      out = fn();
      this.#db.exec("RELEASE batch");
    } catch (err) {
      if (isStorageFailure(err)) this.#onStorageFailure?.(err);
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
    this.#cancelCommit?.();
    this.#cancelCommit = null;
    this.#batchesSinceCommit = 0;
    if (!this.#open) return;
    this.#open = false;
    const startMs = performance.now();
    try {
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#onStorageFailure?.(err);
      throw err;
    }
    this.#fileBytes = -1;
    const seconds = (performance.now() - startMs) / 1000;
    backendCommitSeconds.observe(seconds);
    backendCommitWriteSeconds.observe(seconds);
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
    // Asked after every applied batch: the file's size is read again only after it may have changed.
    if (this.#fileBytes < 0) this.#fileBytes = safeFileSize(this.path);
    return Math.max(pages * pageSize, this.#fileBytes);
  }

  /**
   * The main file's size as last read, or -1 when it may have changed since. In WAL mode the main
   * file changes only when the WAL is checkpointed, which happens in a COMMIT (auto-checkpoint), in
   * checkpoint() and in defrag; each of them forgets it.
   */
  #fileBytes = -1;

  /** Bytes in pages that hold data (size minus the free list), as etcd's dbSizeInUse. */
  sizeInUse(): number {
    const [pages, pageSize] = this.#pragmaPair("page_count", "page_size");
    const free = Number(this.#db.query("PRAGMA freelist_count").values()[0][0]);
    return (pages - free) * pageSize;
  }

  /**
   * Makes every transaction committed so far durable where it is — SQLite's own WAL, fsynced — without
   * copying it into the main file: all a log checkpoint needs before the server's WAL is released.
   * One fsync instead of checkpoint()'s copy of every page written since the last one plus its fsyncs
   * (at --snapshot-count 10000 under a put load, that copy stalled the event loop every second).
   * A reader (copyTo) does not hold it up.
   */
  sync(): void {
    this.commit();
    // In WAL mode, synchronous=FULL fsyncs the WAL at each commit; the fsync covers the frames of the
    // earlier (NORMAL) commits too. The commit needs a frame to write: the count of syncs.
    this.#db.exec("PRAGMA synchronous = FULL");
    try {
      this.batch(() => this.setMeta("syncs", (this.#syncs += 1n)));
      this.commit();
    } finally {
      this.#db.exec("PRAGMA synchronous = NORMAL");
    }
  }

  #syncs = 0n;

  /**
   * Makes every committed transaction durable in the main file (fsync). False when a reader (a copy
   * in progress, see copyTo) kept it from finishing: then nothing may rely on it.
   */
  /** TESTS ONLY (the robustness suite's power cuts): the committed state, as one file at path. */
  writeCopy(path: string): void {
    this.commit();
    writeFileSync(`${path}.tmp`, this.#db.serialize());
    renameSync(`${path}.tmp`, path);
  }

  checkpoint(): boolean {
    this.commit();
    const [busy, logPages, done] = (this.#db.query("PRAGMA wal_checkpoint(TRUNCATE)").values()[0] as unknown[]).map(Number);
    this.#fileBytes = -1;
    return busy === 0 && logPages === done;
  }

  /**
   * Writes a compact copy of the committed state to path and returns its size and sha256 (unless
   * told not to hash it) — the
   * database a lagging follower or `etcdctl snapshot save` receives. It is read through a second,
   * read-only connection (one consistent snapshot of the file) a page of rows at a time, yielding to
   * the event loop between pages, so copying a large database never stalls Raft heartbeats or clients.
   */
  async copyTo(path: string, opts?: { pageRows?: number }): Promise<{ size: number; sha256: Buffer }>;
  /** hash: false — the caller reads the copy differently (the Snapshot RPC converts it first). */
  async copyTo(path: string, opts: { pageRows?: number; hash: false }): Promise<{ size: number; sha256: null }>;
  async copyTo(path: string, opts: { pageRows?: number; hash?: boolean } = {}): Promise<{ size: number; sha256: Buffer | null }> {
    const pageRows = opts.pageRows ?? 5000;
    this.commit(); // the copy sees what is committed
    rmSync(path, { force: true });
    const src = new Database(this.path, { readonly: true, strict: true, safeIntegers: true });
    let out: Database | null = null;
    openReadTxns.inc();
    try {
      src.exec("BEGIN");
      const tables = src.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").values() as [string, string][];
      const indexes = src.query("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").values() as [string][];
      out = new Database(path, { create: true, strict: true, safeIntegers: true });
      // Copies become members' databases (snapshot install, restore): in incremental mode from the
      // start, so their first defrag does not need the one blocking VACUUM that converts a file.
      out.exec("PRAGMA page_size = 16384"); // as a new member database (constructor): copies become ones
      out.exec("PRAGMA auto_vacuum = INCREMENTAL");
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
      openReadTxns.dec();
    }
    if (opts.hash === false) return { size: statSync(path).size, sha256: null };
    return hashFile(path);
  }


  #defragging: Promise<void> | null = null;
  #closed = false;

  /** True when free pages can be given back in slices (see defrag); false for files made before that. */
  get incrementalVacuum(): boolean {
    return Number(this.#db.query("PRAGMA auto_vacuum").values()[0][0]) === 2;
  }

  /**
   * etcd's defrag: gives the free pages back to the file system, so size() shrinks (sizeInUse stays).
   * Resolves when done; a call while one runs joins it.
   *
   * A full VACUUM rewrites the whole file in one statement and blocked the event loop — every client
   * and Raft heartbeat — for the whole rewrite (0.7–1 s on a 290 MB file, bench/defrag.ts). Instead
   * the file is in auto_vacuum=INCREMENTAL mode and `PRAGMA incremental_vacuum(n)` moves live pages
   * from the end of the file into free slots and truncates, n pages per step, each step its own
   * SQLite transaction of about `stepMs`, yielding to the event loop in between (client writes and
   * the periodic batch commit interleave). Chosen over VACUUM INTO a new file and a swap because that
   * needs every write made during the copy re-applied before the swap; here nothing but SQLite's own
   * atomic transactions is involved, so a kill -9 between or inside steps leaves a valid file holding
   * exactly what was committed, consistent index included (the steps change where rows live, never
   * what they are). The price: pages are not re-sorted as VACUUM would, only the free ones removed —
   * which is what etcd's dbSize is about.
   *
   * A file created before this mode existed converts with one full VACUUM (the pragma set at open
   * takes effect then): that first defrag blocks as before, the later ones do not.
   */
  defrag(opts: { stepMs?: number } = {}): Promise<void> {
    if (!this.#defragging) {
      const startMs = performance.now();
      defragInflight.inc(); // one backend per process: 1 while it defragments
      this.#defragging = this.#defrag(opts.stepMs ?? 10).finally(() => {
        this.#defragging = null;
        defragInflight.dec();
        backendDefragSeconds.observe((performance.now() - startMs) / 1000);
      });
    }
    return this.#defragging;
  }

  async #defrag(stepMs: number): Promise<void> {
    this.commit();
    if (!this.incrementalVacuum) {
      this.#db.exec("VACUUM");
      this.checkpoint();
      return;
    }
    const freePages = () => Number(this.#db.query("PRAGMA freelist_count").values()[0][0]);
    // What was free at the start is the goal: pages freed meanwhile (a compaction) may be left for
    // the next defrag, so writes that keep freeing pages cannot keep this loop going. Every step
    // counts at least one page, so there are at most `goal` steps.
    const goal = freePages();
    let pages = 64;
    for (let reclaimed = 0; reclaimed < goal; ) {
      if (this.#closed) return;
      this.commit(); // what was batched during the yield: the step runs as its own transaction
      const before = freePages();
      if (before === 0) break;
      const t = performance.now();
      failpoint("defragBeforeStep");
      this.#db.exec(`PRAGMA incremental_vacuum(${pages})`);
      failpoint("defragAfterStep");
      const ms = performance.now() - t;
      reclaimed += Math.max(1, before - freePages());
      // Aim each step at stepMs whatever the disk and page cache do; at most doubling per step and
      // at most 1024 pages (4 MiB of 4 KiB pages, 16 MiB of 16 KiB), since a step that finds its pages out of cache runs several
      // times slower than the one before (seen: 3700 pages after fast steps took 54 ms).
      pages = Math.max(16, Math.min(1024, pages * 2, Math.round((pages * stepMs) / Math.max(ms, 0.1))));
      await new Promise<void>((r) => setImmediate(r));
      if (this.#closed) return;
      // Each step writes its moved pages to the SQLite WAL; left to wal_autocheckpoint they were
      // copied back 10000 at a time (a 150 ms block, measured), so copy them back a step's worth at a
      // time, again between two turns of the event loop. PASSIVE: it never waits for a reader.
      this.commit(); // a checkpoint cannot run inside this connection's own open transaction
      this.#db.query("PRAGMA wal_checkpoint(PASSIVE)").values();
      this.#fileBytes = -1;
      await new Promise<void>((r) => setImmediate(r));
    }
    if (this.#closed) return;
    // The file shrinks when the SQLite WAL is copied back into it; false (a copyTo reading) only
    // means it shrinks at a later checkpoint.
    this.checkpoint();
  }

  /**
   * A PASSIVE checkpoint (it never waits for a reader), for background work between its steps: the
   * SQLite WAL then stays short, instead of growing to wal_autocheckpoint and being copied back in
   * one long stall inside some later commit.
   */
  checkpointStep(): void {
    if (this.#closed) return;
    this.#db.query("PRAGMA wal_checkpoint(PASSIVE)").values();
    this.#fileBytes = -1;
  }

  /** Closed: background work on it (defrag, compaction) stops. */
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.commit();
    this.#closed = true;
    this.#db.close();
  }

  /**
   * What the death of the process does to the file: the open (uncommitted) transaction is rolled
   * back and the handle closed, nothing committed. For the whole-server simulation's crashes.
   */
  abandon(): void {
    if (this.#closed) return;
    this.#cancelCommit?.();
    this.#cancelCommit = null;
    if (this.#open) this.#db.exec("ROLLBACK");
    this.#open = false;
    this.#inBatch = false;
    this.#closed = true;
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

/**
 * Size and sha256 of a file, read 4 MiB at a time with a turn of the event loop every 16 MiB. Kept
 * apart from copyTo because not every copy needs it (the Snapshot RPC converts its copy first).
 */
export async function hashFile(path: string): Promise<{ size: number; sha256: Buffer }> {
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

/** SQLite's errors that say the file could not be written or read back, not that a statement was wrong. */
export function isStorageFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^SQLITE_(FULL|IOERR|CORRUPT|NOTADB|CANTOPEN|READONLY)/.test(code);
}
