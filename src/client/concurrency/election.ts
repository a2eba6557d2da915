/**
 * Leader election (clientv3/concurrency's Election), with Go's key layout: each candidate puts
 * `<prefix>/<lease id in hex>` under its session's lease, and the key with the smallest create
 * revision is the leader; its value is the leader's proclamation.
 */
import type { Client, RequestOptions } from "../client.ts";
import { bytes, type GetResult, type KeyValue, type ResponseHeader } from "../kv.ts";
import { compare, op } from "../txn.ts";
import { ConcurrencyErrors } from "./errors.ts";
import { firstCreated } from "./mutex.ts";
import type { Session } from "./session.ts";
import { waitDeletes } from "./wait.ts";

export class Election {
  readonly #session: Session;
  /** The election's prefix, ending in "/". */
  readonly #prefix: string;
  #leaderKey = "";
  #leaderRev = 0n;
  /** Set while this candidate's key stands (after a campaign, until resign or a lost proclaim). */
  #leaderSession: Session | null = null;
  #header: ResponseHeader | null = null;

  constructor(session: Session, name: string) {
    this.#session = session;
    this.#prefix = name + "/";
  }

  /** This candidate's key ("" when not campaigning). */
  get key(): string {
    return this.#leaderKey;
  }

  /** The create revision of this candidate's key. */
  get rev(): bigint {
    return this.#leaderRev;
  }

  get header(): ResponseHeader | null {
    return this.#header;
  }

  /**
   * Puts this candidate in line with `value` and resolves once it is the leader. If the signal aborts,
   * the candidacy is withdrawn.
   */
  async campaign(value: string, opts: RequestOptions = {}): Promise<void> {
    const s = this.#session;
    const client = s.client;
    const key = this.#prefix + s.lease.toString(16);
    const res = await client
      .txn(opts)
      .if(compare.create(key, "=", 0))
      .then(op.put(key, value, { lease: s.lease }))
      .else(op.get(key))
      .commit();
    this.#leaderKey = key;
    this.#leaderRev = res.header.revision;
    this.#leaderSession = s;
    if (!res.succeeded) {
      // This session already campaigned: keep its place in line, with the new value.
      const mine = res.responses[0];
      if (mine.type !== "get" || mine.kvs.length === 0) throw new Error(`Cannot campaign in '${this.#prefix}': our key ${key} vanished during the transaction`);
      this.#leaderRev = mine.kvs[0].createRevision;
      if (mine.kvs[0].value.toString("utf8") !== value) {
        try {
          await this.proclaim(value, opts);
        } catch (err) {
          await this.resign().catch(() => {});
          throw err;
        }
      }
    }
    try {
      await waitDeletes(client, bytes(this.#prefix), this.#leaderRev - 1n, opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) await this.resign().catch(() => {});
      else this.#leaderSession = null;
      throw err;
    }
    this.#header = res.header;
  }

  /** Changes the leader's value without a new election; throws electionNotLeader if we lost it. */
  async proclaim(value: string, opts: RequestOptions = {}): Promise<void> {
    const leader = this.#leaderSession;
    if (!leader) throw ConcurrencyErrors.electionNotLeader;
    const res = await this.#session.client
      .txn(opts)
      .if(compare.create(this.#leaderKey, "=", this.#leaderRev))
      .then(op.put(this.#leaderKey, value, { lease: leader.lease }))
      .commit();
    if (!res.succeeded) {
      this.#leaderKey = "";
      throw ConcurrencyErrors.electionNotLeader;
    }
    this.#header = res.header;
  }

  /** Gives up leadership (or the place in line) so the next candidate is elected. */
  async resign(opts: RequestOptions = {}): Promise<void> {
    if (!this.#leaderSession) return;
    try {
      const res = await this.#session.client
        .txn(opts)
        .if(compare.create(this.#leaderKey, "=", this.#leaderRev))
        .then(op.delete(this.#leaderKey))
        .commit();
      this.#header = res.header;
    } finally {
      this.#leaderKey = "";
      this.#leaderSession = null;
    }
  }

  /** The current leader's key and value; throws electionNoLeader when there is none. */
  async leader(opts: RequestOptions = {}): Promise<GetResult> {
    const res = await this.#session.client.get(this.#prefix, { ...firstCreated, ...opts });
    if (res.kvs.length === 0) throw ConcurrencyErrors.electionNoLeader;
    return res;
  }

  /**
   * Every leader in turn, and every new value a leader proclaims, as one-key results. Ends when the
   * signal aborts (or the loop is left); a failed read or watch is thrown.
   */
  observe(opts: { signal?: AbortSignal } = {}): AsyncGenerator<GetResult> {
    return observe(this.#session.client, this.#prefix, opts.signal);
  }
}

async function* observe(client: Client, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<GetResult> {
  const one = (header: ResponseHeader, kv: KeyValue): GetResult => ({ header, kvs: [kv], more: false, count: 0n });
  for (;;) {
    if (signal?.aborted) return;
    let res: GetResult;
    try {
      res = await client.get(prefix, { ...firstCreated, signal });
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
    let header = res.header;
    let leader: KeyValue | undefined = res.kvs[0];
    if (!leader) {
      // No leader yet: wait for the first key put under the prefix.
      const w = client.watch(prefix, { prefix: true, startRevision: res.header.revision, filters: ["noDelete"] });
      const stop = () => w.cancel();
      signal?.addEventListener("abort", stop, { once: true });
      try {
        for await (const ev of w) {
          leader = ev.kv;
          header = { ...res.header, revision: ev.kv.modRevision };
          break;
        }
      } finally {
        signal?.removeEventListener("abort", stop);
        w.cancel();
      }
      if (!leader) {
        if (signal?.aborted) return;
        throw new Error(`Cannot observe '${prefix}': the watch ended`);
      }
    }
    yield one(header, leader);
    // Follow this leader's proclamations until its key is deleted.
    const w = client.watch(leader.key, { startRevision: header.revision + 1n });
    const stop = () => w.cancel();
    signal?.addEventListener("abort", stop, { once: true });
    let deleted = false;
    try {
      for await (const ev of w) {
        if (ev.type === "delete") {
          deleted = true;
          break;
        }
        yield one({ ...header, revision: ev.revision }, ev.kv);
      }
    } finally {
      signal?.removeEventListener("abort", stop);
      w.cancel();
    }
    if (!deleted) {
      if (signal?.aborted) return;
      throw new Error(`Cannot observe '${prefix}': the watch ended`);
    }
  }
}
