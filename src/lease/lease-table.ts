import type { Backend, Statement } from "../backend/backend.ts";

/** A row of the `lease` table: etcd's leasepb.Lease (id, granted TTL, last checkpointed remaining TTL). */
export interface LeaseRow {
  id: bigint;
  /** Granted TTL in seconds. */
  ttl: number;
  /** Remaining TTL in seconds as last checkpointed; 0 = none (the full TTL applies). */
  remainingTtl: number;
}

/**
 * The leases in the server's SQLite database (etcd's `lease` bucket). The caller runs writes inside
 * its `backend.batch`, so a lease changes in the same transaction as the applied index that covers it.
 * Attached keys are not stored here: the keys' own rows (their `lease` column) are the truth.
 */
export class LeaseTable {
  readonly backend: Backend;
  #put: Statement;
  #del: Statement;
  #all: Statement;

  constructor(backend: Backend) {
    this.backend = backend;
    backend.batch(() =>
      backend.exec("CREATE TABLE IF NOT EXISTS lease (id INTEGER PRIMARY KEY, ttl INTEGER NOT NULL, remaining_ttl INTEGER NOT NULL DEFAULT 0)"),
    );
    this.#put = backend.prepare(
      "INSERT INTO lease(id, ttl, remaining_ttl) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET ttl = excluded.ttl, remaining_ttl = excluded.remaining_ttl",
    );
    this.#del = backend.prepare("DELETE FROM lease WHERE id = ?1");
    this.#all = backend.prepare("SELECT id, ttl, remaining_ttl FROM lease ORDER BY id");
  }

  put(row: LeaseRow): void {
    checkRow(row);
    this.backend.batch(() => this.#put.run(row.id, row.ttl, row.remainingTtl));
  }

  delete(id: bigint): void {
    this.backend.batch(() => this.#del.run(id));
  }

  all(): LeaseRow[] {
    return (this.#all.values() as [bigint, bigint, bigint][]).map(([id, ttl, remainingTtl]) => {
      const row = { id, ttl: Number(ttl), remainingTtl: Number(remainingTtl) };
      checkRow(row); // checked before writing and again after reading
      return row;
    });
  }
}

function checkRow(row: LeaseRow): void {
  if (row.id === 0n || !Number.isSafeInteger(row.ttl) || row.ttl < 0 || !Number.isSafeInteger(row.remainingTtl) || row.remainingTtl < 0) {
    throw new Error(`assertion failed: bad lease row id=${row.id} ttl=${row.ttl} remaining_ttl=${row.remainingTtl}`);
  }
}
