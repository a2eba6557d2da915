// etcd's peer network metrics (etcd 3.4 etcdserver/api/rafthttp/metrics.go): names, help texts, types,
// buckets and label names as etcd's; label values are member ids in hex, as etcd writes them.
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
