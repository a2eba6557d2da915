import { goDuration } from "../../pkg/go-duration.ts";
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { EventType, type StoreEvent } from "../../mvcc/event.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { WatchHub } from "../../mvcc/watch/watch-hub.ts";
import { Lessor } from "../../lease/lessor.ts";
import { minLeaseTtlSeconds } from "../../lease/min-ttl.ts";
import { EtcdError, Errors, isEtcdError } from "../../pkg/errors.ts";
import { crc32c } from "../../pkg/crc32c.ts";
import { seededRandom } from "../../pkg/prng.ts";
import { etcdserverpb, mvccpb } from "../../proto/etcd.js";
import { encodeWithHeadroom } from "../../proto/encode.ts";
import { Snapshotter } from "../../snap/snapshotter.ts";
import { Wal } from "../../wal/wal.ts";
import { decodeConfChange, encodeConfChange } from "../../raft/codec.ts";
import { RawNode, type Ready } from "../../raft/raw-node.ts";
import { ConfChangeType, type Entry, EntryType, type Message, MessageType, type NodeId, RaftError, StateType } from "../../raft/types.ts";
import {
  applyDeleteRange,
  applyPut,
  applyRange,
  applyTxn,
  isTxnReadOnly,
  type DeleteOut,
  type PutOut,
  type RangeOut,
  type TxnOut,
} from "./kv-apply.ts";
import { bootstrapLog } from "./bootstrap.ts";
import { exportEtcdSnapshot } from "./etcd-snapshot.ts";
import { bootstrapMembers, confContext, hex, type MemberInfo, membersFromJson, membersToJson, parseConfContext } from "./membership.ts";
import { computeMemberId } from "./member-id.ts";
import { CompactHashChecker, findCorruptMembers, initialCorruptCheck } from "./corrupt-check.ts";
import { CompactionHashes } from "./compact-hash.ts";
import { DEFAULT_WARNING_APPLY_MS, describeReadOnly, describeRequest, readOnlyResponse, responseSize, warnIfSlow } from "./slow-apply.ts";
import { LeaseService, type LeaseForward } from "./lease-service.ts";
import { answerPeerRequest, decodeHashAnswer, encodePeerRequest } from "./peer-api.ts";
import { hardStateRecord, metadataRecord, readyRecords, replayWal, snapshotRecord } from "./raft-wal.ts";
import { checkDelete, checkPut, checkRange, checkTxn } from "./validate.ts";
import { WaitRegistry } from "./wait.ts";
import { ReadBatcher } from "./read-batcher.ts";
import { AlarmType, consumesSpace, loadAlarms, refusedWhenCorrupt } from "./alarms.ts";
import { applyAuth, checkApply, checkTxn as checkTxnAuth } from "./auth/apply.ts";
import { AuthService } from "./auth/service.ts";
import { type AuthInfo, AuthStore } from "./auth/store.ts";
import { SimpleTokens, type TokenProvider } from "./auth/tokens.ts";
import { HeartbeatLateness, keysDelta, leaderChanges, learnerPromoteFailed, learnerPromoteSucceed, type MetricsState, proposalsFailed, timedApply, timedRange, watchServerMetrics } from "./metrics.ts";
import { backendSnapshotSeconds } from "../../backend/metrics.ts";
import { hashSeconds } from "../../mvcc/metrics.ts";

/** The etcd API level this server implements: clients gate features on it. */
export const ETCD_API_VERSION = "3.5.0";
/** Proposals of one client write refused for a stale auth revision before the error is returned. */
const AUTH_RETRIES_MAX = 10;

export const ETCD_CLUSTER_VERSION = "3.5.0";

/** A database copy for a lagging follower: the file, and what the receiver checks it against. */
export interface PeerSnapshot {
  path: string;
  size: number;
  sha256: Buffer;
}

/** Talks to peers (server/peer implements it over TCP; a single member needs none). */
export interface Transport {
  send(msgs: Message[]): void;
  /** Ships a Snap message's database; the outcome comes back through reportSnapshot. */
  sendSnapshot(m: Message, db: PeerSnapshot): void;
  /** One request to a peer, answered by its answerPeer. */
  request(id: NodeId, body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  addPeer(id: NodeId, urls: string[]): void;
  removePeer(id: NodeId): void;
}

/** What a joining member learns from the cluster before it starts (etcd asks its peers' /members). */
export interface RemoteCluster {
  clusterId: bigint;
  members: MemberInfo[];
}

export interface ServerOptions {
  name: string;
  dataDir: string;
  walDir?: string;
  initialAdvertisePeerUrls: string[];
  advertiseClientUrls: string[];
  initialClusterToken: string;
  /** name → peer URLs; defaults to this member alone. */
  initialCluster?: ReadonlyMap<string, readonly string[]>;
  /** Refuse membership changes that would leave fewer started voters than a quorum (default true). */
  strictReconfigCheck?: boolean;
  /** Database size at which writes stop with NOSPACE (etcd's --quota-backend-bytes). */
  quotaBackendBytes?: number;
  initialClusterState?: "new" | "existing";
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  snapshotCount: number;
  /** How a member started with --initial-cluster-state existing asks its peers for the cluster. */
  fetchCluster?: (peerUrls: string[]) => Promise<RemoteCluster>;
  /** WAL segment size (default 64 MiB; tests use small ones to purge soon). */
  walSegmentBytes?: number;
  /** WAL segments and .snap files kept (etcd's --max-wals, --max-snapshots; 0 keeps all). Default 5. */
  maxWals?: number;
  maxSnapshots?: number;
  /** How often watchers that asked for it get a progress notification (etcd: 10 min). */
  watchProgressNotifyIntervalMs?: number;
  /** Period of the leader's cross-member HashKV comparison (0: off). */
  corruptCheckTimeMs?: number;
  /**
   * The leader compares the members' hashes at compaction points every compactHashCheckTimeMs
   * (etcd's --experimental-compact-hash-check-enabled / -time; default off, 1 min).
   */
  compactHashCheckEnabled?: boolean;
  compactHashCheckTimeMs?: number;
  /**
   * Lease checkpointing (etcd's --experimental-enable-lease-checkpoint, default off): the leader
   * records each lease's remaining TTL through Raft every leaseCheckpointIntervalMs (etcd: 5 min, not
   * a flag), so a new leader does not restart it from its full TTL. leaseCheckpointPersist also
   * stores it in the database (etcd's -persist flag; 3.6 always), so it survives restarts too.
   */
  enableLeaseCheckpoint?: boolean;
  leaseCheckpointIntervalMs?: number;
  leaseCheckpointPersist?: boolean;
  /** Applying one entry (or answering a read-only range/txn) longer than this logs a warning (etcd: 100 ms). */
  warningApplyDurationMs?: number;
  /** Learners the cluster may have (etcd's --max-learners, default 1). */
  maxLearners?: number;
  /** Entries kept in the Raft log after a snapshot for slow followers (etcd: 5000; at most --snapshot-count here). */
  snapshotCatchupEntries?: number;
  /**
   * Writes a database copy as an etcd snapshot file (bbolt + sha256) for the Snapshot RPC. main.ts
   * runs it in a child process; the default converts in this process (tests).
   */
  exportSnapshot?: (dbPath: string, out: string) => Promise<void>;
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** Authentication: --auth-token's provider (default simple tokens, 300 s) and --bcrypt-cost (default 10). */
  auth?: { tokens?: TokenProvider; bcryptCost?: number };
}

export type { MemberInfo } from "./membership.ts";

type ApplyResult = PutOut | DeleteOut | TxnOut | { header: { revision: bigint }; token?: string };
type Header = { clusterId: bigint; memberId: bigint; revision: bigint; raftTerm: bigint };

/** Entries the leader keeps after a checkpoint so a briefly lagging follower catches up from the log (etcd's default). */
const CATCH_UP_ENTRIES = 5000;
/** etcd's lessor checkpoint interval. */
const LEASE_CHECKPOINT_INTERVAL_MS = 5 * 60_000;

/**
 * The server: proposes writes through Raft, runs the ready loop (send, persist, apply, advance), answers
 * reads from the MVCC store. Everything a client sees goes through here, whichever protocol it came by.
 */
export class EtcdServer {
  readonly memberId: bigint;
  #clusterId: bigint;
  #members: MemberInfo[];
  #opts: ServerOptions;
  #backend: Backend;
  #store: MvccStore;
  #wal: Wal;
  #node: RawNode;
  #transport: Transport | null = null;
  #wait = new WaitRegistry<ApplyResult>();
  /** Requests proposed by this process, by their entry data: applying them needs no decode. */
  #proposed = new Map<Uint8Array, etcdserverpb.InternalRaftRequest.$Properties>();
  /**
   * The same proposals by request id: on a follower (or after a leader change) the entry that comes
   * back is a decoded copy, not our array, and must still release what we keep for it.
   */
  #proposedById = new Map<bigint, Uint8Array>();
  #proposals: Uint8Array[] = [];
  #confProposals: Uint8Array[] = [];
  #nextRequestId: bigint;
  #applied: bigint;
  #appliedWaiters: { index: bigint; resolve: () => void }[] = [];
  #reads: ReadBatcher;
  #wake: (() => void) | null = null;
  #stopped = false;
  #loop: Promise<void>;
  #ticker: ReturnType<typeof setInterval>;
  #sinceCheckpoint = 0;
  #fatal: (err: unknown) => void;
  #published = false;
  #isReady = false;
  /** Database size, refreshed once per applied batch: the quota check must not stat the file per write. */
  #dbSize = 0;
  /** Active alarms, replicated through Raft and stored with the data. */
  #alarms: { memberID: bigint; alarm: number }[] = [];
  #readyResolve!: () => void;
  /** Resolves once this member's name and client URLs are applied: then it serves clients, as etcd. */
  readonly ready: Promise<void>;

