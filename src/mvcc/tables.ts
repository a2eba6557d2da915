// The store's two tables and what every part of it reads of them: a key's chain of revisions.
import type { Backend, Statement } from "../backend/backend.ts";
import type { KeyValue } from "./key-value.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS hist (
  id INTEGER PRIMARY KEY,
  rev INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  tomb INTEGER NOT NULL,
  prev INTEGER
);
CREATE TABLE IF NOT EXISTS cur (
  key BLOB PRIMARY KEY,
  id INTEGER NOT NULL,
  live INTEGER NOT NULL,
  create_rev INTEGER NOT NULL,
  version INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** A history row read for a chain walk: rev, value, create_rev, version, lease, tomb, prev. */
export type ChainRow = [bigint, Uint8Array | null, bigint, bigint, bigint, bigint, bigint | null];

export const EMPTY = new Uint8Array(0);

/** The store's tables in one backend, with each statement prepared once and reused by name. */
export class Tables {
  readonly backend: Backend;
  #stmts = new Map<string, Statement<any>>();

  constructor(backend: Backend) {
    this.backend = backend;
    backend.exec(SCHEMA);
  }

  stmt(name: string, sql: string): Statement<any> {
    let s = this.#stmts.get(name);
    if (!s) {
      s = this.backend.prepare(sql);
      this.#stmts.set(name, s);
    }
    return s;
  }

  /** One history row by id, or undefined once compaction deleted it. */
  row(id: bigint): ChainRow | undefined {
    return this.stmt("byid", "SELECT rev, value, create_rev, version, lease, tomb, prev FROM hist WHERE id = ?1").values(id)[0] as ChainRow | undefined;
  }

  /**
   * The newest row at or before rev of the key whose newest row is `head`, walking the chain back;
   * undefined when the key had none then, or when its chain was trimmed by an earlier compaction.
   */
  rowAt(head: bigint, rev: bigint): { id: bigint; row: ChainRow } | undefined {
    for (let id: bigint | null = head; id !== null; ) {
      const row = this.row(id);
      if (!row) return undefined;
      if (row[0] <= rev) return { id, row };
      id = row[6];
    }
    return undefined;
  }
}

/** The KeyValue a chain row holds for key (a tombstone's is meaningless: check row[5] first). */
export function chainKv(key: Uint8Array, row: ChainRow): KeyValue {
  return { key, value: row[1] ?? EMPTY, createRevision: row[2], modRevision: row[0], version: row[3], lease: row[4] };
}
