import { dirname } from "node:path";
import { WatchHub } from "../../mvcc/watch/watch-hub.ts";
import { type Clock, systemClock } from "../../pkg/clock.ts";
import { Errors } from "../../pkg/errors.ts";
import { failpoint as processFailpoint } from "../../pkg/failpoint.ts";
import { seededRandom } from "../../pkg/prng.ts";
import { EntryType, StateType } from "../../raft/types.ts";
import { Snapshotter } from "../../snap/snapshotter.ts";
import { applierChain } from "./apply/chain.ts";
import { EntryApplier } from "./apply/entries.ts";
import { AuthService } from "./auth/service.ts";
import { AuthStore } from "./auth/store.ts";
import { SimpleTokens } from "./auth/tokens.ts";
import { Cluster } from "./cluster.ts";
import { CompactionHashes } from "./compact-hash.ts";
import { KV } from "./kv.ts";
import { LeaseService } from "./lease-service.ts";
import { LogCheckpoint } from "./log-checkpoint.ts";
import { Maintenance } from "./maintenance.ts";
import { MemberIO } from "./member-io.ts";
import { MemberState } from "./member-state.ts";
import type { MetricsState } from "./metrics.ts";
import { encodePeerRequest } from "./peer-api.ts";
import { PeerSnapshots } from "./peer-snapshot.ts";
import { Proposals } from "./proposals.ts";
import { Proposer } from "./proposer.ts";
import { publishMember } from "./publish.ts";
import { RaftNode } from "./raft-node.ts";
import { hardStateRecord, metadataRecord, snapshotRecord } from "./raft-wal.ts";
import { LinearizableReads } from "./reads.ts";
import { openBackend, type Recovered } from "./recover.ts";
import { electionTimeoutMs, heartbeatMs, requestTimeoutMs, type ServerOptions } from "./server-options.ts";
import { DEFAULT_WARNING_APPLY_MS } from "./slow-apply.ts";
import type { Transport } from "./transport.ts";
import { ETCD_API_VERSION, ETCD_CLUSTER_VERSION } from "./version.ts";

/** What the parts need from the server that holds them. */
export interface MemberHooks {
  transport: () => Transport | null;
  stopped: () => boolean;
  /** This member was removed from the cluster by an applied conf change. */
  removed: () => void;
  header: (revision?: bigint) => { clusterId: bigint; memberId: bigint; revision: bigint; raftTerm: bigint };
  /** This member's attributes were applied: it may serve clients. */
  published: () => void;
}

/** A member's parts, wired together (etcd's NewServer); the server facade names and runs them. */
export interface Member {
  clock: Clock;
  state: MemberState;
  raft: RaftNode;
  io: MemberIO;
  proposals: Proposals;
  proposer: Proposer;
  reads: LinearizableReads;
  peerSnapshots: PeerSnapshots;
  compactHashes: CompactionHashes;
  kv: KV;
  cluster: Cluster;
  maintenance: Maintenance;
  leases: LeaseService;
  auth: AuthService;
  watchHub: WatchHub;
}

