/**
 * The v2 store an etcd 3.4/3.5 snapshot file carries (raftpb.Snapshot.data, JSON of etcd's
 * v2store): where those versions keep the membership they serve — /0/members/<id>/raftAttributes
 * {"peerURLs","isLearner"} and /0/members/<id>/attributes {"name","clientURLs"}, removed ids under
 * /0/removed_members — and, under /1, keys written with the v2 API, which etcd-ts does not serve.
 */
import type { MemberInfo } from "../membership.ts";

export interface V2Membership {
  members: MemberInfo[];
  removed: bigint[];
  /** The cluster version etcd recorded (/0/version), e.g. "3.4.0". */
  clusterVersion?: string;
  /** How many v2 keys (leaves under /1) the store holds. */
  v2Keys: number;
}

interface V2Node {
  Path?: string;
  Value?: string;
  Children?: Record<string, V2Node> | null;
}

export const EMPTY_V2: V2Membership = { members: [], removed: [], v2Keys: 0 };

export function readV2Store(data: Uint8Array, file: string): V2Membership {
  let root: V2Node | undefined;
  try {
    root = (JSON.parse(new TextDecoder().decode(data)) as { Root?: V2Node }).Root;
  } catch (err) {
    throw new Error(`${file}: the snapshot's data is not etcd's v2 store (${(err as Error).message})`);
  }
  if (!root) throw new Error(`${file}: the snapshot's data is not etcd's v2 store (no Root)`);
  const cluster = root.Children?.["0"];
  const out: V2Membership = { members: [], removed: [], v2Keys: countLeaves(root.Children?.["1"]) };
  const version = cluster?.Children?.version?.Value;
  if (version) out.clusterVersion = version;
  for (const [idHex, node] of Object.entries(cluster?.Children?.members?.Children ?? {})) {
    const id = parseId(idHex, file);
    const raft = parseValue<{ peerURLs?: string[] | null; isLearner?: boolean }>(node.Children?.raftAttributes?.Value, `${file}: member ${idHex}'s raftAttributes`);
    if (!raft) throw new Error(`${file}: member ${idHex} has no raftAttributes in the v2 store`);
    const attrs = parseValue<{ name?: string; clientURLs?: string[] | null }>(node.Children?.attributes?.Value, `${file}: member ${idHex}'s attributes`);
    out.members.push({
      id,
      name: attrs?.name ?? "",
      peerURLs: [...(raft.peerURLs ?? [])],
      clientURLs: [...(attrs?.clientURLs ?? [])],
      isLearner: raft.isLearner === true,
    });
  }
  for (const idHex of Object.keys(cluster?.Children?.removed_members?.Children ?? {})) out.removed.push(parseId(idHex, file));
  return out;
}

function parseValue<T>(value: string | undefined, what: string): T | undefined {
  if (value === undefined || value === "") return undefined;
  try {
    return JSON.parse(value) as T;
  } catch (err) {
    throw new Error(`${what} is not JSON: ${(err as Error).message}`);
  }
}

function parseId(idHex: string, file: string): bigint {
  if (!/^[0-9a-f]{1,16}$/.test(idHex)) throw new Error(`${file}: '${idHex}' in the v2 store's member list is not a member id`);
  return BigInt(`0x${idHex}`);
}

function countLeaves(node: V2Node | undefined): number {
  if (!node?.Children) return 0;
  let n = 0;
  for (const child of Object.values(node.Children)) n += child.Children ? countLeaves(child) : 1;
  return n;
}
