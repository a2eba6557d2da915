// etcd's WAL metrics (etcd 3.4 wal/metrics.go): names, help texts, types and buckets as etcd's.
import { defaultRegistry, exponentialBuckets } from "../pkg/metrics.ts";

/** One observation per fdatasync of a batch (1 ms doubling to 8.192 s). */
export const walFsyncSeconds = defaultRegistry.histogram({
  name: "etcd_disk_wal_fsync_duration_seconds",
  help: "The latency distributions of fsync called by WAL.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** A gauge in etcd (not a counter), so it keeps etcd's type. */
export const walWriteBytes = defaultRegistry.gauge({
  name: "etcd_disk_wal_write_bytes_total",
  help: "Total number of bytes written in WAL.",
});

/** etcd 3.5: one observation per write of a batch's bytes to the segment (the fdatasync apart). */
export const walWriteSeconds = defaultRegistry.histogram({
  name: "etcd_disk_wal_write_duration_seconds",
  help: "The latency distributions of write called by WAL.",
  buckets: exponentialBuckets(0.001, 2, 14),
});
