// Core types ⇄ raftpb wire messages (etcd's field numbers), for the WAL and the peer transport.
import { encodeWithHeadroom } from "../proto/encode.ts";
import { raftpb } from "../proto/etcd.js";
import type { ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType, Snapshot } from "./types.ts";

const EMPTY = new Uint8Array(0);

function entryToPb(e: Entry): raftpb.Entry.$Properties {
  return { Term: BigInt(e.term), Index: BigInt(e.index), Type: e.type, Data: e.data };
}

function entryFromPb(e: raftpb.Entry.$Properties): Entry {
  return { term: Number(e.Term ?? 0n), index: Number(e.Index ?? 0n), type: (e.Type ?? 0) as EntryType, data: e.Data ?? EMPTY };
}

function confStateToPb(cs: ConfState): raftpb.ConfState.$Properties {
  return { voters: cs.voters, learners: cs.learners };
}

function confStateFromPb(cs: raftpb.ConfState.$Properties | null | undefined): ConfState {
  return { voters: [...(cs?.voters ?? [])], learners: [...(cs?.learners ?? [])] };
}

function snapshotToPb(s: Snapshot): raftpb.Snapshot.$Properties {
  return { data: s.data, metadata: { index: BigInt(s.meta.index), term: BigInt(s.meta.term), confState: confStateToPb(s.meta.confState) } };
}

function snapshotFromPb(s: raftpb.Snapshot.$Properties): Snapshot {
  const m = s.metadata;
  return { data: s.data ?? EMPTY, meta: { index: Number(m?.index ?? 0n), term: Number(m?.term ?? 0n), confState: confStateFromPb(m?.confState) } };
}

export function encodeEntry(e: Entry): Uint8Array {
  return encodeWithHeadroom(raftpb.Entry, entryToPb(e));
}

export function decodeEntry(bytes: Uint8Array): Entry {
  return entryFromPb(raftpb.Entry.decode(bytes));
}

export function encodeHardState(hs: HardState): Uint8Array {
  return encodeWithHeadroom(raftpb.HardState, { term: BigInt(hs.term), vote: hs.vote, commit: BigInt(hs.commit) });
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const hs = raftpb.HardState.decode(bytes);
  return { term: Number(hs.term), vote: hs.vote, commit: Number(hs.commit) };
}

export function encodeMessage(m: Message): Uint8Array {
  return encodeWithHeadroom(raftpb.Message, {
    type: m.type,
    to: m.to,
    from: m.from,
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    entries: m.entries.map(entryToPb),
    commit: BigInt(m.commit),
    snapshot: m.snapshot ? snapshotToPb(m.snapshot) : undefined,
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
    context: m.context,
  });
}

export function decodeMessage(bytes: Uint8Array): Message {
  const m = raftpb.Message.decode(bytes);
  return {
    type: m.type as MessageType,
    to: m.to,
    from: m.from,
    term: Number(m.term),
    logTerm: Number(m.logTerm),
    index: Number(m.index),
    entries: (m.entries ?? []).map(entryFromPb),
    commit: Number(m.commit),
    snapshot: m.snapshot ? snapshotFromPb(m.snapshot) : undefined,
    reject: m.reject,
    rejectHint: Number(m.rejectHint),
    context: m.context && m.context.length ? m.context : undefined,
  };
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encodeWithHeadroom(raftpb.ConfChange, { type: cc.type, nodeId: cc.nodeId, context: cc.context });
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  const cc = raftpb.ConfChange.decode(bytes);
  return { type: cc.type as ConfChangeType, nodeId: cc.nodeId, context: cc.context && cc.context.length ? cc.context : undefined };
}
