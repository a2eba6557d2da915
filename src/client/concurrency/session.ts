/**
 * A session (clientv3/concurrency's Session): a lease kept alive in the background for as long as the
 * session lives. Locks and elections put their keys under the session's lease, so they vanish when the
 * holder dies (the keep-alive stops and the lease expires) or closes the session (the lease is revoked).
 */
import type { EtcdError } from "../../pkg/errors.ts";
import type { Client } from "../client.ts";
import type { KeepAlive } from "../lease.ts";
import { rpc } from "../rpc.ts";

/** clientv3/concurrency's default session TTL, in seconds. */
export const DEFAULT_SESSION_TTL_SECONDS = 60;

export interface SessionOptions {
  /** The lease's TTL in seconds (default 60); ignored for an existing `leaseId`. */
  ttlSeconds?: number;
  /** Keep alive this existing lease instead of granting a new one. */
  leaseId?: bigint;
  signal?: AbortSignal;
}

export class Session {
  readonly client: Client;
  /** The session's lease id. */
  readonly lease: bigint;
  readonly ttlSeconds: number;
  /**
   * Resolves when the session ends: its keep-alive stopped (orphan, close) or the lease was lost
   * (expired, revoked, client closed). Resolves with the reason when it was lost, else null.
   */
  readonly done: Promise<EtcdError | null>;
  readonly #keepAlive: KeepAlive;
  #resolveDone!: (err: EtcdError | null) => void;
  #ended = false;

  private constructor(client: Client, lease: bigint, ttlSeconds: number) {
    this.client = client;
    this.lease = lease;
    this.ttlSeconds = ttlSeconds;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    this.#keepAlive = client.lease.keepAlive(lease, BigInt(ttlSeconds));
    void this.#keepAlive.lost.then((err) => this.#end(err));
  }

  /** Grants a lease (or adopts `leaseId`) and starts keeping it alive. */
  static async create(client: Client, opts: SessionOptions = {}): Promise<Session> {
    const ttl = opts.ttlSeconds !== undefined && opts.ttlSeconds > 0 ? Math.floor(opts.ttlSeconds) : DEFAULT_SESSION_TTL_SECONDS;
    if (opts.leaseId !== undefined && opts.leaseId !== 0n) return new Session(client, opts.leaseId, ttl);
    const lease = await client.lease.grant(ttl);
    if (opts.signal?.aborted) {
      await client.lease.revoke(lease.id).catch(() => {});
      throw opts.signal.reason;
    }
    return new Session(client, lease.id, Number(lease.ttl) || ttl);
  }

  /** True until the keep-alive stopped or the lease was lost. */
  get alive(): boolean {
    return !this.#ended;
  }

  /** Stops the keep-alive without revoking: the lease (and the session's keys) expire after the TTL. */
  orphan(): void {
    this.#keepAlive.stop();
    this.#end(null);
  }

  /** Stops the keep-alive and revokes the lease, which deletes every key the session holds. */
  async close(): Promise<void> {
    this.orphan();
    // If revoking takes longer than the TTL, the lease has expired anyway.
    await this.client.call(rpc.leaseRevoke, { ID: this.lease }, { timeoutMs: this.ttlSeconds * 1000 });
  }

  #end(err: EtcdError | null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#resolveDone(err);
  }
}