export function assembleMember(opts: ServerOptions, r: Recovered, hooks: MemberHooks): Member {
  const clock = opts.clock ?? systemClock;
  const fp = opts.failpoint ?? processFailpoint;
  const timeoutMs = requestTimeoutMs(opts);
  const log = opts.log;
  const self = r.memberId;
  const { transport, stopped } = hooks;
  // Before the Ready loop starts: replaying the log applies auth entries.
  const authStore = new AuthStore(r.backend, opts.auth?.tokens ?? new SimpleTokens(300_000));
  const state = new MemberState({ ...r, authStore });
  const watchHub = new WatchHub(r.store, {
    progressIntervalMs: opts.watchProgressNotifyIntervalMs,
    ...(opts.clock ? { every: (fn: () => void, ms: number) => clock.every(ms, fn) } : {}),
    unsafeSkipAfterCompaction: opts.unsafeBug === "watch-skip-on-compaction",
  });
  const heartbeat = heartbeatMs(opts);
  const peerSnapshots = new PeerSnapshots({ backend: () => state.backend, applied: () => state.applied, clock, log, open: openBackend(opts) });
  const io = new MemberIO({ state, wal: r.wal, watchHub, peerSnapshots, transport, heartbeatMs: heartbeat, log, unsafeBug: opts.unsafeBug });
  const raft = new RaftNode({
    id: self,
    storage: r.storage,
    electionTick: Math.max(2, Math.round(electionTimeoutMs(opts) / heartbeat)),
    heartbeatTick: 1,
    // Raft re-hands every committed entry after its snapshot; apply skips what the database holds
    // and feeds conf changes back to Raft, whose membership is otherwise not durable.
    applied: r.storage.snapshot.meta.index,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 256,
    // Election timeouts must differ between members and between restarts of one member.
    random: seededRandom(Number(self & 0x7fffffffn) ^ clock.now()),
    io,
    clock,
    heartbeatMs: heartbeat,
    failpoint: fp,
  });
  const proposals = new Proposals(self, clock.now());
  const proposer = new Proposer({ self, state, raft, proposals, clock, maxRequestBytes: opts.maxRequestBytes, quotaBackendBytes: opts.quotaBackendBytes ?? 0, requestTimeoutMs: timeoutMs, stopped });
  const reads = new LinearizableReads({ raft, state, registry: proposals, clock, requestTimeoutMs: timeoutMs });
  const warningApplyMs = opts.warningApplyDurationMs ?? DEFAULT_WARNING_APPLY_MS;
  const kv = new KV({ state, proposer, reads, maxTxnOps: opts.maxTxnOps, warningApplyMs, log });
  const cluster = new Cluster({
    self,
    state,
    raft,
    proposals,
    transport,
    initialClusterToken: opts.initialClusterToken,
    strictReconfigCheck: opts.strictReconfigCheck !== false,
    maxLearners: opts.maxLearners ?? 1,
    requestTimeoutMs: timeoutMs,
    now: () => clock.now(),
    removed: hooks.removed,
    log,
  });
  const compactHashes = new CompactionHashes(() => state.store, log);
  const maintenance = new Maintenance({ self, state, raft, proposer, compactHashes, transport, exportSnapshot: opts.exportSnapshot, requestTimeoutMs: timeoutMs, stopped, log });
  const applier = new EntryApplier({
    state,
    chain: applierChain(state, { compactHashes: opts.compactHashCheckEnabled ? compactHashes : undefined, log }),
    proposals,
    raftConfChange: (cc) => raft.applyConfChange(cc),
    membershipChange: (cc) => cluster.apply(cc),
    replayedConfChange: (cc) => cluster.syncPeer(cc),
    leaderNoop: (e) => e.type === EntryType.Normal && e.data.length === 0 && raft.isLeader && e.term === raft.term,
    // From here on the new leader keeps the leases' clocks (etcd's Promote), extended by an
    // election timeout so that none expires early for the change of hands.
    onLeaderNoop: () => state.lessor.promote(electionTimeoutMs(opts)),
    warningApplyMs,
    failpoint: fp,
    log,
    unsafeApplyTwice: opts.unsafeBug === "apply-twice-after-restart",
  });
  const checkpoint = new LogCheckpoint({
    state,
    storage: r.storage,
    wal: r.wal,
    snapshotter: new Snapshotter(dirname(r.backend.path), { log: (level, msg) => log(level, msg) }),
    confState: () => raft.confState(),
    snapshotCount: opts.snapshotCount,
    snapshotCatchupEntries: opts.snapshotCatchupEntries,
    maxWals: opts.maxWals,
    maxSnapshots: opts.maxSnapshots,
    failpoint: fp,
    log,
  });
  // A WAL segment must stand alone once older ones are purged: who we are, where the log starts, the vote.
  r.wal.segmentPreamble = () => {
    const snap = r.storage.snapshot.meta;
    return [
      metadataRecord(self, r.clusterId),
      ...(snap.index > 0 ? [snapshotRecord(snap.index, snap.term, snap.confState.voters, snap.confState.learners)] : []),
      hardStateRecord(r.storage.hardState),
    ];
  };
  const leases = new LeaseService({
    lessor: () => state.lessor,
    propose: (body) => proposer.propose(body),
    leader: () => raft.lead,
    self,
    forward: async (leader, req) => {
      const t = transport();
      if (!t) throw Errors.noLeader;
      return JSON.parse(new TextDecoder().decode(await t.request(leader, encodePeerRequest(req), timeoutMs)));
    },
    // A lease id nobody asked for: positive int64, unique across members and restarts (as request ids).
    nextId: () => BigInt.asIntN(64, proposals.nextId()) & 0x7fffffffffffffffn || 1n,
    log,
    clock,
  });
  const auth = new AuthService({
    store: authStore,
    propose: (body, ai) => proposer.propose<"auth">(body, ai),
    linearizableRead: () => reads.read(),
    header: hooks.header,
    waitApplied: (index) => reads.waitApplied(index),
    maxRequestBytes: opts.maxRequestBytes,
    bcryptCost: opts.auth?.bcryptCost ?? 10,
    log,
  });
  const publish = () =>
    void publishMember({ self, clusterId: r.clusterId, name: opts.name, clientUrls: opts.advertiseClientUrls, propose: (b) => proposer.propose(b), requestTimeoutMs: timeoutMs, stopped, clock, log }).then(
      hooks.published,
    );
  io.attach({ raft, applier, reads, proposer, checkpoint, publish });
  return { clock, state, raft, io, proposals, proposer, reads, peerSnapshots, compactHashes, kv, cluster, maintenance, leases, auth, watchHub };
}

/** What /metrics shows of this member, read at scrape time. */
export function memberMetrics(m: Member, opts: ServerOptions): MetricsState {
  const st = m.raft.status();
  const s = m.state;
  const hub = m.watchHub.stats;
  return {
    memberId: st.id,
    version: ETCD_API_VERSION,
    lead: st.lead,
    leader: st.state === StateType.Leader,
    committed: st.commit,
    applied: s.applied,
    pending: m.proposals.size,
    dbSize: s.backend.size(),
    dbSizeInUse: s.backend.sizeInUse(),
    keys: m.io.keys,
    clusterVersion: ETCD_CLUSTER_VERSION,
    learner: st.learners.has(st.id),
    quotaBackendBytes: opts.quotaBackendBytes ?? 0,
    revision: s.store.rev,
    compactRevision: s.store.compactRev,
    authRevision: s.authStore.revision,
    watch: { ...m.watchHub.queueStats, watchers: hub.synced + hub.unsynced + hub.victims, slow: hub.unsynced + hub.victims },
    alarms: s.alarms.map((a) => ({ memberID: a.memberID, alarm: s.alarmName(a) })),
    members: s.members.map((x) => x.id),
  };
}
