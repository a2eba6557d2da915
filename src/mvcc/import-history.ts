/**
 * Fills an empty store with a history written elsewhere (a real etcd's key bucket, on restore):
 * rows in revision order become `hist` rows chained per key, `cur` ends up at each key's newest row,
 * and the store's revision and compaction point are those of the source. Rows are written as they
 * are; nothing is replayed through put/delete, so revisions, versions and create revisions stay
 * exactly the source's.
 */
import type { Backend } from "../backend/backend.ts";
import { Tables } from "./tables.ts";

export interface HistoryRecord {
  rev: bigint;
  key: Uint8Array;
  /** Ignored for a tombstone. */
  value: Uint8Array;
  createRevision: bigint;
  version: bigint;
  lease: bigint;
  tombstone: boolean;
}

export function importHistory(
  backend: Backend,
  records: Iterable<HistoryRecord>,
  opts: { currentRevision: bigint; compactRevision: bigint },
): { rows: number; revision: bigint } {
  new Tables(backend); // creates the tables
  if (backend.prepare("SELECT count(*) FROM hist").values()[0][0] !== 0n) throw new Error("importHistory: the store is not empty");
  const insert = backend.prepare(
    "INSERT INTO hist(rev, key, value, create_rev, version, lease, tomb, prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
  );
  const setCur = backend.prepare(
    `INSERT INTO cur(key, id, live, create_rev, version) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT(key) DO UPDATE SET id = excluded.id, live = excluded.live, create_rev = excluded.create_rev, version = excluded.version`,
  );
  const lastId = new Map<string, bigint>();
  let rows = 0;
  let maxRev = 0n;
  let lastRev = 0n;
  backend.batch(() => {
    for (const r of records) {
      if (r.rev < lastRev) throw new Error(`importHistory: revision ${r.rev} after ${lastRev}: records must come in revision order`);
      lastRev = r.rev;
      const k = Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength).toString("latin1");
      const prev = lastId.get(k) ?? null;
      const res = r.tombstone
        ? insert.run(r.rev, r.key, null, 0n, 0n, 0n, 1, prev)
        : insert.run(r.rev, r.key, r.value, r.createRevision, r.version, r.lease, 0, prev);
      const id = BigInt(res.lastInsertRowid);
      lastId.set(k, id);
      if (r.tombstone) setCur.run(r.key, id, 0, 0n, 0n);
      else setCur.run(r.key, id, 1, r.createRevision, r.version);
      rows++;
      if (r.rev > maxRev) maxRev = r.rev;
    }
    // etcd's current revision is its newest revision key, or the compaction point if that is newer
    // (a compaction of everything leaves no key behind it).
    const revision = [opts.currentRevision, maxRev, opts.compactRevision, 1n].reduce((a, b) => (b > a ? b : a));
    backend.setMeta("rev", revision);
    backend.setMeta("compact_rev", opts.compactRevision);
    maxRev = revision;
  });
  return { rows, revision: maxRev };
}
