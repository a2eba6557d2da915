// etcd's backend metrics (etcd 3.4 mvcc/backend/metrics.go): names, help texts, types and buckets as etcd's.
import { defaultRegistry, exponentialBuckets } from "../pkg/metrics.ts";

/** One observation per commit of the batched write transaction (1 ms doubling to 8.192 s). */
export const backendCommitSeconds = defaultRegistry.histogram({
  name: "etcd_disk_backend_commit_duration_seconds",
  help: "The latency distributions of commit called by backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

// bbolt splits a commit into rebalance (merging emptied nodes), spill (splitting full ones) and write
// (the dirty pages and meta). SQLite balances its b-trees while each statement runs, so at COMMIT
// there is neither rebalance nor spill: those two histograms stay empty. All a commit does is write
// the transaction's pages to the SQLite WAL, so the write phase is the whole commit.
export const backendCommitRebalanceSeconds = defaultRegistry.histogram({
  name: "etcd_debugging_disk_backend_commit_rebalance_duration_seconds",
  help: "The latency distributions of commit.rebalance called by bboltdb backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});
export const backendCommitSpillSeconds = defaultRegistry.histogram({
  name: "etcd_debugging_disk_backend_commit_spill_duration_seconds",
  help: "The latency distributions of commit.spill called by bboltdb backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});
export const backendCommitWriteSeconds = defaultRegistry.histogram({
  name: "etcd_debugging_disk_backend_commit_write_duration_seconds",
  help: "The latency distributions of commit.write called by bboltdb backend.",
  buckets: exponentialBuckets(0.001, 2, 14),
});

/** A whole defrag, first step to last. */
export const backendDefragSeconds = defaultRegistry.histogram({
  name: "etcd_disk_backend_defrag_duration_seconds",
  help: "The latency distribution of backend defragmentation.",
  buckets: exponentialBuckets(0.1, 2, 13),
});
export const defragInflight = defaultRegistry.gauge({
  name: "etcd_disk_defrag_inflight",
  help: "Whether or not defrag is active on the member. 1 means active, 0 means not.",
});

/** A copy of the database read for a snapshot, from its start until it was delivered. */
export const backendSnapshotSeconds = defaultRegistry.histogram({
  name: "etcd_disk_backend_snapshot_duration_seconds",
  help: "The latency distribution of backend snapshots.",
  buckets: exponentialBuckets(0.01, 2, 17),
});

/**
 * Read transactions open now. Reads on the main connection run start to end within one turn of
 * the event loop, so none is ever open when /metrics is read; what stays open across turns is a
 * copy's read transaction on its own connection (copyTo: snapshots, peers' snapshots).
 */
export const openReadTxns = defaultRegistry.gauge({
  name: "etcd_mvcc_db_open_read_transactions",
  help: "The number of currently open read transactions",
});
