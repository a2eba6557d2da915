// etcd's server metrics (etcd 3.4 etcdserver/metrics.go and the gauges etcd reads from its MVCC store,
// auth store, membership and watchable store; etcd 3.5's apply durations; etcd 3.6's alarms, known
// peers and range durations): names, help texts, types and label names as etcd's. Counters are
// counted where things happen; gauges that describe the member's state are read at scrape time
// (`watchServerMetrics`).
import { EventType, type StoreEvent } from "../../mvcc/event.ts";
import { Errors } from "../../pkg/errors.ts";
import { type Counter, defaultRegistry, exponentialBuckets, type Gauge } from "../../pkg/metrics.ts";

const hasLeader = defaultRegistry.gauge({ name: "etcd_server_has_leader", help: "Whether or not a leader exists. 1 is existence, 0 is not." });
const isLeader = defaultRegistry.gauge({ name: "etcd_server_is_leader", help: "Whether or not this member is a leader. 1 if is, 0 otherwise." });
const isLearner = defaultRegistry.gauge({ name: "etcd_server_is_learner", help: "Whether or not this member is a learner. 1 if is, 0 otherwise." });

export const leaderChanges = defaultRegistry.counter({ name: "etcd_server_leader_changes_seen_total", help: "The number of leader changes seen." });

// committed and applied are gauges in etcd (set to the Raft indexes), despite the _total.
const proposalsCommitted = defaultRegistry.gauge({ name: "etcd_server_proposals_committed_total", help: "The total number of consensus proposals committed." });
const proposalsApplied = defaultRegistry.gauge({ name: "etcd_server_proposals_applied_total", help: "The total number of consensus proposals applied." });
const proposalsPending = defaultRegistry.gauge({ name: "etcd_server_proposals_pending", help: "The current number of pending proposals to commit." });

/** As etcd: a proposal that Raft refused (no leader, dropped) or that timed out. */
export const proposalsFailed = defaultRegistry.counter({ name: "etcd_server_proposals_failed_total", help: "The total number of failed proposals seen." });

/** A linearizable read whose ReadIndex could not be sent, timed out, or was lost with a change of leader. */
export const readIndexFailed = defaultRegistry.counter({ name: "etcd_server_read_indexes_failed_total", help: "The total number of failed read indexes seen." });
/** A ReadIndex unanswered long enough to be sent again, or an answer that came for an older one. */
export const slowReadIndex = defaultRegistry.counter({
  name: "etcd_server_slow_read_indexes_total",
  help: "The total number of pending read indexes not in sync with leader's or timed out read index requests.",
});

/** The leader sent a heartbeat to a follower more than two heartbeat intervals after the previous one (see HeartbeatLateness). */
export const heartbeatSendFailures = defaultRegistry.counter({
  name: "etcd_server_heartbeat_send_failures_total",
  help: "The total number of leader heartbeat send failures (likely overloaded from slow disk).",
});

/** Leases the leader revoked because they expired (counted when the revoke is applied). */
export const leaseExpired = defaultRegistry.counter({ name: "etcd_debugging_server_lease_expired_total", help: "The total number of expired leases." });

export const learnerPromoteSucceed = defaultRegistry.counter({
  name: "etcd_server_learner_promote_successes",
  help: "The total number of successful learner promotions while this member is leader.",
});
/** By reason: the error's text, as etcd labels it. */
export const learnerPromoteFailed = defaultRegistry.counterVec({
  name: "etcd_server_learner_promote_failures",
  help: "The total number of failed learner promotions (likely learner not ready) while this member is leader.",
  labelNames: ["Reason"],
});

/**
 * 1 while the member installs a snapshot from the leader. Installing is one synchronous step here
 * (rename the received database into place and reopen it), so no scrape can run during it: 0 is what
 * every scrape truly sees.
 */
defaultRegistry.gauge({ name: "etcd_server_snapshot_apply_in_progress_total", help: "1 if the server is applying the incoming snapshot. 0 if none." });

const quotaBackendBytes = defaultRegistry.gauge({ name: "etcd_server_quota_backend_bytes", help: "Current backend storage quota size in bytes." });

