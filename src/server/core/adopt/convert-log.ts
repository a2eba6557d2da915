/**
 * etcd's log as etcd-ts replays it. Entries keep their index, term and type, so Raft's log is the
 * same on every member (each converts its own WAL the same way); only payloads etcd-ts reads
 * differently are rewritten:
 * - conf changes: etcd's Member JSON context → ours (membership.ts confContext);
 * - etcd 3.4's v2 publish of a member's name and client URLs → clusterMemberAttrSet (etcd 3.5's);
 *   other v2 requests (cluster version, SYNC, reads) and 3.5's cluster version and downgrade
 *   requests → empty entries (nothing to apply here);
 * - etcd 3.4's user add / change password carry the password in plain text (each member hashed it
 *   at apply) → a bcrypt hash (etcd 3.5's hashedPassword), so no password is left in our log.
 * A v2 key write or a joint-consensus conf change cannot be converted and is refused.
 *
 * membershipAt replays the same entries' membership effects, as etcd's apply validates them, to
 * know the member list as of the database's consistent index.
 */
import { encodeWithHeadroom } from "../../../proto/encode.ts";
import { etcdserverpb } from "../../../proto/etcd.js";
import { decodeConfChange, encodeConfChange } from "../../../raft/codec.ts";
import { ConfChangeType, type Entry, EntryType } from "../../../raft/types.ts";
import type { EtcdEntry } from "../../../wal/etcd/log.ts";
import { confContext, type MemberInfo } from "../membership.ts";
import { memberAttributesPath, parseEtcdMemberJson, readNormalEntry, writesV2Keys } from "./etcd-requests.ts";

export class UnconvertibleError extends Error {
  override name = "UnconvertibleError";
}

export interface ConvertOptions {
  /** bcrypt of a plain-text password from an etcd 3.4 entry. */
  hashPassword(password: string): Promise<string>;
  /** Names an entry in messages ("entry 42 (term 3) of etcd's WAL in '…'"). */
  where(e: EtcdEntry): string;
}

