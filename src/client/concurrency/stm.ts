/**
 * Software transactional memory over etcd (clientv3/concurrency's STM): `apply` reads and writes
 * through an Stm; its writes are buffered and committed in one transaction that checks nothing it
 * read (or, for serializable snapshots, wrote) changed meanwhile. On a conflict, `apply` runs again
 * from scratch, so it must have no effects beyond the Stm.
 */
import type { Client } from "../client.ts";
import type { GetOptions, GetResult, PutOptions } from "../kv.ts";
import { compare, type Op, op, type TxnResult } from "../txn.ts";
import { checkAborted } from "./wait.ts";

/**
 * - serializableSnapshot (default): reads come from the revision of the first read; the commit fails
 *   if a key read or written changed since. Conflicting writes never interleave.
 * - serializable: reads from the first read's revision; only keys read are checked.
 * - repeatableReads: each key is read once per attempt (any member); keys read are checked.
 * - readCommitted: reads are not checked at all.
 */
export type Isolation = "serializableSnapshot" | "serializable" | "repeatableReads" | "readCommitted";

export interface StmOptions {
  isolation?: Isolation;
  /** Keys to read at the start of every attempt, in one round trip. */
  prefetch?: string[];
  signal?: AbortSignal;
  /** How many conflicting attempts before giving up (default 1000). */
  attemptsMax?: number;
}

/** What `apply` sees: values are "" for keys that do not exist, as in Go. */
export interface Stm {
  /** The value of the first key that exists (reads go to the read set; writes of this attempt win). */
  get(...keys: string[]): Promise<string>;
  put(key: string, value: string, opts?: PutOptions): void;
  /** The mod revision of a key (0 if it does not exist). */
  rev(key: string): Promise<bigint>;
  del(key: string): void;
}

const ATTEMPTS_MAX_DEFAULT = 1000;

/** Runs `apply` until its transaction commits without conflict; resolves with the committing txn's result. */
export async function stm(client: Client, apply: (s: Stm) => void | Promise<void>, opts: StmOptions = {}): Promise<TxnResult> {
  const s = new StmState(client, opts.isolation ?? "serializableSnapshot", opts.signal);
  const attemptsMax = opts.attemptsMax ?? ATTEMPTS_MAX_DEFAULT;
  for (let attempt = 0; attempt < attemptsMax; attempt++) {
    checkAborted(opts.signal);
    s.reset();
    if (opts.prefetch?.length) await s.get(...opts.prefetch);
    await apply(s);
    const res = await s.commit();
    if (res) return res;
  }
  throw new Error(`Cannot commit the STM transaction: ${attemptsMax} attempts all conflicted`);
}

class StmState implements Stm {
  readonly #client: Client;
  readonly #isolation: Isolation;
  readonly #signal: AbortSignal | undefined;
  /** What each key read returned, this attempt. */
  #reads = new Map<string, GetResult>();
  /** Buffered writes (a delete has value ""). */
  #writes = new Map<string, { value: string; op: Op }>();
  /** Reads a failed commit returned (serializable levels): the next attempt starts from them. */
  #prefetched = new Map<string, GetResult>();
  #getOpts: GetOptions = {};

  constructor(client: Client, isolation: Isolation, signal: AbortSignal | undefined) {
    this.#client = client;
    this.#isolation = isolation;
    this.#signal = signal;
  }

  get #snapshot(): boolean {
    return this.#isolation === "serializableSnapshot" || this.#isolation === "serializable";
  }

  reset(): void {
    this.#reads = new Map();
    this.#writes = new Map();
    // Serializable levels pin reads to the first read's revision; the others read any member's latest.
    this.#getOpts = this.#snapshot ? {} : { serializable: true };
  }

  async get(...keys: string[]): Promise<string> {
    for (const k of keys) {
      const w = this.#writes.get(k);
      if (w) return w.value;
    }
    const first = this.#reads.size === 0;
    if (this.#snapshot) {
      for (const k of keys) {
        const p = this.#prefetched.get(k);
        if (p) {
          this.#prefetched.delete(k);
          this.#reads.set(k, p);
        }
      }
    }
    const res = await this.#fetch(keys);
    // The attempt's base revision is that of its first read.
    if (this.#snapshot && first && res) this.#getOpts = { revision: res.header.revision, serializable: true };
    return res?.kvs[0]?.value.toString("utf8") ?? "";
  }

  put(key: string, value: string, opts?: PutOptions): void {
    this.#writes.set(key, { value, op: op.put(key, value, opts) });
  }

  del(key: string): void {
    this.#writes.set(key, { value: "", op: op.delete(key) });
  }

  async rev(key: string): Promise<bigint> {
    if (this.#snapshot) await this.get(key);
    const res = await this.#fetch([key]);
    return res?.kvs[0]?.modRevision ?? 0n;
  }

  /** Commits the writes if nothing conflicts; null on a conflict (the caller retries). */
  async commit(): Promise<TxnResult | null> {
    const keys = [...this.#reads.keys()];
    const txn = this.#client.txn({ signal: this.#signal }).if(...this.#conflicts()).then(...[...this.#writes.values()].map((w) => w.op));
    // On a conflict the else branch re-reads the keys, saving the next attempt a round trip.
    if (this.#snapshot) txn.else(...keys.map((k) => op.get(k)));
    const res = await txn.commit();
    if (res.succeeded) return res;
    if (this.#snapshot) {
      this.#prefetched = new Map();
      res.responses.forEach((r, i) => {
        if (r.type === "get") this.#prefetched.set(keys[i], r);
      });
    }
    return null;
  }

  #conflicts() {
    if (this.#isolation === "readCommitted") return [];
    // Every key read must still be at the revision we saw (0: still absent).
    const cmps = [...this.#reads].map(([k, r]) => compare.mod(k, "=", r.kvs[0]?.modRevision ?? 0n));
    if (this.#isolation === "serializableSnapshot") {
      // And no key we write may have changed after our snapshot.
      let base = BigInt("0x7ffffffffffffffe");
      for (const r of this.#reads.values()) if (r.header.revision < base) base = r.header.revision;
      for (const k of this.#writes.keys()) cmps.push(compare.mod(k, "<", base + 1n));
    }
    return cmps;
  }

  /** The first of `keys` already read, or one transaction reading them all into the read set. */
  async #fetch(keys: string[]): Promise<GetResult | null> {
    if (keys.length === 0) return null;
    for (const k of keys) {
      const r = this.#reads.get(k);
      if (r) return r;
    }
    const res = await this.#client.txn({ signal: this.#signal }).then(...keys.map((k) => op.get(k, this.#getOpts))).commit();
    res.responses.forEach((r, i) => {
      if (r.type === "get") this.#reads.set(keys[i], r);
    });
    const first = res.responses[0];
    return first?.type === "get" ? first : null;
  }
}
