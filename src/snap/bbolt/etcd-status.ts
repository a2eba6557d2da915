/**
 * `etcdctl snapshot status` for an etcd (bbolt) database, computed as etcd 3.4 does
 * (clientv3/snapshot/v3_snapshot.go Status): a CRC-32C over every top-level bucket name followed by
 * its keys and values, the main revision of the last key-bucket key, the pair count, and the size.
 */
import { crc32c } from "../../pkg/crc32c.ts";
import type { BoltReader } from "./reader.ts";

export interface EtcdSnapshotStatus {
  hash: number;
  revision: bigint;
  totalKey: number;
  /** Bytes in use: pages up to the high-water mark (tx.Size), not the file's length. */
  totalSize: number;
}

export function etcdSnapshotStatus(reader: BoltReader): EtcdSnapshotStatus {
  let hash = 0;
  let revision = 0n;
  let totalKey = 0;
  for (const bucket of reader.entries(reader.root)) {
    const isKeyBucket = bucket.key.length === 3 && bucket.key[0] === 0x6b && bucket.key[1] === 0x65 && bucket.key[2] === 0x79; // "key"
    hash = crc32c(bucket.key, hash);
    for (const e of reader.entries(reader.open(bucket))) {
      hash = crc32c(e.key, hash);
      // A nested bucket's value reads as nil in bbolt's ForEach, so it adds nothing to the hash.
      if (!e.isBucket) hash = crc32c(e.value, hash);
      if (isKeyBucket && e.key.length >= 8) revision = BigInt.asIntN(64, new DataView(e.key.buffer, e.key.byteOffset, 8).getBigUint64(0));
      totalKey++;
    }
  }
  return { hash, revision, totalKey, totalSize: reader.pageCount * reader.pageSize };
}
