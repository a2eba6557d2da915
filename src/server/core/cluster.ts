import { Errors } from "../../pkg/errors.ts";
import { encodeConfChange } from "../../raft/codec.ts";
import { type ConfChange, ConfChangeType, type NodeId } from "../../raft/types.ts";
import type { MemberState } from "./member-state.ts";
import { confContext, hex, type MemberInfo, parseConfContext } from "./membership.ts";
import { computeMemberId } from "./member-id.ts";
import { learnerPromoteFailed, learnerPromoteSucceed } from "./metrics.ts";
import type { Proposals } from "./proposals.ts";
import type { RaftNode } from "./raft-node.ts";
import type { Transport } from "./transport.ts";

import type { Log } from "./server-options.ts";

export interface ClusterDeps {
  self: bigint;
  state: MemberState;
  raft: RaftNode;
  proposals: Proposals;
  transport: () => Transport | null;
  initialClusterToken: string;
  strictReconfigCheck: boolean;
  maxLearners: number;
  requestTimeoutMs: number;
  now: () => number;
  /** This member was removed: it stops (after the batch that removed it is durable). */
  removed: () => void;
  log: Log;
}

/**
 * The Cluster service (etcd's membership): validates member changes as etcd does before proposing
 * them as Raft conf changes, and applies committed ones to the member list and the peer transport.
 */
export class Cluster {
  readonly #d: ClusterDeps;

  constructor(deps: ClusterDeps) {
    this.#d = deps;
  }

  get members(): MemberInfo[] {
    return this.#d.state.members;
  }

