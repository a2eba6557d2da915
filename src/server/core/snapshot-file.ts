/**
 * Snapshot files: etcd's (bbolt + sha256 — what the Snapshot RPC streams and what etcd saves, see
 * etcd-snapshot.ts) and etcd-ts's own earlier format, a compact copy of our SQLite database followed
 * by the sha256 of those bytes (what `snapshot save` wrote before the RPC spoke etcd's format, and
 * what a database copied out of a data dir is). The first bytes tell the formats apart; the size
 * tells whether a hash follows (etcd's rule: a database is whole 512-byte units, so a size 32 bytes
 * past a multiple of 512 carries one). A file without one restores only with --skip-hash-check.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { BoltReader, etcdSnapshotStatus, stripSnapshotHash } from "../../snap/bbolt/index.ts";
import { DbFile } from "../../backend/db-file.ts";
import type { SqlValue } from "../../backend/backend.ts";
import { crc32c } from "../../pkg/crc32c.ts";

// One rule for both formats: etcd's hasChecksum, as snap/bbolt keeps it.
export { hasSnapshotHash as hasChecksum, SHA256_BYTES } from "../../snap/bbolt/snapshot-hash.ts";

const SQLITE_MAGIC = "SQLite format 3\0";
/** bbolt's meta page magic, after the 16-byte page header (little endian). */
const BOLT_MAGIC = 0xed0cdaed;
/** The tables of our database (mvcc's hist and cur, the meta table): without them it is not ours. */
const OUR_TABLES = ["cur", "hist", "meta"];

/** etcd's snapshot.Status: what `etcdctl snapshot status` prints. */
export interface SnapshotStatus {
  hash: number;
  revision: bigint;
  totalKey: number;
  totalSize: number;
}


export type FileKind = "etcd-ts" | "bbolt" | "unknown";

/** What the first bytes say the file is. */
export function fileKind(head: Uint8Array): FileKind {
  if (head.length >= 16 && Buffer.from(head.subarray(0, 16)).toString("latin1") === SQLITE_MAGIC) return "etcd-ts";
  if (head.length >= 20 && Buffer.from(head.buffer, head.byteOffset, head.length).readUInt32LE(16) === BOLT_MAGIC) return "bbolt";
  return "unknown";
}

/** Reads the first bytes and size of a snapshot file; throws Node's error (ENOENT…) naming it. */
export function probeFile(path: string): { kind: FileKind; sizeBytes: number } {
  const fd = openSync(path, "r");
  try {
    const sizeBytes = fstatSync(fd).size;
    const head = Buffer.alloc(32);
    const n = readSync(fd, head, 0, head.length, 0);
    return { kind: fileKind(head.subarray(0, n)), sizeBytes };
  } finally {
    closeSync(fd);
  }
}

/** Refuses what is neither kind of snapshot, saying what to do. */
export function requireSnapshot(path: string, kind: FileKind): void {
  if (kind === "unknown") {
    throw new Error(`${path} is not a snapshot: it is neither an etcd-ts database nor an etcd (bbolt) one. Check the file name, or save a new snapshot`);
  }
}

/** Opens the database in a snapshot file read-only and checks that it is one of ours. */
export function openSnapshotDb(path: string): DbFile {
  let db: DbFile;
  try {
    db = DbFile.open(path);
  } catch (err) {
    throw new Error(`${path} cannot be read as a database (${(err as Error).message}): the file is damaged; save a new snapshot`);
  }
  const tables = db.tables();
  const missing = OUR_TABLES.filter((t) => !tables.includes(t));
  if (missing.length) {
    db.close();
    throw new Error(`${path} is an SQLite database but not an etcd-ts one (no ${missing.join(", ")} table)`);
  }
  return db;
}

/**
 * etcd's snapshot status for our format. etcd's hash is a CRC-32C over every bucket's name and
 * every key and value in it; ours is a CRC-32C over every table's name and every row in
 * primary-key order (each value tagged with its type), so it depends on the content only: two
 * snapshots of the same state hash alike whatever their page layout. Total keys counts what etcd's
 * buckets would hold: every row of every table except `cur`, the key index (etcd keeps that in
 * memory) — so each revision of each key, each lease, each meta entry. Revision is the store's
 * current revision; total size the database's bytes (pages), without the trailing hash.
 */
export function snapshotStatus(path: string): SnapshotStatus {
  const { kind } = probeFile(path);
  requireSnapshot(path, kind);
  // etcd's format (what the Snapshot RPC streams, and what etcd saves): computed as etcdctl does.
  if (kind === "bbolt") {
    try {
      return etcdSnapshotStatus(new BoltReader(stripSnapshotHash(readFileSync(path)).db));
    } catch (err) {
      throw new Error(`${path} cannot be read as an etcd snapshot (${(err as Error).message}): the file is damaged; save a new snapshot`);
    }
  }
  const db = openSnapshotDb(path);
  try {
    const h = new ContentHash();
    let totalKey = 0;
    for (const table of db.tables()) {
      h.write(Buffer.from(table, "utf8"));
      for (const row of db.rows(table)) {
        for (const v of row) h.write(encodeValue(v));
        if (table !== "cur") totalKey++;
      }
    }
    const rev = db.getMeta("rev");
    return { hash: h.sum(), revision: typeof rev === "bigint" ? rev : BigInt(Number(rev ?? 1)), totalKey, totalSize: db.sizeBytes() };
  } finally {
    db.close();
  }
}

/** CRC-32C over many small pieces, buffered: one crc32c call per 64 KiB rather than per value. */
class ContentHash {
  #buf = Buffer.allocUnsafe(64 * 1024);
  #len = 0;
  #crc = 0;

  write(piece: Uint8Array): void {
    if (this.#len + piece.length > this.#buf.length) this.#flush();
    if (piece.length > this.#buf.length) {
      this.#crc = crc32c(piece, this.#crc);
      return;
    }
    this.#buf.set(piece, this.#len);
    this.#len += piece.length;
  }

  sum(): number {
    this.#flush();
    return this.#crc;
  }

  #flush(): void {
    if (this.#len) this.#crc = crc32c(this.#buf.subarray(0, this.#len), this.#crc);
    this.#len = 0;
  }
}

const TAG = { null: 0, integer: 1, real: 2, text: 3, blob: 4 } as const;

/** One value for the hash: a type tag, then 8 bytes for numbers or a u32 length and the bytes. */
export function encodeValue(v: SqlValue): Uint8Array {
  if (v === null) return Uint8Array.of(TAG.null);
  if (typeof v === "bigint") {
    const b = Buffer.alloc(9);
    b[0] = TAG.integer;
    b.writeBigInt64BE(BigInt.asIntN(64, v), 1);
    return b;
  }
  if (typeof v === "number") {
    const b = Buffer.alloc(9);
    if (Number.isInteger(v)) {
      b[0] = TAG.integer;
      b.writeBigInt64BE(BigInt(v), 1);
    } else {
      b[0] = TAG.real;
      b.writeDoubleBE(v, 1);
    }
    return b;
  }
  const bytes = typeof v === "string" ? Buffer.from(v, "utf8") : v;
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = typeof v === "string" ? TAG.text : TAG.blob;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}
