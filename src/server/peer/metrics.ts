// etcd's peer network metrics (etcd 3.4 etcdserver/api/rafthttp/metrics.go, and the follower's side of
// a database snapshot from etcdserver/api/snap/metrics.go): names, help texts, types, buckets and label
// names as etcd's; label values are member ids in hex, as etcd writes them.
import { defaultRegistry, exponentialBuckets } from "../../pkg/metrics.ts";

export const peerSentBytes = defaultRegistry.counterVec({
  name: "etcd_network_peer_sent_bytes_total",
  help: "The total number of bytes sent to peers.",
  labelNames: ["To"],
});

export const peerReceivedBytes = defaultRegistry.counterVec({
  name: "etcd_network_peer_received_bytes_total",
  help: "The total number of bytes received from peers.",
  labelNames: ["From"],
});

/** 0.1 ms doubling to 3.2768 s. */
export const peerRoundTripSeconds = defaultRegistry.histogramVec({
  name: "etcd_network_peer_round_trip_time_seconds",
  help: "Round-Trip-Time histogram between peers",
  buckets: exponentialBuckets(0.0001, 2, 16),
  labelNames: ["To"],
});

/** 1 while this member's connection to the peer is up (etcd: its stream to the peer is active). */
export const activePeers = defaultRegistry.gaugeVec({
  name: "etcd_network_active_peers",
  help: "The current number of active peer connections.",
  labelNames: ["Local", "Remote"],
});

/** A connection to a peer that had been up went down. */
export const disconnectedPeers = defaultRegistry.counterVec({
  name: "etcd_network_disconnected_peers_total",
  help: "The total number of disconnected peers.",
  labelNames: ["Local", "Remote"],
});

/** Raft messages for a peer that were not sent: its queue was full, or a failed dial dropped them. */
export const peerSentFailures = defaultRegistry.counterVec({
  name: "etcd_network_peer_sent_failures_total",
  help: "The total number of send failures from peers.",
  labelNames: ["To"],
});

/** A peer's connection delivered something that could not be read (an undecodable message or frame). */
export const peerReceivedFailures = defaultRegistry.counterVec({
  name: "etcd_network_peer_received_failures_total",
  help: "The total number of receive failures from peers.",
  labelNames: ["From"],
});

export const snapshotSendSuccess = defaultRegistry.counterVec({
  name: "etcd_network_snapshot_send_success",
  help: "Total number of successful snapshot sends",
  labelNames: ["To"],
});
export const snapshotSendFailures = defaultRegistry.counterVec({
  name: "etcd_network_snapshot_send_failures",
  help: "Total number of snapshot send failures",
  labelNames: ["To"],
});
export const snapshotSendInflights = defaultRegistry.gaugeVec({
  name: "etcd_network_snapshot_send_inflights_total",
  help: "Total number of inflight snapshot sends",
  labelNames: ["To"],
});
/** From the start of a send to the peer's verdict, successful sends only (as etcd). */
export const snapshotSendSeconds = defaultRegistry.histogramVec({
  name: "etcd_network_snapshot_send_total_duration_seconds",
  help: "Total latency distributions of v3 snapshot sends",
  buckets: exponentialBuckets(0.1, 2, 10),
  labelNames: ["To"],
});

export const snapshotReceiveSuccess = defaultRegistry.counterVec({
  name: "etcd_network_snapshot_receive_success",
  help: "Total number of successful snapshot receives",
  labelNames: ["From"],
});
export const snapshotReceiveFailures = defaultRegistry.counterVec({
  name: "etcd_network_snapshot_receive_failures",
  help: "Total number of snapshot receive failures",
  labelNames: ["From"],
});
export const snapshotReceiveInflights = defaultRegistry.gaugeVec({
  name: "etcd_network_snapshot_receive_inflights_total",
  help: "Total number of inflight snapshot receives",
  labelNames: ["From"],
});
/** From the snapshot's header to the file stored and verified, successful receives only (as etcd). */
export const snapshotReceiveSeconds = defaultRegistry.histogramVec({
  name: "etcd_network_snapshot_receive_total_duration_seconds",
  help: "Total latency distributions of v3 snapshot receives",
  buckets: exponentialBuckets(0.1, 2, 10),
  labelNames: ["From"],
});

/** The follower storing a leader's database: from its first byte to the file renamed into place. */
export const snapDbSaveSeconds = defaultRegistry.histogram({
  name: "etcd_snap_db_save_total_duration_seconds",
  help: "The total latency distributions of v3 snapshot save",
  buckets: exponentialBuckets(0.1, 2, 10),
});
/** The fsync of that file. */
export const snapDbFsyncSeconds = defaultRegistry.histogram({
  name: "etcd_snap_db_fsync_duration_seconds",
  help: "The latency distributions of fsyncing .snap.db file",
  buckets: exponentialBuckets(0.001, 2, 14),
});
