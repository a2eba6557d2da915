import { ProgressState } from "./progress.ts";
import { Raft, type RaftConfig } from "./raft.ts";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  message,
  MessageType,
  type NodeId,
  NONE,
  type ReadState,
  type Snapshot,
  StateType,
} from "./types.ts";

export interface SoftState {
  lead: NodeId;
  state: StateType;
}

/** What a follower's replication looks like from the leader (etcd-raft's tracker.Progress, read-only). */
export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  paused: boolean;
  recentActive: boolean;
  isLearner: boolean;
}

/**
 * A copy of the node's state for callers outside the core (etcd-raft's Status): the server's leader
 * checks, metrics and the tests' invariants read this, never the state machine itself.
 */
export interface Status extends SoftState {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  leadTransferee: NodeId;
  /** May campaign: a voter of the current configuration. */
  promotable: boolean;
  voters: ReadonlySet<NodeId>;
  learners: ReadonlySet<NodeId>;
  /** Per member, on the leader only (empty elsewhere). */
  progress: ReadonlyMap<NodeId, ProgressStatus>;
}

export interface RawNodeConfig extends RaftConfig {
  /** Committed entries handed out per Ready, in bytes (at least one entry): apply works in bounded batches. */
  maxCommittedSizePerReady?: number;
}

/** What the caller must do, in order: persist (hardState, entries, snapshot), send, apply; then advance. */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  readStates: ReadState[];
  /** To append to the WAL (and storage) before the messages of a follower go out. */
  entries: Entry[];
  snapshot?: Snapshot;
  /** Committed, to apply in order. */
  committedEntries: Entry[];
  /** To send; a leader may send before its own WAL write finished, a follower only after. */
  messages: Message[];
  /** Whether the WAL write must be fsync'ed before acknowledging (term, vote or entries changed). */
  mustSync: boolean;
}

/**
 * The driving interface around the pure Raft state machine, as etcd-raft's RawNode: the caller ticks,
 * steps messages in, proposes, and collects a Ready of work to do, acknowledged with advance().
 */
export class RawNode {
  readonly #raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;
  #maxCommittedSize: number;
  /** The Ready handed out and not yet advanced: a second one would hand out the same entries again. */
  #outstanding: Ready | null = null;

  constructor(cfg: RawNodeConfig) {
    this.#raft = new Raft(cfg);
    this.#maxCommittedSize = cfg.maxCommittedSizePerReady ?? Infinity;
    this.#prevSoft = this.#soft();
    this.#prevHard = this.#hard();
  }

  get id(): NodeId {
    return this.#raft.id;
  }

  tick(): void {
    this.#raft.tick();
  }

