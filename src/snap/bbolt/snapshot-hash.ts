/**
 * etcd's snapshot file = the bbolt database + the sha256 of it (clientv3/snapshot/v3_snapshot.go).
 * A database is whole pages, so its size is a multiple of 512; the hash is recognised by the size
 * being 32 bytes past one (hasChecksum), exactly as `etcdctl snapshot restore` does.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";

export const SHA256_BYTES = 32;

export function hasSnapshotHash(size: number): boolean {
  return size % 512 === SHA256_BYTES;
}

/**
 * The database part of a snapshot file; when a hash is appended it must match. Returns a view (no
 * copy) and whether a hash was there (etcd refuses a file without one unless --skip-hash-check).
 */
export function stripSnapshotHash(file: Uint8Array): { db: Uint8Array; hashed: boolean } {
  if (!hasSnapshotHash(file.length)) return { db: file, hashed: false };
  const db = file.subarray(0, file.length - SHA256_BYTES);
  const want = Buffer.from(file.buffer, file.byteOffset + db.length, SHA256_BYTES);
  const got = createHash("sha256").update(db).digest();
  if (!got.equals(want)) throw new Error(`snapshot sha256 mismatch: the file records ${want.toString("hex")}, its database hashes to ${got.toString("hex")}`);
  return { db, hashed: true };
}

/** A copy of `db` with its sha256 appended, as etcd's Maintenance.Snapshot stream ends. */
export function appendSnapshotHash(db: Uint8Array): Uint8Array {
  const out = new Uint8Array(db.length + SHA256_BYTES);
  out.set(db);
  out.set(createHash("sha256").update(db).digest(), db.length);
  return out;
}

/** Appends the sha256 of the file at `path` to it, reading it in 1 MiB chunks. */
export function appendSnapshotHashToFile(path: string): void {
  const fd = openSync(path, "r+");
  try {
    const size = fstatSync(fd).size;
    const hash = createHash("sha256");
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (let at = 0; at < size; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - at), at);
      if (n <= 0) throw new Error(`reading ${path}: no progress at offset ${at} of ${size}`);
      hash.update(chunk.subarray(0, n));
      at += n;
    }
    const digest = hash.digest();
    if (writeSync(fd, digest, 0, SHA256_BYTES, size) !== SHA256_BYTES) throw new Error(`appending the sha256 to ${path}: short write`);
  } finally {
    closeSync(fd);
  }
}