  private constructor(
    opts: ServerOptions,
    parts: { backend: Backend; store: MvccStore; wal: Wal; node: RawNode; members: MemberInfo[]; memberId: bigint; clusterId: bigint; applied: bigint; lessor: Lessor },
    fatal: (err: unknown) => void,
  ) {
    this.#opts = opts;
    this.#backend = parts.backend;
    this.#store = parts.store;
    this.#wal = parts.wal;
    this.#node = parts.node;
    this.#members = parts.members;
    this.memberId = parts.memberId;
    this.#clusterId = parts.clusterId;
    this.#applied = parts.applied;
    this.#lessor = parts.lessor;
    this.watchHub = new WatchHub(parts.store, { progressIntervalMs: opts.watchProgressNotifyIntervalMs });
    this.#watchStore(parts.store);
    this.leases = new LeaseService({
      lessor: () => this.#lessor,
      propose: (body) => this.#propose(body),
      leader: () => this.#node.raft.lead,
      self: parts.memberId,
      forward: async (leader, req) => {
        if (!this.#transport) throw Errors.noLeader;
        return JSON.parse(new TextDecoder().decode(await this.#transport.request(leader, encodePeerRequest(req), this.#requestTimeoutMs())));
      },
      nextId: () => this.#nextLeaseId(),
      log: opts.log,
    });
    // A WAL segment must stand alone once older ones are purged: who we are, where the log starts, the vote.
    this.#wal.segmentPreamble = () => {
      const storage = this.#node.raft.log.storage;
      const snap = storage.snapshot.meta;
      return [
        metadataRecord(this.memberId, this.#clusterId),
        ...(snap.index > 0 ? [snapshotRecord(snap.index, snap.term, snap.confState.voters, snap.confState.learners)] : []),
        hardStateRecord(storage.hardState),
      ];
    };
    this.#snapshotter = new Snapshotter(dirname(parts.backend.path), { log: (level, msg) => opts.log(level, msg) });
    this.#fatal = fatal;
    this.#alarms = loadAlarms(parts.backend);
    this.#dbSize = parts.backend.size();
    // Unique across members and restarts: this member's low 16 bits, then the clock, then a counter.
    this.#nextRequestId = ((parts.memberId & 0xffffn) << 48n) | ((BigInt(Date.now()) << 8n) & 0xffffffffffffn);
    this.#reads = new ReadBatcher(hex(parts.memberId), (ctx) => this.#node.readIndex(ctx), () => this.#wake?.());
    // Before the ready loop starts: replaying the log applies auth entries.
    this.#authStore = new AuthStore(parts.backend, opts.auth?.tokens ?? new SimpleTokens(300_000));
    this.auth = new AuthService({
      store: this.#authStore,
      propose: (body, ai) => this.#propose(body, ai) as Promise<{ header: { revision: bigint }; token?: string }>,
      linearizableRead: () => this.#linearizableRead(),
      header: (rev) => this.header(rev),
      waitApplied: (index) => this.#waitApplied(index),
      maxRequestBytes: opts.maxRequestBytes,
      bcryptCost: opts.auth?.bcryptCost ?? 10,
      log: opts.log,
    });
    this.ready = new Promise<void>((r) => (this.#readyResolve = r));
    this.#loop = this.#readyLoop();
    this.#ticker = setInterval(() => {
      this.#node.tick();
      this.#reads.tick();
      this.#sweepTimeouts();
      this.#wake?.();
    }, opts.heartbeatIntervalMs ?? 100);
    if ((opts.corruptCheckTimeMs ?? 0) > 0) this.#corruptTimer = setInterval(() => void this.checkCorruption(), opts.corruptCheckTimeMs);
    this.#compactHashes = new CompactionHashes(() => this.#store, opts.log);
    if (opts.compactHashCheckEnabled) {
      const t = setInterval(() => (this.#stopped ? clearInterval(t) : void this.checkCompactionHashes()), opts.compactHashCheckTimeMs ?? 60_000);
      (t as { unref?: () => void }).unref?.();
    }
    this.#heartbeats = new HeartbeatLateness(opts.heartbeatIntervalMs ?? 100);
    this.#unwatchMetrics = watchServerMetrics(() => this.#metricsState());
  }

  /** Users, roles, permissions and tokens (server/core/auth); `auth.store.enabled` is the one check on the hot path. */
  readonly auth: AuthService;
  #authStore: AuthStore;
  /** The raft index of the entry being applied (Authenticate's simple tokens end with it). */
  #applyingIndex = 0n;

  #unwatchMetrics: () => void;
  /** Live keys (etcd_debugging_mvcc_keys_total): counted once per store, then kept in step by its events. */
  #keys = 0;
  /** Heartbeats that went out late (etcd_server_heartbeat_send_failures_total). */
  #heartbeats: HeartbeatLateness;
  /** The leader of the last soft state, for etcd_server_leader_changes_seen_total. */
  #seenLead = 0n;

  #corruptTimer: ReturnType<typeof setInterval> | undefined;
  /** Hashes at recent compaction points (every member answers for them; the leader compares them). */
  #compactHashes: CompactionHashes;
  #compactHashChecker: CompactHashChecker | undefined;
  /** Leases (replicated state plus, on the leader, their clocks) and the watchers of this member. */
  #lessor: Lessor;
  readonly watchHub: WatchHub;
  readonly leases: LeaseService;
  #snapshotter: Snapshotter;

  static async start(opts: ServerOptions, fatal: (err: unknown) => void): Promise<EtcdServer> {
    const memberDir = join(opts.dataDir, "member");
    ensureWritableDir(opts.dataDir);
    ensureWritableDir(memberDir);
    const walDir = opts.walDir || join(memberDir, "wal");
    ensureWritableDir(walDir);
    const backend = new Backend(join(memberDir, "snap", "db"));
    removeLeftoverSnapshots(join(memberDir, "snap"));
    const store = new MvccStore(backend);
    store.resumeCompaction(); // one cut short by a stop goes on
    const heartbeat = opts.heartbeatIntervalMs ?? 100;
    const lessor = new Lessor(backend, {
      now: () => performance.now(),
      minTtlSeconds: minLeaseTtlSeconds(Math.max(2, Math.round((opts.electionTimeoutMs ?? 1000) / heartbeat)), heartbeat),
      checkpointIntervalMs: opts.enableLeaseCheckpoint ? (opts.leaseCheckpointIntervalMs ?? LEASE_CHECKPOINT_INTERVAL_MS) : 0,
      checkpointPersist: opts.enableLeaseCheckpoint === true && opts.leaseCheckpointPersist === true,
    });
    if (opts.enableLeaseCheckpoint && !opts.leaseCheckpointPersist) {
      opts.log("warn", "Detected that checkpointing is enabled without persistence. Consider enabling experimental-enable-lease-checkpoint-persist");
    }
    const recovered = lessor.recover(store.leasedKeys());
    if (recovered.orphans) opts.log("warn", "keys held by leases that no longer exist", { keys: recovered.orphans });
    const { wal, records, repaired } = await Wal.open(walDir, { log: (level, msg) => opts.log(level, msg), segmentBytes: opts.walSegmentBytes });
    if (repaired) opts.log("warn", "repaired a torn WAL tail", { ...repaired });

    const initialCluster = opts.initialCluster ?? new Map([[opts.name, opts.initialAdvertisePeerUrls]]);
    const replayed = replayWal(records);
    let members: MemberInfo[];
    let memberId: bigint;
    let clusterId: bigint;
    const storage = replayed.storage;
    const saved = backend.getMeta("members") as string | undefined;
    const savedCluster = backend.getMeta("cluster_id") as string | undefined;
    if (replayed.metadata) {
      // A restart: membership and ids come from the data dir; the initial-* settings are ignored, as etcd does.
      memberId = replayed.metadata.memberId;
      clusterId = replayed.metadata.clusterId || (savedCluster ? BigInt(`0x${savedCluster}`) : 0n);
      members = saved ? membersFromJson(saved) : [];
    } else {
      const boot = bootstrapMembers(initialCluster, opts.initialClusterToken);
      const self = boot.members.find((m) => m.name === opts.name);
      if (!self) throw new Error(`--initial-cluster does not list this member's name '${opts.name}'`);
      if ((opts.initialClusterState ?? "new") === "existing") {
        // Joining: the cluster assigned this member's id when it was added; ask the peers for it.
        const joined = await joinExisting(opts, initialCluster);
        memberId = joined.memberId;
        clusterId = joined.clusterId;
        // A joiner must answer the leader before the log tells it who is who.
        members = joined.members.filter((m) => m.id !== memberId);
      } else {
        memberId = self.id;
        clusterId = boot.clusterId;
        members = [];
      }
      if ((opts.initialClusterState ?? "new") === "new") {
        // Bootstrap as etcd does: one committed conf change entry per initial member, in term 1.
        const { entries: ents, hardState } = bootstrapLog(boot.members);
        storage.append(ents);
        storage.hardState = hardState;
        await wal.append([
          metadataRecord(memberId, clusterId),
          ...readyRecords({ entries: ents, hardState: storage.hardState, committedEntries: [], messages: [], readStates: [], mustSync: true }),
        ]);
      } else {
        await wal.append([metadataRecord(memberId, clusterId)]);
      }
    }
    const applied = (backend.getMeta("consistent_index") as bigint | undefined) ?? 0n;
    const installed = installedSnapshot(backend);
    if (installed && installed.meta.index > storage.snapshot.meta.index && BigInt(storage.lastIndex()) < applied) {
      // The database came from the leader as a snapshot and the crash came before the WAL said so.
      storage.applySnapshot(installed);
      await wal.append([snapshotRecord(installed.meta.index, installed.meta.term, installed.meta.confState.voters, installed.meta.confState.learners)]);
      opts.log("info", "resuming from a snapshot installed before the restart", { snapshotIndex: installed.meta.index });
    }
    if (BigInt(storage.lastIndex()) < applied && !(installed && installed.meta.index === storage.snapshot.meta.index)) {
      throw new Error(
        `The WAL in '${walDir}' ends at index ${storage.lastIndex()} but the database has applied up to ${applied}: ` +
          "the WAL was removed or replaced. Restore the member from a snapshot.",
      );
    }
    const heartbeatMs = opts.heartbeatIntervalMs ?? 100;
    const electionTick = Math.max(2, Math.round((opts.electionTimeoutMs ?? 1000) / heartbeatMs));
    // Raft re-hands every committed entry after its snapshot; apply skips what the database holds and
    // feeds conf changes back to Raft, whose membership is otherwise not durable.
    const node = new RawNode({
      id: memberId,
      storage,
      electionTick,
      heartbeatTick: 1,
      applied: storage.snapshot.meta.index,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      // Election timeouts must differ between members and between restarts of one member.
      random: seededRandom(Number(memberId & 0x7fffffffn) ^ Date.now()),
    });
    opts.log("info", "server started", {
      memberId: hex(memberId),
      clusterId: hex(clusterId),
      appliedIndex: applied,
      walEntries: replayed.entries,
      lastIndex: storage.lastIndex(),
    });
    return new EtcdServer(opts, { backend, store, wal, node, members, memberId, clusterId, applied, lessor }, fatal);
  }

  /** Where database snapshots from the leader are received (beside the database). */
  get snapshotDir(): string {
    return dirname(this.#backend.path);
  }

  get maxRequestBytes(): number {
    return this.#opts.maxRequestBytes;
  }

  /** Every lease, soonest expiry first (LeaseLeases). */
  leaseIds(): bigint[] {
    return this.#lessor.leases();
  }

  get clusterId(): bigint {
    return this.#clusterId;
  }

  /**
   * This member was removed from the cluster (the change was applied here, or a peer refused us for
   * it): stop, as etcd does. Not a failure — the process exits 0 (MemberRemovedError), so a unit with
   * Restart=on-failure does not bring back a member removed on purpose.
   */
  removedFromCluster(): void {
    if (this.#stopped || this.#removed) return;
    this.#removed = true;
    setTimeout(() => this.#fatal(new MemberRemovedError()), 0);
  }

  #removed = false;

  /** Attaches the peer transport and tells it the peers known so far. */
  setTransport(t: Transport): void {
    this.#transport = t;
    for (const m of this.#members) if (m.id !== this.memberId) t.addPeer(m.id, m.peerURLs);
  }

  reportUnreachable(id: NodeId): void {
    this.#node.reportUnreachable(id);
    this.#wake?.();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.#node.reportSnapshot(id, ok);
    this.#wake?.();
  }

  /** A message from a peer. */
  receive(m: Message): void {
    if (this.#stopped) return;
    try {
      this.#node.step(m);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
    this.#wake?.();
  }

  /**
   * A database snapshot arrived from the leader (already verified and fsynced at path). Raft gets
   * the message with a reference to the file as its data; #installSnapshot takes the file if Raft
   * accepts it.
   */
  receiveSnapshot(m: Message, path: string): void {
    if (this.#stopped || !m.snapshot) return rmSync(path, { force: true });
    const data = new TextEncoder().encode(SNAPSHOT_FILE_REF + path);
    this.receive({ ...m, snapshot: { ...m.snapshot, data } });
    // Raft may turn it down (stale, or already caught up): then nothing will take the file.
    if (this.#node.raft.log.pendingSnapshot?.data !== data) rmSync(path, { force: true });
  }

  /** Answers a peer's request (peer-api.ts): the member list for a joiner, HashKV for the corruption check. */
  async answerPeer(req: { from: bigint; clusterId: bigint; body: Uint8Array }): Promise<Uint8Array> {
    return answerPeerRequest(req, {
      clusterId: () => this.#clusterId,
      members: () => this.#members,
      hashKV: async (rev) => {
        // The leader hashed its state at rev; this member may not have applied it yet.
        for (let waited = 0; this.#store.rev < rev && waited < 2000 && !this.#stopped; waited += 10) await new Promise((r) => setTimeout(r, 10));
        const h = await this.hashKV(rev);
        return { hash: h.hash, compactRevision: h.compactRevision, revision: rev };
      },
      compactHash: async (rev) => {
        // The leader compacted at rev; this member may not have applied that compaction yet.
        for (let waited = 0; this.#store.compactRev < rev && waited < 2000 && !this.#stopped; waited += 10) await new Promise((r) => setTimeout(r, 10));
        return this.#compactHashes.at(rev);
      },
      lease: (r) => this.leases.answer(r),
    });
  }

  get members(): MemberInfo[] {
    return this.#members;
  }

  // ---- reads and writes ----

  // `ai` (who asks) is given only while auth is enabled; reads are checked here, writes where they
  // are applied (against the store at that point of the log, on every member alike).

  async range(r: etcdserverpb.RangeRequest.$Properties, ai?: AuthInfo): Promise<RangeOut & { header: Header }> {
    const started = performance.now();
    checkRange(r);
    if (this.#authStore.enabled) this.#authStore.checkOp(ai, "read", r.key, r.rangeEnd);
    if (!r.serializable) await this.#linearizableRead();
    const out = timedRange(() => applyRange(this.#store, r));
    this.#warnIfSlow("read-only range ", { range: r }, started, { ok: true, value: out });
    if (ai && ai.revision !== this.#authStore.revision) throw Errors.authOldRevision; // changed while reading (etcd's doSerialize)
    return { ...out, header: this.header(out.header.revision) };
  }

  async put(r: etcdserverpb.PutRequest.$Properties, ai?: AuthInfo): Promise<PutOut & { header: Header }> {
    checkPut(r);
    if (this.#authStore.enabled && !ai) throw Errors.userEmpty;
    return this.#withHeader<PutOut>(await this.#proposeAs({ put: r }, ai));
  }

  async deleteRange(r: etcdserverpb.DeleteRangeRequest.$Properties, ai?: AuthInfo): Promise<DeleteOut & { header: Header }> {
    checkDelete(r);
    if (this.#authStore.enabled && !ai) throw Errors.userEmpty;
    return this.#withHeader<DeleteOut>(await this.#proposeAs({ deleteRange: r }, ai));
  }

  async txn(r: etcdserverpb.TxnRequest.$Properties, ai?: AuthInfo): Promise<TxnOut & { header: Header }> {
    checkTxn(r, this.#opts.maxTxnOps);
    if (this.#authStore.enabled && !ai) throw Errors.userEmpty;
    if (isTxnReadOnly(r)) {
      if (this.#authStore.enabled) checkTxnAuth(this.#authStore, ai, r);
      const started = performance.now();
      if (!isTxnSerializable(r)) await this.#linearizableRead();
      const out = applyTxn(this.#store, r, this.#leases);
      this.#warnIfSlow("read-only txn ", { txn: r }, started, { ok: true, value: out });
      if (ai && ai.revision !== this.#authStore.revision) throw Errors.authOldRevision;
      return { ...out, header: this.header(out.header.revision) };
    }
    return this.#withHeader<TxnOut>(await this.#proposeAs({ txn: r }, ai));
  }

  /** LeaseRevoke from a client: with auth on, the user must be able to write every key of the lease (checked at apply). */
  async leaseRevoke(id: bigint, ai?: AuthInfo): Promise<{ header: Header }> {
    if (this.#authStore.enabled && !ai) throw Errors.userEmpty;
    return this.#withHeader(await this.#proposeAs({ leaseRevoke: { ID: id } }, ai));
  }

  async compact(r: etcdserverpb.CompactionRequest.$Properties): Promise<{ header: Header }> {
    const rev = BigInt(r.revision ?? 0n);
    // Reject early what the apply would reject, as etcd does before proposing.
    if (rev <= this.#store.compactRev) throw Errors.compacted;
    if (rev > this.#store.rev) throw Errors.futureRev;
    const out = this.#withHeader(await this.#propose({ compaction: r }));
    // physical: answer once the compacted rows are gone (etcd's wait for the compaction to finish).
    if (r.physical) await this.#store.compacted();
    return out;
  }

  // ---- membership (the Cluster service) ----

  async memberAdd(peerURLs: string[], isLearner: boolean): Promise<{ header: Header; member: MemberInfo; members: MemberInfo[] }> {
    if (!validPeerUrls(peerURLs)) throw Errors.memberBadURLs;
    for (const m of this.#members) if (m.peerURLs.some((u) => peerURLs.includes(u))) throw Errors.peerURLExist;
    // As etcd, the time goes into the id: a member removed and added again at the same URLs gets a
    // new id (a removed id is refused for good). The joiner learns it from its peers (joinExisting).
    const id = computeMemberId(peerURLs, this.#opts.initialClusterToken, Math.floor(Date.now() / 1000));
    if (this.#members.some((m) => m.id === id)) throw Errors.memberExist;
    // etcd's --max-learners (default 1), checked before proposing as etcd's membership validation does.
    if (isLearner && this.#members.filter((m) => m.isLearner).length + 1 > (this.#opts.maxLearners ?? 1)) throw Errors.tooManyLearners;
    const member: MemberInfo = { id, name: "", peerURLs: [...peerURLs], clientURLs: [], isLearner };
    if (!isLearner) this.#checkStarted(this.#votingMembers().length + 1, this.#votingMembers());
    await this.#proposeConfChange(isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode, id, member);
    return { header: this.clusterHeader(), member, members: this.#members };
  }

  async memberRemove(id: bigint): Promise<{ header: Header; members: MemberInfo[] }> {
    const target = this.#members.find((m) => m.id === id);
    if (!target) throw Errors.memberNotFound;
    if (!target.isLearner) {
      const rest = this.#votingMembers().filter((m) => m.id !== id);
      this.#checkStarted(rest.length, rest);
    }
    await this.#proposeConfChange(ConfChangeType.RemoveNode, id, undefined);
    return { header: this.clusterHeader(), members: this.#members };
  }

  async memberUpdate(id: bigint, peerURLs: string[]): Promise<{ header: Header; members: MemberInfo[] }> {
    const m = this.#members.find((x) => x.id === id);
    if (!m) throw Errors.memberNotFound;
    if (!validPeerUrls(peerURLs)) throw Errors.memberBadURLs;
    for (const o of this.#members) if (o.id !== id && o.peerURLs.some((u) => peerURLs.includes(u))) throw Errors.peerURLExist;
    await this.#proposeConfChange(ConfChangeType.UpdateNode, id, { ...m, peerURLs: [...peerURLs] });
    return { header: this.clusterHeader(), members: this.#members };
  }

  async memberPromote(id: bigint): Promise<{ header: Header; members: MemberInfo[] }> {
    const m = this.#members.find((x) => x.id === id);
    if (!m) throw Errors.memberNotFound;
    if (!m.isLearner) throw Errors.memberNotLearner;
    this.#checkStarted(this.#votingMembers().length + 1, [...this.#votingMembers(), m]);
    const r = this.#node.raft;
    if (r.state === StateType.Leader) {
      // etcd's rule: a learner is promoted only once its log is within 90% of the leader's.
      const pr = r.prs.get(id);
      if (!pr || pr.match < 0.9 * r.log.lastIndex()) {
        learnerPromoteFailed.with(Errors.learnerNotReady.message).inc();
        throw Errors.learnerNotReady;
      }
      learnerPromoteSucceed.inc();
    }
    await this.#proposeConfChange(ConfChangeType.AddNode, id, { ...m, isLearner: false });
    return { header: this.clusterHeader(), members: this.#members };
  }

  /** Hands leadership to another voter and waits until it leads (etcd's MoveLeader). */
  async moveLeader(target: bigint, timeoutMs = this.#requestTimeoutMs()): Promise<{ header: Header }> {
    const r = this.#node.raft;
    if (r.state !== StateType.Leader) throw Errors.notLeader;
    if (target === this.memberId) return { header: this.header() };
    if (!r.voters.has(target)) throw Errors.badLeaderTransferee;
    const started = Date.now();
    const lead = r.lead;
    this.#opts.log("info", "leadership transfer starting", {
      "local-member-id": hex(this.memberId),
      "current-leader-member-id": hex(lead),
      "transferee-member-id": hex(target),
    });
    this.#node.transferLeader(target);
    this.#wake?.();
    const deadline = started + timeoutMs;
    while (this.#node.raft.lead !== target) {
      if (Date.now() > deadline || this.#stopped) throw Errors.timeoutLeaderTransfer;
      await new Promise((res) => setTimeout(res, 10));
    }
    this.#opts.log("info", "leadership transfer finished", {
      "local-member-id": hex(this.memberId),
      "old-leader-member-id": hex(lead),
      "new-leader-member-id": hex(target),
      took: goDuration(Date.now() - started),
    });
    return { header: this.header() };
  }

  /**
   * Before stopping, a leader hands its leadership to the voter whose log is longest (etcd's
   * TransferLeadership on Stop), so the others need not wait an election timeout; logs as etcd.
   */
  async #transferLeadershipForStop(): Promise<void> {
    const r = this.#node.raft;
    const fields = { "local-member-id": hex(this.memberId), "current-leader-member-id": hex(r.lead) };
    if (r.state !== StateType.Leader) return this.#opts.log("info", "skipped leadership transfer; local server is not leader", fields);
    if (r.voters.size <= 1) return this.#opts.log("info", "skipped leadership transfer for single voting member cluster", fields);
    const target = [...r.prs].filter(([id]) => id !== this.memberId && r.voters.has(id)).sort((a, b) => b[1].match - a[1].match)[0]?.[0];
    if (target === undefined) return;
    try {
      await this.moveLeader(target, this.#opts.electionTimeoutMs ?? 1000);
    } catch (err) {
      this.#opts.log("warn", "leadership transfer failed", { "local-member-id": hex(this.memberId), error: err instanceof Error ? err.message : String(err) });
    }
  }

  #votingMembers(): MemberInfo[] {
    return this.#members.filter((m) => !m.isLearner);
  }

  /**
   * --strict-reconfig-check (etcd's rule): after the change, the started voters (those that published
   * their name) must still be a quorum of the voters — except when a lone member adds its second.
   */
  #checkStarted(votersAfter: number, counted: MemberInfo[]): void {
    if (this.#opts.strictReconfigCheck === false) return;
    const started = counted.filter((m) => m.name !== "").length;
    if (votersAfter === 2 && started === 1) return;
    if (started < Math.floor(votersAfter / 2) + 1) throw Errors.memberNotEnoughStarted;
  }

  /** etcd's Cluster service leaves the revision out of its headers. */
  clusterHeader(): Header {
    return { ...this.header(), revision: 0n };
  }

  #confWaiters = new Map<string, { resolve: () => void; reject: (e: unknown) => void; deadline: number }>();

  async #proposeConfChange(type: ConfChangeType, nodeId: bigint, member: MemberInfo | undefined): Promise<void> {
    if (this.#node.raft.lead === 0n) throw Errors.noLeader;
    const key = `${type}:${hex(nodeId)}:${++this.#confSeq}`;
    const context = confContext(member, key);
    const done = new Promise<void>((resolve, reject) => this.#confWaiters.set(key, { resolve, reject, deadline: Date.now() + this.#requestTimeoutMs() }));
    this.#confProposals.push(encodeConfChange({ type, nodeId, context }));
    this.#wake?.();
    return done;
  }

  #confSeq = 0;

  // ---- maintenance ----

  header(revision?: bigint): Header {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: revision ?? this.#store.rev, raftTerm: BigInt(this.#node.raft.term) };
  }

  status() {
    const r = this.#node.raft;
    return {
      header: this.header(),
      version: ETCD_API_VERSION,
      dbSize: BigInt(this.#backend.size()),
      leader: r.lead,
      raftIndex: BigInt(r.log.committed),
      raftTerm: BigInt(r.term),
      raftAppliedIndex: this.#applied,
      // As etcd: each active alarm in AlarmMember's text form.
      errors: this.#alarms.map((a) => `memberID:${a.memberID} alarm:${["NONE", "NOSPACE", "CORRUPT"][a.alarm] ?? a.alarm} `),
      dbSizeInUse: BigInt(this.#backend.sizeInUse()),
      isLearner: r.learners.has(this.memberId),
    };
  }

  /** Alarm list/activate/deactivate (etcd's Maintenance Alarm); changes go through Raft. */
  async alarm(r: etcdserverpb.AlarmRequest.$Properties): Promise<{ header: Header; alarms: { memberID: bigint; alarm: number }[] }> {
    const action = r.action ?? 0;
    if (action === 0) return { header: this.header(), alarms: [...this.#alarms] };
    const out = await this.#propose({ alarm: { action, memberID: BigInt(r.memberID ?? 0n), alarm: r.alarm ?? 0 } });
    return { header: this.header(), alarms: (out as unknown as { alarms: { memberID: bigint; alarm: number }[] }).alarms };
  }

  /** Names of the active alarms ("NOSPACE", "CORRUPT"), for /health. */
  alarmNames(): string[] {
    return [...new Set(this.#alarms.map((a) => (a.alarm === AlarmType.NOSPACE ? "NOSPACE" : a.alarm === AlarmType.CORRUPT ? "CORRUPT" : "NONE")))];
  }

  #snapshotSeq = 0;

  /**
   * The whole database as of now (committed state) as an etcd snapshot — etcd 3.4's bbolt layout
   * followed by its sha256, what etcd streams — in chunks; `remaining` counts the bytes still to come
   * after each chunk. Made from a compact copy of our database, converted outside the event loop;
   * both files are unlinked once open, so neither memory nor a stopped client leaves anything.
   */
  async *snapshotChunks(chunkBytes: number): AsyncGenerator<{ chunk: Uint8Array; remaining: number }> {
    const path = `${this.#backend.path}.snapshot-${process.pid}-${++this.#snapshotSeq}`;
    const etcdPath = `${path}.etcd`;
    const startMs = performance.now();
    try {
      await this.#backend.copyTo(path, { hash: false }); // the etcd file gets its own hash
      await (this.#opts.exportSnapshot ?? (async (a: string, b: string) => exportEtcdSnapshot(a, b)))(path, etcdPath);
    } catch (err) {
      // A copy or conversion cut short (a full disk, say) must not stay behind.
      rmSync(etcdPath, { force: true });
      throw err;
    } finally {
      rmSync(path, { force: true });
    }
    const file = await open(etcdPath, "r");
    rmSync(etcdPath, { force: true });
    try {
      const total = (await file.stat()).size;
      // As etcd: the database in chunks, then its sha256 as a message of its own.
      const dbBytes = total - 32;
      for (let off = 0; off < total; ) {
        const end = off < dbBytes ? Math.min(off + chunkBytes, dbBytes) : total;
        const buf = Buffer.allocUnsafe(end - off);
        const { bytesRead } = await file.read(buf, 0, buf.length, off);
        if (bytesRead !== buf.length) throw new Error(`snapshot file ${etcdPath} ended early at ${off + bytesRead} of ${total} bytes`);
        off = end;
        yield { chunk: buf, remaining: total - off };
      }
    } finally {
      await file.close();
      backendSnapshotSeconds.observe((performance.now() - startMs) / 1000);
    }
  }

  async defrag(): Promise<{ header: Header }> {
    // In slices that yield to the event loop (Backend.defrag): applies and clients go on meanwhile.
    await this.#backend.defrag();
    this.#dbSize = this.#backend.size();
    return { header: this.header() };
  }

  /** HashKV: a CRC-32 over every retained revision up to rev (0: now), equal on members with equal history. */
  async hashKV(rev: bigint): Promise<{ header: Header; hash: number; compactRevision: bigint }> {
    const at = rev === 0n ? this.#store.rev : rev;
    if (at > this.#store.rev) throw Errors.futureRev;
    // As etcd's HashByRev: a revision asked for must be above the compacted one.
    if (rev !== 0n && at <= this.#store.compactRev) throw Errors.compacted;
    const h = await this.#store.hashKV(at);
    // As etcd, the header carries the revision that was hashed.
    return { header: this.header(at), hash: h.hash, compactRevision: h.compactRevision };
  }

  async hash(): Promise<{ header: Header; hash: number }> {
    const startMs = performance.now();
    const h = await this.hashKV(0n);
    hashSeconds.observe((performance.now() - startMs) / 1000);
    return { header: h.header, hash: h.hash };
  }

  #checkingCorruption = false;

  /** The leader compares every member's HashKV at its current revision; disagreeing members get CORRUPT. */
  async checkCorruption(): Promise<bigint[]> {
    const transport = this.#transport;
    if (this.#checkingCorruption || this.#stopped || !transport || this.#node.raft.state !== StateType.Leader) return [];
    if (this.#alarms.some((a) => a.alarm === AlarmType.CORRUPT)) return [];
    this.#checkingCorruption = true;
    try {
      const bad = await findCorruptMembers(
        {
          self: this.memberId,
          peers: () => this.#members.filter((m) => m.id !== this.memberId).map((m) => m.id),
          localHash: async (rev) => ({ ...(await this.#store.hashKV(rev)), revision: rev }),
          peerHash: async (id, rev) => decodeHashAnswer(await transport.request(id, encodePeerRequest({ op: "hashkv", revision: String(rev) }), 5000)),
          log: this.#opts.log,
        },
        this.#store.rev,
      );
      for (const id of bad) await this.#propose({ alarm: { action: 1, memberID: id, alarm: AlarmType.CORRUPT } });
      return bad;
    } catch (e) {
      this.#opts.log("warn", "corruption check did not complete", { error: e instanceof Error ? e.message : String(e) });
      return [];
    } finally {
      this.#checkingCorruption = false;
    }
  }

  #checkingCompactHashes = false;

  /**
   * The leader compares its hashes at recent compaction points with the members' (etcd's
   * CompactHashCheck); members in the minority get CORRUPT (without a majority, member 0: everyone).
   */
  async checkCompactionHashes(): Promise<bigint[]> {
    const transport = this.#transport;
    if (this.#checkingCompactHashes || this.#stopped || !transport || this.#node.raft.state !== StateType.Leader) return [];
    this.#checkingCompactHashes = true;
    this.#compactHashChecker ??= new CompactHashChecker({
      self: this.memberId,
      peers: () => this.#members.filter((m) => m.id !== this.memberId).map((m) => m.id),
      hashes: () => this.#compactHashes.list(),
      peerHash: async (id, rev) => decodeHashAnswer(await transport.request(id, encodePeerRequest({ op: "compactHash", revision: String(rev) }), this.#requestTimeoutMs())),
      raiseCorrupt: async (id) => {
        if (this.#alarms.some((a) => a.alarm === AlarmType.CORRUPT && a.memberID === id)) return;
        await this.#propose({ alarm: { action: 1, memberID: id, alarm: AlarmType.CORRUPT } });
      },
      log: this.#opts.log,
    });
    try {
      return await this.#compactHashChecker.check();
    } catch (e) {
      this.#opts.log("warn", "compaction hash check did not complete", { error: e instanceof Error ? e.message : String(e) });
      return [];
    } finally {
      this.#checkingCompactHashes = false;
    }
  }

  /**
   * etcd's initial corruption check (--experimental-initial-corrupt-check), before this member serves
   * clients: its hash at its revision against every peer's at that revision. Throws
   * DataInconsistencyError when a peer with the same compact revision has another hash; peers that
   * cannot answer are logged and skipped. Needs the transport (setTransport) to ask them.
   */
  async checkInitialHashKV(): Promise<void> {
    const transport = this.#transport;
    if (!transport) throw new Error("the initial corruption check needs the peer transport");
    await initialCorruptCheck({
      self: this.memberId,
      peers: () => this.#members.filter((m) => m.id !== this.memberId),
      localHash: async () => {
        const rev = this.#store.rev;
        return { ...(await this.#store.hashKV(rev)), revision: rev };
      },
      peerHash: async (id, rev) => decodeHashAnswer(await transport.request(id, encodePeerRequest({ op: "hashkv", revision: String(rev) }), this.#requestTimeoutMs())),
      log: this.#opts.log,
    });
  }

  get hasLeader(): boolean {
    return !this.#stopped && this.#node.raft.lead !== 0n;
  }

  /** Has a leader and has published its own attributes: it serves clients (etcd's ReadyNotify). */
  get isReady(): boolean {
    return this.#isReady && this.hasLeader;
  }

  get leader(): bigint {
    return this.#node.raft.lead;
  }

  /** Stops once, however many callers ask (a signal and a fatal error may both come). */
  stop(): Promise<void> {
    return (this.#stopping ??= this.#stop());
  }

  #stopping: Promise<void> | undefined;

  async #stop(): Promise<void> {
    if (this.#stopped) return;
    // A leader leaving hands over first, so the others need not wait an election timeout (as etcd).
    await this.#transferLeadershipForStop();
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unwatchMetrics();
    clearInterval(this.#ticker);
    clearInterval(this.#corruptTimer);
    this.leases.stop();
    this.watchHub.close();
    this.#wake?.();
    await this.#loop.catch(() => {});
    this.#wait.rejectAll(Errors.stopped);
    this.#reads.failAll(Errors.stopped);
    await this.#wal.close();
    this.#dropPeerSnapshot();
    this.#backend.close();
  }

  // ---- write path ----

  #leases = { exists: (id: bigint) => this.#lessor.lookup(id) !== undefined };

  /** A lease id nobody asked for: positive int64, unique across members and restarts (as etcd's request ids). */
  #nextLeaseId(): bigint {
    return BigInt.asIntN(64, this.#nextRequestId++) & 0x7fffffffffffffffn || 1n;
  }

  /** Every applied change goes to the lessor (which keys a lease holds) and to the watchers, in order. */
  #watchStore(store: MvccStore): void {
    this.#keys = store.range(ALL_KEYS, ALL_KEYS, { countOnly: true }).count;
    store.onEvents = (rev, events) => {
      for (const ev of events) {
        this.#leaseFollows(ev);
        this.#keys += keysDelta(ev);
      }
      this.watchHub.notify(rev, events);
    };
  }

  #leaseFollows(ev: StoreEvent): void {
    const key = ev.kv.key;
    const held = this.#lessor.leaseOf(key);
    const now = ev.type === EventType.PUT ? ev.kv.lease : 0n;
    if (held === now) return;
    if (held !== 0n) this.#lessor.detach(held, key);
    if (now !== 0n && this.#lessor.lookup(now)) this.#lessor.attach(now, key);
  }

  /**
   * A client's write: when auth changed between the lookup of who asks and the apply (a user or role
   * added meanwhile), etcd's raftRequest proposes it again with the current auth revision rather
   * than fail it. Only for identities looked up now (simple tokens, TLS CN); a JWT carries its
   * revision and stays refused. Bounded: a store that keeps changing fails the write after a few tries.
   */
  async #proposeAs(body: etcdserverpb.InternalRaftRequest.$Properties, ai?: AuthInfo): Promise<ApplyResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#propose(body, ai);
      } catch (err) {
        const stale = isEtcdError(err) && err.message === Errors.authOldRevision.message;
        if (!stale || !ai?.current || attempt >= AUTH_RETRIES_MAX) throw err;
        ai = { ...ai, revision: this.#authStore.revision };
      }
    }
  }

  async #propose(body: etcdserverpb.InternalRaftRequest.$Properties, ai?: AuthInfo): Promise<ApplyResult> {
    if (this.#stopped) throw Errors.stopped;
    const id = this.#nextRequestId++;
    const request = { ...body, header: ai ? { ID: id, username: ai.username, authRevision: ai.revision } : { ID: id } };
    const data = encodeWithHeadroom(etcdserverpb.InternalRaftRequest, request);
    if (data.length > this.#opts.maxRequestBytes) throw Errors.requestTooLarge;
    if (this.#node.raft.lead === 0n) {
      proposalsFailed.inc();
      throw Errors.noLeader;
    }
    if (consumesSpace(body)) {
      if (this.#alarms.some((a) => a.alarm === AlarmType.NOSPACE)) throw Errors.noSpace;
      const quota = this.#opts.quotaBackendBytes ?? 0;
      if (quota > 0 && this.#dbSize + data.length > quota) {
        // As etcd: raise the NOSPACE alarm for the whole cluster and refuse this write.
        void this.#propose({ alarm: { action: 1, memberID: this.memberId, alarm: AlarmType.NOSPACE } }).catch(() => {});
        throw Errors.noSpace;
      }
    }
    const done = this.#wait.register(id, Date.now() + this.#requestTimeoutMs());
    this.#proposed.set(data, request);
    this.#proposedById.set(id, data);
    this.#proposals.push(data);
    this.#wake?.();
    return done;
  }

  /** etcd's request timeout: 5 s plus two election timeouts. */
  #requestTimeoutMs(): number {
    return 5000 + 2 * (this.#opts.electionTimeoutMs ?? 1000);
  }

  #sweepTimeouts(): void {
    const now = Date.now();
    for (const id of this.#wait.expired(now)) {
      proposalsFailed.inc();
      this.#wait.reject(id, Errors.timeout);
      this.#forget(this.#proposedById.get(id), undefined);
    }
    for (const [key, w] of this.#confWaiters) {
      if (w.deadline < now) {
        this.#confWaiters.delete(key);
        w.reject(Errors.timeout);
      }
    }
  }

  #withHeader<T extends ApplyResult>(out: ApplyResult): T & { header: Header } {
    return { ...(out as T), header: this.header(out.header.revision) };
  }

  async #linearizableRead(): Promise<void> {
    const r = this.#node.raft;
    let index: number;
    if (r.state === StateType.Leader && r.voters.size === 1) {
      // A one-member cluster is its own quorum: its commit index is the read index.
      index = r.log.committed;
    } else {
      if (r.lead === 0n) throw Errors.noLeader;
      index = await this.#reads.read(Date.now() + this.#requestTimeoutMs());
    }
    if (this.#applied >= BigInt(index)) return;
    await new Promise<void>((resolve) => this.#appliedWaiters.push({ index: BigInt(index), resolve }));
  }

  /** Waits (at most a request timeout) until this member applied `index`: a simple token made at that index is then known. */
  async #waitApplied(index: bigint): Promise<void> {
    if (this.#applied >= index) return;
    // A real token's index was committed on the leader, so a member lags it by a heartbeat or so;
    // one far beyond this member's commit index is made up: do not park a waiter for it. Waiters
    // are bounded and leave on timeout, so made-up tokens cannot pile them up.
    if (index > BigInt(this.#node.raft.log.committed) + 10_000n || this.#appliedWaiters.length >= 10_000) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waiter = { index, resolve: () => {} };
    const applied = new Promise<void>((resolve) => {
      waiter.resolve = resolve;
      this.#appliedWaiters.push(waiter);
    });
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#requestTimeoutMs())));
    await Promise.race([applied, timeout]);
    clearTimeout(timer);
    const i = this.#appliedWaiters.indexOf(waiter);
    if (i >= 0) this.#appliedWaiters.splice(i, 1);
  }

  async #readyLoop(): Promise<void> {
    try {
      this.#kickOff();
      while (!this.#stopped) {
        if (this.#proposals.length) {
          const batch = this.#proposals;
          this.#proposals = [];
          try {
            this.#node.proposeMany(batch);
          } catch (err) {
            if (!(err instanceof RaftError)) throw err;
            for (const data of batch) this.#dropProposal(data, Errors.noLeader);
          }
        }
        for (const cc of this.#confProposals.splice(0)) {
          try {
            this.#node.proposeConfChange(cc);
          } catch (err) {
            if (!(err instanceof RaftError)) throw err;
          }
        }
        if (this.#pendingCampaign && this.#node.raft.promotable()) {
          this.#pendingCampaign = false;
          this.#node.campaign();
        }
        if (!this.#node.hasReady()) {
          await new Promise<void>((r) => (this.#wake = r));
          this.#wake = null;
          continue;
        }
        const rd = this.#node.ready();
        await this.#handleReady(rd);
        this.#node.advance(rd);
        this.#maybePublish();
        if (this.#sinceCheckpoint >= this.#opts.snapshotCount) await this.#checkpoint();
      }
    } catch (err) {
      // A failed fsync or apply leaves the state unknown: stop rather than acknowledge anything more.
      this.#stopped = true;
      clearInterval(this.#ticker);
      this.#wait.rejectAll(Errors.stopped);
      this.#fatal(err);
    }
  }

  /** The first election: a lone member campaigns at once; others skip most of the first timeout (as etcd). */
  #kickOff(): void {
    const r = this.#node.raft;
    // Conf changes committed in the log must be applied (and fed to Raft) before anyone may campaign.
    const voters = new Set(r.voters);
    if (voters.size === 0) {
      for (const e of r.log.nextCommittedEnts()) if (e.type === EntryType.ConfChange) voters.add(decodeConfChange(e.data).nodeId);
    }
    if (voters.size === 1 && voters.has(this.memberId)) this.#pendingCampaign = true;
    else for (let i = 0; i < Math.max(0, Math.round((this.#opts.electionTimeoutMs ?? 1000) / (this.#opts.heartbeatIntervalMs ?? 100)) - 1); i++) this.#node.tick();
  }

  #pendingCampaign = false;

  async #handleReady(rd: Ready): Promise<void> {
    const leader = this.#node.raft.state === StateType.Leader;
    if (rd.messages.some((m) => m.type === MessageType.Snap)) {
      // Raft's snapshot carries no data of its own: ship the whole database (whose consistent index is
      // at or past the snapshot's index, so the follower re-applies nothing twice) on its own connection.
      for (const m of rd.messages) if (m.type === MessageType.Snap) this.#sendSnapshot(m);
      rd = { ...rd, messages: rd.messages.filter((m) => m.type !== MessageType.Snap) };
    }
    if (rd.snapshot) this.#installSnapshot(rd.snapshot);
    // A leader may send in parallel with its own WAL write; a follower's answers wait for the fsync.
    if (leader && rd.messages.length) {
      this.#heartbeats.observe(rd.messages, MessageType.Heartbeat);
      this.#transport?.send(rd.messages);
    }
    const records = readyRecords(rd);
    if (rd.snapshot) {
      const m = rd.snapshot.meta;
      records.unshift(snapshotRecord(m.index, m.term, m.confState.voters, m.confState.learners));
    }
    const persist = records.length ? this.#wal.append(records) : undefined;
    const lastPersisted = rd.entries.length ? rd.entries[rd.entries.length - 1].index : -1;
    const needsPersistFirst = rd.committedEntries.some((e) => e.index <= lastPersisted);
    if (rd.committedEntries.length && !needsPersistFirst) this.#apply(rd.committedEntries);
    if (persist) await persist;
    if (rd.committedEntries.length && needsPersistFirst) this.#apply(rd.committedEntries);
    if (!leader && rd.messages.length) this.#transport?.send(rd.messages);
    for (const rs of rd.readStates) this.#reads.answered(rs.requestCtx, rs.index);
    if (rd.softState) {
      if (rd.softState.lead !== 0n && rd.softState.lead !== this.#seenLead) leaderChanges.inc();
      this.#seenLead = rd.softState.lead;
      this.#opts.log("info", "raft state", { state: ["follower", "candidate", "leader", "pre-candidate"][rd.softState.state], leader: hex(rd.softState.lead), term: this.#node.raft.term });
      // A read sent to the old leader will not be answered: ask the new one.
      if (rd.softState.lead !== 0n) this.#reads.retry();
      if (rd.softState.state !== StateType.Leader && this.#lessor.isPrimary) this.#lessor.demote();
    }
  }

  /** What /metrics shows of this member, read at scrape time. */
  #metricsState(): MetricsState {
    const r = this.#node.raft;
    const hub = this.watchHub.stats;
    return {
      memberId: this.memberId,
      version: ETCD_API_VERSION,
      lead: r.lead,
      leader: r.state === StateType.Leader,
      committed: r.log.committed,
      applied: this.#applied,
      pending: this.#proposed.size,
      dbSize: this.#backend.size(),
      dbSizeInUse: this.#backend.sizeInUse(),
      keys: this.#keys,
      clusterVersion: ETCD_CLUSTER_VERSION,
      learner: r.learners.has(this.memberId),
      quotaBackendBytes: this.#opts.quotaBackendBytes ?? 0,
      revision: this.#store.rev,
      compactRevision: this.#store.compactRev,
      authRevision: this.#authStore.revision,
      watch: { ...this.watchHub.queueStats, watchers: hub.synced + hub.unsynced + hub.victims, slow: hub.unsynced + hub.victims },
      alarms: this.#alarms.map((a) => ({ memberID: a.memberID, alarm: a.alarm === AlarmType.NOSPACE ? "NOSPACE" : a.alarm === AlarmType.CORRUPT ? "CORRUPT" : "NONE" })),
      members: this.#members.map((m) => m.id),
    };
  }

  #peerSnapshot: { db: Promise<PeerSnapshot>; path: string; at: number; applied: bigint } | null = null;
  #peerSnapshotSeq = 0;

  /** Ships the database to a follower that needs a snapshot; the copy is made without stalling this member. */
  #sendSnapshot(m: Message): void {
    this.#snapshotForPeers(BigInt(m.snapshot?.meta.index ?? 0)).then(
      (db) => this.#transport?.sendSnapshot(m, db),
      (err) => {
        this.#opts.log("warn", "could not copy the database for a snapshot", { "remote-peer-id": hex(m.to), error: err instanceof Error ? err.message : String(err) });
        if (!this.#stopped) this.reportSnapshot(m.to, false);
      },
    );
  }

  /**
   * The database copy sent to lagging followers, reused for a while: Raft re-sends a snapshot after a
   * failed delivery, and copying the whole database each time would cost this member. A replaced
   * copy is unlinked at once; a transfer still reading it holds it open.
   */
  #snapshotForPeers(index: bigint): Promise<PeerSnapshot> {
    const now = Date.now();
    // A copy older than the snapshot's index would leave the follower without the entries between.
    if (!this.#peerSnapshot || now - this.#peerSnapshot.at > 30_000 || this.#peerSnapshot.applied < index) {
      this.#dropPeerSnapshot();
      const path = `${this.#backend.path}.send-${++this.#peerSnapshotSeq}`;
      const applied = this.#applied; // copyTo copies what is applied now (it commits before its first await)
      const db = this.#backend.copyTo(path).then((d) => ({ path, ...d }));
      this.#peerSnapshot = { db, path, at: now, applied };
      // Unused after its 30 s, the copy goes (a transfer still reading it keeps its open file).
      setTimeout(() => this.#peerSnapshot?.path === path && this.#dropPeerSnapshot(), 30_000).unref?.();
      db.catch(() => {
        if (this.#peerSnapshot?.path === path) this.#peerSnapshot = null;
        rmSync(path, { force: true });
      });
    }
    return this.#peerSnapshot.db;
  }

  #dropPeerSnapshot(): void {
    if (this.#peerSnapshot) rmSync(this.#peerSnapshot.path, { force: true });
    this.#peerSnapshot = null;
  }

  /**
   * Replaces the database with the leader's (a follower that fell behind the leader's log). The new
   * file is stamped with the Raft snapshot it stands for before it is renamed into place, so a crash
   * at any point leaves either the old database or the new one together with what Raft needs to
   * resume from it (see start()).
   */
  #installSnapshot(snap: { data: Uint8Array; meta: { index: number; term: number; confState: { voters: bigint[]; learners: bigint[] } } }): void {
    const path = this.#backend.path;
    const received = new TextDecoder().decode(snap.data);
    // Only files the peer transport stored in this member's snap directory (receiveSnapshot).
    if (!received.startsWith(SNAPSHOT_FILE_REF) || dirname(received.slice(SNAPSHOT_FILE_REF.length)) !== dirname(path)) {
      throw new Error("received a Raft snapshot without a database file; refusing to install it");
    }
    const tmp = `${path}.incoming`;
    for (const suffix of ["", "-wal", "-shm"]) rmSync(tmp + suffix, { force: true });
    renameSync(received.slice(SNAPSHOT_FILE_REF.length), tmp);
    const incoming = new Backend(tmp);
    const covers = (incoming.getMeta("consistent_index") as bigint | undefined) ?? 0n;
    if (covers < BigInt(snap.meta.index)) {
      incoming.close();
      throw new Error(`the leader's database covers index ${covers}, short of its snapshot's ${snap.meta.index}; refusing to install it`);
    }
    incoming.batch(() => incoming.setMeta("raft_snapshot", JSON.stringify({ ...snap.meta, confState: { voters: snap.meta.confState.voters.map(hex), learners: snap.meta.confState.learners.map(hex) } })));
    incoming.checkpoint();
    incoming.close();
    this.#backend.close();
    for (const suffix of ["-wal", "-shm"]) rmSync(path + suffix, { force: true });
    renameSync(tmp, path);
    this.#backend = new Backend(path);
    this.#store = new MvccStore(this.#backend);
    this.#store.resumeCompaction();
    this.#watchStore(this.#store);
    this.watchHub.restore(this.#store);
    this.#lessor.recover(this.#store.leasedKeys(), { backend: this.#backend });
    this.#applied = (this.#backend.getMeta("consistent_index") as bigint | undefined) ?? 0n;
    const saved = this.#backend.getMeta("members") as string | undefined;
    if (saved) this.#members = membersFromJson(saved);
    this.#alarms = loadAlarms(this.#backend);
    this.#authStore.recover(this.#backend);
    removeLeftoverSnapshots(dirname(path));
    this.#opts.log("info", "installed a snapshot from the leader", { snapshotIndex: snap.meta.index, appliedIndex: this.#applied });
  }

  /** Releases what is kept for one of this member's proposals (applied, dropped or timed out). */
  #forget(data: Uint8Array | undefined, req: etcdserverpb.InternalRaftRequest.$Properties | undefined): void {
    if (!data) return;
    const id = (req ?? this.#proposed.get(data))?.header?.ID;
    this.#proposed.delete(data);
    if (id !== undefined && id !== null) this.#proposedById.delete(BigInt(id));
  }

  #dropProposal(data: Uint8Array, err: unknown): void {
    proposalsFailed.inc();
    const req = this.#proposed.get(data);
    this.#forget(data, req);
    const id = req?.header?.ID;
    if (id !== undefined && id !== null) this.#wait.reject(BigInt(id), err);
  }

  /** Publishes this member's name and client URLs through Raft once there is a leader (etcd's publish). */
  #maybePublish(): void {
    if (this.#published || this.#node.raft.lead === 0n) return;
    this.#published = true;
    const attrs = { clusterMemberAttrSet: { member_ID: this.memberId, memberAttributes: { name: this.#opts.name, clientUrls: [...this.#opts.advertiseClientUrls] } } };
    // etcd's fields (3.5): the attributes as Go's %+v prints them, and the proposal's timeout.
    const fields = {
      "local-member-id": hex(this.memberId),
      "local-member-attributes": `{Name:${this.#opts.name} ClientURLs:[${this.#opts.advertiseClientUrls.join(" ")}]}`,
    };
    const timeout = goDuration(this.#requestTimeoutMs());
    const publish = () =>
      this.#propose(attrs).then(
        () => {
          // etcd's own words: deployment tooling and etcd's e2e suite wait for these two lines.
          this.#opts.log("info", "published local member to cluster through raft", {
            ...fields,
            "request-path": `/0/members/${hex(this.memberId)}/attributes`,
            "cluster-id": hex(this.clusterId),
            "publish-timeout": timeout,
          });
          this.#opts.log("info", "enabled capabilities for version", { "cluster-version": ETCD_CLUSTER_VERSION });
          this.#isReady = true;
          this.#readyResolve();
        },
        (err) => {
          if (this.#stopped) return this.#opts.log("warn", "stopped publish because server is stopping", { ...fields, "publish-timeout": timeout });
          this.#opts.log("warn", "failed to publish local member to cluster through raft", { ...fields, "publish-timeout": timeout, error: String((err as Error).message) });
          setTimeout(() => void publish(), 500);
        },
      );
    void publish();
  }

  #apply(entries: Entry[]): void {
    const results: { id: bigint; ok: boolean; value: unknown }[] = [];
    let membersChanged = false;
    this.#backend.batch(() => {
      for (const e of entries) {
        if (e.type === EntryType.ConfChange) {
          // Raft's membership is not durable by itself: feed every conf change back, even replayed ones.
          const cc = decodeConfChange(e.data);
          this.#node.applyConfChange(cc);
          if (BigInt(e.index) > this.#applied) membersChanged = this.#applyMembership(cc) || membersChanged;
          else this.#syncPeer(cc);
        }
        if (BigInt(e.index) <= this.#applied) continue; // already in the database: applying is idempotent
        if (e.type === EntryType.Normal && e.data.length === 0 && this.#node.raft.state === StateType.Leader && e.term === this.#node.raft.term) {
          // The new leader's first entry: from here on it keeps the leases' clocks (etcd's Promote),
          // extended by an election timeout so that none expires early for the change of hands.
          this.#lessor.promote(this.#opts.electionTimeoutMs ?? 1000);
        }
        if (e.type === EntryType.Normal && e.data.length > 0) {
          const local = this.#proposed.get(e.data);
          const req = local ?? etcdserverpb.InternalRaftRequest.decode(e.data);
          const id = req.header?.ID ?? 0n;
          this.#forget(local ? e.data : this.#proposedById.get(BigInt(id)), req);
          const started = performance.now();
          try {
            this.#applyingIndex = BigInt(e.index);
            const value = timedApply(req, () => this.#applyRequest(req));
            if (req.clusterMemberAttrSet) membersChanged = true;
            results.push({ id, ok: true, value });
          } catch (err) {
            if (!isEtcdError(err)) throw err;
            results.push({ id, ok: false, value: err });
          }
          this.#warnIfSlow("", req, started, results[results.length - 1]);
        }
        this.#applied = BigInt(e.index);
      }
      if (membersChanged) this.#backend.setMeta("members", membersToJson(this.#members));
      this.#store.saveMeta();
      this.#backend.setMeta("consistent_index", this.#applied);
    });
    this.#sinceCheckpoint += entries.length;
    this.#dbSize = this.#backend.size();
    for (const r of results) {
      if (r.ok) this.#wait.resolve(r.id, r.value as ApplyResult);
      else this.#wait.reject(r.id, r.value);
    }
    if (this.#appliedWaiters.length > 0) {
      const ready = this.#appliedWaiters.filter((w) => w.index <= this.#applied);
      this.#appliedWaiters = this.#appliedWaiters.filter((w) => w.index > this.#applied);
      for (const w of ready) w.resolve();
    }
  }

  /** etcd's "apply request took too long" (--experimental-warning-apply-duration). */
  #warnIfSlow(prefix: string, req: etcdserverpb.InternalRaftRequest.$Properties, started: number, r: { ok: boolean; value: unknown }): void {
    const tookMs = performance.now() - started;
    const expectedMs = this.#opts.warningApplyDurationMs ?? DEFAULT_WARNING_APPLY_MS;
    if (tookMs <= expectedMs) return;
    const kind = req.put ? "put" : req.deleteRange ? "deleteRange" : req.txn ? "txn" : req.range ? "range" : "other";
    warnIfSlow(this.#opts.log, {
      tookMs,
      expectedMs,
      prefix,
      request: () => (prefix ? describeReadOnly(req) : describeRequest(req)),
      response: () => (!r.ok ? "" : prefix ? readOnlyResponse(req, r.value) : responseSize(kind, r.value)),
      error: r.ok ? undefined : r.value,
    });
  }

  /** Updates the member list for an applied conf change; returns whether it changed. */
  #applyMembership(cc: { type: number; nodeId: bigint; context?: Uint8Array }): boolean {
    const { key, member } = parseConfContext(cc.context);
    if (key) {
      const w = this.#confWaiters.get(key);
      if (w) {
        this.#confWaiters.delete(key);
        queueMicrotask(w.resolve);
      }
    }
    const existing = this.#members.find((m) => m.id === cc.nodeId);
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearnerNode: {
        const learner = cc.type === ConfChangeType.AddLearnerNode;
        if (existing) existing.isLearner = learner && existing.isLearner;
        else {
          const m = member ?? { id: cc.nodeId, name: "", peerURLs: [], clientURLs: [], isLearner: learner };
          this.#members.push({ ...m, id: cc.nodeId, isLearner: learner });
        }
        break;
      }
      case ConfChangeType.RemoveNode:
        this.#members = this.#members.filter((m) => m.id !== cc.nodeId);
        // As etcd: a member removed from the cluster stops (after this batch is durable).
        if (cc.nodeId === this.memberId) this.removedFromCluster();
        break;
      case ConfChangeType.UpdateNode: {
        if (existing && member) existing.peerURLs = member.peerURLs;
        break;
      }
    }
    this.#syncPeer(cc);
    return true;
  }

  #syncPeer(cc: { type: number; nodeId: bigint }): void {
    if (!this.#transport || cc.nodeId === this.memberId) return;
    const m = this.#members.find((x) => x.id === cc.nodeId);
    if (cc.type === ConfChangeType.RemoveNode) this.#transport.removePeer(cc.nodeId);
    else if (m) {
      // A committed change is applied whatever it says: URLs no transport can dial (an entry from
      // before they were checked) leave that peer unreachable rather than stopping this member.
      try {
        this.#transport.addPeer(m.id, m.peerURLs);
      } catch (err) {
        this.#opts.log("error", "cannot connect to a member: its peer URLs are unusable; fix them with etcdctl member update", {
          member: m.id.toString(16),
          peerURLs: m.peerURLs,
          error: (err as Error).message,
        });
      }
    }
  }

  #applyRequest(req: etcdserverpb.InternalRaftRequest.$Properties): ApplyResult {
    // Under NOSPACE every member refuses the same writes: the alarm is in the log, so this is deterministic.
    if (consumesSpace(req) && this.#alarms.some((a) => a.alarm === AlarmType.NOSPACE)) throw Errors.noSpace;
    if (refusedWhenCorrupt(req) && this.#alarms.some((a) => a.alarm === AlarmType.CORRUPT)) throw Errors.corrupt;
    if (this.#authStore.enabled && req.header?.username) checkApply(this.#authStore, req, (id) => (this.#lessor.lookup(id) ? this.#lessor.timeToLive(id).keys : []));
    if (req.alarm) return this.#applyAlarm(req.alarm);
    if (req.put) return this.#store.write((txn) => applyPut(txn, req.put!, this.#leases));
    if (req.deleteRange) return this.#store.write((txn) => applyDeleteRange(txn, req.deleteRange!));
    if (req.txn) return applyTxn(this.#store, req.txn, this.#leases);
    if (req.leaseGrant) {
      const g = this.#lessor.grant(BigInt(req.leaseGrant.ID ?? 0n), Number(req.leaseGrant.TTL ?? 0n));
      return { header: { revision: this.#store.rev }, ID: g.id, TTL: BigInt(g.ttl) } as ApplyResult;
    }
    if (req.leaseRevoke) {
      const keys = this.#lessor.revoke(BigInt(req.leaseRevoke.ID ?? 0n));
      // All of the lease's keys go in one revision, as etcd's.
      if (keys.length) this.#store.write((txn) => keys.forEach((k) => txn.deleteRange(k, null)));
      return { header: { revision: this.#store.rev } };
    }
    if (req.leaseCheckpoint) {
      for (const c of req.leaseCheckpoint.checkpoints ?? []) this.#lessor.checkpoint(BigInt(c.ID ?? 0n), Number(c.remaining_TTL ?? 0n));
      return { header: { revision: this.#store.rev } };
    }
    if (req.compaction) {
      // The compaction point is applied here (deterministic); the rows go in the background.
      this.#store.compact(BigInt(req.compaction.revision ?? 0n), { background: true });
      // With the compaction hash check on, hash the compacted store now rather than when asked.
      if (this.#opts.compactHashCheckEnabled) this.#compactHashes.record(BigInt(req.compaction.revision ?? 0n));
      return { header: { revision: this.#store.rev } };
    }
    const auth = applyAuth(this.#authStore, req, this.#applyingIndex);
    if (auth) return { header: { revision: this.#store.rev }, ...auth };
    if (req.clusterMemberAttrSet) {
      const a = req.clusterMemberAttrSet;
      const m = this.#members.find((x) => x.id === BigInt(a.member_ID ?? 0n));
      if (m) {
        m.name = a.memberAttributes?.name ?? "";
        m.clientURLs = [...(a.memberAttributes?.clientUrls ?? [])];
      }
      return { header: { revision: this.#store.rev } };
    }
    throw new EtcdError(12, "etcdserver: unknown request in the log");
  }

  #applyAlarm(a: etcdserverpb.AlarmRequest.$Properties): ApplyResult {
    const memberID = BigInt(a.memberID ?? 0n);
    const alarm = a.alarm ?? 0;
    let changed: { memberID: bigint; alarm: number }[] = [];
    if (a.action === 1) {
      if (!this.#alarms.some((x) => x.memberID === memberID && x.alarm === alarm)) {
        this.#alarms.push({ memberID, alarm });
        this.#opts.log("warn", "alarm raised", { memberID: hex(memberID), alarm });
      }
      changed = [{ memberID, alarm }];
    } else if (a.action === 2) {
      changed = this.#alarms.filter((x) => (memberID === 0n || x.memberID === memberID) && (alarm === 0 || x.alarm === alarm));
      this.#alarms = this.#alarms.filter((x) => !changed.includes(x));
    }
    this.#backend.setMeta("alarms", JSON.stringify(this.#alarms.map((x) => ({ memberID: hex(x.memberID), alarm: x.alarm }))));
    return { header: { revision: this.#store.rev }, alarms: changed } as ApplyResult;
  }

  /** Makes the database durable, records where the log may start, and releases what the WAL no longer needs. */
  async #checkpoint(): Promise<void> {
    this.#sinceCheckpoint = 0;
    // A copy being made for a follower can keep the checkpoint from finishing; the log then stays
    // whole (and the WAL unpurged) until the next one, since the database may not be durable yet.
    if (!this.#backend.checkpoint()) return;
    const r = this.#node.raft;
    const storage = r.log.storage;
    const applied = Number(this.#applied);
    // Keep some entries for followers that lag a little; a small --snapshot-count asks for a small log.
    const compactTo = applied - Math.min(this.#opts.snapshotCatchupEntries ?? CATCH_UP_ENTRIES, this.#opts.snapshotCount);
    if (compactTo > storage.snapshot.meta.index && compactTo < storage.lastIndex()) {
      const cs = r.confState();
      storage.createSnapshot(compactTo, cs, new Uint8Array(0));
      storage.compact(compactTo);
      await this.#wal.append([snapshotRecord(compactTo, storage.snapshot.meta.term, cs.voters, cs.learners)]);
      // As etcd's member/snap/*.snap: the Raft snapshot (index, term, voters) with the membership;
      // the state itself is the database beside it.
      const term = BigInt(storage.snapshot.meta.term);
      await this.#snapshotter.save({ metadata: { index: BigInt(compactTo), term, confState: { voters: cs.voters, learners: cs.learners } }, data: new TextEncoder().encode(membersToJson(this.#members)) });
      const maxSnapshots = this.#opts.maxSnapshots ?? 5;
      const purgedSnaps = maxSnapshots > 0 ? await this.#snapshotter.purge(maxSnapshots) : [];
      const removed = await this.#wal.purge(BigInt(compactTo), { maxSegments: this.#opts.maxWals ?? 5 });
      if (removed.length || purgedSnaps.length) this.#opts.log("info", "purged old files", { wals: removed.length, snapshots: purgedSnaps.length, appliedIndex: this.#applied });
    }
  }
}

/** The range "\0".."\0": every key. */
const ALL_KEYS = new Uint8Array([0]);

/** Prefix of a Raft snapshot's data that names a received database file instead of holding it. */
const SNAPSHOT_FILE_REF = "etcd-ts-snapshot-file:";

/** Database copies made for peers or received from them: none is needed after a restart or an install. */
function removeLeftoverSnapshots(snapDir: string): void {
  let names: string[];
  try {
    names = readdirSync(snapDir);
  } catch {
    return;
  }
  for (const n of names) if (/^(db\.send-\d+|db\.snapshot-.*|db\.incoming(-wal|-shm)?|received-.*\.db|receiving-.*\.part)$/.test(n)) rmSync(join(snapDir, n), { force: true });
}

/**
 * A member started with --initial-cluster-state existing: its id is the one MemberAdd gave its peer
 * URLs, and the running members tell it (etcd reads its peers' member lists the same way).
 */
async function joinExisting(opts: ServerOptions, initialCluster: ReadonlyMap<string, readonly string[]>): Promise<{ memberId: bigint; clusterId: bigint; members: MemberInfo[] }> {
  const own = [...opts.initialAdvertisePeerUrls].sort();
  const peerUrls = [...initialCluster.values()].flat().filter((u) => !own.includes(u));
  if (!opts.fetchCluster) throw new Error("joining an existing cluster needs the peer transport");
  if (peerUrls.length === 0) {
    throw new Error("--initial-cluster-state existing: --initial-cluster lists no running member to join; list the cluster's members and this one");
  }
  const remote = await opts.fetchCluster(peerUrls);
  const self = remote.members.find((m) => [...m.peerURLs].sort().join(",") === own.join(","));
  const urls = own.join(",");
  if (!self) {
    throw new Error(
      `the cluster has no member with peer URLs ${urls} (this member's --initial-advertise-peer-urls): ` +
        `add it first with 'etcdctl member add ${opts.name} --peer-urls=${urls}', then start it with --initial-cluster-state existing`,
    );
  }
  if (self.name !== "") {
    throw new Error(
      `member ${hex(self.id)} (${self.name}) with peer URLs ${urls} has already been bootstrapped and this data dir is empty: ` +
        `to replace it, 'etcdctl member remove ${hex(self.id)}' and 'etcdctl member add ${opts.name} --peer-urls=${urls}' first`,
    );
  }
  return { memberId: self.id, clusterId: remote.clusterId, members: remote.members };
}

/** The Raft snapshot a database installed from the leader stands for, if any. */
function installedSnapshot(b: Backend): { meta: { index: number; term: number; confState: { voters: bigint[]; learners: bigint[] } }; data: Uint8Array } | undefined {
  const saved = b.getMeta("raft_snapshot") as string | undefined;
  if (!saved) return undefined;
  const m = JSON.parse(saved) as { index: number; term: number; confState: { voters: string[]; learners: string[] } };
  const ids = (xs: string[]) => xs.map((x) => BigInt(`0x${x}`));
  return { meta: { index: m.index, term: m.term, confState: { voters: ids(m.confState.voters), learners: ids(m.confState.learners) } }, data: new Uint8Array(0) };
}

function isTxnSerializable(r: etcdserverpb.TxnRequest.$Properties): boolean {
  const ops = [...(r.success ?? []), ...(r.failure ?? [])];
  return ops.every((op) => (op.requestRange ? !!op.requestRange.serializable : op.requestTxn ? isTxnSerializable(op.requestTxn) : true));
}

/**
 * Peer URLs a member may be given (MemberAdd/MemberUpdate): http(s)://host:port with a real port and
 * no path, as etcd's types.NewURLs demands. Checked before proposing, since every member applies the
 * change and dials what it says.
 */
export function validPeerUrls(urls: readonly string[]): boolean {
  if (urls.length === 0) return false;
  return urls.every((text) => {
    const m = /^https?:\/\/[^/?#]+:(\d+)\/?$/.exec(text);
    if (!m) return false;
    const port = Number(m[1]);
    try {
      return new URL(text).hostname !== "" && port >= 1 && port <= 65535;
    } catch {
      return false;
    }
  });
}

/**
 * Why a removed member stops (etcd's words). The process exits 0 for it: stopping is the expected
 * outcome of `member remove`, not a failure for a supervisor to undo.
 */
export class MemberRemovedError extends Error {
  constructor() {
    super("the member has been permanently removed from the cluster");
    this.name = "MemberRemovedError";
  }
}

/**
 * Creates the directory (0700) if needed and checks this user may use it; the error says what to
 * change. main.ts calls it for the data dir before locking it, start() for the member's own dirs.
 */
export function ensureWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (err) {
    const user = safeUser();
    throw new Error(
      `Cannot use data directory '${dir}' as user '${user}': ${(err as Error).message}. ` +
        `Create it and give '${user}' read/write access (e.g. chown -R ${user} '${dir}'), or pick another --data-dir.`,
    );
  }
}

/** Who we run as, by name when the system knows it (the error tells the operator whom to chown to). */
function safeUser(): string {
  const uid = process.getuid?.();
  try {
    const name = userInfo().username;
    if (name && name !== "unknown") return name;
  } catch {}
  if (uid === undefined) return "unknown";
  try {
    const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.split(":")[2] === String(uid));
    if (line) return line.split(":")[0];
  } catch {}
  return `uid ${uid}`;
}
