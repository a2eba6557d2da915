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

/** What a conf change carries about the member it adds (etcd puts the member in the context). */
export function memberContext(m: MemberInfo): Uint8Array {
  return new TextEncoder().encode(membersToJson([m]));
}

export function memberFromContext(ctx: Uint8Array | undefined): MemberInfo | undefined {
  if (!ctx || ctx.length === 0) return undefined;
  try {
    return membersFromJson(new TextDecoder().decode(ctx))[0];
  } catch {
    return undefined;
  }
}

export const hex = (id: bigint) => id.toString(16);
