/** Proposals waiting for their entry to be applied, keyed by request id. */
export class WaitRegistry<T> {
  #waiting = new Map<bigint, { resolve: (v: T) => void; reject: (e: unknown) => void; deadline: number }>();

  register(id: bigint, deadline = Infinity): Promise<T> {
    return new Promise<T>((resolve, reject) => this.#waiting.set(id, { resolve, reject, deadline }));
  }

  /** Ids whose deadline has passed (the caller rejects them with a timeout). */
  expired(now: number): bigint[] {
    const out: bigint[] = [];
    for (const [id, w] of this.#waiting) if (w.deadline < now) out.push(id);
    return out;
  }

  resolve(id: bigint, value: T): void {
    const w = this.#waiting.get(id);
    if (!w) return; // replayed after a restart, or the caller gave up: nobody waits
    this.#waiting.delete(id);
    w.resolve(value);
  }

  reject(id: bigint, err: unknown): void {
    const w = this.#waiting.get(id);
    if (!w) return;
    this.#waiting.delete(id);
    w.reject(err);
  }

  rejectAll(err: unknown): void {
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }

  get size(): number {
    return this.#waiting.size;
  }
}
