/** The client: KV, transactions, compaction, watches and leases over a set of endpoints, authenticated if asked. */
import type { EtcdError } from "../pkg/errors.ts";
import type { Logger } from "../pkg/logger.ts";
import type { etcdserverpb } from "../proto/etcd.js";
import {
  type Bytes,
  type DeleteOptions,
  deleteRequest,
  deleteResult,
  type DeleteResult,
  type GetOptions,
  getResult,
  type GetResult,
  type Int64,
  int64,
  type PutOptions,
  putRequest,
  putResult,
  type PutResult,
  rangeRequest,
  type ResponseHeader,
  toHeader,
} from "./kv.ts";
import type { ClientTlsOptions } from "./grpc/channel.ts";
import { LeaseClient } from "./lease.ts";
import { type Method, rpc } from "./rpc.ts";
import { type CallOpts, Transport } from "./transport.ts";
import { Txn, txnResult, type TxnResult } from "./txn.ts";
import { type Watcher, type WatchOptions, WatchStream } from "./watch.ts";

export interface ClientOptions {
  /** "host:port", "http://host:port" or "https://host:port", tried in order, round-robin on failure. */
  endpoints: string[];
  /** TLS for https:// endpoints (and bare host:port ones when given): CA, client certificate, ... */
  tls?: ClientTlsOptions;
  /** How long one connection attempt may take (default 5000 ms; 0: no limit but the request's deadline). */
  dialTimeoutMs?: number;
  /** Deadline of each request, retries included (default 10000 ms; 0 for none). */
  requestTimeoutMs?: number;
  /**
   * HTTP/2 PING interval (default 30000 ms; 0 turns pings off) and how long an answer may take
   * (default 10000 ms) before the connection counts as dead and calls fail over.
   */
  keepAliveTimeMs?: number;
  keepAliveTimeoutMs?: number;
  /**
   * With both a user name and a password, the client authenticates on first use and sends the token
   * with every call, getting a new one when the server no longer accepts it. A function as password
   * is asked once, on first use (a prompt). Authentication failures throw Errors.authFailed.
   */
  username?: string;
  password?: string | (() => Promise<string>);
  /** What to throw instead of an Authenticate failure (etcdctl makes it a connection error). */
  onAuthFailure?: (err: EtcdError) => unknown;
  /** Hears clientv3's warnings ("retrying of unary invoker failed" for each failed call attempt). */
  logger?: Logger;
}

/** Per-call options: a cancellation signal and/or a deadline overriding requestTimeoutMs. */
export interface RequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * An absolute deadline (Date.now() based) instead of timeoutMs; one already past fails the call
   * with DeadlineExceeded, as a Go context that has expired.
   */
  deadlineMs?: number;
}

export class Client {
  /** Leases: grant, revoke, timeToLive, leases, keepAlive. */
  readonly lease: LeaseClient;
  readonly #transport: Transport;
  readonly #watches: WatchStream;
  readonly #requestTimeoutMs: number;

  constructor(opts: ClientOptions) {
    if (!opts || !Array.isArray(opts.endpoints) || opts.endpoints.length === 0) {
      throw new TypeError("Cannot create a client: 'endpoints' must list at least one endpoint");
    }
    const dialTimeoutMs = opts.dialTimeoutMs ?? 5000;
    this.#requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    const credentials = opts.username && opts.password ? { username: opts.username, password: opts.password, onFailure: opts.onAuthFailure } : null;
    this.#transport = new Transport(
      opts.endpoints,
      dialTimeoutMs,
      { timeMs: opts.keepAliveTimeMs ?? 30_000, timeoutMs: opts.keepAliveTimeoutMs ?? 10_000 },
      credentials,
      opts.tls ?? null,
      opts.logger ?? null,
    );
    this.#watches = new WatchStream(this.#transport);
    this.lease = new LeaseClient(this.#transport, () => this.#opts(), this.#requestTimeoutMs || 10_000);
  }

  /** The endpoint new requests go to. */
  get endpoint(): string {
    return this.#transport.endpoint;
  }

  async get(key: Bytes, opts: GetOptions & RequestOptions = {}): Promise<GetResult> {
    return getResult(await this.#transport.unary(rpc.range, rangeRequest(key, opts), this.#opts(opts)));
  }

  async put(key: Bytes, value: Bytes, opts: PutOptions & RequestOptions = {}): Promise<PutResult> {
    return putResult(await this.#transport.unary(rpc.put, putRequest(key, value, opts), this.#opts(opts)));
  }

  async delete(key: Bytes, opts: DeleteOptions & RequestOptions = {}): Promise<DeleteResult> {
    return deleteResult(await this.#transport.unary(rpc.deleteRange, deleteRequest(key, opts), this.#opts(opts)));
  }

  /** `client.txn().if(compare.value("k", "=", "v")).then(op.put("k", "w")).else(op.get("k")).commit()` */
  txn(opts: RequestOptions = {}): Txn {
    return new Txn(async (req: etcdserverpb.TxnRequest.$Properties): Promise<TxnResult> =>
      txnResult(await this.#transport.unary(rpc.txn, req, this.#opts(opts))),
    );
  }

  /** Compacts the history before `revision`; `physical` waits until the space is reclaimed. */
  async compact(revision: Int64, opts: { physical?: boolean } & RequestOptions = {}): Promise<ResponseHeader> {
    const res = await this.#transport.unary(rpc.compact, { revision: int64(revision), physical: opts.physical ?? false }, this.#opts(opts));
    return toHeader(res.header);
  }

  /** Watches a key (or range); iterate the result with `for await`. */
  watch(key: Bytes, opts: WatchOptions = {}): Watcher {
    return this.#watches.watch(key, opts);
  }

  /**
   * Any unary RPC of `rpc` (cluster, maintenance, auth, lock, election…) with the client's failover
   * and retry policy; the raw decoded response.
   */
  call<Req, Res>(m: Method<Req, Res>, request: Req, opts: RequestOptions = {}): Promise<Res> {
    return this.#transport.unary(m, request, this.#opts(opts));
  }

  /**
   * A server-streaming RPC (Snapshot, Observe) as an async iterator of responses. Not retried once
   * open; breaking out of the loop cancels the call. `opts.timeoutMs` bounds the whole stream.
   */
  async *serverStream<Req, Res>(m: Method<Req, Res>, request: Req, opts: RequestOptions = {}): AsyncGenerator<Res> {
    const queue: Res[] = [];
    let done = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    const stream = await this.#transport.stream(
      m,
      {
        onMessage(res) {
          queue.push(res);
          notify();
        },
        onClose(err) {
          done = true;
          failure = err;
          notify();
        },
      },
      this.#opts(opts),
    );
    stream.send(request);
    stream.end();
    try {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (done) {
          if (failure) throw failure;
          return;
        }
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      if (!done) stream.cancel();
    }
  }

  /** Ends every watch and keep-alive and closes the connections. */
  close(): void {
    this.#watches.close();
    this.lease.close();
    this.#transport.close();
  }

  #opts(opts: RequestOptions = {}): CallOpts {
    if (opts.deadlineMs !== undefined) return { signal: opts.signal, deadline: opts.deadlineMs };
    const timeoutMs = opts.timeoutMs ?? this.#requestTimeoutMs;
    return { signal: opts.signal, deadline: timeoutMs > 0 ? Date.now() + timeoutMs : undefined };
  }
}
