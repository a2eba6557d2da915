/**
 * bbolt's file format in TypeScript (etcd's backend): read and write whole files, and etcd 3.4's
 * bucket layout on top. Pure: no native code, no server state; the snapshot/restore wiring calls these.
 */
export { BoltFormatError, BoltReader, type BucketRef, type RawEntry } from "./reader.ts";
export { writeBolt, writeBoltFile, type WriteOptions } from "./writer.ts";
export type { BoltBucket, BoltEntry, BoltNested, BoltPair, ReadBucket, ReadEntry } from "./model.ts";
export { appendSnapshotHash, appendSnapshotHashToFile, hasSnapshotHash, stripSnapshotHash } from "./snapshot-hash.ts";
export {
  BUCKET,
  EtcdBucketError,
  decodeEtcdBackend,
  decodeRevisionKey,
  encodeEtcdBackend,
  encodeRevisionKey,
  keyRecords,
  type EtcdBackend,
  type EtcdBackendInput,
  type KeyRecord,
  type RevisionKey,
} from "./etcd-buckets.ts";
export { etcdSnapshotStatus, type EtcdSnapshotStatus } from "./etcd-status.ts";
