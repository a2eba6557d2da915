import { Errors } from "../../pkg/errors.ts";
import { RaftError } from "../../raft/types.ts";
import { readIndexFailed, slowReadIndex } from "./metrics.ts";

/**
 * Linearizable reads batched onto ReadIndex requests: reads that arrive while one is in flight share
 * the next one, so a burst of reads costs one heartbeat round.
 */
export class ReadBatcher {
  #seq = 0;
  #inFlight: { ctx: string; waiters: Waiter[]; issuedAt: number } | null = null;
  #next: Waiter[] = [];
  #issue: (ctx: Uint8Array) => void;
  #wake: () => void;
  /** A ReadIndex request unanswered this long is sent again (its answer, or the request, was lost). */
  static readonly RETRY_MS = 500;

  #prefix: string;

  /** prefix: this member's id — the leader keys pending reads by context, so contexts must not collide. */
  #now: () => number;

  constructor(prefix: string, issue: (ctx: Uint8Array) => void, wake: () => void, now: () => number = Date.now) {
    this.#prefix = prefix;
    this.#now = now;
    this.#issue = issue;
    this.#wake = wake;
  }

  read(deadline: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#next.push({ resolve, reject, deadline });
      if (!this.#inFlight) this.#send();
    });
  }

  #send(): void {
    if (this.#next.length === 0) return;
    const ctx = `${this.#prefix}-${++this.#seq}`;
    this.#inFlight = { ctx, waiters: this.#next, issuedAt: this.#now() };
    this.#next = [];
    try {
      this.#issue(new TextEncoder().encode(ctx));
    } catch (err) {
      readIndexFailed.inc();
      const w = this.#inFlight.waiters;
      this.#inFlight = null;
      for (const x of w) x.reject(err instanceof RaftError ? Errors.noLeader : err);
      return;
    }
    this.#wake();
  }

  answered(ctx: Uint8Array, index: number): void {
    const key = new TextDecoder().decode(ctx);
    if (!this.#inFlight || this.#inFlight.ctx !== key) {
      // The answer to a request already given up on: this member's reads queue behind the leader's.
      if (key.startsWith(`${this.#prefix}-`)) slowReadIndex.inc();
      return;
    }
    const w = this.#inFlight.waiters;
    this.#inFlight = null;
    for (const x of w) x.resolve(index);
    this.#send();
  }

  /** Sends the pending request again under a new context (after a leader change: it failed there). */
  retry(): void {
    if (!this.#inFlight) return;
    readIndexFailed.inc();
    this.#resend();
  }

  #resend(): void {
    if (!this.#inFlight) return;
    this.#next = [...this.#inFlight.waiters, ...this.#next];
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
    const all = [...(this.#inFlight?.waiters ?? []), ...this.#next];
    this.#inFlight = null;
    this.#next = [];
    for (const x of all) x.reject(err);
  }
}

interface Waiter {
  resolve: (index: number) => void;
  reject: (err: unknown) => void;
  deadline: number;
}

