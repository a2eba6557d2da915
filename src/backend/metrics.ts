// etcd's backend metrics (etcd 3.4 mvcc/backend/metrics.go): names, help texts, types and buckets as etcd's.
import { defaultRegistry, exponentialBuckets } from "../pkg/metrics.ts";

/** One observation per commit of the batched write transaction (1 ms doubling to 8.192 s). */
export const backendCommitSeconds = defaultRegistry.histogram({
  name: "etcd_disk_backend_commit_duration_seconds",
  help: "The latency distributions of commit called by backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});
