/**
 * Raft's vocabulary, field for field as raftpb (proto/raftpb/raft.proto) so the WAL and the peer
 * transport convert without thinking. Terms and indexes are numbers: 2^53 entries outlast any
 * cluster, and number arithmetic keeps the core fast. Node ids are etcd's 64-bit member ids: bigint.
 */
export type NodeId = bigint;
export const NONE: NodeId = 0n;

export const EntryType = { Normal: 0, ConfChange: 1, ConfChangeV2: 2 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export const MessageType = {
  Hup: 0,
  Beat: 1,
  Prop: 2,
  App: 3,
  AppResp: 4,
  Vote: 5,
  VoteResp: 6,
  Snap: 7,
  Heartbeat: 8,
  HeartbeatResp: 9,
  Unreachable: 10,
  SnapStatus: 11,
  CheckQuorum: 12,
  TransferLeader: 13,
  TimeoutNow: 14,
  ReadIndex: 15,
  ReadIndexResp: 16,
  PreVote: 17,
  PreVoteResp: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  snapshot?: Snapshot;
  reject: boolean;
  rejectHint: number;
  context?: Uint8Array;
}

export function message(f: Partial<Message> & { type: MessageType }): Message {
  // Written out field by field: this runs for every message, and object spread is slow.
  return {
    type: f.type,
    to: f.to ?? NONE,
    from: f.from ?? NONE,
    term: f.term ?? 0,
    logTerm: f.logTerm ?? 0,
    index: f.index ?? 0,
    entries: f.entries ?? [],
    commit: f.commit ?? 0,
    snapshot: f.snapshot,
    reject: f.reject ?? false,
    rejectHint: f.rejectHint ?? 0,
    context: f.context,
  };
}

export const ConfChangeType = { AddNode: 0, RemoveNode: 1, UpdateNode: 2, AddLearnerNode: 3 } as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  context?: Uint8Array;
}

/** A linearizable read confirmed by a quorum: serve it once applied ≥ index. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

export const StateType = { Follower: 0, Candidate: 1, Leader: 2, PreCandidate: 3 } as const;
export type StateType = (typeof StateType)[keyof typeof StateType];
export const stateName = ["StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"] as const;

/** Refused proposals and requests: errors as values, the server maps them to etcd's texts. */
export class RaftError extends Error {
  constructor(readonly kind: "ProposalDropped" | "StepLocalMsg" | "StepPeerNotFound" | "Compacted" | "Unavailable" | "SnapshotTemporarilyUnavailable", message?: string) {
    super(message ?? kind);
    this.name = "RaftError";
  }
}
