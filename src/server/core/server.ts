import { dirname } from "node:path";
import type { WatchHub } from "../../mvcc/watch/watch-hub.ts";
import type { Clock } from "../../pkg/clock.ts";
import { Errors } from "../../pkg/errors.ts";
import type { ChunkWriter } from "../../proto/chunk-writer.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { decodeConfChange } from "../../raft/codec.ts";
import { type Entry, EntryType, type Message, type NodeId } from "../../raft/types.ts";
import { assembleMember, type Member, memberMetrics } from "./assemble.ts";
import type { AuthService } from "./auth/service.ts";
import type { AuthInfo } from "./auth/store.ts";
import type { Cluster } from "./cluster.ts";
import type { KV } from "./kv.ts";
import type { LeaseService } from "./lease-service.ts";
import { moveLeader, transferLeadershipForStop } from "./leadership.ts";
import type { Maintenance } from "./maintenance.ts";
import type { MemberState } from "./member-state.ts";
import { hex, type MemberInfo } from "./membership.ts";
import { watchServerMetrics } from "./metrics.ts";
import { answerPeerRequest } from "./peer-api.ts";
import { PeerSnapshots } from "./peer-snapshot.ts";
import type { RaftNode } from "./raft-node.ts";
import { type Recovered, recoverMember } from "./recover.ts";
import { electionTimeoutMs, heartbeatMs, requestTimeoutMs, type ServerOptions, type WalStore } from "./server-options.ts";
import type { Transport } from "./transport.ts";
import { ETCD_API_VERSION } from "./version.ts";

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
  #wal: WalStore;
  #transport: Transport | null = null;
  #loop: Promise<void>;
  #stopTimers: (() => void)[] = [];
  #unwatchMetrics: () => void;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #removed = false;
  #isReady = false;

  static async start(opts: ServerOptions, fatal: (err: unknown) => void): Promise<EtcdServer> {
    const r = await recoverMember(opts);
    opts.log("info", "server started", { memberId: hex(r.memberId), clusterId: hex(r.clusterId), appliedIndex: r.applied, walEntries: r.walEntries, lastIndex: r.storage.lastIndex() });
    return new EtcdServer(opts, r, fatal);
  }

  private constructor(opts: ServerOptions, r: Recovered, fatal: (err: unknown) => void) {
    this.#opts = opts;
    this.#fatal = fatal;
    this.memberId = r.memberId;
    this.clusterId = r.clusterId;
    this.#wal = r.wal;
    let readyResolve!: () => void;
    this.ready = new Promise<void>((res) => (readyResolve = res));
    const m = (this.#m = assembleMember(opts, r, {
      transport: () => this.#transport,
      stopped: () => this.#stopped,
      removed: () => this.removedFromCluster(),
      header: (rev) => this.header(rev),
      published: () => {
        this.#isReady = true;
        readyResolve();
      },
    }));
    this.#clock = m.clock;
    this.#state = m.state;
    this.#raft = m.raft;
    ({ kv: this.kv, cluster: this.cluster, maintenance: this.maintenance, auth: this.auth, leases: this.leases, watchHub: this.watchHub } = m);
    const clock = m.clock;
    this.#stopTimers.push(
      clock.every(heartbeatMs(opts), () => {
        m.reads.tick();
        m.proposer.expire();
      }),
    );
    if ((opts.corruptCheckTimeMs ?? 0) > 0) this.#stopTimers.push(clock.every(opts.corruptCheckTimeMs!, () => void this.maintenance.checkCorruption()));
    if (opts.compactHashCheckEnabled) this.#stopTimers.push(clock.every(opts.compactHashCheckTimeMs ?? 60_000, () => void this.maintenance.checkCompactionHashes()));
    this.#unwatchMetrics = watchServerMetrics(() => memberMetrics(m, opts));
    this.#kickOff(r);
    this.#loop = this.#raft.run().catch((err) => {
      // A failed fsync or apply leaves the state unknown: stop rather than acknowledge anything more.
      this.#stopped = true;
      for (const stop of this.#stopTimers) stop();
      this.#unwatchMetrics();
      this.#raft.stop();
      m.proposals.rejectAll(Errors.stopped);
      fatal(err);
    });
  }

  #fatal: (err: unknown) => void;
  /** The parts (assemble.ts); the fields above are the ones used on every request. */
  #m: Member;

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
    else for (let i = 0; i < Math.max(0, Math.round(electionTimeoutMs(this.#opts) / heartbeatMs(this.#opts)) - 1); i++) this.#raft.tick();
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
        return this.#m.compactHashes.at(rev);
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

  /** range() with the kvs written to w (KV.rangeEncoded); null when the request needs range(). */
  async rangeEncoded(r: etcdserverpb.RangeRequest.$Properties, w: ChunkWriter, ai?: AuthInfo) {
    const out = await this.kv.rangeEncoded(r, w, ai);
    return out && { ...out, header: this.header(out.revision) };
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
    this.#m.proposals.rejectAll(Errors.stopped);
    this.#m.reads.failAll(Errors.stopped);
    await this.#wal.close();
    this.#m.peerSnapshots.drop();
    this.#state.backend.close();
  }

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
