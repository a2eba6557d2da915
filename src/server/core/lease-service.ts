// The Lease service's leader-side half (etcd's v3_server lease methods): grant and revoke go through
// Raft; keep-alive and time-to-live are answered by the leader's lessor, so a follower forwards them
// to the leader over a peer request; a timer on the leader proposes revokes for expired leases and,
// with --experimental-enable-lease-checkpoint, checkpoints of their remaining TTLs. What applies the entries (grant, revoke + deleting the keys, checkpoints) lives in the server.
import { LeaseExpiredError, type Lessor, MAX_LEASE_TTL_SECONDS, NotPrimaryError } from "../../lease/lessor.ts";
import { type Clock, systemClock } from "../../pkg/clock.ts";
import { EtcdError, Errors } from "../../pkg/errors.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { leaseExpired } from "./metrics.ts";

/** etcd's leaseRevokeRate: expired leases revoked per second at most. */
const REVOKES_PER_SECOND = 1000;
/** How long a keep-alive waits for a leader that can renew. */
const RENEW_WAIT_MS = 5000;
/** etcd checks for expired leases (and due checkpoints) every 500 ms. */
const EXPIRY_CHECK_MS = 500;
/** etcd's maxLeaseCheckpointBatchSize: checkpoints in one LeaseCheckpoint entry. */
const CHECKPOINTS_PER_ENTRY = 1000;
/** etcd's leaseCheckpointRate (LeaseCheckpoint entries per second): entries proposed per 500 ms turn at most. */
const CHECKPOINT_ENTRIES_PER_TURN = (1000 * EXPIRY_CHECK_MS) / 1000;

export interface LeaseServiceDeps {
  lessor: () => Lessor;
  propose(body: etcdserverpb.InternalRaftRequest.$Properties): Promise<unknown>;
  /** The current leader's id, 0 without one. */
  leader(): bigint;
  self: bigint;
  /** Asks the leader (see peer-api.ts); rejects when it cannot be reached. */
  forward(leader: bigint, req: LeaseForward): Promise<LeaseForwardAnswer>;
  /** A fresh id for a grant that asked for none. */
  nextId(): bigint;
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** The expiry timer's and the keep-alive waits' time (default the system's). */
  clock?: Clock;
}

export type LeaseForward = { op: "leaseRenew"; id: string } | { op: "leaseTimeToLive"; id: string };
export type LeaseForwardAnswer = { ttl: number; grantedTtl?: number; keys?: string[] } | { error: string };

export class LeaseService {
  #deps: LeaseServiceDeps;
  #clock: Clock;
  #stopTimer: () => void;

