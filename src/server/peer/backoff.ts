import { seededRandom } from "../../pkg/prng.ts";

/**
 * Reconnect delays: 50 ms doubling to 2 s, each shortened by up to 25 % jitter drawn from a seeded
 * PRNG (so peers that failed together do not retry in lockstep, and tests replay exactly).
 */
export class Backoff {
  #attempt = 0;
  readonly #rand: () => number;

  constructor(
    seed: number,
    readonly minMs = 50,
    readonly maxMs = 2000,
  ) {
    this.#rand = seededRandom(seed);
  }

  /** The delay before the next attempt after one more failure. */
  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return base * (1 - 0.25 * this.#rand());
  }

  reset(): void {
    this.#attempt = 0;
  }

  get attempt(): number {
    return this.#attempt;
  }
}