export async function convertEntry(e: EtcdEntry, opts: ConvertOptions): Promise<Entry> {
  const out = (data: Uint8Array): Entry => ({ index: Number(e.index), term: Number(e.term), type: e.type as EntryType, data });
  if (e.type === EntryType.ConfChange) {
    const cc = decodeConfChange(e.data);
    if (cc.type === ConfChangeType.RemoveNode) return out(encodeConfChange({ type: cc.type, nodeId: cc.nodeId, context: confContext(undefined) }));
    const m = parseEtcdMemberJson(cc.context, opts.where(e));
    const member: MemberInfo = { id: cc.nodeId, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
    return out(encodeConfChange({ type: cc.type, nodeId: cc.nodeId, context: confContext(member) }));
  }
  if (e.type !== EntryType.Normal) {
    throw new UnconvertibleError(`${opts.where(e)} is a joint-consensus conf change (ConfChangeV2), which etcd-ts does not support`);
  }
  const r = readNormalEntry(e.data);
  if (r.kind === "empty") return out(e.data);
  if (r.kind === "v2") {
    if (writesV2Keys(r.req)) throw v2DataError(opts.where(e));
    const id = r.req.Method === "PUT" ? memberAttributesPath(r.req.Path) : undefined;
    if (id === undefined) return out(new Uint8Array(0));
    const attrs = JSON.parse(r.req.Val || "{}") as { name?: string; clientURLs?: string[] | null };
    return out(
      encodeWithHeadroom(etcdserverpb.InternalRaftRequest, {
        header: { ID: r.req.ID },
        clusterMemberAttrSet: { member_ID: id, memberAttributes: { name: attrs.name ?? "", clientUrls: attrs.clientURLs ?? [] } },
      }),
    );
  }
  const req = r.req;
  if (req.clusterVersionSet || req.downgradeInfoSet) return out(new Uint8Array(0));
  const add = req.authUserAdd;
  const change = req.authUserChangePassword;
  if ((add && add.password) || (change && change.password)) {
    if (add?.password) {
      if (!add.hashedPassword && !add.options?.noPassword) add.hashedPassword = await opts.hashPassword(add.password);
      add.password = "";
    }
    if (change?.password) {
      if (!change.hashedPassword) change.hashedPassword = await opts.hashPassword(change.password);
      change.password = "";
    }
    return out(encodeWithHeadroom(etcdserverpb.InternalRaftRequest, req));
  }
  return out(e.data);
}

export function v2DataError(where: string): UnconvertibleError {
  return new UnconvertibleError(
    `${where} writes a key with etcd's v2 API; etcd-ts serves only the v3 API and cannot take over v2 data. ` +
      "Move the v2 keys to v3 with etcd 3.4 first (etcdctl migrate, or re-write them through the v3 API and delete them from v2)",
  );
}

/**
 * The member list after applying the membership effects of `entries` up to index `upTo` (inclusive)
 * to `base`, with etcd's validation: adding an existing or removed id, removing or updating an
 * unknown one, or reusing another member's peer URL is refused at apply (nothing changes).
 */
export function membershipAt(
  base: { members: readonly MemberInfo[]; removed: readonly bigint[] },
  entries: readonly EtcdEntry[],
  upTo: bigint,
  where: (e: EtcdEntry) => string,
): { members: MemberInfo[]; removed: bigint[] } {
  const members = new Map(base.members.map((m) => [m.id, { ...m, peerURLs: [...m.peerURLs], clientURLs: [...m.clientURLs] }]));
  const removed = new Set(base.removed);
  const urlTaken = (urls: string[], except: bigint) => [...members.values()].some((m) => m.id !== except && m.peerURLs.some((u) => urls.includes(u)));
  for (const e of entries) {
    if (e.index > upTo) break;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const existing = members.get(cc.nodeId);
      switch (cc.type) {
        case ConfChangeType.AddNode:
        case ConfChangeType.AddLearnerNode: {
          const m = parseEtcdMemberJson(cc.context, where(e));
          if (m.isPromote) {
            if (existing?.isLearner) existing.isLearner = false;
          } else if (!existing && !removed.has(cc.nodeId) && !urlTaken(m.peerURLs, cc.nodeId)) {
            members.set(cc.nodeId, { id: cc.nodeId, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: cc.type === ConfChangeType.AddLearnerNode });
          }
          break;
        }
        case ConfChangeType.RemoveNode:
          if (existing) {
            members.delete(cc.nodeId);
            removed.add(cc.nodeId);
          }
          break;
        case ConfChangeType.UpdateNode: {
          const m = parseEtcdMemberJson(cc.context, where(e));
          if (existing && !urlTaken(m.peerURLs, cc.nodeId)) existing.peerURLs = m.peerURLs;
          break;
        }
      }
    } else if (e.type === EntryType.Normal) {
      const attrs = publishedAttributes(e.data);
      const m = attrs && members.get(attrs.id);
      if (m) {
        m.name = attrs.name;
        m.clientURLs = attrs.clientURLs;
      }
    }
  }
  return { members: [...members.values()], removed: [...removed] };
}

/** A member's name and client URLs published by the entry (v2 in etcd 3.4, clusterMemberAttrSet in 3.5). */
function publishedAttributes(data: Uint8Array): { id: bigint; name: string; clientURLs: string[] } | undefined {
  const r = readNormalEntry(data);
  if (r.kind === "v2") {
    const id = r.req.Method === "PUT" ? memberAttributesPath(r.req.Path) : undefined;
    if (id === undefined) return undefined;
    const a = JSON.parse(r.req.Val || "{}") as { name?: string; clientURLs?: string[] | null };
    return { id, name: a.name ?? "", clientURLs: [...(a.clientURLs ?? [])] };
  }
  const set = r.kind === "v3" ? r.req.clusterMemberAttrSet : undefined;
  if (!set) return undefined;
  return { id: BigInt(set.member_ID ?? 0n), name: set.memberAttributes?.name ?? "", clientURLs: [...(set.memberAttributes?.clientUrls ?? [])] };
}