const serverId = defaultRegistry.gaugeVec({
  name: "etcd_server_id",
  help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
  labelNames: ["server_id"],
});
const serverVersion = defaultRegistry.gaugeVec({
  name: "etcd_server_version",
  help: "Which version is running. 1 for 'server_version' label with current version.",
  labelNames: ["server_version"],
});
const clusterVersion = defaultRegistry.gaugeVec({
  name: "etcd_cluster_version",
  help: "Which version is running. 1 for 'cluster_version' label with current cluster version",
  labelNames: ["cluster_version"],
});
/**
 * etcd reports the Go release it was built with. This server runs on Bun, not Go: the label names
 * the runtime that is truly running it, in Go's "go1.19.8" shape ("bun1.2.19").
 */
const goVersion = defaultRegistry.gaugeVec({
  name: "etcd_server_go_version",
  help: "Which Go version server is running with. 1 for 'server_go_version' label with current version.",
  labelNames: ["server_go_version"],
});
goVersion.with(process.versions.bun ? `bun${process.versions.bun}` : `node${process.versions.node}`).set(1);

const dbTotalSize = defaultRegistry.gauge({
  name: "etcd_mvcc_db_total_size_in_bytes",
  help: "Total size of the underlying database physically allocated in bytes.",
});
/** etcd 3.4 exports the database size under its old name as well. */
const dbTotalSizeDebug = defaultRegistry.gauge({
  name: "etcd_debugging_mvcc_db_total_size_in_bytes",
  help: "Total size of the underlying database physically allocated in bytes.",
});
const dbTotalSizeInUse = defaultRegistry.gauge({
  name: "etcd_mvcc_db_total_size_in_use_in_bytes",
  help: "Total size of the underlying database logically in use in bytes.",
});
const keysTotal = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_keys_total", help: "Total number of keys." });
const currentRevision = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_current_revision", help: "The current revision of store." });
const compactRevision = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_compact_revision", help: "The revision of the last compaction in store." });
const authRevision = defaultRegistry.gauge({ name: "etcd_debugging_auth_revision", help: "The current revision of auth store." });

// The watchable store's gauges, read from the watch hub.
const watchStreams = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_watch_stream_total", help: "Total number of watch streams." });
const watchers = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_watcher_total", help: "Total number of watchers." });
const slowWatchers = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_slow_watcher_total", help: "Total number of unsynced slow watchers." });
const pendingEvents = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_pending_events_total", help: "Total number of pending events to be sent." });

/**
 * etcd 3.5: how long applying each request took, by request kind (etcd's op names) and outcome. All
 * our entries are v3 requests; a compacted-revision error counts as success, as etcd's.
 */
const applySeconds = defaultRegistry.histogramVec({
  name: "etcd_server_apply_duration_seconds",
  help: "The latency distributions of v2 apply called by backend.",
  buckets: exponentialBuckets(0.0001, 2, 20),
  labelNames: ["version", "op", "success"],
});

/** etcd 3.6: Range requests served by this member, by outcome. */
const rangeSeconds = defaultRegistry.histogramVec({
  name: "etcd_server_range_duration_seconds",
  help: "The latency distributions of txn.Range",
  buckets: exponentialBuckets(0.0001, 2, 20),
  labelNames: ["success"],
});

/** etcd 3.6: 1 per active alarm, by member and alarm type (0 once cleared). */
const alarmsGauge = defaultRegistry.gaugeVec({
  name: "etcd_debugging_server_alarms",
  help: "Alarms for every member in cluster. 1 for 'server_id' label with current ID. 2 for 'alarm_type' label with type of this alarm",
  labelNames: ["server_id", "alarm_type"],
});

/** etcd 3.6: 1 for every member of the cluster (this one included), 0 for one removed since start. */
const knownPeers = defaultRegistry.gaugeVec({
  name: "etcd_network_known_peers",
  help: "The current number of known peers.",
  labelNames: ["Local", "Remote"],
});

