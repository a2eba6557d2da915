/**
 * A distributed mutex (clientv3/concurrency's Mutex), with the same keys as Go's so Go programs,
 * `etcdctl lock` and ours exclude each other. Each contender puts `<prefix>/<lease id in hex>` under
 * its session's lease; the key with the smallest create revision holds the lock, and every other
 * contender waits, through a watch, for the deletion of the key just ahead of it.
 */
import type { Client, RequestOptions } from "../client.ts";
import { bytes, type ResponseHeader } from "../kv.ts";
import { compare, op, type TxnResult } from "../txn.ts";
import { ConcurrencyErrors } from "./errors.ts";
import type { Session } from "./session.ts";
import { waitDeletes } from "./wait.ts";

/** The first key of a prefix by create revision: the current holder (clientv3's WithFirstCreate). */
export const firstCreated = { prefix: true, sort: { target: "create", order: "ascend" }, limit: 1 } as const;

export class Mutex {
  readonly #session: Session;
  /** The lock's prefix, ending in "/". */
  readonly #prefix: string;
  #key = "";
  #rev = -1n;
  #header: ResponseHeader | null = null;

  constructor(session: Session, name: string) {
    this.#session = session;
    this.#prefix = name + "/";
  }

  /** The key this contender put (valid after lock/tryLock). */
  get key(): string {
    return this.#key;
  }

  /** The header of the response that granted the lock (ETCD_LOCK_REV is its revision). */
  get header(): ResponseHeader | null {
    return this.#header;
  }

  /** A comparison that holds while this contender owns the lock: use it to guard writes in a txn. */
  isOwner() {
    return compare.create(this.#key, "=", this.#rev);
  }

  /** Waits until the lock is ours. On failure or abort, our place in line is given up. */
  async lock(opts: RequestOptions = {}): Promise<void> {
    const res = await this.#enqueue(opts);
    if (this.#holds(res)) {
      this.#header = res.header;
      return;
    }
    const client = this.#session.client;
    try {
      await waitDeletes(client, bytes(this.#prefix), this.#rev - 1n, opts.signal);
    } catch (err) {
      await this.unlock().catch(() => {});
      throw err;
    }
    // The keys ahead are gone; ours must still be there, or our session's lease ended meanwhile.
    let own;
    try {
      own = await client.get(this.#key, opts);
    } catch (err) {
      await this.unlock().catch(() => {});
      throw err;
    }
    if (own.kvs.length === 0) throw ConcurrencyErrors.sessionExpired;
    this.#header = own.header;
  }

  /** Takes the lock if it is free now; otherwise leaves the line and throws ConcurrencyErrors.locked. */
  async tryLock(opts: RequestOptions = {}): Promise<void> {
    const res = await this.#enqueue(opts);
    if (this.#holds(res)) {
      this.#header = res.header;
      return;
    }
    await this.#session.client.delete(this.#key, opts);
    this.#key = "\0";
    this.#rev = -1n;
    throw ConcurrencyErrors.locked;
  }

  /** Releases the lock (or our place in line). */
  async unlock(opts: RequestOptions = {}): Promise<void> {
    await this.#session.client.delete(this.#key, opts);
    this.#key = "\0";
    this.#rev = -1n;
  }

  /**
   * Puts our key unless it exists (a session that already holds the lock keeps its place), and reads
   * the current holder in the same transaction, so an uncontended lock costs one round trip.
   */
  async #enqueue(opts: RequestOptions): Promise<TxnResult> {
    const s = this.#session;
    this.#key = this.#prefix + s.lease.toString(16);
    const owner = op.get(this.#prefix, firstCreated);
    const res = await s.client
      .txn(opts)
      .if(compare.create(this.#key, "=", 0))
      .then(op.put(this.#key, "", { lease: s.lease }), owner)
      .else(op.get(this.#key), owner)
      .commit();
    this.#rev = res.header.revision;
    if (!res.succeeded) {
      const mine = res.responses[0];
      if (mine.type !== "get" || mine.kvs.length === 0) throw new Error(`Cannot lock '${this.#prefix}': our key ${this.#key} vanished during the transaction`);
      this.#rev = mine.kvs[0].createRevision;
    }
    return res;
  }

  #holds(res: TxnResult): boolean {
    const owner = res.responses[1];
    if (owner.type !== "get") throw new Error("Cannot read the lock's holder: unexpected response");
    return owner.kvs.length === 0 || owner.kvs[0].createRevision === this.#rev;
  }
}
