import { encodeConfChange } from "../../raft/codec.ts";
import { ConfChangeType, type Entry, EntryType, type HardState } from "../../raft/types.ts";
import { confContext, type MemberInfo } from "./membership.ts";

/**
 * The log every member of a new cluster starts with, as etcd bootstraps: one committed conf change
 * per initial member (term 1, indexes 1..n, in --initial-cluster order), each carrying the member
 * (without its name, which it publishes once running). A fresh start writes it; `snapshot restore`
 * starts the log after a Raft snapshot at index n instead (restore.ts), so that a member added later
 * is sent the database rather than this log, which holds no keys.
 */
export function bootstrapLog(members: readonly MemberInfo[]): { entries: Entry[]; hardState: HardState } {
  const entries: Entry[] = members.map((m, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: m.id, context: confContext({ ...m, name: "" }) }),
  }));
  return { entries, hardState: { term: 1, vote: 0n, commit: entries.length } };
}