// etcd's v2 store. etcd-ts has no v2 key space (membership lives in the backend), so no v2 read,
// write, expiry or watch ever happens: every count is truly 0. The series of the store's actions
// exist at 0 so that the names etcd exports are there.
const V2_READS = ["get", "getRecursive"];
const V2_WRITES = ["set", "create", "update", "delete", "compareAndSwap", "compareAndDelete", "expire"];
for (const [name, help, actions] of [
  ["etcd_debugging_store_reads_total", "Total number of reads action by (get/getRecursive), local to this member.", V2_READS],
  ["etcd_debugging_store_reads_failed_total", "Failed read actions by (get/getRecursive), local to this member.", V2_READS],
  ["etcd_debugging_store_writes_total", "Total number of writes (e.g. set/compareAndDelete) seen by this member.", V2_WRITES],
  ["etcd_debugging_store_writes_failed_total", "Failed write actions (e.g. set/compareAndDelete), seen by this member.", V2_WRITES],
] as const) {
  const family = defaultRegistry.counterVec({ name, help, labelNames: ["action"] });
  for (const a of actions) family.with(a);
}
defaultRegistry.counter({ name: "etcd_debugging_store_expires_total", help: "Total number of expired keys." });
defaultRegistry.counter({ name: "etcd_debugging_store_watch_requests_total", help: "Total number of incoming watch requests (new or reestablished)." });
defaultRegistry.gauge({ name: "etcd_debugging_store_watchers", help: "Count of currently active watchers." });

/** A member's state as /metrics shows it. */
export interface MetricsState {
  memberId: bigint;
  version: string;
  /** The cluster version ("3.5.0"); etcd labels it major.minor. */
  clusterVersion: string;
  /** Raft's leader (0: none) and whether it is this member */
  lead: bigint;
  leader: boolean;
  learner: boolean;
  committed: number;
  applied: bigint;
  /** proposals waiting for their entry to be applied */
  pending: number;
  /** the quota in effect (≤ 0: none) */
  quotaBackendBytes: number;
  dbSize: number;
  dbSizeInUse: number;
  keys: number;
  revision: bigint;
  compactRevision: bigint;
  authRevision: bigint;
  watch: { streams: number; watchers: number; slow: number; pendingEvents: number };
  alarms: readonly { memberID: bigint; alarm: string }[];
  members: readonly bigint[];
}

/** Reads the member's state before every exposition, until the returned function is called. */
export function watchServerMetrics(read: () => MetricsState): () => void {
  const alarmSeries = new Map<string, Gauge>();
  const peerSeries = new Map<string, Gauge>();
  return defaultRegistry.onCollect(() => {
    const s = read();
    hasLeader.set(s.lead === 0n ? 0 : 1);
    isLeader.set(s.leader ? 1 : 0);
    isLearner.set(s.learner ? 1 : 0);
    proposalsCommitted.set(s.committed);
    proposalsApplied.set(Number(s.applied));
    proposalsPending.set(s.pending);
    quotaBackendBytes.set(Math.max(0, s.quotaBackendBytes));
    serverId.with(s.memberId.toString(16)).set(1);
    serverVersion.with(s.version).set(1);
    clusterVersion.with(s.clusterVersion.split(".").slice(0, 2).join(".")).set(1);
    dbTotalSize.set(s.dbSize);
    dbTotalSizeDebug.set(s.dbSize);
    dbTotalSizeInUse.set(s.dbSizeInUse);
    keysTotal.set(s.keys);
    currentRevision.set(Number(s.revision));
    compactRevision.set(Number(s.compactRevision));
    authRevision.set(Number(s.authRevision));
    watchStreams.set(s.watch.streams);
    watchers.set(s.watch.watchers);
    slowWatchers.set(s.watch.slow);
    pendingEvents.set(s.watch.pendingEvents);
    const local = s.memberId.toString(16);
    setPresent(alarmSeries, s.alarms.map((a) => [a.memberID.toString(16), a.alarm]), (labels) => alarmsGauge.with(...labels));
    setPresent(peerSeries, s.members.map((id) => [local, id.toString(16)]), (labels) => knownPeers.with(...labels));
  });
}

/** Sets the series of `present` to 1 and every series set before but no longer present to 0. */
function setPresent(seen: Map<string, Gauge>, present: string[][], series: (labels: string[]) => Gauge): void {
  const now = new Set<string>();
  for (const labels of present) {
    const key = labels.join("\u0000");
    now.add(key);
    if (!seen.has(key)) seen.set(key, series(labels));
    seen.get(key)!.set(1);
  }
  for (const [key, g] of seen) if (!now.has(key)) g.set(0);
}

/** How an applied change moves the number of live keys: a delete removes one, a first version adds one. */
export function keysDelta(ev: StoreEvent): number {
  if (ev.type === EventType.DELETE) return -1;
  return ev.kv.version === 1n ? 1 : 0;
}

