// Every metric family an etcd 3.4.23 member registers (Debian's etcd-server), with its type, help
// text, label names (without le) and histogram buckets: the families of its /metrics output after a
// workload (one member, and a three-member cluster for the peer families), and those whose first
// series appears only with an event (a v2 request, a snapshot sent to a peer, ...) from etcd 3.4's
// source (etcdserver/metrics.go, etcdserver/api/{v3rpc,rafthttp,membership,v2http,snap,etcdhttp,
// v2store}/metrics.go, auth/metrics.go, lease/metrics.go, wal/metrics.go, mvcc/metrics.go,
// mvcc/backend/metrics.go, proxy/grpcproxy/metrics.go), the two checked against each other. Go's
// runtime collector (go_*) is left out: etcd-ts runs on Bun and exports none of it (see
// src/pkg/process-metrics.ts). tests/support/etcd35-metrics.ts holds etcd 3.5's list.
// parseExposition reads the text format (0.0.4) for the tests that compare expositions.

export interface FamilySpec {
  type: "counter" | "gauge" | "histogram" | "summary";
  help: string;
  labels: string[];
  /** le values, +Inf last (histograms) */
  buckets?: string[];
}

export const ETCD34_METRICS: Record<string, FamilySpec> = {
  etcd_cluster_version: { type: "gauge", help: "Which version is running. 1 for 'cluster_version' label with current cluster version", labels: ["cluster_version"] },
  etcd_debugging_auth_revision: { type: "gauge", help: "The current revision of auth store.", labels: [] },
  etcd_debugging_disk_backend_commit_rebalance_duration_seconds: { type: "histogram", help: "The latency distributions of commit.rebalance called by bboltdb backend.", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  etcd_debugging_disk_backend_commit_spill_duration_seconds: { type: "histogram", help: "The latency distributions of commit.spill called by bboltdb backend.", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  etcd_debugging_disk_backend_commit_write_duration_seconds: { type: "histogram", help: "The latency distributions of commit.write called by bboltdb backend.", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  etcd_debugging_lease_granted_total: { type: "counter", help: "The total number of granted leases.", labels: [] },
  etcd_debugging_lease_renewed_total: { type: "counter", help: "The number of renewed leases seen by the leader.", labels: [] },
  etcd_debugging_lease_revoked_total: { type: "counter", help: "The total number of revoked leases.", labels: [] },
  etcd_debugging_lease_ttl_total: { type: "histogram", help: "Bucketed histogram of lease TTLs.", labels: [], buckets: ["1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024", "2048", "4096", "8192", "16384", "32768", "65536", "131072", "262144", "524288", "1.048576e+06", "2.097152e+06", "4.194304e+06", "8.388608e+06", "+Inf"] },
  etcd_debugging_mvcc_compact_revision: { type: "gauge", help: "The revision of the last compaction in store.", labels: [] },
  etcd_debugging_mvcc_current_revision: { type: "gauge", help: "The current revision of store.", labels: [] },
  etcd_debugging_mvcc_db_compaction_keys_total: { type: "counter", help: "Total number of db keys compacted.", labels: [] },
  etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds: { type: "histogram", help: "Bucketed histogram of db compaction pause duration.", labels: [], buckets: ["1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024", "2048", "4096", "+Inf"] },
  etcd_debugging_mvcc_db_compaction_total_duration_milliseconds: { type: "histogram", help: "Bucketed histogram of db compaction total duration.", labels: [], buckets: ["100", "200", "400", "800", "1600", "3200", "6400", "12800", "25600", "51200", "102400", "204800", "409600", "819200", "+Inf"] },
  etcd_debugging_mvcc_db_total_size_in_bytes: { type: "gauge", help: "Total size of the underlying database physically allocated in bytes.", labels: [] },
  etcd_debugging_mvcc_delete_total: { type: "counter", help: "Total number of deletes seen by this member.", labels: [] },
  etcd_debugging_mvcc_events_total: { type: "counter", help: "Total number of events sent by this member.", labels: [] },
  etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds: { type: "histogram", help: "Bucketed histogram of index compaction pause duration.", labels: [], buckets: ["0.5", "1", "2", "4", "8", "16", "32", "64", "128", "256", "512", "1024", "2048", "4096", "+Inf"] },
  etcd_debugging_mvcc_keys_total: { type: "gauge", help: "Total number of keys.", labels: [] },
  etcd_debugging_mvcc_pending_events_total: { type: "gauge", help: "Total number of pending events to be sent.", labels: [] },
  etcd_debugging_mvcc_put_total: { type: "counter", help: "Total number of puts seen by this member.", labels: [] },
  etcd_debugging_mvcc_range_total: { type: "counter", help: "Total number of ranges seen by this member.", labels: [] },
  etcd_debugging_mvcc_slow_watcher_total: { type: "gauge", help: "Total number of unsynced slow watchers.", labels: [] },
  etcd_debugging_mvcc_total_put_size_in_bytes: { type: "gauge", help: "The total size of put kv pairs seen by this member.", labels: [] },
  etcd_debugging_mvcc_txn_total: { type: "counter", help: "Total number of txns seen by this member.", labels: [] },
  etcd_debugging_mvcc_watch_stream_total: { type: "gauge", help: "Total number of watch streams.", labels: [] },
  etcd_debugging_mvcc_watcher_total: { type: "gauge", help: "Total number of watchers.", labels: [] },
  etcd_debugging_server_lease_expired_total: { type: "counter", help: "The total number of expired leases.", labels: [] },
  etcd_debugging_snap_save_marshalling_duration_seconds: { type: "histogram", help: "The marshalling cost distributions of save called by snapshot.", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  etcd_debugging_snap_save_total_duration_seconds: { type: "histogram", help: "The total latency distributions of save called by snapshot.", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  etcd_debugging_store_expires_total: { type: "counter", help: "Total number of expired keys.", labels: [] },
  etcd_debugging_store_reads_failed_total: { type: "counter", help: "Failed read actions by (get/getRecursive), local to this member.", labels: ["action"] },
  etcd_debugging_store_reads_total: { type: "counter", help: "Total number of reads action by (get/getRecursive), local to this member.", labels: ["action"] },
  etcd_debugging_store_watch_requests_total: { type: "counter", help: "Total number of incoming watch requests (new or reestablished).", labels: [] },
  etcd_debugging_store_watchers: { type: "gauge", help: "Count of currently active watchers.", labels: [] },
  etcd_debugging_store_writes_failed_total: { type: "counter", help: "Failed write actions (e.g. set/compareAndDelete), seen by this member.", labels: ["action"] },
  etcd_debugging_store_writes_total: { type: "counter", help: "Total number of writes (e.g. set/compareAndDelete) seen by this member.", labels: ["action"] },
  etcd_disk_backend_commit_duration_seconds: { type: "histogram", help: "The latency distributions of commit called by backend.", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  etcd_disk_backend_defrag_duration_seconds: { type: "histogram", help: "The latency distribution of backend defragmentation.", labels: [], buckets: ["0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "25.6", "51.2", "102.4", "204.8", "409.6", "+Inf"] },
  etcd_disk_backend_snapshot_duration_seconds: { type: "histogram", help: "The latency distribution of backend snapshots.", labels: [], buckets: ["0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24", "20.48", "40.96", "81.92", "163.84", "327.68", "655.36", "+Inf"] },
  etcd_disk_defrag_inflight: { type: "gauge", help: "Whether or not defrag is active on the member. 1 means active, 0 means not.", labels: [] },
  etcd_disk_wal_fsync_duration_seconds: { type: "histogram", help: "The latency distributions of fsync called by WAL.", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  etcd_disk_wal_write_bytes_total: { type: "gauge", help: "Total number of bytes written in WAL.", labels: [] },
  etcd_grpc_proxy_cache_hits_total: { type: "gauge", help: "Total number of cache hits", labels: [] },
  etcd_grpc_proxy_cache_keys_total: { type: "gauge", help: "Total number of keys/ranges cached", labels: [] },
  etcd_grpc_proxy_cache_misses_total: { type: "gauge", help: "Total number of cache misses", labels: [] },
  etcd_grpc_proxy_events_coalescing_total: { type: "counter", help: "Total number of events coalescing", labels: [] },
  etcd_grpc_proxy_watchers_coalescing_total: { type: "gauge", help: "Total number of current watchers coalescing", labels: [] },
  etcd_http_failed_total: { type: "counter", help: "Counter of handle failures of requests (non-watches), by method (GET/PUT etc.) and code (400, 500 etc.).", labels: ["code", "method"] },
  etcd_http_received_total: { type: "counter", help: "Counter of requests received into the system (successfully parsed and authd).", labels: ["method"] },
  etcd_http_successful_duration_seconds: { type: "histogram", help: "Bucketed histogram of processing time (s) of successfully handled requests (non-watches), by method (GET/PUT etc.).", labels: ["method"], buckets: ["0.0005", "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "+Inf"] },
  etcd_mvcc_db_open_read_transactions: { type: "gauge", help: "The number of currently open read transactions", labels: [] },
  etcd_mvcc_db_total_size_in_bytes: { type: "gauge", help: "Total size of the underlying database physically allocated in bytes.", labels: [] },
  etcd_mvcc_db_total_size_in_use_in_bytes: { type: "gauge", help: "Total size of the underlying database logically in use in bytes.", labels: [] },
  etcd_mvcc_delete_total: { type: "counter", help: "Total number of deletes seen by this member.", labels: [] },
  etcd_mvcc_hash_duration_seconds: { type: "histogram", help: "The latency distribution of storage hash operation.", labels: [], buckets: ["0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24", "20.48", "40.96", "81.92", "163.84", "+Inf"] },
  etcd_mvcc_hash_rev_duration_seconds: { type: "histogram", help: "The latency distribution of storage hash by revision operation.", labels: [], buckets: ["0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24", "20.48", "40.96", "81.92", "163.84", "+Inf"] },
  etcd_mvcc_put_total: { type: "counter", help: "Total number of puts seen by this member.", labels: [] },
  etcd_mvcc_range_total: { type: "counter", help: "Total number of ranges seen by this member.", labels: [] },
  etcd_mvcc_txn_total: { type: "counter", help: "Total number of txns seen by this member.", labels: [] },
  etcd_network_active_peers: { type: "gauge", help: "The current number of active peer connections.", labels: ["Local", "Remote"] },
  etcd_network_client_grpc_received_bytes_total: { type: "counter", help: "The total number of bytes received from grpc clients.", labels: [] },
  etcd_network_client_grpc_sent_bytes_total: { type: "counter", help: "The total number of bytes sent to grpc clients.", labels: [] },
  etcd_network_disconnected_peers_total: { type: "counter", help: "The total number of disconnected peers.", labels: ["Local", "Remote"] },
  etcd_network_peer_received_bytes_total: { type: "counter", help: "The total number of bytes received from peers.", labels: ["From"] },
  etcd_network_peer_received_failures_total: { type: "counter", help: "The total number of receive failures from peers.", labels: ["From"] },
  etcd_network_peer_round_trip_time_seconds: { type: "histogram", help: "Round-Trip-Time histogram between peers", labels: ["To"], buckets: ["0.0001", "0.0002", "0.0004", "0.0008", "0.0016", "0.0032", "0.0064", "0.0128", "0.0256", "0.0512", "0.1024", "0.2048", "0.4096", "0.8192", "1.6384", "3.2768", "+Inf"] },
  etcd_network_peer_sent_bytes_total: { type: "counter", help: "The total number of bytes sent to peers.", labels: ["To"] },
  etcd_network_peer_sent_failures_total: { type: "counter", help: "The total number of send failures from peers.", labels: ["To"] },
  etcd_network_server_stream_failures_total: { type: "counter", help: "The total number of stream failures from the local server.", labels: ["API", "Type"] },
  etcd_network_snapshot_receive_failures: { type: "counter", help: "Total number of snapshot receive failures", labels: ["From"] },
  etcd_network_snapshot_receive_inflights_total: { type: "gauge", help: "Total number of inflight snapshot receives", labels: ["From"] },
  etcd_network_snapshot_receive_success: { type: "counter", help: "Total number of successful snapshot receives", labels: ["From"] },
  etcd_network_snapshot_receive_total_duration_seconds: { type: "histogram", help: "Total latency distributions of v3 snapshot receives", labels: ["From"], buckets: ["0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "25.6", "51.2", "+Inf"] },
  etcd_network_snapshot_send_failures: { type: "counter", help: "Total number of snapshot send failures", labels: ["To"] },
  etcd_network_snapshot_send_inflights_total: { type: "gauge", help: "Total number of inflight snapshot sends", labels: ["To"] },
  etcd_network_snapshot_send_success: { type: "counter", help: "Total number of successful snapshot sends", labels: ["To"] },
  etcd_network_snapshot_send_total_duration_seconds: { type: "histogram", help: "Total latency distributions of v3 snapshot sends", labels: ["To"], buckets: ["0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "25.6", "51.2", "+Inf"] },
  etcd_server_client_requests_total: { type: "counter", help: "The total number of client requests per client version.", labels: ["client_api_version", "type"] },
  etcd_server_go_version: { type: "gauge", help: "Which Go version server is running with. 1 for 'server_go_version' label with current version.", labels: ["server_go_version"] },
  etcd_server_has_leader: { type: "gauge", help: "Whether or not a leader exists. 1 is existence, 0 is not.", labels: [] },
  etcd_server_health_failures: { type: "counter", help: "The total number of failed health checks", labels: [] },
  etcd_server_health_success: { type: "counter", help: "The total number of successful health checks", labels: [] },
  etcd_server_heartbeat_send_failures_total: { type: "counter", help: "The total number of leader heartbeat send failures (likely overloaded from slow disk).", labels: [] },
  etcd_server_id: { type: "gauge", help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", labels: ["server_id"] },
  etcd_server_is_leader: { type: "gauge", help: "Whether or not this member is a leader. 1 if is, 0 otherwise.", labels: [] },
  etcd_server_is_learner: { type: "gauge", help: "Whether or not this member is a learner. 1 if is, 0 otherwise.", labels: [] },
  etcd_server_leader_changes_seen_total: { type: "counter", help: "The number of leader changes seen.", labels: [] },
  etcd_server_learner_promote_failures: { type: "counter", help: "The total number of failed learner promotions (likely learner not ready) while this member is leader.", labels: ["Reason"] },
  etcd_server_learner_promote_successes: { type: "counter", help: "The total number of successful learner promotions while this member is leader.", labels: [] },
  etcd_server_proposals_applied_total: { type: "gauge", help: "The total number of consensus proposals applied.", labels: [] },
  etcd_server_proposals_committed_total: { type: "gauge", help: "The total number of consensus proposals committed.", labels: [] },
  etcd_server_proposals_failed_total: { type: "counter", help: "The total number of failed proposals seen.", labels: [] },
  etcd_server_proposals_pending: { type: "gauge", help: "The current number of pending proposals to commit.", labels: [] },
  etcd_server_quota_backend_bytes: { type: "gauge", help: "Current backend storage quota size in bytes.", labels: [] },
  etcd_server_read_indexes_failed_total: { type: "counter", help: "The total number of failed read indexes seen.", labels: [] },
  etcd_server_slow_apply_total: { type: "counter", help: "The total number of slow apply requests (likely overloaded from slow disk).", labels: [] },
  etcd_server_slow_read_indexes_total: { type: "counter", help: "The total number of pending read indexes not in sync with leader's or timed out read index requests.", labels: [] },
  etcd_server_snapshot_apply_in_progress_total: { type: "gauge", help: "1 if the server is applying the incoming snapshot. 0 if none.", labels: [] },
  etcd_server_version: { type: "gauge", help: "Which version is running. 1 for 'server_version' label with current version.", labels: ["server_version"] },
  etcd_snap_db_fsync_duration_seconds: { type: "histogram", help: "The latency distributions of fsyncing .snap.db file", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  etcd_snap_db_save_total_duration_seconds: { type: "histogram", help: "The total latency distributions of v3 snapshot save", labels: [], buckets: ["0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "25.6", "51.2", "+Inf"] },
  etcd_snap_fsync_duration_seconds: { type: "histogram", help: "The latency distributions of fsync called by snap.", labels: [], buckets: ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"] },
  grpc_server_handled_total: { type: "counter", help: "Total number of RPCs completed on the server, regardless of success or failure.", labels: ["grpc_code", "grpc_method", "grpc_service", "grpc_type"] },
  grpc_server_msg_received_total: { type: "counter", help: "Total number of RPC stream messages received on the server.", labels: ["grpc_method", "grpc_service", "grpc_type"] },
  grpc_server_msg_sent_total: { type: "counter", help: "Total number of gRPC stream messages sent by the server.", labels: ["grpc_method", "grpc_service", "grpc_type"] },
  grpc_server_started_total: { type: "counter", help: "Total number of RPCs started on the server.", labels: ["grpc_method", "grpc_service", "grpc_type"] },
  os_fd_limit: { type: "gauge", help: "The file descriptor limit.", labels: [] },
  os_fd_used: { type: "gauge", help: "The number of used file descriptors.", labels: [] },
  process_cpu_seconds_total: { type: "counter", help: "Total user and system CPU time spent in seconds.", labels: [] },
  process_max_fds: { type: "gauge", help: "Maximum number of open file descriptors.", labels: [] },
  process_open_fds: { type: "gauge", help: "Number of open file descriptors.", labels: [] },
  process_resident_memory_bytes: { type: "gauge", help: "Resident memory size in bytes.", labels: [] },
  process_start_time_seconds: { type: "gauge", help: "Start time of the process since unix epoch in seconds.", labels: [] },
  process_virtual_memory_bytes: { type: "gauge", help: "Virtual memory size in bytes.", labels: [] },
  process_virtual_memory_max_bytes: { type: "gauge", help: "Maximum amount of virtual memory available in bytes.", labels: [] },
  promhttp_metric_handler_requests_in_flight: { type: "gauge", help: "Current number of scrapes being served.", labels: [] },
  promhttp_metric_handler_requests_total: { type: "counter", help: "Total number of scrapes by HTTP status code.", labels: ["code"] },
};

/** Go runtime families (go_gc_duration_seconds, go_memstats_*, ...): etcd exports them, etcd-ts has no Go runtime. */
export const GO_RUNTIME = /^go_/;

/**
 * Families whose first series appears only once something happens, in etcd and in etcd-ts alike
 * (labelled families start without series): what makes them appear. A member alone, without that
 * event, shows none of them.
 */
export const APPEAR_ON_EVENT: Record<string, string> = {
  etcd_network_active_peers: "a peer",
  etcd_network_peer_sent_bytes_total: "a peer",
  etcd_network_peer_received_bytes_total: "a peer",
  etcd_network_peer_round_trip_time_seconds: "a peer",
  etcd_network_disconnected_peers_total: "a lost peer connection",
  etcd_network_peer_sent_failures_total: "a message to a peer dropped",
  etcd_network_peer_received_failures_total: "an unreadable message from a peer",
  etcd_network_snapshot_send_success: "a database snapshot sent to a peer",
  etcd_network_snapshot_send_failures: "a database snapshot sent to a peer",
  etcd_network_snapshot_send_inflights_total: "a database snapshot sent to a peer",
  etcd_network_snapshot_send_total_duration_seconds: "a database snapshot sent to a peer",
  etcd_network_snapshot_receive_success: "a database snapshot received from a peer",
  etcd_network_snapshot_receive_failures: "a database snapshot received from a peer",
  etcd_network_snapshot_receive_inflights_total: "a database snapshot received from a peer",
  etcd_network_snapshot_receive_total_duration_seconds: "a database snapshot received from a peer",
  etcd_network_server_stream_failures_total: "a Watch or LeaseKeepAlive stream failing",
  etcd_server_learner_promote_failures: "a refused learner promotion",
  etcd_server_client_requests_total: "a client request",
  etcd_http_received_total: "a v2 HTTP request (never, in etcd-ts)",
  etcd_http_failed_total: "a v2 HTTP request (never, in etcd-ts)",
  etcd_http_successful_duration_seconds: "a v2 HTTP request (never, in etcd-ts)",
  // etcd 3.4 only: its v2 store, which etcd-ts lacks, holds etcd's membership; ours start at 0
  etcd_debugging_store_reads_failed_total: "a failed v2 store read",
  etcd_debugging_store_writes_failed_total: "a failed v2 store write",
  // etcd 3.5
  etcd_server_healthcheck: "a /livez or /readyz request",
  etcd_server_healthchecks_total: "a /livez or /readyz request",
  // etcd 3.6
  etcd_debugging_server_alarms: "an alarm",
  etcd_server_range_duration_seconds: "a Range request",
};

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  type: string;
  help: string;
  /** label names seen on its samples, sorted, le and quantile excluded */
  labels: string[];
  /** le values in order of appearance (histograms) */
  buckets: string[];
  /** samples by their full name (x, x_bucket, x_sum, x_count) */
  samples: Map<string, Sample[]>;
}

/** Parses Prometheus' text format; throws on a line it cannot read, naming it. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { type: "", help: "", labels: [], buckets: [], samples: new Map() }));
    return f;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === "HELP") family(meta[2]).help = meta[3].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      else family(meta[2]).type = meta[3];
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`Cannot parse exposition line '${line}'`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const full = m[1];
    const stem = full.replace(/_(bucket|sum|count)$/, "");
    const base = stem !== full && ["histogram", "summary"].includes(families.get(stem)?.type ?? "") ? stem : full;
    const f = family(base);
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    if (!f.samples.has(full)) f.samples.set(full, []);
    f.samples.get(full)!.push({ labels, value });
    for (const name of Object.keys(labels)) if (name !== "le" && name !== "quantile" && !f.labels.includes(name)) f.labels = [...f.labels, name].sort();
    if (labels.le !== undefined && !f.buckets.includes(labels.le)) f.buckets.push(labels.le);
  }
  return families;
}

/** How a family differs from its spec (type, help, label names, buckets); [] when it matches. */
export function familyProblems(name: string, f: Family, spec: FamilySpec, who: string): string[] {
  const problems: string[] = [];
  if (f.type !== spec.type) problems.push(`${name}: type ${f.type}, ${who} has ${spec.type}`);
  if (f.help !== spec.help) problems.push(`${name}: help '${f.help}', ${who} has '${spec.help}'`);
  // A family's label names show on its samples: one without samples has none to compare.
  if (f.samples.size > 0 && f.labels.join(",") !== spec.labels.join(",")) problems.push(`${name}: labels [${f.labels}], ${who} has [${spec.labels}]`);
  if (spec.buckets && f.buckets.length && f.buckets.join(",") !== spec.buckets.join(",")) problems.push(`${name}: buckets [${f.buckets}], ${who} has [${spec.buckets}]`);
  return problems;
}

/**
 * Differences between an exposition and a list of etcd's families: each listed family must be there
 * (unless it appears only on an event that `happened` does not name) with the list's type, help,
 * label names and buckets.
 */
export function diffWithList(text: string, list: Record<string, FamilySpec>, who: string, happened: (event: string) => boolean = () => false): string[] {
  const got = parseExposition(text);
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(list)) {
    const f = got.get(name);
    if (f) problems.push(...familyProblems(name, f, spec, who));
    else if (!(name in APPEAR_ON_EVENT) || happened(APPEAR_ON_EVENT[name])) problems.push(`${name}: missing (${who} exports it)`);
  }
  return problems;
}
