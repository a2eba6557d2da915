import { expect, test } from "bun:test";
import { raftpb } from "../proto/etcd.js";
import { decodeConfChange, decodeEntry, decodeHardState, decodeMessage, encodeConfChange, encodeEntry, encodeHardState, encodeMessage } from "./codec.ts";
import { ConfChangeType, message, MessageType } from "./types.ts";

test("messages round-trip through raftpb with 64-bit ids intact", () => {
  const m = message({
    type: MessageType.App,
    to: 0x8e9e05c52164694dn,
    from: 0xfd422379fda50e48n,
    term: 7,
    logTerm: 6,
    index: 41,
    commit: 40,
    entries: [{ term: 7, index: 42, type: 0, data: new Uint8Array([1, 2, 3]) }],
    context: new Uint8Array([9]),
  });
  expect(decodeMessage(encodeMessage(m))).toEqual(m);
  const snap = message({ type: MessageType.Snap, to: 2n, from: 1n, term: 3, snapshot: { data: new Uint8Array([7]), meta: { index: 10, term: 2, confState: { voters: [1n, 2n], learners: [3n] } } } });
  expect(decodeMessage(encodeMessage(snap))).toEqual(snap);
});

test("entries use etcd's raftpb.Entry field numbers", () => {
  const bytes = encodeEntry({ term: 2, index: 5, type: 1, data: new Uint8Array([4]) });
  const pb = raftpb.Entry.decode(bytes);
  expect([pb.Term, pb.Index, pb.Type, [...pb.Data]]).toEqual([2n, 5n, 1, [4]]);
  expect(decodeEntry(bytes)).toEqual({ term: 2, index: 5, type: 1, data: new Uint8Array([4]) });
});

test("hard state and conf change", () => {
  expect(decodeHardState(encodeHardState({ term: 3, vote: 0x8e9e05c52164694dn, commit: 99 }))).toEqual({ term: 3, vote: 0x8e9e05c52164694dn, commit: 99 });
  expect(decodeConfChange(encodeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: 5n }))).toEqual({ type: ConfChangeType.AddLearnerNode, nodeId: 5n, context: undefined });
});
