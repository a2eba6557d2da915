import type { Clock } from "../../pkg/clock.ts";
import { Errors } from "../../pkg/errors.ts";
import type { MemberState } from "./member-state.ts";
import type { RaftNode } from "./raft-node.ts";
import { ReadBatcher, type ReadRegistry } from "./read-batcher.ts";

/** Waiters for the applied index that a made-up index could pile up: bounded. */
const MAX_APPLIED_WAITERS = 10_000;

/**
 * Linearizable reads (etcd's linearizableReadLoop): a ReadIndex round confirms the leader's commit
 * index, then the read waits until this member applied that far. Also the wait for an applied index
 * that simple tokens need.
 */
export class LinearizableReads {
  readonly #raft: RaftNode;
  readonly #state: MemberState;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #batcher: ReadBatcher;
  #waiters: { index: bigint; resolve: () => void }[] = [];

  constructor(o: { raft: RaftNode; state: MemberState; registry: ReadRegistry; clock: Clock; requestTimeoutMs: number }) {
    this.#raft = o.raft;
    this.#state = o.state;
    this.#clock = o.clock;
    this.#timeoutMs = o.requestTimeoutMs;
    this.#batcher = new ReadBatcher(o.registry, (ctx) => o.raft.readIndex(ctx), () => o.clock.now());
  }

  async read(): Promise<void> {
    const st = this.#raft;
    let index: number;
    if (st.isLeader && st.voterCount === 1) {
      // A one-member cluster is its own quorum: its commit index is the read index.
      index = st.committed;
    } else {
      if (st.lead === 0n) throw Errors.noLeader;
      index = await this.#batcher.read(this.#clock.now() + this.#timeoutMs);
    }
    if (this.#state.applied >= BigInt(index)) return;
    await new Promise<void>((resolve) => this.#waiters.push({ index: BigInt(index), resolve }));
  }

  /** Waits (at most a request timeout) until this member applied `index`: a simple token made at that index is then known. */
  async waitApplied(index: bigint): Promise<void> {
    if (this.#state.applied >= index) return;
    // A real token's index was committed on the leader, so a member lags it by a heartbeat or so;
    // one far beyond this member's commit index is made up: do not park a waiter for it. Waiters
    // are bounded and leave on timeout, so made-up tokens cannot pile them up.
    if (index > BigInt(this.#raft.committed) + 10_000n || this.#waiters.length >= MAX_APPLIED_WAITERS) return;
    let cancel = () => {};
    const waiter = { index, resolve: () => {} };
    const applied = new Promise<void>((resolve) => {
      waiter.resolve = resolve;
      this.#waiters.push(waiter);
    });
    const timeout = new Promise<void>((resolve) => (cancel = this.#clock.after(this.#timeoutMs, resolve)));
    await Promise.race([applied, timeout]);
    cancel();
    const i = this.#waiters.indexOf(waiter);
    if (i >= 0) this.#waiters.splice(i, 1);
  }

  /** After each applied batch. */
  applied(): void {
    if (this.#waiters.length === 0) return;
    const at = this.#state.applied;
    const ready = this.#waiters.filter((w) => w.index <= at);
    this.#waiters = this.#waiters.filter((w) => w.index > at);
    for (const w of ready) w.resolve();
  }

  answered(ctx: Uint8Array, index: number): void {
    this.#batcher.answered(ctx, index);
  }

  /** A new leader: a read sent to the old one will not be answered there. */
  leaderChanged(): void {
    this.#batcher.retry();
  }

  tick(): void {
    this.#batcher.tick();
  }

  failAll(err: unknown): void {
    this.#batcher.failAll(err);
  }
}
