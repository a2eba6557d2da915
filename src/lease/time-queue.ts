/**
 * A min-heap of lease ids by time (ms), at most one entry per id: setting an id that is already queued
 * moves it. Equal times pop in id order, so every member that builds the same queue pops the same way.
 * The lessor keeps two: expiries, and when each lease is next due for a checkpoint.
 */
export class TimeQueue {
  #ids: bigint[] = [];
  #times: number[] = [];
  /** id → its position in the heap arrays (invariant: #pos.get(#ids[i]) === i). */
  #pos = new Map<bigint, number>();

  get size(): number {
    return this.#ids.length;
  }

  has(id: bigint): boolean {
    return this.#pos.has(id);
  }

  timeOf(id: bigint): number | undefined {
    const i = this.#pos.get(id);
    return i === undefined ? undefined : this.#times[i];
  }

  /** The earliest entry without removing it. */
  peek(): { id: bigint; time: number } | undefined {
    return this.#ids.length === 0 ? undefined : { id: this.#ids[0], time: this.#times[0] };
  }

  /** Queues id at time, or moves it there if it is queued already. */
  set(id: bigint, time: number): void {
    if (Number.isNaN(time)) throw new Error(`assertion failed: lease ${id} queued at NaN`);
    const i = this.#pos.get(id);
    if (i === undefined) {
      this.#ids.push(id);
      this.#times.push(time);
      this.#pos.set(id, this.#ids.length - 1);
      this.#up(this.#ids.length - 1);
      return;
    }
    const before = this.#times[i];
    this.#times[i] = time;
    if (time < before) this.#up(i);
    else this.#down(i);
  }

  delete(id: bigint): boolean {
    const i = this.#pos.get(id);
    if (i === undefined) return false;
    const last = this.#ids.length - 1;
    if (i !== last) this.#swap(i, last);
    this.#ids.pop();
    this.#times.pop();
    this.#pos.delete(id);
    if (i !== last) {
      this.#up(i);
      this.#down(i);
    }
    return true;
  }

  clear(): void {
    this.#ids = [];
    this.#times = [];
    this.#pos.clear();
  }

  #less(a: number, b: number): boolean {
    const ta = this.#times[a];
    const tb = this.#times[b];
    return ta < tb || (ta === tb && this.#ids[a] < this.#ids[b]);
  }

  #swap(a: number, b: number): void {
    [this.#ids[a], this.#ids[b]] = [this.#ids[b], this.#ids[a]];
    [this.#times[a], this.#times[b]] = [this.#times[b], this.#times[a]];
    this.#pos.set(this.#ids[a], a);
    this.#pos.set(this.#ids[b], b);
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#ids.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < n && this.#less(l, min)) min = l;
      if (r < n && this.#less(r, min)) min = r;
      if (min === i) return;
      this.#swap(i, min);
      i = min;
    }
  }
}
