import type { etcdserverpb } from "../../proto/etcd.js";

type Request = etcdserverpb.InternalRaftRequest.$Properties;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  deadline: number;
  /** A write's entry data and request: applying our own entry then needs no decode. */
  data?: Uint8Array;
  request?: Request;
}

/**
 * Everything this member proposed and waits for, keyed by request id (etcd's wait.Wait): client
 * writes, conf changes, and ReadIndex rounds (read-batcher.ts) alike. An entry leaves when it is applied, refused,
 * timed out or the server stops — whichever comes first; the others then find nothing.
 */
export class Proposals {
  #waiting = new Map<bigint, Pending>();
  /** Our own entries by their data array: on the member that proposed them, the same array comes back. */
  #byData = new Map<Uint8Array, bigint>();
  #nextId: bigint;

  /** ids start from this member's low 16 bits and the clock: unique across members and restarts. */
  constructor(memberId: bigint, nowMs: number) {
    this.#nextId = ((memberId & 0xffffn) << 48n) | ((BigInt(nowMs) << 8n) & 0xffffffffffffn);
  }

  nextId(): bigint {
    return this.#nextId++;
  }

  wait<T>(id: bigint, deadline: number, entry?: { data: Uint8Array; request: Request }): Promise<T> {
    return new Promise<T>((resolve, reject) => this.track(id, deadline, resolve as (v: unknown) => void, reject, entry));
  }

  /** As wait(), with callbacks called synchronously (a ReadIndex round hands its answer on at once). */
  track(id: bigint, deadline: number, resolve: (v: unknown) => void, reject: (e: unknown) => void, entry?: { data: Uint8Array; request: Request }): void {
    this.#waiting.set(id, { resolve, reject, deadline, data: entry?.data, request: entry?.request });
    if (entry) this.#byData.set(entry.data, id);
  }

  /** The request of one of our own entries, when this is the array we proposed. */
  ownRequest(data: Uint8Array): Request | undefined {
    const id = this.#byData.get(data);
    return id === undefined ? undefined : this.#waiting.get(id)?.request;
  }

  /** Hands the value to whoever waits for id; false when nobody does (any more). */
  resolve(id: bigint, value: unknown): boolean {
    const w = this.#take(id);
    w?.resolve(value);
    return w !== undefined;
  }

  reject(id: bigint, err: unknown): void {
    const w = this.#take(id);
    w?.reject(err);
  }

  /** Refuses the entries Raft dropped; returns how many were ours. */
  rejectData(data: readonly Uint8Array[], err: unknown): number {
    let n = 0;
    for (const d of data) {
      const id = this.#byData.get(d);
      if (id !== undefined) {
        n++;
        this.reject(id, err);
      }
    }
    return n;
  }

  /** Rejects what waited past its deadline; returns how many. */
  expire(now: number, err: unknown): number {
    let n = 0;
    for (const [id, w] of this.#waiting) {
      if (w.deadline < now) {
        n++;
        this.reject(id, err);
      }
    }
    return n;
  }

  rejectAll(err: unknown): void {
    const all = [...this.#waiting.values()];
    this.#waiting.clear();
    this.#byData.clear();
    for (const w of all) w.reject(err);
  }

  get size(): number {
    return this.#waiting.size;
  }

  #take(id: bigint): Pending | undefined {
    const w = this.#waiting.get(id);
    if (!w) return undefined; // replayed after a restart, or the caller gave up: nobody waits
    this.#waiting.delete(id);
    if (w.data) this.#byData.delete(w.data);
    return w;
  }
}