/** etcd's op label for an applied request (etcd 3.5 applierV3backend.Apply), by its one set field. */
const APPLY_OPS: Record<string, string> = {
  range: "Range",
  put: "Put",
  deleteRange: "DeleteRange",
  txn: "Txn",
  compaction: "Compaction",
  leaseGrant: "LeaseGrant",
  leaseRevoke: "LeaseRevoke",
  leaseCheckpoint: "LeaseCheckpoint",
  alarm: "Alarm",
  authenticate: "Authenticate",
  authEnable: "AuthEnable",
  authDisable: "AuthDisable",
  authStatus: "AuthStatus",
  authUserAdd: "AuthUserAdd",
  authUserDelete: "AuthUserDelete",
  authUserChangePassword: "AuthUserChangePassword",
  authUserGrantRole: "AuthUserGrantRole",
  authUserGet: "AuthUserGet",
  authUserRevokeRole: "AuthUserRevokeRole",
  authRoleAdd: "AuthRoleAdd",
  authRoleGrantPermission: "AuthRoleGrantPermission",
  authRoleGet: "AuthRoleGet",
  authRoleRevokePermission: "AuthRoleRevokePermission",
  authRoleDelete: "AuthRoleDelete",
  authUserList: "AuthUserList",
  authRoleList: "AuthRoleList",
  clusterVersionSet: "ClusterVersionSet",
  clusterMemberAttrSet: "ClusterMemberAttrSet",
  downgradeInfoSet: "DowngradeInfoSet",
};

const APPLY_FIELDS = Object.keys(APPLY_OPS);

/** The op name of an InternalRaftRequest ("unknown" as etcd's default). */
export function applyOp(req: object): string {
  // Nearly every entry is a put, range, delete or txn: look those up first, without walking the table.
  const r = req as Record<string, unknown>;
  if (r.put != null) return "Put";
  if (r.txn != null) return "Txn";
  if (r.deleteRange != null) return "DeleteRange";
  if (r.range != null) return "Range";
  for (const field of APPLY_FIELDS) if (r[field] != null) return APPLY_OPS[field];
  return "unknown";
}


/** Runs one apply and observes its duration under etcd_server_apply_duration_seconds; rethrows its error. */
export function timedApply<T>(req: object, apply: () => T): T {
  const startMs = performance.now();
  let ok = false;
  try {
    const out = apply();
    ok = true;
    return out;
  } catch (err) {
    ok = err === Errors.compacted;
    throw err;
  } finally {
    applySeconds.with("v3", applyOp(req), String(ok)).observe((performance.now() - startMs) / 1000);
  }
}

/** Runs a Range on the local store and observes etcd_server_range_duration_seconds; rethrows its error. */
export function timedRange<T>(range: () => T): T {
  const startMs = performance.now();
  let ok = false;
  try {
    const out = range();
    ok = true;
    return out;
  } finally {
    rangeSeconds.with(String(ok)).observe((performance.now() - startMs) / 1000);
  }
}

/**
 * etcd's timeout detector for leader heartbeats: a heartbeat to a follower sent more than two
 * heartbeat intervals after the previous one to it (in the same term) means the leader is too busy
 * (a slow disk, a long apply) to keep its followers from starting an election.
 */
export class HeartbeatLateness {
  readonly #maxGapMs: number;
  readonly #now: () => number;
  readonly #last = new Map<bigint, { term: number; atMs: number }>();
  readonly #failures: Counter;

  constructor(heartbeatIntervalMs: number, opts: { now?: () => number; failures?: Counter } = {}) {
    this.#maxGapMs = 2 * heartbeatIntervalMs;
    this.#now = opts.now ?? (() => performance.now());
    this.#failures = opts.failures ?? heartbeatSendFailures;
  }

  /** Looks at messages about to be sent; returns how many heartbeats went out late. */
  observe(msgs: readonly { type: number; to: bigint; term: number }[], heartbeatType: number): number {
    let late = 0;
    const now = this.#now();
    for (const m of msgs) {
      if (m.type !== heartbeatType) continue;
      const last = this.#last.get(m.to);
      if (last && last.term === m.term && now - last.atMs > this.#maxGapMs) {
        late++;
        this.#failures.inc();
      }
      this.#last.set(m.to, { term: m.term, atMs: now });
    }
    return late;
  }
}
