import { computeClusterId, computeMemberId } from "./member-id.ts";

export interface MemberInfo {
  id: bigint;
  /** Empty until the member published its attributes (etcdctl shows it "unstarted"). */
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** The initial membership from --initial-cluster (name → peer URLs), with etcd's ids. */
export function bootstrapMembers(initialCluster: ReadonlyMap<string, readonly string[]>, token: string): { members: MemberInfo[]; clusterId: bigint } {
  const members = [...initialCluster].map(([name, urls]) => ({
    id: computeMemberId(urls, token),
    name,
    peerURLs: [...urls],
    clientURLs: [] as string[],
    isLearner: false,
  }));
  return { members, clusterId: computeClusterId(members.map((m) => m.id)) };
}

/** Members as JSON (ids as hex strings: uint64 does not survive JSON numbers). */
export function membersToJson(members: MemberInfo[]): string {
  return JSON.stringify(members.map((m) => ({ ...m, id: m.id.toString(16) })));
}

export function membersFromJson(text: string): MemberInfo[] {
  return (JSON.parse(text) as (Omit<MemberInfo, "id"> & { id: string })[]).map((m) => ({ ...m, id: BigInt(`0x${m.id}`) }));
}

/**
 * A conf change's context: the member it concerns (etcd puts the member there too) and, for changes
 * proposed by a Cluster RPC, the key its caller waits on.
 */
export function confContext(member: MemberInfo | undefined, key?: string): Uint8Array {
  const m = member ? JSON.parse(membersToJson([member]))[0] : null;
  return new TextEncoder().encode(JSON.stringify({ key, member: m }));
}

export function parseConfContext(ctx: Uint8Array | undefined): { key?: string; member?: MemberInfo } {
  if (!ctx || ctx.length === 0) return {};
  try {
    const v = JSON.parse(new TextDecoder().decode(ctx)) as { key?: string; member?: { id: string } | null };
    return { key: v.key, member: v.member ? membersFromJson(JSON.stringify([v.member]))[0] : undefined };
  } catch {
    return {};
  }
}

export const hex = (id: bigint) => id.toString(16);
