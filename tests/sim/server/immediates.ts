// The server yields to the event loop with setImmediate (background compaction, watch catch-up,
// copying a database, hashing). Left to the real event loop, those turns would interleave with the
// simulation in whatever order the runtime picks; while a simulation runs, setImmediate instead
// queues its callback here and the simulation runs the queue itself, one callback at a time, in order.

type Callback = () => void;

const realSetImmediate = globalThis.setImmediate;

/** One turn of the real event loop: every microtask queued before it has run. */
export function realTurn(): Promise<void> {
  return new Promise<void>((resolve) => realSetImmediate(() => resolve()));
}

export class ImmediateQueue {
  #queue: Callback[] = [];
  #installed = false;
  #saved: typeof globalThis.setImmediate | null = null;
  /** Called with what a callback threw (the simulation reports it). */
  onError: (err: unknown) => void = (err) => {
    throw err;
  };

  get size(): number {
    return this.#queue.length;
  }

  /** Takes over setImmediate for this process until `uninstall`. */
  install(): void {
    if (this.#installed) throw new Error("ImmediateQueue: already installed");
    this.#installed = true;
    this.#saved = globalThis.setImmediate;
    const queue = this.#queue;
    const fake = ((fn: (...args: unknown[]) => void, ...args: unknown[]) => {
      queue.push(() => fn(...args));
      return { ref() {}, unref() {}, hasRef: () => false } as unknown as ReturnType<typeof setImmediate>;
    }) as unknown as typeof setImmediate;
    globalThis.setImmediate = fake;
  }

  uninstall(): void {
    if (!this.#installed) return;
    globalThis.setImmediate = this.#saved!;
    this.#installed = false;
    this.#queue.length = 0;
  }

  /** Runs the oldest queued callback; false when none is queued. */
  runOne(): boolean {
    const fn = this.#queue.shift();
    if (!fn) return false;
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
    return true;
  }
}

/**
 * Runs everything that can run without time passing: microtasks, then queued setImmediate callbacks
 * one at a time. While a member's checkpoint writes its real .snap file (`inRealIo`), nothing else
 * runs; `stuck` is called if that never ends.
 */
export async function drainTurns(q: ImmediateQueue, inRealIo: () => boolean, stuck: () => void): Promise<void> {
  for (let turns = 0; ; turns++) {
    await realTurn();
    if (inRealIo()) {
      if (turns > 200_000) return stuck();
      continue;
    }
    if (q.runOne()) continue;
    return;
  }
}

/**
 * Whether a member is inside a checkpoint's real file I/O (between raftBeforeSaveSnap and
 * raftAfterWALRelease) and not merely waiting for a simulated fsync.
 */
export function checkpointIoPending(members: Iterable<{ ioWindow: boolean; wal: { unsynced: number } | null } | null>): boolean {
  for (const m of members) if (m && m.ioWindow && !(m.wal !== null && m.wal.unsynced > 0)) return true;
  return false;
}
