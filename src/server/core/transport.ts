import type { Message, NodeId } from "../../raft/types.ts";
import type { MemberInfo } from "./membership.ts";

/** A database copy for a lagging follower: the file, and what the receiver checks it against. */
export interface PeerSnapshot {
  path: string;
  size: number;
  sha256: Buffer;
}

/** Talks to peers (server/peer implements it over TCP; a single member needs none). */
export interface Transport {
  send(msgs: Message[]): void;
  /** Ships a Snap message's database; the outcome comes back through reportSnapshot. */
  sendSnapshot(m: Message, db: PeerSnapshot): void;
  /** One request to a peer, answered by its answerPeer. */
  request(id: NodeId, body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  addPeer(id: NodeId, urls: string[]): void;
  removePeer(id: NodeId): void;
}

/** What a joining member learns from the cluster before it starts (etcd asks its peers' /members). */
export interface RemoteCluster {
  clusterId: bigint;
  members: MemberInfo[];
}
