// The grpc-proxy's own metrics, under etcd's names, help texts and types (proxy/grpcproxy/metrics.go;
// the "_total" gauges are gauges there too). The gRPC server's grpc_server_* counters come from
// server/grpc/metrics.ts, as on a member.
import { defaultRegistry } from "../pkg/metrics.ts";

export const watchersCoalescing = defaultRegistry.gauge({
  name: "etcd_grpc_proxy_watchers_coalescing_total",
  help: "Total number of current watchers coalescing",
});

export const eventsCoalescing = defaultRegistry.counter({
  name: "etcd_grpc_proxy_events_coalescing_total",
  help: "Total number of events coalescing",
});

export const cacheKeys = defaultRegistry.gauge({
  name: "etcd_grpc_proxy_cache_keys_total",
  help: "Total number of keys/ranges cached",
});

export const cacheHits = defaultRegistry.gauge({
  name: "etcd_grpc_proxy_cache_hits_total",
  help: "Total number of cache hits",
});

export const cacheMisses = defaultRegistry.gauge({
  name: "etcd_grpc_proxy_cache_misses_total",
  help: "Total number of cache misses",
});

/** Upstream watches the proxy holds open (one per coalesced group of client watchers); etcd-ts's own. */
export const upstreamWatches = defaultRegistry.gauge({
  name: "etcd_ts_grpc_proxy_upstream_watches",
  help: "Watches the proxy holds open on the cluster, each shared by the client watchers it serves.",
});

/** Client watchers served through the proxy; etcd-ts's own. */
export const clientWatchers = defaultRegistry.gauge({
  name: "etcd_ts_grpc_proxy_client_watchers",
  help: "Watchers the proxy's clients have open.",
});
