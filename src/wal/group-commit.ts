// Group commit: while one flush (write + fdatasync) is in flight, new
// submissions queue up; the next flush takes everything queued (up to a byte
// budget) at once. A submission resolves only after the flush containing it
// returned. After the first failure every pending and later submission rejects
// with that same error: a failed fsync may have dropped dirty pages, so
// retrying could report data durable that is not (PostgreSQL "fsyncgate").

export type FlushFn<T> = (items: T[]) => Promise<void>;

type Waiter<T> = { item: T; sizeBytes: number; resolve: () => void; reject: (err: unknown) => void };

export class GroupCommit<T> {
  #flush: FlushFn<T>;
  #maxBatchBytes: number;
  #queue: Waiter<T>[] = [];
  #running = false;
  #failure: { error: unknown } | null = null;
  #idleWaiters: (() => void)[] = [];

  constructor(flush: FlushFn<T>, opts: { maxBatchBytes: number }) {
    if (!(opts.maxBatchBytes > 0)) throw new RangeError(`maxBatchBytes must be positive, got ${opts.maxBatchBytes}`);
    this.#flush = flush;
    this.#maxBatchBytes = opts.maxBatchBytes;
  }

  /** The error that failed the committer, if any. */
  get failure(): { error: unknown } | null {
    return this.#failure;
  }

  /** Queues `item` synchronously, so flush order equals submit order. */
  submit(item: T, sizeBytes: number): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure.error);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ item, sizeBytes, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        // Start on a microtask so submissions made in the same tick share a flush.
        queueMicrotask(() => void this.#run());
      }
    });
  }

  /** Resolves once nothing is queued or in flight (whether it succeeded or failed). */
  drain(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#takeBatch();
        try {
          await this.#flush(batch.map((waiter) => waiter.item));
        } catch (error) {
          this.#fail(error, batch);
          return;
        }
        for (const waiter of batch) waiter.resolve();
      }
    } finally {
      this.#running = false;
      const idleWaiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of idleWaiters) resolve();
    }
  }

  #takeBatch(): Waiter<T>[] {
    // Always take at least one so an item larger than the budget still goes out.
    let count = 1;
    let batchBytes = this.#queue[0].sizeBytes;
    while (count < this.#queue.length && batchBytes + this.#queue[count].sizeBytes <= this.#maxBatchBytes) {
      batchBytes += this.#queue[count].sizeBytes;
      count++;
    }
    return this.#queue.splice(0, count);
  }

  #fail(error: unknown, batch: Waiter<T>[]): void {
    this.#failure = { error };
    const pending = batch.concat(this.#queue);
    this.#queue = [];
    for (const waiter of pending) waiter.reject(error);
  }
}
