// etcd's snapshot file metrics (etcd 3.4 etcdserver/api/snap/metrics.go): names, help texts, types
// and buckets as etcd's. The .snap files are the ones the server writes at each checkpoint.
import { defaultRegistry, exponentialBuckets } from "../pkg/metrics.ts";

/** Encoding the snapshot record (snappb.snapshot with its CRC). */
export const snapMarshallingSeconds = defaultRegistry.histogram({
  name: "etcd_debugging_snap_save_marshalling_duration_seconds",
  help: "The marshalling cost distributions of save called by snapshot.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** A whole save: encoding, writing, fsync, rename and the directory's fsync. */
export const snapSaveSeconds = defaultRegistry.histogram({
  name: "etcd_debugging_snap_save_total_duration_seconds",
  help: "The total latency distributions of save called by snapshot.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** Writing the file and its fsync (as etcd's WriteAndSyncFile). */
export const snapFsyncSeconds = defaultRegistry.histogram({
  name: "etcd_snap_fsync_duration_seconds",
  help: "The latency distributions of fsync called by snap.",
  buckets: exponentialBuckets(0.001, 2, 14),
});
