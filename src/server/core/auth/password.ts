/**
 * Passwords: bcrypt hashes (bcryptjs, pure JS; its async API yields to the event loop between
 * rounds, so a check never stalls other clients), and a brake on guessing.
 *
 * Brute force: bcrypt's cost already makes each guess slow (cost 10: tens of milliseconds). On top,
 * per user name: after FREE_FAILURES consecutive failures, every further check of that name waits
 * 250 ms · 2^(failures − FREE_FAILURES), at most 5 s, and checks of one name run one at a time, so
 * parallel connections do not multiply the rate. A success resets the count. An unknown user name
 * costs the same bcrypt work as a known one (a dummy hash), so timing does not reveal which exist.
 */
import bcrypt from "bcryptjs";

const FREE_FAILURES = 3;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;
/** Names tracked at once (a bound on memory under a spray of made-up names); the oldest go first. */
const TRACKED_MAX = 10_000;
/** Queued checks per name beyond which a check fails at once (without looking at the password). */
const QUEUE_MAX = 64;
/** Failures are forgotten this long after the last one. */
const FORGET_MS = 10 * 60_000;

export function hashPassword(password: string, cost: number): Promise<string> {
  return bcrypt.hash(password, cost);
}

interface Attempts {
  failures: number;
  lastFailure: number;
  /** The tail of this name's chain of checks. */
  tail: Promise<unknown>;
  queued: number;
}

export class PasswordChecker {
  readonly #attempts = new Map<string, Attempts>();
  /** A hash for unknown users to be compared against (same time as a real check); made at the first check, not at start. */
  #dummy: Promise<string> | undefined;
  readonly #cost: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(cost: number, opts: { now?: () => number; sleep?: (ms: number) => Promise<void> } = {}) {
    this.#cost = cost;
    this.#now = opts.now ?? Date.now;
    this.#sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The delay the next check of `name` waits (for tests and the README's numbers). */
  delayMs(name: string): number {
    const a = this.#attempts.get(name);
    if (!a || this.#now() - a.lastFailure > FORGET_MS || a.failures < FREE_FAILURES) return 0;
    return Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(20, a.failures - FREE_FAILURES));
  }

  /** Whether `password` matches `hash` (undefined hash: an unknown user or one without a password → false). */
  async check(name: string, password: string, hash: string | undefined): Promise<boolean> {
    // A member that never checks a password (most never do) never pays for it.
    const dummy = (this.#dummy ??= bcrypt.hash("etcd-ts: no such user", this.#cost));
    let a = this.#attempts.get(name);
    if (!a) {
      if (this.#attempts.size >= TRACKED_MAX) this.#attempts.delete(this.#attempts.keys().next().value!);
      a = { failures: 0, lastFailure: 0, tail: Promise.resolve(), queued: 0 };
      this.#attempts.set(name, a);
    }
    if (a.queued >= QUEUE_MAX) return false;
    a.queued++;
    const entry = a;
    const run = entry.tail.then(async () => {
      const delay = this.delayMs(name);
      if (delay > 0) await this.#sleep(delay);
      const ok = await bcrypt.compare(password, hash ?? (await dummy));
      if (ok && hash !== undefined) {
        entry.failures = 0;
        return true;
      }
      if (this.#now() - entry.lastFailure > FORGET_MS) entry.failures = 0;
      entry.failures++;
      entry.lastFailure = this.#now();
      return false;
    });
    entry.tail = run.catch(() => {});
    try {
      return await run;
    } finally {
      entry.queued--;
      if (entry.queued === 0 && entry.failures === 0) this.#attempts.delete(name);
    }
  }
}
