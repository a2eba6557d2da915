// Corruption checks, as etcd's corruptionChecker:
// - periodic (--experimental-corrupt-check-time): the leader compares every member's hash of its
//   history up to the same revision; members whose hash disagrees with the majority get the CORRUPT
//   alarm, which stops writes cluster-wide until an operator repairs the member and disarms it;
// - initial (--experimental-initial-corrupt-check): a starting member compares its own hash with its
//   peers' before it serves clients, and refuses to start when one differs;
// - compaction hashes (--experimental-compact-hash-check-enabled): the leader compares the members'
//   hashes at their latest common compaction point.
// Hashes are comparable only between members with the same compacted revision.
import { Errors } from "../../pkg/errors.ts";
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

type Log = CorruptCheckDeps["log"];

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export interface InitialCheckDeps {
  self: bigint;
  /** The other members, with the peer URLs they are asked at (for the logs). */
  peers(): { id: bigint; peerURLs: readonly string[] }[];
  /** This member's hash of its whole history now (its revision and compact revision). */
  localHash(): Promise<PeerHash>;
  /** A peer's hash at rev; rejects when it cannot say (unreachable, behind, compacted). */
  peerHash(id: bigint, rev: bigint): Promise<PeerHash>;
  log: Log;
}

/** What a member found when it compared its history with its peers' before serving (the start fails). */
export class DataInconsistencyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataInconsistencyError";
  }
}

/**
 * etcd's initial corruption check: this member's hash at its revision against each peer's at the
 * same revision. A peer with the same compact revision and another hash means this member's data
 * (or the peer's) is damaged: throws DataInconsistencyError naming both, and the member must not
 * serve. Peers that cannot answer (down, behind, compacted past us) are logged and skipped, as etcd.
 */
export async function initialCorruptCheck(deps: InitialCheckDeps): Promise<void> {
  const self = hex(deps.self);
  deps.log("info", "starting initial corruption check", { "local-member-id": self });
  const mine = await deps.localHash();
  const local = {
    "local-member-id": self,
    "local-member-revision": String(mine.revision),
    "local-member-compact-revision": String(mine.compactRevision),
    "local-member-hash": mine.hash,
  };
  const answers = await Promise.all(
    deps.peers().map(async (p) => {
      try {
        return { p, h: await deps.peerHash(p.id, mine.revision) };
      } catch (e) {
        return { p, error: errorText(e) };
      }
    }),
  );
  const mismatched: string[] = [];
  for (const { p, h, error } of answers) {
    const remote = { "remote-peer-id": hex(p.id), "remote-peer-endpoints": [...p.peerURLs] };
    if (!h) {
      const msg =
        error === Errors.futureRev.message
          ? "cannot fetch hash from slow remote peer"
          : error === Errors.compacted.message
            ? "cannot fetch hash from remote peer; local member is behind"
            : "failed hash kv request";
      deps.log("warn", msg, { ...local, ...remote, error });
      continue;
    }
    if (h.hash === mine.hash) continue;
    const fields = { ...local, ...remote, "remote-peer-revision": String(h.revision), "remote-peer-compact-revision": String(h.compactRevision), "remote-peer-hash": h.hash };
    if (h.compactRevision !== mine.compactRevision) {
      deps.log("warn", "found different compact revision values from remote peer", fields);
      continue;
    }
    deps.log("warn", "found different hash values from remote peer", fields);
    mismatched.push(`member ${hex(p.id)} has hash ${h.hash}`);
  }
  if (mismatched.length > 0) {
    // etcd's words first (tools look for them), then what differs and what to do about it.
    throw new DataInconsistencyError(
      `${self} found data inconsistency with peers: at revision ${mine.revision} (compact revision ${mine.compactRevision}) ` +
        `this member has hash ${mine.hash} but ${mismatched.join(", ")}. One side's data is damaged; when this member ` +
        `is the odd one out, remove it (etcdctl member remove ${self}), empty its data directory and add it back, or restore it from a snapshot`,
    );
  }
  deps.log("info", "initial corruption checking passed; no corruption", { "local-member-id": self });
}

/** One member's answer in a compaction hash check: its hash, or nothing (unreachable, no hash there). */
export interface PeerAnswer {
  id: bigint;
  hash?: PeerHash;
}

export type CompactionVerdict =
  /** Every member answered with the same hash. */
  | { kind: "consistent" }
  /** Those that answered agree, but some did not answer: an older compaction point may tell more. */
  | { kind: "incomplete"; checked: number }
  /** Hashes differ: these members get the CORRUPT alarm (0n alone: no majority, the whole cluster). */
  | { kind: "mismatch"; corrupt: bigint[]; groups: { hash: number; members: bigint[] }[] };

/**
 * etcd's checkPeerHashes: the leader's hash at a compaction point against its peers'. Members are
 * grouped by hash (peers with another compact revision or no answer are left out); with a group
 * holding a quorum of all members, the others are corrupt; without one, nobody can tell which.
 */
