// What members ask each other outside Raft, over the peer port's request connections: the member
// list (a member joining with --initial-cluster-state existing learns its id and the cluster's, as
// etcd's joiner reads its peers' /members), HashKV at a revision (the corruption checks, etcd's
// /members/hashkv), the hash at a compaction point (the compaction hash check), and a follower's lease keep-alive or time-to-live for the leader (etcd
// forwards those to the leader's lease endpoints). Bodies are small JSON documents; ids are hex strings.
import { EtcdError } from "../../pkg/errors.ts";
import { hex, type MemberInfo, membersFromJson, membersToJson } from "./membership.ts";

import type { LeaseForward, LeaseForwardAnswer } from "./lease-service.ts";

export type PeerRequest = { op: "members" } | { op: "hashkv"; revision: string } | { op: "compactHash"; revision: string } | LeaseForward;

export interface PeerHash {
  hash: number;
  compactRevision: bigint;
  revision: bigint;
}

export interface PeerApiDeps {
  clusterId(): bigint;
  members(): MemberInfo[];
  hashKV(rev: bigint): Promise<PeerHash>;
  /** The hash at a compaction point (compact-hash.ts); rejects when this member has none for it. */
  compactHash(rev: bigint): Promise<PeerHash>;
  /** A follower's keep-alive or time-to-live, for the leader's lessor. */
  lease(req: LeaseForward): Promise<LeaseForwardAnswer>;
}

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;

export function encodePeerRequest(r: PeerRequest): Uint8Array {
  return enc(r);
}

/** Serves one request. A member that has not joined yet (from 0) may only read the member list. */
export async function answerPeerRequest(req: { from: bigint; clusterId: bigint; body: Uint8Array }, deps: PeerApiDeps): Promise<Uint8Array> {
  let r: PeerRequest;
  try {
    r = dec(req.body) as PeerRequest;
  } catch {
    return enc({ error: "malformed request" });
  }
  if (r.op === "members") return enc({ clusterId: hex(deps.clusterId()), members: JSON.parse(membersToJson(deps.members())) });
  if (req.from === 0n) return enc({ error: "only members may ask that" });
  if (r.op === "hashkv" || r.op === "compactHash") {
    try {
      const rev = BigInt(r.revision);
      const h = await (r.op === "hashkv" ? deps.hashKV(rev) : deps.compactHash(rev));
      return enc({ hash: h.hash, compactRevision: String(h.compactRevision), revision: String(h.revision) });
    } catch (e) {
      return enc({ error: e instanceof EtcdError ? e.message : String(e) });
    }
  }
  if (r.op === "leaseRenew" || r.op === "leaseTimeToLive") return enc(await deps.lease(r));
  return enc({ error: `unknown request ${JSON.stringify((r as { op?: unknown }).op)}` });
}

/** Decodes a member-list answer. */
export function decodeMembersAnswer(b: Uint8Array): { clusterId: bigint; members: MemberInfo[] } {
  const v = dec(b);
  if (typeof v.error === "string") throw new Error(v.error);
  return { clusterId: BigInt(`0x${v.clusterId}`), members: membersFromJson(JSON.stringify(v.members)) };
}

/** Decodes a HashKV answer; an error answer (compacted, future revision) is thrown. */
export function decodeHashAnswer(b: Uint8Array): PeerHash {
  const v = dec(b);
  if (typeof v.error === "string") throw new Error(v.error);
  return { hash: Number(v.hash), compactRevision: BigInt(v.compactRevision as string), revision: BigInt(v.revision as string) };
}
