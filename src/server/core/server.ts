import { dirname } from "node:path";
import { EventType, type StoreEvent } from "../../mvcc/event.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { WatchHub } from "../../mvcc/watch/watch-hub.ts";
import { type Clock, systemClock } from "../../pkg/clock.ts";
import { Errors } from "../../pkg/errors.ts";
import { failpoint as processFailpoint } from "../../pkg/failpoint.ts";
import { seededRandom } from "../../pkg/prng.ts";
import { decodeConfChange } from "../../raft/codec.ts";
import type { Ready } from "../../raft/raw-node.ts";
import { type Entry, EntryType, type Message, MessageType, type NodeId, type Snapshot, StateType } from "../../raft/types.ts";
import { Snapshotter } from "../../snap/snapshotter.ts";
import type { Wal } from "../../wal/wal.ts";
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
import { MemberState } from "./member-state.ts";
import { hex, type MemberInfo } from "./membership.ts";
import { HeartbeatLateness, keysDelta, leaderChanges, type MetricsState, watchServerMetrics } from "./metrics.ts";
import { answerPeerRequest, encodePeerRequest } from "./peer-api.ts";
import { PeerSnapshots } from "./peer-snapshot.ts";
import { Proposals } from "./proposals.ts";
import { Proposer } from "./proposer.ts";
import { publishMember } from "./publish.ts";
import { RaftNode, type RaftNodeIO } from "./raft-node.ts";
import { hardStateRecord, metadataRecord, readyRecords, snapshotRecord } from "./raft-wal.ts";
import { LinearizableReads } from "./reads.ts";
import { electionTimeoutMs, type Recovered, recoverMember } from "./recover.ts";
import { requestTimeoutMs, type ServerOptions } from "./server-options.ts";
import { DEFAULT_WARNING_APPLY_MS } from "./slow-apply.ts";
import { moveLeader, transferLeadershipForStop } from "./leadership.ts";
import type { AuthInfo } from "./auth/store.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import type { Transport } from "./transport.ts";
import { ETCD_API_VERSION, ETCD_CLUSTER_VERSION } from "./version.ts";

export type { MemberInfo } from "./membership.ts";
export type { ServerOptions } from "./server-options.ts";
export type { PeerSnapshot, RemoteCluster, Transport } from "./transport.ts";
export { validPeerUrls } from "./cluster.ts";
export { ensureWritableDir } from "./recover.ts";

export { ETCD_API_VERSION, ETCD_CLUSTER_VERSION } from "./version.ts";

type Header = { clusterId: bigint; memberId: bigint; revision: bigint; raftTerm: bigint };

/**
 * The server (etcd's EtcdServer): names the services — KV, Cluster, Maintenance, leases, auth,
 * watches — and wires them to the Raft node, whose Ready loop (raft-node.ts) persists, sends and
 * applies. Everything a client sees goes through here, whichever protocol it came by.
 */
export class EtcdServer {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly kv: KV;
  readonly cluster: Cluster;
  readonly maintenance: Maintenance;
  /** Users, roles, permissions and tokens (server/core/auth); `auth.store.enabled` is the one check on the hot path. */
  readonly auth: AuthService;
  readonly leases: LeaseService;
  readonly watchHub: WatchHub;
  /** Resolves once this member's name and client URLs are applied: then it serves clients, as etcd. */
  readonly ready: Promise<void>;
  #opts: ServerOptions;
  #clock: Clock;
  #state: MemberState;
  #raft: RaftNode;
  #wal: Wal;
  #proposals: Proposals;
  #proposer: Proposer;
  #reads: LinearizableReads;
  #applier: EntryApplier;
  #peerSnapshots: PeerSnapshots;
  #checkpoint: LogCheckpoint;
  #transport: Transport | null = null;
  #loop: Promise<void>;
  #stopTimers: (() => void)[] = [];
  #unwatchMetrics: () => void;
  #heartbeats: HeartbeatLateness;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #removed = false;
  #isReady = false;
  #seenLead = 0n;
  /** Live keys (etcd_debugging_mvcc_keys_total): counted once per store, then kept in step by its events. */
  #keys = 0;

  static async start(opts: ServerOptions, fatal: (err: unknown) => void): Promise<EtcdServer> {
    const r = await recoverMember(opts);
    opts.log("info", "server started", { memberId: hex(r.memberId), clusterId: hex(r.clusterId), appliedIndex: r.applied, walEntries: r.walEntries, lastIndex: r.storage.lastIndex() });
    return new EtcdServer(opts, r, fatal);
  }

