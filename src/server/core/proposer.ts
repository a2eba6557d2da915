import type { Clock } from "../../pkg/clock.ts";
import { Errors, isEtcdError } from "../../pkg/errors.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { encodeWithHeadroom } from "../../proto/encode.ts";
import { AlarmType, consumesSpace } from "./alarms.ts";
import type { Request, RequestKind, Results } from "./apply/results.ts";
import type { AuthInfo } from "./auth/store.ts";
import type { MemberState } from "./member-state.ts";
import { proposalsFailed } from "./metrics.ts";
import type { Proposals } from "./proposals.ts";
import type { RaftNode } from "./raft-node.ts";

/** Proposals of one client write refused for a stale auth revision before the error is returned. */
const AUTH_RETRIES_MAX = 10;

export interface ProposerDeps {
  self: bigint;
  state: MemberState;
  raft: RaftNode;
  proposals: Proposals;
  clock: Clock;
  maxRequestBytes: number;
  quotaBackendBytes: number;
  requestTimeoutMs: number;
  stopped: () => boolean;
}

/**
 * Turns a request into a Raft proposal and waits for its entry to be applied (etcd's
 * processInternalRaftRequest): refused early when it is too large, when there is no leader, when the
 * quota is spent, or when apply lags commit too far (raft-node's backpressure).
 */
export class Proposer {
  readonly #d: ProposerDeps;

  constructor(deps: ProposerDeps) {
    this.#d = deps;
  }

  async propose<K extends RequestKind>(body: Request, ai?: AuthInfo): Promise<Results[K]> {
    const d = this.#d;
    if (d.stopped()) throw Errors.stopped;
    const id = d.proposals.nextId();
    const request = { ...body, header: ai ? { ID: id, username: ai.username, authRevision: ai.revision } : { ID: id } };
    const data = encodeWithHeadroom(etcdserverpb.InternalRaftRequest, request);
    if (data.length > d.maxRequestBytes) throw Errors.requestTooLarge;
    if (d.raft.lead === 0n) {
      proposalsFailed.inc();
      throw Errors.noLeader;
    }
    if (consumesSpace(body)) {
      if (d.state.hasAlarm(AlarmType.NOSPACE)) throw Errors.noSpace;
      if (d.quotaBackendBytes > 0 && d.state.dbSize + data.length > d.quotaBackendBytes) {
        // As etcd: raise the NOSPACE alarm for the whole cluster and refuse this write.
        void this.propose({ alarm: { action: 1, memberID: d.self, alarm: AlarmType.NOSPACE } }).catch(() => {});
        throw Errors.noSpace;
      }
    }
    try {
      d.raft.propose(data);
    } catch (err) {
      proposalsFailed.inc();
      throw err;
    }
    return d.proposals.wait<Results[K]>(id, d.clock.now() + d.requestTimeoutMs, { data, request });
  }

  /**
   * A client's write: when auth changed between the lookup of who asks and the apply (a user or role
   * added meanwhile), etcd's raftRequest proposes it again with the current auth revision rather
   * than fail it. Only for identities looked up now (simple tokens, TLS CN); a JWT carries its
   * revision and stays refused. Bounded: a store that keeps changing fails the write after a few tries.
   */
  async proposeAs<K extends RequestKind>(body: Request, ai?: AuthInfo): Promise<Results[K]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.propose<K>(body, ai);
      } catch (err) {
        const stale = isEtcdError(err) && err.message === Errors.authOldRevision.message;
        if (!stale || !ai?.current || attempt >= AUTH_RETRIES_MAX) throw err;
        ai = { ...ai, revision: this.#d.state.authStore.revision };
      }
    }
  }

  /** Proposals Raft dropped (no leader took them). */
  dropped(data: readonly Uint8Array[], err: unknown): void {
    const n = this.#d.proposals.rejectData(data, err);
    for (let i = 0; i < n; i++) proposalsFailed.inc();
  }

  /** Called every tick: proposals (and conf changes) past their request timeout fail with etcd's timeout. */
  expire(): void {
    const n = this.#d.proposals.expire(this.#d.clock.now(), Errors.timeout);
    for (let i = 0; i < n; i++) proposalsFailed.inc();
  }
}
