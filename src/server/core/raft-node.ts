import { Errors } from "../../pkg/errors.ts";
import { failpoint as processFailpoint } from "../../pkg/failpoint.ts";
import { RawNode, type RawNodeConfig, type Ready, type SoftState, type Status } from "../../raft/raw-node.ts";
import { type ConfChange, type ConfState, type Entry, type Message, type NodeId, RaftError, type ReadState, type Snapshot, StateType } from "../../raft/types.ts";
import type { Clock } from "../../pkg/clock.ts";

/**
 * What a Ready asks of the world, in the order raft-node calls it. The server implements it over the
 * WAL, the database and the peer transport; the simulations over memory.
 */
export interface RaftNodeIO {
  /** Makes the Ready's hard state, entries and snapshot marker durable; resolves once fsynced. */
  persist(rd: Ready): Promise<void> | void;
  /** Replaces the state machine with the leader's snapshot (before its marker is persisted). */
  installSnapshot(snap: Snapshot): void;
  /** Applies committed entries, in order, as one batch. */
  apply(entries: Entry[]): void;
  send(msgs: Message[]): void;
  /** Leader or role changed (soft state of a Ready). */
  stateChanged?(soft: SoftState, term: number): void;
  readStates?(rs: ReadState[]): void;
  /** Proposals Raft refused (no leader, or this member is leaving): their callers get err. */
  dropped?(data: Uint8Array[], err: unknown): void;
  /** After each advance: housekeeping that may wait (publish, checkpoint). */
  advanced?(): Promise<void> | void;
}

/**
 * Named points in the Ready loop where a crash test may stop the process (ETCD_TS_FAILPOINT) or the
 * simulation may crash a member. Names follow etcd's gofail points where etcd has one.
 */
export const RAFT_NODE_FAILPOINTS = [
  "raftBeforeLeaderSend",
  "raftAfterLeaderSend",
  "raftBeforeApplySnap",
  "raftAfterApplySnap",
  "raftBeforeSave",
  "raftAfterSave",
  "raftBeforeApply",
  "raftAfterApply",
  "raftBeforeFollowerSend",
  "raftAfterFollowerSend",
  "raftBeforeAdvance",
] as const;
export type RaftNodeFailpoint = (typeof RAFT_NODE_FAILPOINTS)[number];

export interface RaftNodeOptions extends RawNodeConfig {
  io: RaftNodeIO;
  /** Ticks Raft every heartbeatMs when given; without one the caller ticks (simulations). */
  clock?: Clock;
  heartbeatMs?: number;
  /** Proposals are refused with "too many requests" when apply lags commit by more than this (etcd: 5000). */
  maxApplyLag?: number;
  failpoint?: (name: string) => void;
}

/** etcd's maxGapBetweenApplyAndCommitIndex. */
export const MAX_APPLY_LAG = 5000;
/** Committed entries per Ready, in bytes: an apply batch stays one bounded database transaction. */
export const MAX_COMMITTED_SIZE_PER_READY = 16 * 1024 * 1024;

/**
 * The one Ready loop (etcd's raftNode): turns the pure Raft core into durable, replicated, applied
 * state. Order, for every Ready: a leader sends at once (its own WAL write runs in parallel, Raft
 * counts its vote only once persisted); a snapshot from the leader is installed; the WAL write
 * starts; committed entries already durable here are applied while it runs, the others after it;
 * a follower's answers go out only once fsynced; then advance.
 */
export class RaftNode {
  readonly #node: RawNode;
  readonly #io: RaftNodeIO;
  readonly #fp: (name: RaftNodeFailpoint) => void;
  readonly #maxApplyLag: number;
  #proposals: Uint8Array[] = [];
  #confChanges: Uint8Array[] = [];
  #applied: number;
  #pendingCampaign = false;
  #wake: (() => void) | null = null;
  #stopped = false;
  #stopTicker: (() => void) | undefined;

  constructor(opts: RaftNodeOptions) {
    this.#node = new RawNode({ maxCommittedSizePerReady: MAX_COMMITTED_SIZE_PER_READY, ...opts });
    this.#io = opts.io;
    this.#fp = opts.failpoint ?? processFailpoint;
    this.#maxApplyLag = opts.maxApplyLag ?? MAX_APPLY_LAG;
    this.#applied = opts.applied ?? 0;
    if (opts.clock) this.#stopTicker = opts.clock.every(opts.heartbeatMs ?? 100, () => this.tick());
  }

  // ---- what callers ask of Raft ----

  tick(): void {
    this.#node.tick();
    this.#kick();
  }

