import { createHash } from "node:crypto";

/**
 * Member and cluster ids computed exactly as etcd does, so a single member started with etcd's
 * defaults has etcd's well-known ids (8e9e05c52164694d in cluster cdf818194e3a8c32) and tools that
 * pin ids keep working.
 */
export function computeMemberId(peerUrls: readonly string[], clusterToken: string, nowUnixSeconds?: number): bigint {
  let text = [...peerUrls].sort().join("") + clusterToken;
  if (nowUnixSeconds !== undefined) text += String(nowUnixSeconds);
  return first8(createHash("sha1").update(text).digest());
}

export function computeClusterId(memberIds: readonly bigint[]): bigint {
  const ids = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * ids.length);
  ids.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return first8(createHash("sha1").update(buf).digest());
}

function first8(hash: Buffer): bigint {
  return hash.readBigUInt64BE(0);
}

export const hexId = (id: bigint) => id.toString(16);
