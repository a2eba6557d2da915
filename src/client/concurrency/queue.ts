/**
 * A distributed FIFO queue (etcd's contrib/recipes Queue). Items are keys under `<name>/` with a
 * unique, time-ordered suffix; the oldest by create revision goes first. A consumer claims an item by
 * deleting it in a transaction that checks its mod revision, so each item goes to exactly one
 * consumer; when the queue is empty, consumers wait on a watch instead of polling.
 */
import type { Client, RequestOptions } from "../client.ts";
import type { KeyValue } from "../kv.ts";
import { compare, op } from "../txn.ts";
import { abortError, checkAborted } from "./wait.ts";

/** How many of the oldest items a dequeue reads at once, to try the next when another consumer won the first. */
const CLAIM_BATCH = 16;
/** A fresh key collides only with a key made in the same nanosecond with the same random tag: a few tries suffice. */
const ENQUEUE_ATTEMPTS_MAX = 16;

let lastNs = 0n;

/** Nanoseconds since the epoch, strictly increasing within this process, as 20 digits (sorts as time). */
function orderedSuffix(): string {
  let ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  return `${ns.toString().padStart(20, "0")}-${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString("hex")}`;
}

export class Queue {
  readonly #client: Client;
  /** The queue's prefix, ending in "/". */
  readonly prefix: string;

  constructor(client: Client, name: string) {
    this.#client = client;
    this.prefix = name + "/";
  }

  /** Appends an item; resolves with its key. */
  async enqueue(value: string | Uint8Array, opts: RequestOptions = {}): Promise<string> {
    for (let attempt = 0; attempt < ENQUEUE_ATTEMPTS_MAX; attempt++) {
      const key = this.prefix + orderedSuffix();
      const res = await this.#client.txn(opts).if(compare.create(key, "=", 0)).then(op.put(key, value)).commit();
      if (res.succeeded) return key;
    }
    throw new Error(`Cannot enqueue in '${this.prefix}': ${ENQUEUE_ATTEMPTS_MAX} fresh keys all existed already`);
  }

  /**
   * Removes and returns the oldest item, waiting (through a watch) while the queue is empty. Loops
   * only while other consumers win the items it tries, or until the signal aborts.
   */
  async dequeue(opts: RequestOptions = {}): Promise<Buffer> {
    const { signal } = opts;
    for (;;) {
      checkAborted(signal);
      const res = await this.#client.get(this.prefix, { prefix: true, sort: { target: "create", order: "ascend" }, limit: CLAIM_BATCH, ...opts });
      for (const kv of res.kvs) {
        if (await this.#claim(kv, opts)) return kv.value;
      }
      if (res.kvs.length > 0) continue;
      const item = await this.#awaitItem(res.header.revision + 1n, opts);
      if (item) return item;
    }
  }

  /** The number of items queued now. */
  async size(opts: RequestOptions = {}): Promise<number> {
    const res = await this.#client.get(this.prefix, { prefix: true, countOnly: true, ...opts });
    return Number(res.count);
  }

  /** Watches for items put from `revision` on and claims the first it can; null to look again. */
  async #awaitItem(revision: bigint, opts: RequestOptions): Promise<Buffer | null> {
    const { signal } = opts;
    const w = this.#client.watch(this.prefix, { prefix: true, startRevision: revision, filters: ["noDelete"] });
    const stop = () => w.cancel();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const ev of w) {
        if (await this.#claim(ev.kv, opts)) return ev.kv.value;
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      w.cancel();
    }
    if (signal?.aborted) throw abortError(signal);
    return null;
  }

  /** Deletes the item if nobody changed (or took) it since we read it: true if it is ours. */
  async #claim(kv: KeyValue, opts: RequestOptions): Promise<boolean> {
    const res = await this.#client.txn(opts).if(compare.mod(kv.key, "=", kv.modRevision)).then(op.delete(kv.key)).commit();
    return res.succeeded;
  }
}
