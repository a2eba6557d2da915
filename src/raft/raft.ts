import { assert } from "../pkg/assert.ts";
import { RaftLog } from "./log.ts";
import { Progress, ProgressState, quorumIndex, voteResult } from "./progress.ts";
import { ReadOnly } from "./read-only.ts";
import type { MemoryStorage } from "./storage.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  message,
  MessageType,
  type NodeId,
  NONE,
  RaftError,
  type ReadState,
  StateType,
} from "./types.ts";

export interface RaftConfig {
  id: NodeId;
  storage: MemoryStorage;
  /** Ticks without hearing from a leader before campaigning (randomized in [n, 2n)). */
  electionTick: number;
  heartbeatTick: number;
  /** Entries up to here were applied before this start. */
  applied?: number;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  /** A leader that has not heard from a quorum for an election timeout steps down. */
  checkQuorum?: boolean;
  /** Ask for votes without raising the term first, so a rejoining node cannot force an election. */
  preVote?: boolean;
  /**
   * "safe": ReadIndex confirms leadership with a heartbeat round. "lease": trusts that no other leader
   * can exist within an election timeout of the last quorum contact — sound only if clocks tick at
   * about the same rate on every member (bounded drift), and only with checkQuorum.
   */
  readOnlyOption?: "safe" | "lease";
  /** Seeded source of randomness for election timeouts: a run must replay from its seed. */
  random: () => number;
  /** Test-only planted bug: commit entries of earlier terms by counting replicas (breaks figure 8). */
  unsafeCommitPreviousTerms?: boolean;
  /** Test-only planted bug: grant votes without the up-to-date log check (§5.4.1). */
  unsafeVoteWithoutLogCheck?: boolean;
}

const CAMPAIGN_TRANSFER = new TextEncoder().encode("CampaignTransfer");

