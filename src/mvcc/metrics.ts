// etcd's MVCC metrics (etcd 3.4 mvcc/metrics.go, 3.5 server/mvcc/metrics.go): names, help texts,
// types and buckets as etcd's. The store counts its own operations (range, put, delete, txn) the way
// etcd's metricsTxnWrite does: per transaction, added when the transaction ends, and a transaction of
// more than one operation is also counted as a txn. etcd 3.4 exports each count twice, under etcd_ and
// etcd_debugging_ (3.5 keeps only etcd_debugging_mvcc_range_total); we export both, as 3.4 does.
import { type Counter, defaultRegistry, exponentialBuckets } from "../pkg/metrics.ts";

const pair = (name: string, help: string): [Counter, Counter] => [
  defaultRegistry.counter({ name: `etcd_mvcc_${name}`, help }),
  defaultRegistry.counter({ name: `etcd_debugging_mvcc_${name}`, help }),
];

const ranges = pair("range_total", "Total number of ranges seen by this member.");
const puts = pair("put_total", "Total number of puts seen by this member.");
const deletes = pair("delete_total", "Total number of deletes seen by this member.");
const txns = pair("txn_total", "Total number of txns seen by this member.");
/** A gauge in etcd that only grows: bytes of keys and values put. */
const putBytes = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_total_put_size_in_bytes", help: "The total size of put kv pairs seen by this member." });

/** A read on its own (one range, so never a txn): counted without a tally, it is the hot path. */
export function countRange(): void {
  ranges[0].inc();
  ranges[1].inc();
}

/** The operations of one store transaction, added to the counters when it ends. */
export class OpTally {
  ranges = 0;
  puts = 0;
  deletes = 0;
  putBytes = 0;

  end(): void {
    if (this.ranges + this.puts + this.deletes > 1) for (const c of txns) c.inc();
    for (const c of ranges) c.inc(this.ranges);
    for (const c of puts) c.inc(this.puts);
    for (const c of deletes) c.inc(this.deletes);
    putBytes.inc(this.putBytes);
  }
}

// Compaction, as etcd measures it. Our key index lives in SQLite and is trimmed with the history, so
// the "index compaction pause" is the synchronous part of a compaction (recording the new compaction
// point inside the apply); the db compaction is the background deletion, slice by slice.
export const indexCompactionPauseMs = defaultRegistry.histogram({
  name: "etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds",
  help: "Bucketed histogram of index compaction pause duration.",
  buckets: exponentialBuckets(0.5, 2, 14),
});
export const dbCompactionPauseMs = defaultRegistry.histogram({
  name: "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds",
  help: "Bucketed histogram of db compaction pause duration.",
  buckets: exponentialBuckets(1, 2, 13),
});
export const dbCompactionTotalMs = defaultRegistry.histogram({
  name: "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds",
  help: "Bucketed histogram of db compaction total duration.",
  buckets: exponentialBuckets(100, 2, 14),
});
/** Revisions (history rows) deleted by compaction. */
export const dbCompactionKeys = defaultRegistry.counter({ name: "etcd_debugging_mvcc_db_compaction_keys_total", help: "Total number of db keys compacted." });
/** etcd 3.5: the wall-clock time (s) a compaction last finished; 0 until one does in this process. */
export const dbCompactionLast = defaultRegistry.gauge({
  name: "etcd_debugging_mvcc_db_compaction_last",
  help: "The unix time of the last db compaction. Resets to 0 on start.",
});

/** HashKV (a hash of the history up to a revision): the Hash and HashKV RPCs and the corruption check. */
export const hashRevSeconds = defaultRegistry.histogram({
  name: "etcd_mvcc_hash_rev_duration_seconds",
  help: "The latency distribution of storage hash by revision operation.",
  buckets: exponentialBuckets(0.01, 2, 15),
});

/** The Hash RPC (a hash of the whole history at the current revision, here by HashKV at that revision). */
export const hashSeconds = defaultRegistry.histogram({
  name: "etcd_mvcc_hash_duration_seconds",
  help: "The latency distribution of storage hash operation.",
  buckets: exponentialBuckets(0.01, 2, 15),
});
