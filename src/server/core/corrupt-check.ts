// The leader's periodic corruption check (etcd's --experimental-corrupt-check-time): every member
// hashes its history up to the same revision; members whose hash disagrees with the majority get
// the CORRUPT alarm, which stops writes cluster-wide until an operator repairs the member and
// disarms it. Hashes are comparable only between members with the same compacted revision.
import type { PeerHash } from "./peer-api.ts";

export interface CorruptCheckDeps {
  self: bigint;
  /** the other members to ask */
  peers(): bigint[];
  localHash(rev: bigint): Promise<PeerHash>;
  /** a peer's hash at rev; rejects when it cannot say (unreachable, behind, compacted) */
  peerHash(id: bigint, rev: bigint): Promise<PeerHash>;
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

const hex = (id: bigint) => id.toString(16);

/**
 * Compares every member's hash at `rev` and returns the members that disagree. With a majority of
 * the answering members (this one included) on one hash, the others are the corrupt ones; without
 * one (two members, or a three-way split) this member trusts itself, as etcd's leader does.
 */
export async function findCorruptMembers(deps: CorruptCheckDeps, rev: bigint): Promise<bigint[]> {
  const mine = await deps.localHash(rev);
  const answers = new Map<bigint, PeerHash>([[deps.self, mine]]);
  await Promise.all(
    deps.peers().map(async (id) => {
      try {
        const h = await deps.peerHash(id, rev);
        if (h.compactRevision === mine.compactRevision && h.revision === rev) answers.set(id, h);
        else deps.log("debug", "skipped a member in the corruption check: different compaction", { "remote-peer-id": hex(id), "remote-compact-revision": String(h.compactRevision) });
      } catch (e) {
        deps.log("debug", "skipped a member in the corruption check", { "remote-peer-id": hex(id), error: e instanceof Error ? e.message : String(e) });
      }
    }),
  );
  if (answers.size < 2) return [];
  const votes = new Map<number, number>();
  for (const a of answers.values()) votes.set(a.hash, (votes.get(a.hash) ?? 0) + 1);
  const [top, count] = [...votes].sort((a, b) => b[1] - a[1])[0];
  const good = count * 2 > answers.size ? top : mine.hash;
  const bad = [...answers].filter(([, a]) => a.hash !== good).map(([id]) => id);
  for (const id of bad) {
    deps.log("error", "found data inconsistency with peers", {
      revision: String(rev),
      "compact-revision": String(mine.compactRevision),
      "corrupt-member-id": hex(id),
      "member-hash": answers.get(id)?.hash,
      "majority-hash": good,
    });
  }
  return bad;
}