  status(): Status {
    const r = this.#raft;
    const progress = new Map<NodeId, ProgressStatus>();
    if (r.state === StateType.Leader) {
      for (const [id, pr] of r.prs) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, paused: pr.isPaused(), recentActive: pr.recentActive, isLearner: pr.isLearner });
      }
    }
    return {
      id: r.id,
      lead: r.lead,
      state: r.state,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      leadTransferee: r.leadTransferee,
      promotable: r.promotable(),
      voters: new Set(r.voters),
      learners: new Set(r.learners),
      progress,
    };
  }

  /** The cheap fields the hot path reads per request, without building a whole Status. */
  get lead(): NodeId {
    return this.#raft.lead;
  }

  get state(): StateType {
    return this.#raft.state;
  }

  get term(): number {
    return this.#raft.term;
  }

  get committed(): number {
    return this.#raft.log.committed;
  }

  get firstIndex(): number {
    return this.#raft.log.firstIndex();
  }

  get lastIndex(): number {
    return this.#raft.log.lastIndex();
  }

  /** Voters in the current configuration (a lone voter is its own quorum). */
  get voterCount(): number {
    return this.#raft.voters.size;
  }

  confState(): ConfState {
    return this.#raft.confState();
  }

  /** The term of the entry at i (0 when compacted away or beyond the log): for invariant checks. */
  logTerm(i: number): number {
    try {
      return this.#raft.log.term(i);
    } catch {
      return 0;
    }
  }

  /** The entries [lo, hi) of the log, stable and unstable: for invariant checks. */
  logEntries(lo: number, hi: number): Entry[] {
    return this.#raft.log.slice(lo, hi);
  }

  /** The snapshot received from the leader and not yet handed out in a Ready. */
  pendingSnapshot(): Snapshot | undefined {
    return this.#raft.log.pendingSnapshot;
  }

  campaign(): void {
    this.#raft.step(message({ type: MessageType.Hup }));
  }

  /** Proposes data; throws RaftError("ProposalDropped") when there is no leader to take it. */
  propose(data: Uint8Array): void {
    this.#raft.step(message({ type: MessageType.Prop, from: this.#raft.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }));
  }

  /** Proposes several entries at once: one append to the log, one round of messages. */
  proposeMany(data: Uint8Array[]): void {
    if (data.length === 0) return;
    const entries = data.map((d) => ({ term: 0, index: 0, type: EntryType.Normal, data: d }));
    this.#raft.step(message({ type: MessageType.Prop, from: this.#raft.id, entries }));
  }

  proposeConfChange(data: Uint8Array): void {
    this.#raft.step(message({ type: MessageType.Prop, from: this.#raft.id, entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }] }));
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.#raft.applyConfChange(cc);
  }

  /** A message from a peer. Local message types are refused: they come through the methods above. */
  step(m: Message): void {
    if (m.type === MessageType.Hup || m.type === MessageType.Beat || m.type === MessageType.CheckQuorum) {
      throw new Error(`cannot step local message type ${m.type} from a peer`);
    }
    if (!this.#raft.prs.has(m.from) && isResponse(m.type)) return; // from a removed member
    this.#raft.step(m);
  }

  /** Asks for a linearizable read; the answer appears in a later Ready's readStates with this ctx. */
  readIndex(ctx: Uint8Array): void {
    this.#raft.step(message({ type: MessageType.ReadIndex, from: NONE, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: ctx }] }));
  }

  transferLeader(transferee: NodeId): void {
    this.#raft.step(message({ type: MessageType.TransferLeader, from: transferee }));
  }

  reportUnreachable(id: NodeId): void {
    this.#raft.step(message({ type: MessageType.Unreachable, from: id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.#raft.step(message({ type: MessageType.SnapStatus, from: id, reject: !ok }));
  }

  hasReady(): boolean {
    const r = this.#raft;
    const soft = this.#soft();
    if (soft.lead !== this.#prevSoft.lead || soft.state !== this.#prevSoft.state) return true;
    const hs = this.#hard();
    if (hs.term !== this.#prevHard.term || hs.vote !== this.#prevHard.vote || hs.commit !== this.#prevHard.commit) return true;
    return (
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.unstableEntries().length > 0 ||
      r.log.pendingSnapshot !== undefined ||
      r.log.hasNextCommittedEnts()
    );
  }

  ready(): Ready {
    if (this.#outstanding) throw new Error("assertion failed: ready() called again before advance() of the previous Ready");
    const r = this.#raft;
    const rd: Ready = {
      readStates: r.readStates,
      entries: r.log.unstableEntries().slice(),
      committedEntries: r.log.nextCommittedEnts(this.#maxCommittedSize),
      messages: r.takeMessages(),
      mustSync: false,
    };
    r.readStates = [];
    if (r.log.pendingSnapshot) rd.snapshot = r.log.pendingSnapshot;
    const soft = this.#soft();
    if (soft.lead !== this.#prevSoft.lead || soft.state !== this.#prevSoft.state) rd.softState = soft;
    const hs = this.#hard();
    if (hs.term !== this.#prevHard.term || hs.vote !== this.#prevHard.vote || hs.commit !== this.#prevHard.commit) {
      rd.hardState = hs;
    }
    rd.mustSync = rd.entries.length > 0 || (rd.hardState !== undefined && (hs.term !== this.#prevHard.term || hs.vote !== this.#prevHard.vote));
    this.#outstanding = rd;
    return rd;
  }

  /** The Ready was persisted (and its committed entries applied). */
  advance(rd: Ready): void {
    if (rd !== this.#outstanding) throw new Error("assertion failed: advance() of a Ready that is not the outstanding one");
    this.#outstanding = null;
    const r = this.#raft;
    const storage = r.log.storage;
    if (rd.softState) this.#prevSoft = rd.softState;
    if (rd.hardState) {
      this.#prevHard = rd.hardState;
      storage.hardState = rd.hardState;
    }
    if (rd.snapshot) {
      storage.applySnapshot(rd.snapshot);
      r.log.stableSnapTo(rd.snapshot.meta.index);
    }
    if (rd.entries.length) {
      storage.append(rd.entries);
      const last = rd.entries[rd.entries.length - 1];
      r.log.stableTo(last.index, last.term);
      r.selfPersisted(Math.min(last.index, storage.lastIndex()));
    }
    if (rd.committedEntries.length) r.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
  }

  #soft(): SoftState {
    return { lead: this.#raft.lead, state: this.#raft.state };
  }

  #hard(): HardState {
    return { term: this.#raft.term, vote: this.#raft.vote, commit: this.#raft.log.committed };
  }
}

function isResponse(t: MessageType): boolean {
  return t === MessageType.AppResp || t === MessageType.VoteResp || t === MessageType.HeartbeatResp || t === MessageType.PreVoteResp;
}
