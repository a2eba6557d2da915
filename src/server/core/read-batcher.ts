import { Errors } from "../../pkg/errors.ts";
import { RaftError } from "../../raft/types.ts";
import { readIndexFailed, slowReadIndex } from "./metrics.ts";

/** What the batcher needs of the wait registry (proposals.ts): ids, and answers routed by id. */
export interface ReadRegistry {
  nextId(): bigint;
  track(id: bigint, deadline: number, resolve: (v: unknown) => void, reject: (e: unknown) => void): void;
  resolve(id: bigint, value: unknown): boolean;
  reject(id: bigint, err: unknown): void;
}

/** A round given up for a newer one (resent): its registry entry goes quietly. */
const SUPERSEDED = new Error("read index round superseded");

/**
 * Linearizable reads batched onto ReadIndex requests: reads that arrive while one is in flight share
 * the next one, so a burst of reads costs one heartbeat round. Each round is a request id in the wait
 * registry, sent as the 8-byte context (as etcd's linearizableReadLoop does): ids are unique across
 * members and restarts, so two members' rounds never collide on the leader, and the answer finds
 * its round through the registry.
 */
export class ReadBatcher {
  #inFlight: { id: bigint; waiters: Waiter[]; issuedAt: number } | null = null;
  #next: Waiter[] = [];
  #issue: (ctx: Uint8Array) => void;
  #registry: ReadRegistry;
  #now: () => number;
  /** A ReadIndex request unanswered this long is sent again (its answer, or the request, was lost). */
  static readonly RETRY_MS = 500;

  constructor(registry: ReadRegistry, issue: (ctx: Uint8Array) => void, now: () => number = Date.now) {
    this.#registry = registry;
    this.#issue = issue;
    this.#now = now;
  }

  read(deadline: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#next.push({ resolve, reject, deadline });
      if (!this.#inFlight) this.#send();
    });
  }

  #send(): void {
    if (this.#next.length === 0) return;
    const round = { id: this.#registry.nextId(), waiters: this.#next, issuedAt: this.#now() };
    this.#inFlight = round;
    this.#next = [];
    // The round's own deadline is its readers' (each also times out on its own in tick()).
    this.#registry.track(
      round.id,
      Infinity,
      (index) => this.#answered(round, index as number),
      () => {}, // superseded by a resend, or the server stopped (failAll answers the readers)
    );
    try {
      this.#issue(contextOf(round.id));
    } catch (err) {
      readIndexFailed.inc();
      this.#registry.reject(round.id, SUPERSEDED);
      this.#inFlight = null;
      for (const x of round.waiters) x.reject(err instanceof RaftError ? Errors.noLeader : err);
    }
  }

  /** Raft's answer to a round (its context), routed through the registry. */
  answered(ctx: Uint8Array, index: number): void {
    const id = idOf(ctx);
    // An answer to a round already given up on (resent): this member's reads queue behind the leader's.
    if (id === undefined || !this.#registry.resolve(id, index)) slowReadIndex.inc();
  }

  #answered(round: { waiters: Waiter[] }, index: number): void {
    if (this.#inFlight === round) this.#inFlight = null;
    for (const x of round.waiters) x.resolve(index);
    if (!this.#inFlight) this.#send();
  }

  /** Sends the pending request again under a new id (after a leader change: it failed there). */
  retry(): void {
    if (!this.#inFlight) return;
    readIndexFailed.inc();
    this.#resend();
  }

  #resend(): void {
    const round = this.#inFlight;
    if (!round) return;
    this.#registry.reject(round.id, SUPERSEDED);
    this.#next = [...round.waiters, ...this.#next];
    this.#inFlight = null;
    this.#send();
  }

  /** Called every tick: time out old reads and retry a request that went unanswered. */
  tick(): void {
    const now = this.#now();
    const expired = (w: Waiter) => w.deadline < now;
    if (this.#inFlight?.waiters.some(expired) || this.#next.some(expired)) readIndexFailed.inc(); // a read timed out
    for (const list of [this.#inFlight?.waiters ?? [], this.#next]) for (const w of list.filter(expired)) w.reject(Errors.timeout);
    if (this.#inFlight) this.#inFlight.waiters = this.#inFlight.waiters.filter((w) => !expired(w));
    this.#next = this.#next.filter((w) => !expired(w));
    if (this.#inFlight && this.#inFlight.waiters.length === 0) this.#resend();
    else if (this.#inFlight && now - this.#inFlight.issuedAt > ReadBatcher.RETRY_MS) {
      slowReadIndex.inc(); // unanswered for too long: etcd retries and counts it slow
      this.#resend();
    }
  }

  failAll(err: unknown): void {
    if (this.#inFlight) this.#registry.reject(this.#inFlight.id, SUPERSEDED);
    const all = [...(this.#inFlight?.waiters ?? []), ...this.#next];
    this.#inFlight = null;
    this.#next = [];
    for (const x of all) x.reject(err);
  }
}

/** A round's id as the ReadIndex context: 8 bytes, big-endian (etcd's). */
function contextOf(id: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, id));
  return b;
}

function idOf(ctx: Uint8Array): bigint | undefined {
  if (ctx.length !== 8) return undefined;
  return new DataView(ctx.buffer, ctx.byteOffset, 8).getBigUint64(0);
}

interface Waiter {
  resolve: (index: number) => void;
  reject: (err: unknown) => void;
  deadline: number;
}