export function judgeCompactionHashes(self: bigint, mine: PeerHash, peers: PeerAnswer[], log: Log): CompactionVerdict {
  const groups = new Map<number, bigint[]>([[mine.hash, [self]]]);
  let checked = 0;
  for (const p of peers) {
    if (!p.hash || p.hash.compactRevision !== mine.compactRevision || p.hash.revision !== mine.revision) {
      const reason = !p.hash ? "no response" : `the peer's CompactRevision ${p.hash.compactRevision} doesn't match leader's CompactRevision ${mine.compactRevision}`;
      log("warn", "Skipped peer's hash", { "number-of-peers": peers.length, "leader-id": hex(self), "peer-id": hex(p.id), reason });
      continue;
    }
    checked++;
    const g = groups.get(p.hash.hash);
    if (g) g.push(p.id);
    else groups.set(p.hash.hash, [p.id]);
  }
  if (groups.size === 1) return checked === peers.length ? { kind: "consistent" } : { kind: "incomplete", checked };
  const quorum = Math.floor((peers.length + 1) / 2) + 1;
  const majority = [...groups].find(([, ids]) => ids.length >= quorum)?.[0];
  const rest = [...groups].filter(([h]) => h !== majority).map(([hash, members]) => ({ hash, members }));
  const leaderFields = { "leader-id": hex(self), "leader-revision": String(mine.revision), "leader-compact-revision": String(mine.compactRevision), "leader-hash": mine.hash };
  if (majority === undefined) {
    log("error", "Detected compaction hash mismatch but cannot identify the corrupted members, so intentionally set the memberID as 0", leaderFields);
  }
  for (const g of rest) {
    log("error", "Detected compaction hash mismatch", { ...leaderFields, "peer-hash": g.hash, "peer-ids": g.members.map(hex), "quorum-exist": majority !== undefined });
  }
  return { kind: "mismatch", corrupt: majority === undefined ? [0n] : rest.flatMap((g) => g.members), groups: rest };
}

export interface CompactHashCheckDeps {
  self: bigint;
  peers(): bigint[];
  /** This member's hashes at its recent compaction points (any order). */
  hashes(): PeerHash[];
  /** A peer's hash at the compaction point rev; rejects when it has none. */
  peerHash(id: bigint, rev: bigint): Promise<PeerHash>;
  /** Raises CORRUPT for a member (0n: the whole cluster). */
  raiseCorrupt(id: bigint): Promise<void>;
  log: Log;
}

/**
 * The leader's compaction hash check (etcd's CompactHashCheck, --experimental-compact-hash-check-time):
 * its compaction points not yet checked on every member, newest first, until one is checked on all
 * of them or shows a mismatch. Cheap: no member hashes anything for it beyond its own compactions.
 */
export class CompactHashChecker {
  #deps: CompactHashCheckDeps;
  /** The newest compaction point every member agreed on: nothing at or below it is asked again. */
  #latestChecked = 0n;

  constructor(deps: CompactHashCheckDeps) {
    this.#deps = deps;
  }

  get latestChecked(): bigint {
    return this.#latestChecked;
  }

  /** One pass; returns the members it raised CORRUPT for. */
  async check(): Promise<bigint[]> {
    const d = this.#deps;
    d.log("info", "starting compact hash check", { "local-member-id": hex(d.self) });
    const unchecked = d
      .hashes()
      .filter((h) => h.revision > this.#latestChecked)
      .sort((a, b) => (a.revision > b.revision ? -1 : a.revision < b.revision ? 1 : 0));
    let n = 0;
    for (const mine of unchecked) {
      n++;
      const peers = d.peers();
      if (peers.length === 0) continue;
      const answers = await Promise.all(
        peers.map(async (id): Promise<PeerAnswer> => {
          try {
            return { id, hash: await d.peerHash(id, mine.revision) };
          } catch (e) {
            d.log("debug", "no compaction hash from peer", { "peer-id": hex(id), revision: String(mine.revision), error: errorText(e) });
            return { id };
          }
        }),
      );
      const v = judgeCompactionHashes(d.self, mine, answers, d.log);
      if (v.kind === "incomplete") {
        d.log("warn", "skipped revision in compaction hash check; was not able to check all peers", {
          "number-of-peers-checked": v.checked,
          "number-of-peers": peers.length,
          revision: String(mine.revision),
          compactRevision: String(mine.compactRevision),
        });
        continue;
      }
      if (v.kind === "consistent") {
        d.log("info", "successfully checked hash on whole cluster", { "number-of-peers-checked": peers.length, revision: String(mine.revision), compactRevision: String(mine.compactRevision) });
        if (mine.revision > this.#latestChecked) this.#latestChecked = mine.revision;
      } else {
        for (const id of v.corrupt) await d.raiseCorrupt(id);
      }
      d.log("info", "finished compaction hash check", { "number-of-hashes-checked": n });
      return v.kind === "mismatch" ? v.corrupt : [];
    }
    d.log("info", "finished compaction hash check", { "number-of-hashes-checked": n });
    return [];
  }
}
