/**
 * Leases: grant, revoke, time-to-live, list, and keep-alives. Every kept-alive lease shares the
 * client's one LeaseKeepAlive stream; each is refreshed at a third of its TTL (clientv3's schedule)
 * and reported lost when the server says it is gone (TTL ≤ 0) or no refresh arrived within the TTL.
 */
import { EtcdError, Errors, GrpcCode } from "../pkg/errors.ts";
import type { etcdserverpb } from "../proto/etcd.js";
import { TransportError } from "./errors.ts";
import { type Int64, int64, leaseId, type ResponseHeader, toHeader } from "./kv.ts";
import { rpc } from "./rpc.ts";
import { backoffMs, type CallOpts, type Transport, type TypedStream } from "./transport.ts";

/** How often due keep-alives are sent and deadlines checked (clientv3 uses 500 ms). */
const TICK_MS = 250;

export interface TimeToLiveResult {
  header: ResponseHeader;
  id: bigint;
  /** Seconds left; -1 when the lease does not exist (expired or revoked). */
  ttl: bigint;
  grantedTtl: bigint;
  keys: Buffer[];
}

/** A granted lease. */
export class Lease {
  readonly id: bigint;
  /** The TTL the server granted, in seconds. */
  readonly ttl: bigint;
  readonly header: ResponseHeader;
  readonly #leases: LeaseClient;

  /** @internal */
  constructor(leases: LeaseClient, res: etcdserverpb.LeaseGrantResponse) {
    this.#leases = leases;
    this.id = res.ID;
    this.ttl = res.TTL;
    this.header = toHeader(res.header);
  }

  keepAlive(): KeepAlive {
    return this.#leases.keepAlive(this.id, this.ttl);
  }

  revoke(): Promise<ResponseHeader> {
    return this.#leases.revoke(this.id);
  }

  timeToLive(opts?: { keys?: boolean }): Promise<TimeToLiveResult> {
    return this.#leases.timeToLive(this.id, opts);
  }
}

/** A background keep-alive of one lease; `lost` resolves (never rejects) with why it ended, unless stop()ped. */
export class KeepAlive {
  readonly id: bigint;
  readonly lost: Promise<EtcdError>;
  #ttl: bigint | null = null;
  #resolveLost!: (err: EtcdError) => void;
  #active = true;
  readonly #stop: (k: KeepAlive) => void;

