// HashKV: what members compare to find a corrupted store. Every member and every version must hash
// equal histories to the same number, so the fields, their encoding and their order are fixed.
import { Errors } from "../pkg/errors.ts";
import { hashRevSeconds } from "./metrics.ts";
import { EMPTY, type Tables } from "./tables.ts";

/**
 * A CRC-32 over every retained revision ≤ rev in revision order (key, value, create and mod
 * revision, version, lease, tombstone), equal on members with equal history. Read in pages of
 * pageRows with a yield between them, so a large history never stalls the process; rows ≤ rev
 * never change except by compaction, which makes this throw (the caller may ask again). The caller
 * waits for any physical compaction first: rows it dropped may still be on disk while it runs.
 */
export async function hashHistory(
  t: Tables,
  rev: bigint,
  opts: { pageRows: number; compactRev: () => bigint },
): Promise<{ hash: number; compactRevision: bigint }> {
  const { pageRows } = opts;
  const startMs = performance.now();
  const compactRevision = opts.compactRev();
  const head = Buffer.alloc(41);
  let hash = 0;
  for (let after = -1n; ; ) {
    const rows = t
      .stmt("hash-page", "SELECT id, key, value, create_rev, rev, version, lease, tomb FROM hist WHERE id > ?1 AND rev <= ?2 ORDER BY id LIMIT ?3")
      .values(after, rev, pageRows) as [bigint, Uint8Array, Uint8Array | null, bigint, bigint, bigint, bigint, bigint][];
    for (const [, key, stored, createRev, modRev, version, lease, tomb] of rows) {
      const value = stored ?? EMPTY;
      head.writeBigInt64BE(createRev, 0);
      head.writeBigInt64BE(modRev, 8);
      head.writeBigInt64BE(tomb === 1n ? 0n : version, 16);
      head.writeBigInt64BE(lease, 24);
      head.writeUInt32BE(key.length, 32);
      head.writeUInt32BE(value.length, 36);
      head[40] = tomb === 1n ? 1 : 0;
      hash = Bun.hash.crc32(value, Bun.hash.crc32(key, Bun.hash.crc32(head, hash)));
    }
    if (rows.length < pageRows) break;
    after = rows[rows.length - 1][0];
    await new Promise<void>((r) => setImmediate(r));
    if (opts.compactRev() !== compactRevision) throw Errors.compacted;
  }
  hashRevSeconds.observe((performance.now() - startMs) / 1000);
  return { hash: hash >>> 0, compactRevision };
}
