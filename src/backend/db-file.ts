import { Database } from "bun:sqlite";
import type { SqlValue } from "./backend.ts";

/**
 * A database file opened read-only for inspection (`etcdctl snapshot status`, restore's checks):
 * nothing is written to it, not even a journal mode, so a snapshot file stays byte for byte what it
 * was (its trailing sha256 included: SQLite reads only the pages its header counts).
 */
export class DbFile {
  readonly path: string;
  #db: Database;

  private constructor(path: string, db: Database) {
    this.path = path;
    this.#db = db;
  }

  /** Throws SQLite's error when the file is not a database ("file is not a database"). */
  static open(path: string): DbFile {
    const db = new Database(path, { readonly: true, strict: true, safeIntegers: true });
    try {
      db.exec("PRAGMA query_only = ON");
      // Reading the schema is the first access to the pages: a file that is not SQLite fails here.
      db.query("SELECT count(*) FROM sqlite_master").values();
    } catch (err) {
      db.close();
      throw err;
    }
    return new DbFile(path, db);
  }

  /** Tables holding data (SQLite's own excluded), by name. */
  tables(): string[] {
    const rows = this.#db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").values() as [string][];
    return rows.map((r) => r[0]);
  }

  /** Columns of a table, in declaration order. */
  columns(table: string): string[] {
    return (this.#db.query(`PRAGMA table_info(${quoteId(table)})`).values() as [unknown, string][]).map((c) => c[1]);
  }

  /**
   * The rows of a table in primary-key order (rowid for rowid tables), every column in declaration
   * order: the order depends on the content only, not on how the pages are laid out.
   */
  *rows(table: string): Generator<SqlValue[]> {
    const info = this.#db.query(`PRAGMA table_info(${quoteId(table)})`).values() as [unknown, string, unknown, unknown, unknown, bigint][];
    const pk = info.filter((c) => Number(c[5]) > 0).sort((a, b) => Number(a[5]) - Number(b[5])).map((c) => quoteId(c[1]));
    const withoutRowid = (this.#db.query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").values(table)[0]?.[0] as string | undefined)?.match(/WITHOUT\s+ROWID\s*$/i);
    const order = withoutRowid ? pk.join(", ") : "rowid";
    const stmt = this.#db.prepare(`SELECT ${info.map((c) => quoteId(c[1])).join(", ")} FROM ${quoteId(table)} ORDER BY ${order}`);
    for (const row of stmt.iterate() as IterableIterator<Record<string, SqlValue>>) yield Object.values(row);
  }

  count(table: string): number {
    return Number(this.#db.query(`SELECT count(*) FROM ${quoteId(table)}`).values()[0][0]);
  }

  getMeta(name: string): SqlValue | undefined {
    if (!this.tables().includes("meta")) return undefined;
    const row = this.#db.query("SELECT value FROM meta WHERE name = ?").values(name)[0];
    return row ? (row[0] as SqlValue) : undefined;
  }

  /** Bytes of the database proper (pages × page size): the file may carry more (a trailing hash). */
  sizeBytes(): number {
    const pages = Number(this.#db.query("PRAGMA page_count").values()[0][0]);
    const pageSize = Number(this.#db.query("PRAGMA page_size").values()[0][0]);
    return pages * pageSize;
  }

  /** SQLite's quick_check: [] when the file is consistent, otherwise what is wrong (at most `max`). */
  problems(max = 10): string[] {
    const rows = this.#db.query(`PRAGMA quick_check(${Math.max(1, Math.floor(max))})`).values() as [string][];
    return rows.map((r) => r[0]).filter((m) => m !== "ok");
  }

  close(): void {
    this.#db.close();
  }
}

function quoteId(id: string): string {
  return `"${id.replaceAll('"', '""')}"`;
}