  /** @internal */
  constructor(id: bigint, stop: (k: KeepAlive) => void) {
    this.id = id;
    this.#stop = stop;
    this.lost = new Promise((resolve) => (this.#resolveLost = resolve));
  }

  /** The TTL of the last refresh, in seconds (null before the first one). */
  get ttl(): bigint | null {
    return this.#ttl;
  }

  /** True until stop() or the lease is lost. */
  get active(): boolean {
    return this.#active;
  }

  /** Stops refreshing (the lease then expires after its TTL unless revoked). */
  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#stop(this);
  }

  /** @internal */
  refreshed(ttl: bigint): void {
    this.#ttl = ttl;
  }

  /** @internal */
  markLost(err: EtcdError): void {
    if (!this.#active) return;
    this.#active = false;
    this.#resolveLost(err);
  }
}

interface Entry {
  /** When the next refresh is due (Date.now() based). */
  nextAt: number;
  /** When the lease is presumed expired if no refresh arrived. */
  deadline: number;
  handles: Set<KeepAlive>;
}

export class LeaseClient {
  readonly #transport: Transport;
  readonly #callOpts: () => CallOpts;
  readonly #firstTimeoutMs: number;
  readonly #entries = new Map<bigint, Entry>();
  #stream: TypedStream<etcdserverpb.LeaseKeepAliveRequest.$Properties> | null = null;
  #opening = false;
  #generation = 0;
  #failures = 0;
  #retryAt = 0;
  #ticker: ReturnType<typeof setInterval> | null = null;
  #closed = false;

  /** @internal */
  constructor(transport: Transport, callOpts: () => CallOpts, firstTimeoutMs: number) {
    this.#transport = transport;
    this.#callOpts = callOpts;
    this.#firstTimeoutMs = firstTimeoutMs;
  }

  async grant(ttlSeconds: Int64, opts: { id?: Int64 } = {}): Promise<Lease> {
    const req: etcdserverpb.LeaseGrantRequest.$Properties = { TTL: int64(ttlSeconds) };
    if (opts.id !== undefined) req.ID = int64(opts.id);
    const res = await this.#transport.unary(rpc.leaseGrant, req, this.#callOpts());
    // etcd reports some grant failures in the response body rather than the status.
    if (res.error) throw new EtcdError(GrpcCode.Unknown, res.error);
    return new Lease(this, res);
  }

  async revoke(id: Int64 | { id: bigint }): Promise<ResponseHeader> {
    const res = await this.#transport.unary(rpc.leaseRevoke, { ID: leaseId(id) }, this.#callOpts());
    return toHeader(res.header);
  }

  async timeToLive(id: Int64 | { id: bigint }, opts: { keys?: boolean } = {}): Promise<TimeToLiveResult> {
    const res = await this.#transport.unary(rpc.leaseTimeToLive, { ID: leaseId(id), keys: opts.keys ?? false }, this.#callOpts());
    return {
      header: toHeader(res.header),
      id: res.ID,
      ttl: res.TTL,
      grantedTtl: res.grantedTTL,
      keys: res.keys.map((k) => (Buffer.isBuffer(k) ? k : Buffer.from(k))),
    };
  }

  async leases(): Promise<{ header: ResponseHeader; leases: bigint[] }> {
    const res = await this.#transport.unary(rpc.leaseLeases, {}, this.#callOpts());
    return { header: toHeader(res.header), leases: res.leases.map((l) => l.ID ?? 0n) };
  }

  /** Keeps the lease alive in the background until stop() or until it is lost. */
  keepAlive(id: Int64 | { id: bigint }, ttlHintSeconds?: bigint): KeepAlive {
    const lid = leaseId(id);
    const handle = new KeepAlive(lid, (k) => this.#stopOne(k));
    if (this.#closed) {
      handle.markLost(new EtcdError(GrpcCode.Canceled, "etcdclient: client is closed"));
      return handle;
    }
    let entry = this.#entries.get(lid);
    if (!entry) {
      const now = Date.now();
      const firstMs = ttlHintSeconds && ttlHintSeconds > 0n ? Number(ttlHintSeconds) * 1000 : this.#firstTimeoutMs;
      entry = { nextAt: now, deadline: now + firstMs, handles: new Set() };
      this.#entries.set(lid, entry);
    }
    entry.handles.add(handle);
    this.#start();
    this.#tick();
    return handle;
  }

  close(): void {
    this.#closed = true;
    for (const [id, e] of this.#entries) this.#lose(id, e, new EtcdError(GrpcCode.Canceled, "etcdclient: client is closed"));
    this.#stopAll();
  }

  #stopOne(k: KeepAlive): void {
    const e = this.#entries.get(k.id);
    if (!e) return;
    e.handles.delete(k);
    if (e.handles.size === 0) this.#entries.delete(k.id);
    if (this.#entries.size === 0) this.#stopAll();
  }

  #lose(id: bigint, e: Entry, err: EtcdError): void {
    this.#entries.delete(id);
    for (const h of e.handles) h.markLost(err);
    if (this.#entries.size === 0) this.#stopAll();
  }

  #start(): void {
    if (!this.#ticker) this.#ticker = setInterval(() => this.#tick(), TICK_MS);
  }

  #stopAll(): void {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = null;
    this.#generation++;
    this.#stream?.cancel();
    this.#stream = null;
    this.#opening = false;
  }

  #tick(): void {
    const now = Date.now();
    for (const [id, e] of this.#entries) {
      if (now >= e.deadline) this.#lose(id, e, new EtcdError(GrpcCode.DeadlineExceeded, `etcdclient: lease ${id.toString(16)} keep-alive got no answer within its TTL`));
    }
    if (this.#entries.size === 0) return;
    if (!this.#stream) return this.#open();
    for (const [id, e] of this.#entries) {
      if (now < e.nextAt) continue;
      // Until the answer comes, do not resend on every tick.
      e.nextAt = now + 1000;
      this.#stream.send({ ID: id });
    }
  }

  #open(): void {
    if (this.#opening || this.#closed || Date.now() < this.#retryAt) return;
    this.#opening = true;
    const gen = ++this.#generation;
    this.#transport
      .stream(rpc.leaseKeepAlive, {
        onMessage: (res) => gen === this.#generation && this.#onResponse(res),
        onClose: (err) => gen === this.#generation && this.#onBroken(err),
      })
      .then(
        (s) => {
          this.#opening = false;
          if (gen !== this.#generation) return s.cancel();
          this.#stream = s;
          for (const e of this.#entries.values()) e.nextAt = 0;
          this.#tick();
        },
        (err: EtcdError) => {
          this.#opening = false;
          if (gen === this.#generation) this.#onBroken(err);
        },
      );
  }

  #onResponse(res: etcdserverpb.LeaseKeepAliveResponse): void {
    const e = this.#entries.get(res.ID);
    if (!e) return;
    if (res.TTL <= 0n) return this.#lose(res.ID, e, Errors.leaseNotFound);
    this.#failures = 0;
    const now = Date.now();
    const ttlMs = Number(res.TTL) * 1000;
    e.nextAt = now + ttlMs / 3;
    e.deadline = now + ttlMs;
    for (const h of e.handles) h.refreshed(res.TTL);
  }

  #onBroken(err: EtcdError | null): void {
    const endpoint = this.#stream?.endpoint;
    this.#stream = null;
    this.#opening = false;
    this.#generation++;
    if (this.#closed || this.#entries.size === 0) return;
    if (err && !(err instanceof TransportError) && err.code !== GrpcCode.Unavailable && err.code !== GrpcCode.Internal) {
      for (const [id, e] of this.#entries) this.#lose(id, e, err);
      return;
    }
    if (err instanceof TransportError) this.#transport.markUnhealthy(err.endpoint);
    else if (endpoint) this.#transport.markUnhealthy(endpoint);
    // The ticker reopens the stream after the backoff; deadlines keep running meanwhile.
    this.#retryAt = Date.now() + backoffMs(Math.min(this.#failures++, 20));
  }
}
