// etcd's server and storage metrics that dashboards use most (etcd 3.4 etcdserver/metrics.go,
// mvcc/metrics.go): names, help texts, types and label names as etcd's. Counters are counted where
// things happen (server.ts); gauges that describe the member's state are read at scrape time.
import { EventType, type StoreEvent } from "../../mvcc/event.ts";
import { defaultRegistry } from "../../pkg/metrics.ts";

const hasLeader = defaultRegistry.gauge({ name: "etcd_server_has_leader", help: "Whether or not a leader exists. 1 is existence, 0 is not." });
const isLeader = defaultRegistry.gauge({ name: "etcd_server_is_leader", help: "Whether or not this member is a leader. 1 if is, 0 otherwise." });

export const leaderChanges = defaultRegistry.counter({ name: "etcd_server_leader_changes_seen_total", help: "The number of leader changes seen." });

// committed and applied are gauges in etcd (set to the Raft indexes), despite the _total.
const proposalsCommitted = defaultRegistry.gauge({ name: "etcd_server_proposals_committed_total", help: "The total number of consensus proposals committed." });
const proposalsApplied = defaultRegistry.gauge({ name: "etcd_server_proposals_applied_total", help: "The total number of consensus proposals applied." });
const proposalsPending = defaultRegistry.gauge({ name: "etcd_server_proposals_pending", help: "The current number of pending proposals to commit." });

/** As etcd: a proposal that Raft refused (no leader, dropped) or that timed out. */
export const proposalsFailed = defaultRegistry.counter({ name: "etcd_server_proposals_failed_total", help: "The total number of failed proposals seen." });

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

const dbTotalSize = defaultRegistry.gauge({
  name: "etcd_mvcc_db_total_size_in_bytes",
  help: "Total size of the underlying database physically allocated in bytes.",
});
const dbTotalSizeInUse = defaultRegistry.gauge({
  name: "etcd_mvcc_db_total_size_in_use_in_bytes",
  help: "Total size of the underlying database logically in use in bytes.",
});
const keysTotal = defaultRegistry.gauge({ name: "etcd_debugging_mvcc_keys_total", help: "Total number of keys." });

/** A member's state as /metrics shows it. */
export interface MetricsState {
  memberId: bigint;
  version: string;
  /** Raft's leader (0: none) and whether it is this member */
  lead: bigint;
  leader: boolean;
  committed: number;
  applied: bigint;
  /** proposals waiting for their entry to be applied */
  pending: number;
  dbSize: number;
  dbSizeInUse: number;
  keys: number;
}

/** Reads the member's state before every exposition, until the returned function is called. */
export function watchServerMetrics(read: () => MetricsState): () => void {
  return defaultRegistry.onCollect(() => {
    const s = read();
    hasLeader.set(s.lead === 0n ? 0 : 1);
    isLeader.set(s.leader ? 1 : 0);
    proposalsCommitted.set(s.committed);
    proposalsApplied.set(Number(s.applied));
    proposalsPending.set(s.pending);
    serverId.with(s.memberId.toString(16)).set(1);
    serverVersion.with(s.version).set(1);
    dbTotalSize.set(s.dbSize);
    dbTotalSizeInUse.set(s.dbSizeInUse);
    keysTotal.set(s.keys);
  });
}

/** How an applied change moves the number of live keys: a delete removes one, a first version adds one. */
export function keysDelta(ev: StoreEvent): number {
  if (ev.type === EventType.DELETE) return -1;
  return ev.kv.version === 1n ? 1 : 0;
}