  constructor(deps: LeaseServiceDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#stopTimer = this.#clock.every(EXPIRY_CHECK_MS, () => {
      this.#revokeExpired();
      this.checkpointDue();
    });
  }

  stop(): void {
    this.#stopTimer();
  }

  async grant(r: etcdserverpb.LeaseGrantRequest.$Properties): Promise<unknown> {
    const ttl = BigInt(r.TTL ?? 0n);
    if (ttl > BigInt(MAX_LEASE_TTL_SECONDS)) throw Errors.leaseTTLTooLarge;
    const id = BigInt(r.ID ?? 0n) || this.#deps.nextId();
    return this.#deps.propose({ leaseGrant: { ID: id, TTL: ttl } });
  }

  async revoke(id: bigint): Promise<unknown> {
    return this.#deps.propose({ leaseRevoke: { ID: id } });
  }

  /** One keep-alive: the TTL the lease got, 0 when it does not exist (as etcd answers). */
  async renew(id: bigint): Promise<number> {
    // A new leader renews only once it has applied its term's first entry (promote): wait for that.
    const clock = this.#clock;
    const pause = () => new Promise((r) => clock.after(50, () => r(undefined)));
    for (const deadline = clock.now() + RENEW_WAIT_MS; ; ) {
      const lessor = this.#deps.lessor();
      const leader = this.#deps.leader();
      if (lessor.isPrimary) {
        try {
          const { ttl, clearCheckpoint } = lessor.renew(id);
          // A checkpointed remainder must not outlive this renewal on the next leader.
          if (clearCheckpoint) await this.#deps.propose({ leaseCheckpoint: { checkpoints: [{ ID: id, remaining_TTL: 0n }] } });
          return ttl;
        } catch (e) {
          if (e === Errors.leaseNotFound) return 0;
          if (e instanceof LeaseExpiredError) await lessor.settled(id);
          else if (!(e instanceof NotPrimaryError)) throw e;
        }
      } else if (leader !== 0n && leader !== this.#deps.self) {
        try {
          return (await this.#ask({ op: "leaseRenew", id: String(id) })).ttl;
        } catch (e) {
          // The member we took for the leader is not (yet) its primary: ask again shortly.
          if (e !== Errors.notLeader || clock.now() > deadline) throw e;
          await pause();
        }
      } else {
        if (clock.now() > deadline) throw leader === 0n ? Errors.noLeader : Errors.leaderChanged;
        await pause();
      }
    }
  }

  /** TimeToLive: the leader's view (a follower's lessor does not run the clock). TTL -1 when unknown. */
  async timeToLive(id: bigint, keys: boolean): Promise<{ ID: bigint; TTL: bigint; grantedTTL: bigint; keys: Uint8Array[] }> {
    const lessor = this.#deps.lessor();
    if (!lessor.isPrimary) {
      const a = await this.#ask({ op: "leaseTimeToLive", id: String(id) });
      return { ID: id, TTL: BigInt(a.ttl), grantedTTL: BigInt(a.grantedTtl ?? 0), keys: keys ? (a.keys ?? []).map((k) => Buffer.from(k, "base64")) : [] };
    }
    try {
      const t = lessor.timeToLive(id);
      return { ID: id, TTL: BigInt(t.ttl), grantedTTL: BigInt(t.grantedTtl), keys: keys ? t.keys : [] };
    } catch (e) {
      if (e === Errors.leaseNotFound) return { ID: id, TTL: -1n, grantedTTL: 0n, keys: [] };
      throw e;
    }
  }

  /**
   * Answers a follower's forwarded request. Only a primary answers (as etcd's leader does); anyone
   * else says so rather than forwarding again, so a request never bounces between members.
   */
  async answer(req: LeaseForward): Promise<LeaseForwardAnswer> {
    if (!this.#deps.lessor().isPrimary) return { error: Errors.notLeader.message };
    const id = BigInt(req.id);
    try {
      if (req.op === "leaseRenew") return { ttl: await this.renew(id) };
      const t = await this.timeToLive(id, true);
      return { ttl: Number(t.TTL), grantedTtl: Number(t.grantedTTL), keys: t.keys.map((k) => Buffer.from(k).toString("base64")) };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }

  async #ask(req: LeaseForward): Promise<{ ttl: number; grantedTtl?: number; keys?: string[] }> {
    const leader = this.#deps.leader();
    if (leader === 0n) throw Errors.noLeader;
    if (leader === this.#deps.self) throw Errors.leaderChanged; // leading, but not promoted yet
    let a: LeaseForwardAnswer;
    try {
      a = await this.#deps.forward(leader, req);
    } catch {
      throw Errors.timeout;
    }
    if ("error" in a) throw Object.values(Errors).find((x) => x instanceof EtcdError && x.message === a.error) ?? new Error(a.error);
    return a;
  }

  /**
   * Proposes the checkpoints the primary lessor has due (none unless checkpointing is on): each
   * lease's remaining TTL, so a new leader starts it from there rather than from its full TTL.
   * Returns how many were proposed. Run by the timer; public for tests.
   */
  checkpointDue(): number {
    const lessor = this.#deps.lessor();
    if (!lessor.isPrimary) return 0;
    let proposed = 0;
    for (let entries = 0; entries < CHECKPOINT_ENTRIES_PER_TURN; entries++) {
      const due = lessor.dueCheckpoints(CHECKPOINTS_PER_ENTRY);
      if (due.length === 0) break;
      proposed += due.length;
      const checkpoints = due.map((c) => ({ ID: c.id, remaining_TTL: BigInt(c.remainingTtl) }));
      // Lost with a change of leader: the next leader schedules its own.
      this.#deps.propose({ leaseCheckpoint: { checkpoints } }).catch((e) => this.#deps.log("debug", "lease checkpoint not applied", { leases: due.length, error: String(e) }));
    }
    return proposed;
  }

  #revoking = false;

  #revokeExpired(): void {
    const lessor = this.#deps.lessor();
    if (this.#revoking || !lessor.isPrimary) return;
    const ids = lessor.expired((REVOKES_PER_SECOND * EXPIRY_CHECK_MS) / 1000);
    if (ids.length === 0) return;
    this.#revoking = true;
    Promise.all(
      ids.map((id) =>
        this.#deps.propose({ leaseRevoke: { ID: id } }).then(
          () => leaseExpired.inc(),
          (e) => {
            if (e !== Errors.leaseNotFound) this.#deps.log("debug", "expired lease not revoked yet", { lease: id.toString(16), error: String(e) });
          },
        ),
      ),
    ).finally(() => (this.#revoking = false));
  }
}