  private constructor(opts: ServerOptions, r: Recovered, fatal: (err: unknown) => void) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.memberId = r.memberId;
    this.clusterId = r.clusterId;
    this.#wal = r.wal;
    const clock = this.#clock;
    const fp = opts.failpoint ?? processFailpoint;
    const timeoutMs = requestTimeoutMs(opts);
    const log = opts.log;
    // Before the Ready loop starts: replaying the log applies auth entries.
    const authStore = new AuthStore(r.backend, opts.auth?.tokens ?? new SimpleTokens(300_000));
    const state = (this.#state = new MemberState({ ...r, authStore }));
    this.watchHub = new WatchHub(r.store, { progressIntervalMs: opts.watchProgressNotifyIntervalMs });
    this.#watchStore(r.store);
    const heartbeatMs = opts.heartbeatIntervalMs ?? 100;
    this.#raft = new RaftNode({
      id: r.memberId,
      storage: r.storage,
      electionTick: Math.max(2, Math.round(electionTimeoutMs(opts) / heartbeatMs)),
      heartbeatTick: 1,
      // Raft re-hands every committed entry after its snapshot; apply skips what the database holds
      // and feeds conf changes back to Raft, whose membership is otherwise not durable.
      applied: r.storage.snapshot.meta.index,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      // Election timeouts must differ between members and between restarts of one member.
      random: seededRandom(Number(r.memberId & 0x7fffffffn) ^ clock.now()),
      io: this.#io(),
      clock,
      heartbeatMs,
      failpoint: fp,
    });
    this.#proposals = new Proposals(r.memberId, clock.now());
    const stopped = () => this.#stopped;
    this.#proposer = new Proposer({ self: r.memberId, state, raft: this.#raft, proposals: this.#proposals, clock, maxRequestBytes: opts.maxRequestBytes, quotaBackendBytes: opts.quotaBackendBytes ?? 0, requestTimeoutMs: timeoutMs, stopped });
    this.#reads = new LinearizableReads({ self: r.memberId, raft: this.#raft, state, clock, requestTimeoutMs: timeoutMs });
    const warningApplyMs = opts.warningApplyDurationMs ?? DEFAULT_WARNING_APPLY_MS;
    this.kv = new KV({ state, proposer: this.#proposer, reads: this.#reads, maxTxnOps: opts.maxTxnOps, warningApplyMs, log });
    this.cluster = new Cluster({
      self: r.memberId,
      state,
      raft: this.#raft,
      proposals: this.#proposals,
      transport: () => this.#transport,
      initialClusterToken: opts.initialClusterToken,
      strictReconfigCheck: opts.strictReconfigCheck !== false,
      maxLearners: opts.maxLearners ?? 1,
      requestTimeoutMs: timeoutMs,
      now: () => clock.now(),
      removed: () => this.removedFromCluster(),
      log,
    });
    const compactHashes = (this.#compactHashes = new CompactionHashes(() => this.#state.store, log));
    const transport = () => this.#transport;
    this.maintenance = new Maintenance({ self: r.memberId, state, raft: this.#raft, proposer: this.#proposer, compactHashes, transport, exportSnapshot: opts.exportSnapshot, requestTimeoutMs: timeoutMs, stopped, log });
    this.#applier = new EntryApplier({
      state,
      chain: applierChain(state, { compactHashes: opts.compactHashCheckEnabled ? compactHashes : undefined, log }),
      proposals: this.#proposals,
      raftConfChange: (cc) => this.#raft.applyConfChange(cc),
      membershipChange: (cc) => this.cluster.apply(cc),
      replayedConfChange: (cc) => this.cluster.syncPeer(cc),
      leaderNoop: (e) => e.type === EntryType.Normal && e.data.length === 0 && this.#raft.isLeader && e.term === this.#raft.term,
      // From here on the new leader keeps the leases' clocks (etcd's Promote), extended by an
      // election timeout so that none expires early for the change of hands.
      onLeaderNoop: () => state.lessor.promote(electionTimeoutMs(opts)),
      warningApplyMs,
      failpoint: fp,
      log,
    });
    this.#peerSnapshots = new PeerSnapshots({ backend: () => state.backend, applied: () => state.applied, clock, log });
    this.#checkpoint = new LogCheckpoint({
      state,
      storage: r.storage,
      wal: r.wal,
      snapshotter: new Snapshotter(dirname(r.backend.path), { log: (level, msg) => log(level, msg) }),
      confState: () => this.#raft.confState(),
      snapshotCount: opts.snapshotCount,
      snapshotCatchupEntries: opts.snapshotCatchupEntries,
      maxWals: opts.maxWals,
      maxSnapshots: opts.maxSnapshots,
      failpoint: fp,
      log,
    });
    // A WAL segment must stand alone once older ones are purged: who we are, where the log starts, the vote.
    this.#wal.segmentPreamble = () => {
      const snap = r.storage.snapshot.meta;
      return [
        metadataRecord(this.memberId, this.clusterId),
        ...(snap.index > 0 ? [snapshotRecord(snap.index, snap.term, snap.confState.voters, snap.confState.learners)] : []),
        hardStateRecord(r.storage.hardState),
      ];
    };
    this.leases = new LeaseService({
      lessor: () => state.lessor,
      propose: (body) => this.#proposer.propose(body),
      leader: () => this.#raft.lead,
      self: r.memberId,
      forward: async (leader, req) => {
        if (!this.#transport) throw Errors.noLeader;
        return JSON.parse(new TextDecoder().decode(await this.#transport.request(leader, encodePeerRequest(req), timeoutMs)));
      },
      nextId: () => BigInt.asIntN(64, this.#proposals.nextId()) & 0x7fffffffffffffffn || 1n,
      log,
    });
    this.auth = new AuthService({
      store: authStore,
      propose: (body, ai) => this.#proposer.propose<"auth">(body, ai),
      linearizableRead: () => this.#reads.read(),
      header: (rev) => this.header(rev),
      waitApplied: (index) => this.#reads.waitApplied(index),
      maxRequestBytes: opts.maxRequestBytes,
      bcryptCost: opts.auth?.bcryptCost ?? 10,
      log,
    });
    this.#heartbeats = new HeartbeatLateness(heartbeatMs);
    let readyResolve!: () => void;
    this.ready = new Promise<void>((res) => (readyResolve = res));
    this.#publish = () =>
      publishMember({ self: r.memberId, clusterId: r.clusterId, name: opts.name, clientUrls: opts.advertiseClientUrls, propose: (b) => this.#proposer.propose(b), requestTimeoutMs: timeoutMs, stopped, clock, log }).then(() => {
        this.#isReady = true;
        readyResolve();
      });
    this.#stopTimers.push(
      clock.every(heartbeatMs, () => {
        this.#reads.tick();
        this.#proposer.expire();
      }),
    );
    if ((opts.corruptCheckTimeMs ?? 0) > 0) this.#stopTimers.push(clock.every(opts.corruptCheckTimeMs!, () => void this.maintenance.checkCorruption()));
    if (opts.compactHashCheckEnabled) this.#stopTimers.push(clock.every(opts.compactHashCheckTimeMs ?? 60_000, () => void this.maintenance.checkCompactionHashes()));
    this.#unwatchMetrics = watchServerMetrics(() => this.#metricsState());
    this.#kickOff(r);
    this.#loop = this.#raft.run().catch((err) => {
      // A failed fsync or apply leaves the state unknown: stop rather than acknowledge anything more.
      this.#stopped = true;
      for (const stop of this.#stopTimers) stop();
      this.#raft.stop();
      this.#proposals.rejectAll(Errors.stopped);
      fatal(err);
    });
    this.#fatal = fatal;
  }

  #fatal: (err: unknown) => void;
  /** Hashes at recent compaction points (every member answers for them; the leader compares them). */
  #compactHashes: CompactionHashes;
  #publish: () => Promise<void>;
  #published = false;

  /** What the Ready loop does with each step, over the WAL, the database and the peer transport. */
  #io(): RaftNodeIO {
    return {
      persist: (rd: Ready) => {
        const records = readyRecords(rd);
        if (rd.snapshot) {
          const m = rd.snapshot.meta;
          records.unshift(snapshotRecord(m.index, m.term, m.confState.voters, m.confState.learners));
        }
        return records.length ? this.#wal.append(records) : undefined;
      },
      installSnapshot: (snap) => this.#installSnapshot(snap),
      apply: (entries) => {
        this.#applier.apply(entries);
        this.#reads.applied();
      },
      send: (msgs) => this.#send(msgs),
      stateChanged: (soft, term) => {
        if (soft.lead !== 0n && soft.lead !== this.#seenLead) leaderChanges.inc();
        this.#seenLead = soft.lead;
        this.#opts.log("info", "raft state", { state: ["follower", "candidate", "leader", "pre-candidate"][soft.state], leader: hex(soft.lead), term });
        if (soft.lead !== 0n) this.#reads.leaderChanged();
        if (soft.state !== StateType.Leader && this.#state.lessor.isPrimary) this.#state.lessor.demote();
      },
      readStates: (rs) => {
        for (const s of rs) this.#reads.answered(s.requestCtx, s.index);
      },
      dropped: (data, err) => this.#proposer.dropped(data, err),
      advanced: () => {
        if (!this.#published && this.#raft.lead !== 0n) {
          this.#published = true;
          void this.#publish();
        }
        if (this.#checkpoint.due(this.#applier.sinceCheckpoint)) {
          this.#applier.sinceCheckpoint = 0;
          return this.#checkpoint.run();
        }
      },
    };
  }

  /** Raft's snapshot messages carry no data: the database goes on its own connection. */
  #send(msgs: Message[]): void {
    let rest = msgs;
    if (msgs.some((m) => m.type === MessageType.Snap)) {
      for (const m of msgs) {
        if (m.type !== MessageType.Snap) continue;
        this.#peerSnapshots.send(
          m,
          (mm, db) => this.#transport?.sendSnapshot(mm, db),
          () => !this.#stopped && this.reportSnapshot(m.to, false),
        );
      }
      rest = msgs.filter((m) => m.type !== MessageType.Snap);
    }
    if (this.#raft.isLeader) this.#heartbeats.observe(rest, MessageType.Heartbeat);
    if (rest.length) this.#transport?.send(rest);
  }

  #installSnapshot(snap: Snapshot): void {
    const s = this.#state;
    const backend = this.#peerSnapshots.install(snap, s.backend);
    const store = new MvccStore(backend);
    store.resumeCompaction();
    s.reload(backend, store);
    this.#watchStore(store);
    this.watchHub.restore(store);
    s.lessor.recover(store.leasedKeys(), { backend });
    s.authStore.recover(backend);
    this.#opts.log("info", "installed a snapshot from the leader", { snapshotIndex: snap.meta.index, appliedIndex: s.applied });
  }

  /** The first election: a lone member campaigns at once; others skip most of the first timeout (as etcd). */
  #kickOff(r: Recovered): void {
    // Conf changes committed in the log must be applied (and fed to Raft) before anyone may campaign.
    const voters = new Set(this.#raft.status().voters);
    if (voters.size === 0) {
      const first = r.storage.firstIndex();
      const ents: Entry[] = r.storage.hardState.commit >= first ? r.storage.entries(first, r.storage.hardState.commit + 1) : [];
      for (const e of ents) if (e.type === EntryType.ConfChange) voters.add(decodeConfChange(e.data).nodeId);
    }
    if (voters.size === 1 && voters.has(this.memberId)) this.#raft.campaign();
    else for (let i = 0; i < Math.max(0, Math.round(electionTimeoutMs(this.#opts) / (this.#opts.heartbeatIntervalMs ?? 100)) - 1); i++) this.#raft.tick();
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
    const lessor = this.#state.lessor;
    const key = ev.kv.key;
    const held = lessor.leaseOf(key);
    const now = ev.type === EventType.PUT ? ev.kv.lease : 0n;
    if (held === now) return;
    if (held !== 0n) lessor.detach(held, key);
    if (now !== 0n && lessor.lookup(now)) lessor.attach(now, key);
  }

  // ---- peers ----

  /** Attaches the peer transport and tells it the peers known so far. */
  setTransport(t: Transport): void {
    this.#transport = t;
    for (const m of this.#state.members) if (m.id !== this.memberId) t.addPeer(m.id, m.peerURLs);
  }

  receive(m: Message): void {
    if (!this.#stopped) this.#raft.step(m);
  }

  /** A database snapshot arrived from the leader (verified and fsynced at path); #installSnapshot takes it if Raft accepts it. */
  receiveSnapshot(m: Message, path: string): void {
    if (this.#stopped || !m.snapshot) return PeerSnapshots.discard(path);
    const data = PeerSnapshots.reference(path);
    this.receive({ ...m, snapshot: { ...m.snapshot, data } });
    // Raft may turn it down (stale, or already caught up): then nothing will take the file.
    if (this.#raft.pendingSnapshot()?.data !== data) PeerSnapshots.discard(path);
  }

  reportUnreachable(id: NodeId): void {
    this.#raft.reportUnreachable(id);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.#raft.reportSnapshot(id, ok);
  }

  /** Answers a peer's request (peer-api.ts): the member list for a joiner, HashKV for the corruption check. */
  answerPeer(req: { from: bigint; clusterId: bigint; body: Uint8Array }): Promise<Uint8Array> {
    const s = this.#state;
    // The leader hashed (or compacted) at rev; this member may not have applied it yet.
    const until = async (done: () => boolean) => {
      for (let waited = 0; !done() && waited < 2000 && !this.#stopped; waited += 10) await new Promise((r) => this.#clock.after(10, () => r(undefined)));
    };
    return answerPeerRequest(req, {
      clusterId: () => this.clusterId,
      members: () => s.members,
      hashKV: async (rev) => {
        await until(() => s.store.rev >= rev);
        return { ...(await this.maintenance.hashKV(rev)), revision: rev };
      },
      compactHash: async (rev) => {
        await until(() => s.store.compactRev >= rev);
        return this.#compactHashes.at(rev);
      },
      lease: (r) => this.leases.answer(r),
    });
  }

  /**
   * This member was removed from the cluster (the change was applied here, or a peer refused us for
   * it): stop, as etcd does. Not a failure — the process exits 0 (MemberRemovedError), so a unit with
   * Restart=on-failure does not bring back a member removed on purpose.
   */
  removedFromCluster(): void {
    if (this.#stopped || this.#removed) return;
    this.#removed = true;
    this.#clock.after(0, () => this.#fatal(new MemberRemovedError()));
  }

  // ---- what clients see ----

  header(revision?: bigint): Header {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: revision ?? this.#state.store.rev, raftTerm: BigInt(this.#raft.term) };
  }

  /** etcd's Cluster service leaves the revision out of its headers. */
  clusterHeader(): Header {
    return { ...this.header(), revision: 0n };
  }

  status() {
    const st = this.#raft.status();
    const s = this.#state;
    return {
      header: this.header(),
      version: ETCD_API_VERSION,
      dbSize: BigInt(s.backend.size()),
      leader: st.lead,
      raftIndex: BigInt(st.commit),
      raftTerm: BigInt(st.term),
      raftAppliedIndex: s.applied,
      // As etcd: each active alarm in AlarmMember's text form.
      errors: s.alarms.map((a) => `memberID:${a.memberID} alarm:${s.alarmName(a)} `),
      dbSizeInUse: BigInt(s.backend.sizeInUse()),
      isLearner: st.learners.has(this.memberId),
    };
  }

  async range(r: etcdserverpb.RangeRequest.$Properties, ai?: AuthInfo) {
    return this.#withHeader(await this.kv.range(r, ai));
  }

  async put(r: etcdserverpb.PutRequest.$Properties, ai?: AuthInfo) {
    return this.#withHeader(await this.kv.put(r, ai));
  }

  async deleteRange(r: etcdserverpb.DeleteRangeRequest.$Properties, ai?: AuthInfo) {
    return this.#withHeader(await this.kv.deleteRange(r, ai));
  }

  async txn(r: etcdserverpb.TxnRequest.$Properties, ai?: AuthInfo) {
    return this.#withHeader(await this.kv.txn(r, ai));
  }

  async leaseRevoke(id: bigint, ai?: AuthInfo) {
    return this.#withHeader(await this.kv.leaseRevoke(id, ai));
  }

  async compact(r: etcdserverpb.CompactionRequest.$Properties) {
    return this.#withHeader(await this.kv.compact(r));
  }

  /** Every lease, soonest expiry first (LeaseLeases). */
  leaseIds(): bigint[] {
    return this.#state.lessor.leases();
  }

  get members(): MemberInfo[] {
    return this.#state.members;
  }

  async memberAdd(peerURLs: string[], isLearner: boolean) {
    const member = await this.cluster.add(peerURLs, isLearner);
    return { header: this.clusterHeader(), member, members: this.members };
  }

  async memberRemove(id: bigint) {
    await this.cluster.remove(id);
    return { header: this.clusterHeader(), members: this.members };
  }

  async memberUpdate(id: bigint, peerURLs: string[]) {
    await this.cluster.update(id, peerURLs);
    return { header: this.clusterHeader(), members: this.members };
  }

  async memberPromote(id: bigint) {
    await this.cluster.promote(id);
    return { header: this.clusterHeader(), members: this.members };
  }

  /** Hands leadership to another voter and waits until it leads (etcd's MoveLeader). */
  async moveLeader(target: bigint, timeoutMs = requestTimeoutMs(this.#opts)) {
    await moveLeader({ self: this.memberId, raft: this.#raft, clock: this.#clock, stopped: () => this.#stopped, log: this.#opts.log }, target, timeoutMs);
    return { header: this.header() };
  }

  async alarm(r: etcdserverpb.AlarmRequest.$Properties) {
    return { header: this.header(), alarms: await this.maintenance.alarm(r) };
  }

  /** Names of the active alarms ("NOSPACE", "CORRUPT"), for /health. */
  alarmNames(): string[] {
    return [...new Set(this.#state.alarms.map((a) => this.#state.alarmName(a)))];
  }

  snapshotChunks(chunkBytes: number) {
    return this.maintenance.snapshotChunks(chunkBytes);
  }

  async defrag() {
    await this.maintenance.defrag();
    return { header: this.header() };
  }

  async hashKV(rev: bigint) {
    const h = await this.maintenance.hashKV(rev);
    // As etcd, the header carries the revision that was hashed.
    return { header: this.header(h.revision), hash: h.hash, compactRevision: h.compactRevision };
  }

  async hash() {
    const h = await this.maintenance.hash();
    return { header: this.header(h.revision), hash: h.hash };
  }

  checkCorruption(): Promise<bigint[]> {
    return this.maintenance.checkCorruption();
  }

  checkCompactionHashes(): Promise<bigint[]> {
    return this.maintenance.checkCompactionHashes();
  }

  checkInitialHashKV(): Promise<void> {
    return this.maintenance.checkInitialHashKV();
  }

  /** Where database snapshots from the leader are received (beside the database). */
  get snapshotDir(): string {
    return dirname(this.#state.backend.path);
  }

  get maxRequestBytes(): number {
    return this.#opts.maxRequestBytes;
  }

  get hasLeader(): boolean {
    return !this.#stopped && this.#raft.lead !== 0n;
  }

  /** Has a leader and has published its own attributes: it serves clients (etcd's ReadyNotify). */
  get isReady(): boolean {
    return this.#isReady && this.hasLeader;
  }

  get leader(): bigint {
    return this.#raft.lead;
  }

  #withHeader<T extends { header: { revision: bigint } }>(out: T): T & { header: Header } {
    return { ...out, header: this.header(out.header.revision) };
  }

  // ---- stopping ----

  /** Stops once, however many callers ask (a signal and a fatal error may both come). */
  stop(): Promise<void> {
    return (this.#stopping ??= this.#stop());
  }

  async #stop(): Promise<void> {
    if (this.#stopped) return;
    // A leader leaving hands over first, so the others need not wait an election timeout (as etcd).
    await transferLeadershipForStop({ self: this.memberId, raft: this.#raft, clock: this.#clock, stopped: () => this.#stopped, log: this.#opts.log }, electionTimeoutMs(this.#opts));
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unwatchMetrics();
    for (const stop of this.#stopTimers) stop();
    this.#raft.stop();
    this.leases.stop();
    this.watchHub.close();
    await this.#loop;
    this.#proposals.rejectAll(Errors.stopped);
    this.#reads.failAll(Errors.stopped);
    await this.#wal.close();
    this.#peerSnapshots.drop();
    this.#state.backend.close();
  }

  /** What /metrics shows of this member, read at scrape time. */
  #metricsState(): MetricsState {
    const st = this.#raft.status();
    const s = this.#state;
    const hub = this.watchHub.stats;
    return {
      memberId: this.memberId,
      version: ETCD_API_VERSION,
      lead: st.lead,
      leader: st.state === StateType.Leader,
      committed: st.commit,
      applied: s.applied,
      pending: this.#proposals.size,
      dbSize: s.backend.size(),
      dbSizeInUse: s.backend.sizeInUse(),
      keys: this.#keys,
      clusterVersion: ETCD_CLUSTER_VERSION,
      learner: st.learners.has(this.memberId),
      quotaBackendBytes: this.#opts.quotaBackendBytes ?? 0,
      revision: s.store.rev,
      compactRevision: s.store.compactRev,
      authRevision: s.authStore.revision,
      watch: { ...this.watchHub.queueStats, watchers: hub.synced + hub.unsynced + hub.victims, slow: hub.unsynced + hub.victims },
      alarms: s.alarms.map((a) => ({ memberID: a.memberID, alarm: s.alarmName(a) })),
      members: s.members.map((m) => m.id),
    };
  }
}

/** The range "\0".."\0": every key. */
const ALL_KEYS = new Uint8Array([0]);

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