  /** Queues a proposal for the next Ready (proposals of one event-loop turn go out as one append). */
  propose(data: Uint8Array): void {
    if (this.#node.committed - this.#applied > this.#maxApplyLag) throw Errors.tooManyRequests;
    this.#proposals.push(data);
    this.#kick();
  }

  proposeConfChange(data: Uint8Array): void {
    this.#confChanges.push(data);
    this.#kick();
  }

  /** Campaigns as soon as this member may (a lone member does not wait for an election timeout). */
  campaign(): void {
    this.#pendingCampaign = true;
    this.#kick();
  }

  /** A message from a peer; a stale or unknown one is dropped as Raft says. */
  step(m: Message): void {
    try {
      this.#node.step(m);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
    }
    this.#kick();
  }

  readIndex(ctx: Uint8Array): void {
    this.#node.readIndex(ctx);
    this.#kick();
  }

  transferLeader(to: NodeId): void {
    this.#node.transferLeader(to);
    this.#kick();
  }

  reportUnreachable(id: NodeId): void {
    this.#node.reportUnreachable(id);
    this.#kick();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.#node.reportSnapshot(id, ok);
    this.#kick();
  }

  /** Raft's membership is not durable by itself: apply feeds every committed conf change back. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.#node.applyConfChange(cc);
  }

  // ---- what callers read ----

  status(): Status {
    return this.#node.status();
  }

  get lead(): NodeId {
    return this.#node.lead;
  }

  get isLeader(): boolean {
    return this.#node.state === StateType.Leader;
  }

  get term(): number {
    return this.#node.term;
  }

  get committed(): number {
    return this.#node.committed;
  }

  get firstIndex(): number {
    return this.#node.firstIndex;
  }

  get lastIndex(): number {
    return this.#node.lastIndex;
  }

  get voterCount(): number {
    return this.#node.voterCount;
  }

  /** The last index handed to apply. */
  get applied(): number {
    return this.#applied;
  }

  confState(): ConfState {
    return this.#node.confState();
  }

  pendingSnapshot(): Snapshot | undefined {
    return this.#node.pendingSnapshot();
  }

  logTerm(i: number): number {
    return this.#node.logTerm(i);
  }

  logEntries(lo: number, hi: number): Entry[] {
    return this.#node.logEntries(lo, hi);
  }

  // ---- the loop ----

  /**
   * Handles the next Ready, if any: false when there was nothing to do, a promise when persisting is
   * asynchronous (the server's WAL), true when it completed synchronously (memory, in simulations).
   */
  processReady(): boolean | Promise<boolean> {
    this.#drainProposals();
    if (!this.#node.hasReady()) return false;
    const rd = this.#node.ready();
    const leader = this.#node.state === StateType.Leader;
    if (leader && rd.messages.length) {
      this.#fp("raftBeforeLeaderSend");
      this.#io.send(rd.messages);
      this.#fp("raftAfterLeaderSend");
    }
    if (rd.snapshot) {
      this.#fp("raftBeforeApplySnap");
      this.#io.installSnapshot(rd.snapshot);
      this.#applied = rd.snapshot.meta.index;
      this.#fp("raftAfterApplySnap");
    }
    this.#fp("raftBeforeSave");
    const saving = this.#io.persist(rd);
    // Entries committed in an earlier Ready are durable already: apply them while this one is written.
    const lastNew = rd.entries.length ? rd.entries[rd.entries.length - 1].index : -1;
    const applyFirst = rd.committedEntries.length > 0 && !rd.committedEntries.some((e) => e.index <= lastNew);
    if (applyFirst) this.#apply(rd.committedEntries);
    if (saving instanceof Promise) return saving.then(() => this.#afterSave(rd, leader, !applyFirst));
    return this.#afterSave(rd, leader, !applyFirst);
  }

  #afterSave(rd: Ready, leader: boolean, applyNow: boolean): true | Promise<true> {
    this.#fp("raftAfterSave");
    if (applyNow && rd.committedEntries.length) this.#apply(rd.committedEntries);
    if (!leader && rd.messages.length) {
      this.#fp("raftBeforeFollowerSend");
      this.#io.send(rd.messages);
      this.#fp("raftAfterFollowerSend");
    }
    if (rd.readStates.length) this.#io.readStates?.(rd.readStates);
    if (rd.softState) this.#io.stateChanged?.(rd.softState, this.#node.term);
    this.#fp("raftBeforeAdvance");
    this.#node.advance(rd);
    const after = this.#io.advanced?.();
    return after instanceof Promise ? after.then(() => true as const) : true;
  }

  #apply(entries: Entry[]): void {
    this.#fp("raftBeforeApply");
    this.#io.apply(entries);
    this.#applied = entries[entries.length - 1].index;
    this.#fp("raftAfterApply");
  }

  #drainProposals(): void {
    if (this.#proposals.length) {
      const batch = this.#proposals;
      this.#proposals = [];
      try {
        this.#node.proposeMany(batch);
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
        this.#io.dropped?.(batch, Errors.noLeader);
      }
    }
    for (const cc of this.#confChanges.splice(0)) {
      try {
        this.#node.proposeConfChange(cc);
      } catch (err) {
        // Refused (a change already pending, no leader): its waiter times out, as etcd's does.
        if (!(err instanceof RaftError)) throw err;
      }
    }
    if (this.#pendingCampaign && this.#node.status().promotable) {
      this.#pendingCampaign = false;
      this.#node.campaign();
    }
  }

  /**
   * Runs the loop until stop(): each Ready in turn, sleeping while there is none. An error (a failed
   * fsync or apply) leaves the state unknown: the loop ends with it rather than acknowledge more.
   */
  async run(): Promise<void> {
    while (!this.#stopped) {
      const r = this.processReady();
      if (r === false) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
      } else if (r !== true) await r;
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#stopTicker?.();
    this.#kick();
  }

  #kick(): void {
    this.#wake?.();
  }
}
