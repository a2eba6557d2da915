// What etcd 3.4 exposes on /metrics for the metrics etcd-ts exports: type, help text, label names
// (without le) and histogram buckets. Taken from the /metrics output of the real etcd 3.4.23 (Debian's
// etcd-server), one member and a 3-member cluster (the peer metrics exist only there), and checked
// against etcd 3.4's source (etcdserver/metrics.go, wal/metrics.go, mvcc/metrics.go,
// mvcc/backend/metrics.go, etcdserver/api/rafthttp/metrics.go, go-grpc-prometheus).
// parseExposition reads the text format (0.0.4) for the tests that compare the two.

export interface FamilySpec {
  type: "counter" | "gauge" | "histogram";
  help: string;
  labels: string[];
  /** le values, +Inf last (histograms) */
  buckets?: string[];
}

const MS_1_TO_8S = ["0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192", "+Inf"];

export const ETCD34_METRICS: Record<string, FamilySpec> = {
  etcd_debugging_mvcc_keys_total: { type: "gauge", help: "Total number of keys.", labels: [] },
  etcd_disk_backend_commit_duration_seconds: { type: "histogram", help: "The latency distributions of commit called by backend.", labels: [], buckets: MS_1_TO_8S },
  etcd_disk_wal_fsync_duration_seconds: { type: "histogram", help: "The latency distributions of fsync called by WAL.", labels: [], buckets: MS_1_TO_8S },
  etcd_disk_wal_write_bytes_total: { type: "gauge", help: "Total number of bytes written in WAL.", labels: [] },
  etcd_mvcc_db_total_size_in_bytes: { type: "gauge", help: "Total size of the underlying database physically allocated in bytes.", labels: [] },
  etcd_mvcc_db_total_size_in_use_in_bytes: { type: "gauge", help: "Total size of the underlying database logically in use in bytes.", labels: [] },
  etcd_network_peer_received_bytes_total: { type: "counter", help: "The total number of bytes received from peers.", labels: ["From"] },
  etcd_network_peer_round_trip_time_seconds: {
    type: "histogram",
    help: "Round-Trip-Time histogram between peers",
    labels: ["To"],
    buckets: ["0.0001", "0.0002", "0.0004", "0.0008", "0.0016", "0.0032", "0.0064", "0.0128", "0.0256", "0.0512", "0.1024", "0.2048", "0.4096", "0.8192", "1.6384", "3.2768", "+Inf"],
  },
  etcd_network_peer_sent_bytes_total: { type: "counter", help: "The total number of bytes sent to peers.", labels: ["To"] },
  etcd_server_has_leader: { type: "gauge", help: "Whether or not a leader exists. 1 is existence, 0 is not.", labels: [] },
  etcd_server_id: { type: "gauge", help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", labels: ["server_id"] },
  etcd_server_is_leader: { type: "gauge", help: "Whether or not this member is a leader. 1 if is, 0 otherwise.", labels: [] },
  etcd_server_leader_changes_seen_total: { type: "counter", help: "The number of leader changes seen.", labels: [] },
  etcd_server_proposals_applied_total: { type: "gauge", help: "The total number of consensus proposals applied.", labels: [] },
  etcd_server_proposals_committed_total: { type: "gauge", help: "The total number of consensus proposals committed.", labels: [] },
  etcd_server_proposals_failed_total: { type: "counter", help: "The total number of failed proposals seen.", labels: [] },
  etcd_server_proposals_pending: { type: "gauge", help: "The current number of pending proposals to commit.", labels: [] },
  etcd_server_version: { type: "gauge", help: "Which version is running. 1 for 'server_version' label with current version.", labels: ["server_version"] },
  grpc_server_handled_total: {
    type: "counter",
    help: "Total number of RPCs completed on the server, regardless of success or failure.",
    labels: ["grpc_code", "grpc_method", "grpc_service", "grpc_type"],
  },
  grpc_server_started_total: { type: "counter", help: "Total number of RPCs started on the server.", labels: ["grpc_method", "grpc_service", "grpc_type"] },
  process_cpu_seconds_total: { type: "counter", help: "Total user and system CPU time spent in seconds.", labels: [] },
  process_open_fds: { type: "gauge", help: "Number of open file descriptors.", labels: [] },
  process_resident_memory_bytes: { type: "gauge", help: "Resident memory size in bytes.", labels: [] },
  process_start_time_seconds: { type: "gauge", help: "Start time of the process since unix epoch in seconds.", labels: [] },
};

/** The peer metrics appear only once a member has peers. */
export const PEER_METRICS = ["etcd_network_peer_received_bytes_total", "etcd_network_peer_round_trip_time_seconds", "etcd_network_peer_sent_bytes_total"];

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  type: string;
  help: string;
  /** label names seen on its samples, sorted, le excluded */
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
    const base = /_(bucket|sum|count)$/.test(full) && families.get(full.replace(/_(bucket|sum|count)$/, ""))?.type === "histogram" ? full.replace(/_(bucket|sum|count)$/, "") : full;
    const f = family(base);
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    if (!f.samples.has(full)) f.samples.set(full, []);
    f.samples.get(full)!.push({ labels, value });
    for (const name of Object.keys(labels)) if (name !== "le" && !f.labels.includes(name)) f.labels = [...f.labels, name].sort();
    if (labels.le !== undefined && !f.buckets.includes(labels.le)) f.buckets.push(labels.le);
  }
  return families;
}

/**
 * Differences between an exposition and etcd 3.4's: every ETCD34_METRICS family present (peer metrics only
 * when `withPeers`), with etcd's type, help, label names and buckets; and no family outside the list.
 */
export function diffWithEtcd34(text: string, opts: { withPeers: boolean }): string[] {
  const got = parseExposition(text);
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(ETCD34_METRICS)) {
    const f = got.get(name);
    if (!f) {
      if (opts.withPeers || !PEER_METRICS.includes(name)) problems.push(`${name}: missing`);
      continue;
    }
    if (f.type !== spec.type) problems.push(`${name}: type ${f.type}, etcd 3.4 has ${spec.type}`);
    if (f.help !== spec.help) problems.push(`${name}: help '${f.help}', etcd 3.4 has '${spec.help}'`);
    if (f.labels.join(",") !== spec.labels.join(",")) problems.push(`${name}: labels [${f.labels}], etcd 3.4 has [${spec.labels}]`);
    if (spec.buckets && f.buckets.join(",") !== spec.buckets.join(",")) problems.push(`${name}: buckets [${f.buckets}], etcd 3.4 has [${spec.buckets}]`);
  }
  for (const name of got.keys()) if (!(name in ETCD34_METRICS)) problems.push(`${name}: not in the list checked against etcd 3.4`);
  return problems;
}