/**
 * One Raft participant as a pure state machine: step(message) and tick() change state and queue
 * messages; nothing here does I/O or reads a clock. Each role's behaviour is its own step function.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state: StateType = StateType.Follower;
  readonly log: RaftLog;
  prs = new Map<NodeId, Progress>();
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  leadTransferee: NodeId = NONE;
  pendingConfIndex = 0;

  #cfg: Required<Omit<RaftConfig, "applied" | "storage">>;
  #votes = new Map<NodeId, boolean>();
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  #readOnly = new ReadOnly();
  #pendingReadIndex: Message[] = [];
  #step: (m: Message) => void;

  constructor(cfg: RaftConfig) {
    this.id = cfg.id;
    this.#cfg = {
      id: cfg.id,
      electionTick: cfg.electionTick,
      heartbeatTick: cfg.heartbeatTick,
      maxSizePerMsg: cfg.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: cfg.maxInflightMsgs ?? 256,
      checkQuorum: cfg.checkQuorum ?? true,
      preVote: cfg.preVote ?? true,
      readOnlyOption: cfg.readOnlyOption ?? "safe",
      random: cfg.random,
      unsafeCommitPreviousTerms: cfg.unsafeCommitPreviousTerms ?? false,
      unsafeVoteWithoutLogCheck: cfg.unsafeVoteWithoutLogCheck ?? false,
    };
    if (cfg.heartbeatTick <= 0 || cfg.electionTick <= cfg.heartbeatTick) {
      throw new Error("electionTick must be greater than heartbeatTick, which must be positive");
    }
    this.log = new RaftLog(cfg.storage);
    const hs = cfg.storage.hardState;
    const cs = cfg.storage.snapshot.meta.confState;
    for (const id of cs.voters) this.voters.add(id);
    for (const id of cs.learners) this.learners.add(id);
    if (hs.term || hs.vote || hs.commit) {
      this.term = hs.term;
      this.vote = hs.vote;
      this.log.commitTo(hs.commit);
    }
    if (cfg.applied) this.log.appliedTo(cfg.applied);
    this.#step = this.#stepFollower;
    this.#resetProgress();
    this.becomeFollower(this.term, NONE);
  }

  get electionTimeout(): number {
    return this.#cfg.electionTick;
  }

  promotable(): boolean {
    return this.voters.has(this.id);
  }

  confState(): ConfState {
    return { voters: [...this.voters].sort(cmpId), learners: [...this.learners].sort(cmpId) };
  }

  // ---- role changes ----

  becomeFollower(term: number, lead: NodeId): void {
    this.#reset(term);
    this.#step = this.#stepFollower;
    this.lead = lead;
    this.state = StateType.Follower;
  }

  becomeCandidate(): void {
    if (this.state === StateType.Leader) throw new Error("assertion failed: invalid transition [leader -> candidate]");
    this.#reset(this.term + 1);
    this.#step = this.#stepCandidate;
    // One vote per term: a fresh term starts with none, and the candidate's own is its only one.
    assert(this.vote === NONE, () => `${this.id} already voted for ${this.vote} in its new term ${this.term}`);
    this.vote = this.id;
    this.state = StateType.Candidate;
  }

  becomePreCandidate(): void {
    if (this.state === StateType.Leader) throw new Error("assertion failed: invalid transition [leader -> pre-candidate]");
    // The term does not move: a pre-vote is a question, not an election.
    this.#step = this.#stepCandidate;
    this.#votes = new Map();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
  }

  becomeLeader(): void {
    if (this.state === StateType.Follower) throw new Error("assertion failed: invalid transition [follower -> leader]");
    this.#reset(this.term);
    this.#step = this.#stepLeader;
    this.lead = this.id;
    this.state = StateType.Leader;
    this.prs.get(this.id)?.becomeReplicate();
    // Conf changes in the log are unknown until applied: allow none before everything here is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of the new term: committing it commits everything before it (§5.4.2) and makes
    // ReadIndex safe.
    this.#appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }]);
  }

  #reset(term: number): void {
    assert(term >= this.term, () => `${this.id} would move back from term ${this.term} to ${term}`);
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#randomizedElectionTimeout = this.#cfg.electionTick + Math.floor(this.#cfg.random() * this.#cfg.electionTick);
    this.leadTransferee = NONE;
    this.#votes = new Map();
    this.#resetProgress();
    this.#readOnly.clear();
    this.#pendingReadIndex = [];
  }

  #resetProgress(): void {
    const next = this.log.lastIndex() + 1;
    const prs = new Map<NodeId, Progress>();
    for (const id of [...this.voters, ...this.learners]) {
      const pr = new Progress(next, this.#cfg.maxInflightMsgs, this.learners.has(id));
      if (id === this.id) pr.match = this.log.storage.lastIndex() - this.#unstableOverlap();
      prs.set(id, pr);
    }
    this.prs = prs;
  }

  /** Stable entries that unstable ones are about to replace do not count as matched. */
  #unstableOverlap(): number {
    const u = this.log.unstableEntries();
    if (!u.length) return 0;
    return Math.max(0, this.log.storage.lastIndex() - (u[0].index - 1));
  }

  // ---- ticks ----

  tick(): void {
    if (this.state === StateType.Leader) this.#tickHeartbeat();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.promotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0;
      this.step(message({ type: MessageType.Hup, from: this.id }));
    }
  }

  #tickHeartbeat(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#cfg.electionTick) {
      this.#electionElapsed = 0;
      if (this.#cfg.checkQuorum) this.step(message({ type: MessageType.CheckQuorum, from: this.id }));
      if (this.state === StateType.Leader && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.state !== StateType.Leader) return;
    if (this.#heartbeatElapsed >= this.#cfg.heartbeatTick) {
      this.#heartbeatElapsed = 0;
      this.step(message({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---- step ----

  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context !== undefined && sameBytes(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.#cfg.checkQuorum && this.lead !== NONE && this.#electionElapsed < this.#cfg.electionTick;
        // A member that heard from a leader within the election timeout ignores a disruptive candidate.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change term on a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The future term we asked about; we move to it when the real election starts.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.#cfg.checkQuorum || this.#cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader learns of the newer term (it may be partitioned and cannot step down by itself).
        this.#send(message({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.#send(message({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        if (this.state !== StateType.Leader) this.#hup(false);
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        const upToDate = this.#cfg.unsafeVoteWithoutLogCheck || this.log.isUpToDate(m.index, m.logTerm);
        if (canVote && upToDate && this.voters.has(m.from)) {
          const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
          this.#send(message({ type: respType, to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            // One vote per term (persisted with the hard state before the answer leaves).
            assert(this.vote === NONE || this.vote === m.from, () => `${this.id} voting for ${m.from} at term ${this.term} after voting for ${this.vote}`);
            this.#electionElapsed = 0;
            this.vote = m.from;
          }
        } else if (this.term > 0) {
          // (A member that just joined has no term yet: it stays silent rather than answer with term 0.)
          const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
          this.#send(message({ type: respType, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        this.#step(m);
    }
  }

  #hup(transfer: boolean): void {
    if (!this.promotable()) return;
    // Conf changes committed but not applied could change who may vote: wait for them.
    const pending = this.log.nextCommittedEnts().some((e) => e.type !== EntryType.Normal);
    if (pending) return;
    if (this.#cfg.preVote && !transfer) this.#campaign("pre");
    else this.#campaign(transfer ? "transfer" : "election");
  }

  #campaign(kind: "pre" | "election" | "transfer"): void {
    let term: number;
    let voteType: MessageType;
    if (kind === "pre") {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    if (this.#poll(this.id, voteType === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp, true) === "won") {
      if (kind === "pre") this.#campaign("election");
      else this.becomeLeader();
      return;
    }
    for (const id of [...this.voters].sort(cmpId)) {
      if (id === this.id) continue;
      this.#send(
        message({
          type: voteType,
          to: id,
          term,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          context: kind === "transfer" ? CAMPAIGN_TRANSFER : undefined,
        }),
      );
    }
  }

  #poll(id: NodeId, _t: MessageType, granted: boolean): "won" | "lost" | "pending" {
    if (!this.#votes.has(id)) this.#votes.set(id, granted);
    return voteResult(this.voters, this.#votes);
  }

  // ---- leader ----

  #stepLeader = (m: Message): void => {
    switch (m.type) {
      case MessageType.Beat:
        this.#bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        if (!this.#quorumActive()) this.becomeFollower(this.term, NONE);
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.Prop: {
        if (m.entries.length === 0) throw new Error("assertion failed: stepped empty MsgProp");
        if (!this.prs.has(this.id)) throw new RaftError("ProposalDropped", "this member was removed from the cluster");
        if (this.leadTransferee !== NONE) throw new RaftError("ProposalDropped", "leadership transfer in progress");
        const ents = m.entries.map((e) => {
          if (e.type !== EntryType.Normal) {
            if (this.pendingConfIndex > this.log.applied) {
              // One membership change at a time: the later one becomes a no-op entry.
              return { ...e, type: EntryType.Normal, data: new Uint8Array(0) };
            }
            this.pendingConfIndex = this.log.lastIndex() + 1 + m.entries.indexOf(e);
          }
          return e;
        });
        this.#appendEntries(ents);
        this.#bcastAppend();
        return;
      }
      case MessageType.ReadIndex:
        this.#leaderReadIndex(m);
        return;
    }
    const pr = this.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        this.#handleAppResp(m, pr);
        return;
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.probeSent = false;
        // Appends in flight may have been lost: free a slot so replication can resume (and, if the
        // follower lacks what we assumed, be rejected and fall back to probing).
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.#sendAppend(m.from);
        if (this.#cfg.readOnlyOption !== "safe" || !m.context) return;
        const ctx = ReadOnly.key(m.context);
        const acks = this.#readOnly.recvAck(m.from, ctx);
        if (!acks) return;
        acks.add(this.id);
        if (voteResult(this.voters, new Map([...acks].map((id) => [id, true]))) !== "won") return;
        for (const { req, index } of this.#readOnly.advance(ctx)) this.#respondRead(req, index);
        return;
      }
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        pr.probeSent = true; // wait for the next heartbeat response before probing again
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader: {
        if (pr.isLearner) return;
        const target = m.from;
        if (this.leadTransferee === target || target === this.id) return;
        this.leadTransferee = target;
        this.#electionElapsed = 0;
        if (pr.match === this.log.lastIndex()) this.#send(message({ type: MessageType.TimeoutNow, to: target }));
        else this.#sendAppend(target);
        return;
      }
    }
  };

  #handleAppResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let next = m.rejectHint;
      if (m.logTerm > 0) next = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, next)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.#sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    // A probing follower that answers at the index it already had is caught up too (etcd's fix for
    // followers left probing after a snapshot): replicate to it rather than wait for the next entry.
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === ProgressState.Probe)) {
      if (wasPaused && !pr.isPaused()) this.#sendAppend(m.from);
      return;
    }
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.log.firstIndex()) {
      // Whatever snapshot arrived, the log can now catch the follower up: waiting for the exact one
      // pending would pause it for good if that one was lost and never reported (as etcd decides).
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(m.index);

    if (this.#maybeCommit()) this.#bcastAppend();
    else if (wasPaused) this.#sendAppend(m.from);
    // Keep the pipe full while there is more to send.
    while (!pr.isPaused() && pr.next <= this.log.lastIndex()) {
      if (!this.#sendAppend(m.from)) break;
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.#send(message({ type: MessageType.TimeoutNow, to: m.from }));
    }
  }

  #leaderReadIndex(m: Message): void {
    const local = m.from === NONE || m.from === this.id;
    if (this.voters.size === 1 && this.voters.has(this.id)) {
      this.#respondRead(m, this.log.committed);
      return;
    }
    // Until an entry of this term is committed, this leader's commit index may lag the true one.
    if (this.log.term(this.log.committed) !== this.term) {
      this.#pendingReadIndex.push(m);
      return;
    }
    if (this.#cfg.readOnlyOption === "lease" && this.#cfg.checkQuorum) {
      this.#respondRead(m, this.log.committed);
      return;
    }
    const ctx = ReadOnly.key(m.entries[0]?.data);
    this.#readOnly.add(this.log.committed, { ...m, from: local ? this.id : m.from }, ctx);
    this.#bcastHeartbeat(m.entries[0]?.data);
  }

  #respondRead(req: Message, index: number): void {
    const ctx = req.entries[0]?.data ?? new Uint8Array(0);
    if (req.from === NONE || req.from === this.id) this.readStates.push({ index, requestCtx: ctx });
    else this.#send(message({ type: MessageType.ReadIndexResp, to: req.from, index, entries: req.entries }));
  }

  #quorumActive(): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const id of this.voters) votes.set(id, id === this.id || this.prs.get(id)?.recentActive === true);
    return voteResult(this.voters, votes) === "won";
  }

  #appendEntries(ents: Entry[]): void {
    let li = this.log.lastIndex();
    const term = this.term;
    // A leader's term is never below its log's last term, so the log's terms never decrease.
    assert(this.log.lastTerm() <= term, () => `leader ${this.id} at term ${term} has a log ending at term ${this.log.lastTerm()}`);
    const stamped = ents.map((e) => ({ term, index: ++li, type: e.type, data: e.data }));
    this.log.append(stamped);
    // The leader's own entries count toward the quorum only once persisted (see selfPersisted).
  }

  /** The ready loop persisted this node's log up to index: for a leader, that is its own ack. */
  selfPersisted(index: number): void {
    if (this.state !== StateType.Leader) return;
    const pr = this.prs.get(this.id);
    if (!pr || !pr.maybeUpdate(index)) return;
    if (this.#maybeCommit()) this.#bcastAppend();
  }

  #maybeCommit(): boolean {
    const mci = quorumIndex(this.voters, (id) => this.prs.get(id)?.match ?? 0);
    if (mci === Number.MAX_SAFE_INTEGER) return false;
    const before = this.log.committed;
    if (this.#cfg.unsafeCommitPreviousTerms) {
      if (mci > before && mci <= this.log.lastIndex()) this.log.commitTo(mci);
    } else {
      this.log.maybeCommit(mci, this.term);
    }
    if (this.log.committed === before) return false;
    if (this.log.term(this.log.committed) === this.term && this.#pendingReadIndex.length) {
      const pending = this.#pendingReadIndex;
      this.#pendingReadIndex = [];
      for (const m of pending) this.#leaderReadIndex(m);
    }
    return true;
  }

  #bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.#sendAppend(id);
  }

  #bcastHeartbeat(ctx?: Uint8Array): void {
    const context = ctx ?? (this.#readOnly.lastPendingCtx() !== undefined ? Buffer.from(this.#readOnly.lastPendingCtx()!, "latin1") : undefined);
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.#send(message({ type: MessageType.Heartbeat, to: id, commit: Math.min(pr.match, this.log.committed), context }));
    }
  }

  /** Sends what the follower needs next; returns whether a message went out. */
  #sendAppend(to: NodeId): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (pr.next < this.log.firstIndex() || (prevTerm === 0 && prevIndex > 0)) {
      // What the follower needs was compacted away: ship the snapshot instead.
      if (!pr.recentActive) return false;
      const snap = this.log.storage.snapshot;
      if (snap.meta.index === 0) return false;
      this.#send(message({ type: MessageType.Snap, to, snapshot: snap }));
      pr.becomeSnapshot(snap.meta.index);
      return true;
    }
    const ents = this.log.entriesFrom(pr.next, this.#cfg.maxSizePerMsg);
    if (ents.length === 0 && pr.state === ProgressState.Replicate && pr.next <= this.log.lastIndex()) return false;
    this.#send(message({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed }));
    pr.sentEntries(ents.length ? ents[ents.length - 1].index : prevIndex, ents.length);
    return true;
  }

  // ---- candidate ----

  #stepCandidate = (m: Message): void => {
    switch (m.type) {
      case MessageType.Prop:
        throw new RaftError("ProposalDropped", "no leader");
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        const mine = this.state === StateType.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
        if (m.type !== mine) return;
        const r = this.#poll(m.from, m.type, !m.reject);
        if (r === "won") {
          if (this.state === StateType.PreCandidate) this.#campaign("election");
          else {
            this.becomeLeader();
            this.#bcastAppend();
          }
        } else if (r === "lost") {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      case MessageType.ReadIndex:
        throw new RaftError("ProposalDropped", "no leader");
    }
  };

  // ---- follower ----

  #stepFollower = (m: Message): void => {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) throw new RaftError("ProposalDropped", "no leader");
        this.#send({ ...m, to: this.lead });
        return;
      case MessageType.App:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.#electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === NONE) return;
        this.#send({ ...m, to: this.lead });
        return;
      case MessageType.TimeoutNow:
        this.#hup(true);
        return;
      case MessageType.ReadIndex:
        if (this.lead === NONE) throw new RaftError("ProposalDropped", "no leader");
        this.#send({ ...m, to: this.lead });
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.entries[0]?.data ?? new Uint8Array(0) });
        return;
    }
  };

  #handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.#send(message({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.#send(message({ type: MessageType.AppResp, to: m.from, index: last }));
      return;
    }
    // Tell the leader where our log could match: the last index ≤ m.index of a term ≤ m.logTerm.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.#send(message({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }));
  }

  #handleHeartbeat(m: Message): void {
    if (m.commit > this.log.committed) this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.#send(message({ type: MessageType.HeartbeatResp, to: m.from, context: m.context }));
  }

  #handleSnapshot(m: Message): void {
    const snap = m.snapshot!;
    if (this.#restore(snap)) {
      this.#send(message({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.#send(message({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
    }
  }

  #restore(snap: { meta: { index: number; term: number; confState: ConfState } }): boolean {
    if (snap.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      // We already have the snapshot's last entry: just move commit forward.
      this.log.commitTo(snap.meta.index);
      return false;
    }
    this.log.restore(snap as never);
    this.voters = new Set(snap.meta.confState.voters);
    this.learners = new Set(snap.meta.confState.learners);
    this.#resetProgress();
    return true;
  }

  // ---- membership ----

  /** Applies a committed conf change (the application calls this when it applies the entry). */
  applyConfChange(cc: ConfChange): ConfState {
    const id = cc.nodeId;
    switch (cc.type) {
      case ConfChangeType.AddNode:
        this.learners.delete(id);
        this.voters.add(id);
        break;
      case ConfChangeType.AddLearnerNode:
        if (this.voters.has(id)) break; // a voter is never demoted this way
        this.learners.add(id);
        break;
      case ConfChangeType.RemoveNode:
        this.voters.delete(id);
        this.learners.delete(id);
        break;
      case ConfChangeType.UpdateNode:
        break;
    }
    for (const nid of [...this.voters, ...this.learners]) {
      const pr = this.prs.get(nid);
      if (!pr) {
        const npr = new Progress(this.log.lastIndex() + 1, this.#cfg.maxInflightMsgs, this.learners.has(nid));
        npr.recentActive = true; // a new member gets one election timeout to catch up before check-quorum counts it
        this.prs.set(nid, npr);
      } else pr.isLearner = this.learners.has(nid);
    }
    for (const nid of [...this.prs.keys()]) if (!this.voters.has(nid) && !this.learners.has(nid)) this.prs.delete(nid);
    if (this.state === StateType.Leader) {
      if (!this.voters.has(this.id)) {
        // Removed (or demoted) leader: stop leading; the rest elect a new one.
        this.becomeFollower(this.term, NONE);
      } else {
        if (this.#maybeCommit()) this.#bcastAppend();
        if (this.leadTransferee !== NONE && !this.voters.has(this.leadTransferee)) this.leadTransferee = NONE;
      }
    }
    return this.confState();
  }

  // ---- output ----

  #send(m: Message): void {
    m.from = this.id;
    if (m.type === MessageType.Vote || m.type === MessageType.VoteResp || m.type === MessageType.PreVote || m.type === MessageType.PreVoteResp) {
      if (m.term === 0) throw new Error(`assertion failed: term should be set when sending ${m.type}`);
    } else if (m.type === MessageType.Prop || m.type === MessageType.ReadIndex) {
      // forwarded: keep term 0 (local messages of the leader)
    } else {
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  takeMessages(): Message[] {
    const out = this.msgs;
    this.msgs = [];
    return out;
  }
}

function cmpId(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
