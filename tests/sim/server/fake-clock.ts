// Time for the whole-server simulation: nothing fires until the simulation fires it, so a run replays
// exactly from its seed. Every member incarnation gets its own scope of the one clock, so a crash can
// cancel every timer the dead member had (its ticker, lease expiry, batch commit, watch progress...).
import type { Clock } from "../../../src/pkg/clock.ts";

interface Timer {
  at: number;
  /** Ties at one instant fire in the order the timers were set. */
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A min-heap of timers by (at, seq). */
class TimerHeap {
  #a: Timer[] = [];

  get size(): number {
    return this.#a.length;
  }

  peek(): Timer | undefined {
    return this.#a[0];
  }

  push(t: Timer): void {
    const a = this.#a;
    a.push(t);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  pop(): Timer | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length && last) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

const before = (x: Timer, y: Timer) => x.at < y.at || (x.at === y.at && x.seq < y.seq);

/** A Clock whose time moves only when `fireNext` or `advanceTo` is called. */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #heap = new TimerHeap();

  constructor(startMs: number) {
    this.#now = startMs;
  }

  /** Whole milliseconds, as Date.now (ids are made from it); timers keep the fractions. */
  now(): number {
    return Math.floor(this.#now);
  }

  after(ms: number, fn: () => void): () => void {
    const t: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#heap.push(t);
    return () => {
      t.cancelled = true;
    };
  }

  every(ms: number, fn: () => void): () => void {
    const period = Math.max(1, ms);
    let cancel = () => {};
    let stopped = false;
    const arm = () => {
      cancel = this.after(period, () => {
        if (stopped) return;
        arm();
        fn();
      });
    };
    arm();
    return () => {
      stopped = true;
      cancel();
    };
  }

  /** When the next live timer fires, or undefined when none is set. */
  nextAt(): number | undefined {
    this.#skipCancelled();
    return this.#heap.peek()?.at;
  }

  /** Moves time to the next live timer at or before `limitMs` and fires it; false when there is none. */
  fireNext(limitMs = Number.POSITIVE_INFINITY): boolean {
    this.#skipCancelled();
    const t = this.#heap.peek();
    if (!t || t.at > limitMs) return false;
    this.#heap.pop();
    if (t.at > this.#now) this.#now = t.at;
    t.fn();
    return true;
  }

  /** Moves time forward without firing anything (what is due fires at the next fireNext). */
  advanceTo(ms: number): void {
    if (ms > this.#now) this.#now = ms;
  }

  /** A view of this clock whose timers can all be cancelled at once (one member incarnation). */
  scope(): ScopedClock {
    return new ScopedClock(this);
  }

  #skipCancelled(): void {
    while (this.#heap.size && this.#heap.peek()!.cancelled) this.#heap.pop();
  }
}

/** The clock one member incarnation sees; `cancelAll` is what its death does to its timers. */
export class ScopedClock implements Clock {
  readonly #clock: FakeClock;
  readonly #cancels = new Set<() => void>();
  #dead = false;
  /** What a timer callback threw (the simulation reports it rather than stop the run). */
  onError: (err: unknown) => void = (err) => {
    throw err;
  };

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  now(): number {
    return this.#clock.now();
  }

  after(ms: number, fn: () => void): () => void {
    if (this.#dead) return () => {};
    const cancel = this.#clock.after(ms, () => {
      this.#cancels.delete(cancel);
      this.#run(fn);
    });
    this.#cancels.add(cancel);
    return () => {
      this.#cancels.delete(cancel);
      cancel();
    };
  }

  every(ms: number, fn: () => void): () => void {
    if (this.#dead) return () => {};
    const cancel = this.#clock.every(ms, () => this.#run(fn));
    this.#cancels.add(cancel);
    return () => {
      this.#cancels.delete(cancel);
      cancel();
    };
  }

  #run(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }

  cancelAll(): void {
    this.#dead = true;
    for (const c of this.#cancels) c();
    this.#cancels.clear();
  }
}