  async add(peerURLs: string[], isLearner: boolean): Promise<MemberInfo> {
    if (!validPeerUrls(peerURLs)) throw Errors.memberBadURLs;
    for (const m of this.members) if (m.peerURLs.some((u) => peerURLs.includes(u))) throw Errors.peerURLExist;
    // As etcd, the time goes into the id: a member removed and added again at the same URLs gets a
    // new id (a removed id is refused for good). The joiner learns it from its peers (joinExisting).
    const id = computeMemberId(peerURLs, this.#d.initialClusterToken, Math.floor(this.#d.now() / 1000));
    if (this.members.some((m) => m.id === id)) throw Errors.memberExist;
    if (this.#d.state.removed.has(id)) {
      // The same URLs removed within the same second give the same id, and a removed id is refused
      // for good (etcd's ErrIDRemoved, which its API reports as "member not found").
      this.#d.log("warn", "member add refused: the id these peer URLs get now belongs to a member removed within the last second; add it again in a second", { "member-id": hex(id), "peer-urls": peerURLs });
      throw Errors.memberNotFound;
    }
    // etcd's --max-learners (default 1), checked before proposing as etcd's membership validation does.
    if (isLearner && this.members.filter((m) => m.isLearner).length + 1 > this.#d.maxLearners) throw Errors.tooManyLearners;
    const member: MemberInfo = { id, name: "", peerURLs: [...peerURLs], clientURLs: [], isLearner };
    if (!isLearner) this.#checkStarted(this.#voters().length + 1, this.#voters());
    await this.#propose(isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode, id, member);
    return member;
  }

  async remove(id: bigint): Promise<void> {
    const target = this.members.find((m) => m.id === id);
    if (!target) throw Errors.memberNotFound;
    if (!target.isLearner) {
      const rest = this.#voters().filter((m) => m.id !== id);
      this.#checkStarted(rest.length, rest);
    }
    await this.#propose(ConfChangeType.RemoveNode, id, undefined);
  }

  async update(id: bigint, peerURLs: string[]): Promise<void> {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw Errors.memberNotFound;
    if (!validPeerUrls(peerURLs)) throw Errors.memberBadURLs;
    for (const o of this.members) if (o.id !== id && o.peerURLs.some((u) => peerURLs.includes(u))) throw Errors.peerURLExist;
    await this.#propose(ConfChangeType.UpdateNode, id, { ...m, peerURLs: [...peerURLs] });
  }

  async promote(id: bigint): Promise<void> {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw Errors.memberNotFound;
    if (!m.isLearner) throw Errors.memberNotLearner;
    this.#checkStarted(this.#voters().length + 1, [...this.#voters(), m]);
    const st = this.#d.raft.status();
    if (this.#d.raft.isLeader) {
      // etcd's rule: a learner is promoted only once its log is within 90% of the leader's.
      const pr = st.progress.get(id);
      if (!pr || pr.match < 0.9 * st.lastIndex) {
        learnerPromoteFailed.with(Errors.learnerNotReady.message).inc();
        throw Errors.learnerNotReady;
      }
      learnerPromoteSucceed.inc();
    }
    await this.#propose(ConfChangeType.AddNode, id, { ...m, isLearner: false });
  }

  /** Updates the member list for a newly applied conf change; returns whether it changed. */
  apply(cc: ConfChange): boolean {
    const s = this.#d.state;
    const { key, member } = parseConfContext(cc.context);
    // Our own change: its caller waits under the request id (older logs carry other keys: nobody waits).
    if (key && /^\d+$/.test(key)) {
      const id = BigInt(key);
      queueMicrotask(() => this.#d.proposals.resolve(id, undefined));
    }
    const existing = s.members.find((m) => m.id === cc.nodeId);
    switch (cc.type) {
      case ConfChangeType.AddNode:
      case ConfChangeType.AddLearnerNode: {
        const learner = cc.type === ConfChangeType.AddLearnerNode;
        if (existing) existing.isLearner = learner && existing.isLearner;
        else {
          const m = member ?? { id: cc.nodeId, name: "", peerURLs: [], clientURLs: [], isLearner: learner };
          s.members.push({ ...m, id: cc.nodeId, isLearner: learner });
        }
        break;
      }
      case ConfChangeType.RemoveNode:
        s.members = s.members.filter((m) => m.id !== cc.nodeId);
        s.markRemoved(cc.nodeId);
        if (cc.nodeId === this.#d.self) this.#d.removed();
        break;
      case ConfChangeType.UpdateNode:
        if (existing && member) existing.peerURLs = member.peerURLs;
        break;
    }
    this.syncPeer(cc);
    return true;
  }

  /** Tells the transport about the peer a conf change concerns (also for changes replayed at start). */
  syncPeer(cc: { type: number; nodeId: NodeId }): void {
    const t = this.#d.transport();
    if (!t || cc.nodeId === this.#d.self) return;
    const m = this.members.find((x) => x.id === cc.nodeId);
    if (cc.type === ConfChangeType.RemoveNode) t.removePeer(cc.nodeId);
    else if (m) {
      // A committed change is applied whatever it says: URLs no transport can dial (an entry from
      // before they were checked) leave that peer unreachable rather than stopping this member.
      try {
        t.addPeer(m.id, m.peerURLs);
      } catch (err) {
        this.#d.log("error", "cannot connect to a member: its peer URLs are unusable; fix them with etcdctl member update", {
          member: hex(m.id),
          peerURLs: m.peerURLs,
          error: (err as Error).message,
        });
      }
    }
  }

  #voters(): MemberInfo[] {
    return this.members.filter((m) => !m.isLearner);
  }

  /**
   * --strict-reconfig-check (etcd's rule): after the change, the started voters (those that published
   * their name) must still be a quorum of the voters — except when a lone member adds its second.
   */
  #checkStarted(votersAfter: number, counted: MemberInfo[]): void {
    if (!this.#d.strictReconfigCheck) return;
    const started = counted.filter((m) => m.name !== "").length;
    if (votersAfter === 2 && started === 1) return;
    if (started < Math.floor(votersAfter / 2) + 1) throw Errors.memberNotEnoughStarted;
  }

  #propose(type: ConfChangeType, nodeId: bigint, member: MemberInfo | undefined): Promise<void> {
    if (this.#d.raft.lead === 0n) throw Errors.noLeader;
    const id = this.#d.proposals.nextId();
    const done = this.#d.proposals.wait<void>(id, this.#d.now() + this.#d.requestTimeoutMs);
    this.#d.raft.proposeConfChange(encodeConfChange({ type, nodeId, context: confContext(member, String(id)) }));
    return done;
  }
}

/**
 * Peer URLs a member may be given (MemberAdd/MemberUpdate): http(s)://host:port with a real port and
 * no path, as etcd's types.NewURLs demands. Checked before proposing, since every member applies the
 * change and dials what it says.
 */
export function validPeerUrls(urls: readonly string[]): boolean {
  if (urls.length === 0) return false;
  return urls.every((text) => {
    const m = /^https?:\/\/[^/?#]+:(\d+)\/?$/.exec(text);
    if (!m) return false;
    const port = Number(m[1]);
    try {
      return new URL(text).hostname !== "" && port >= 1 && port <= 65535;
    } catch {
      return false;
    }
  });
}
