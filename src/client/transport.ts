/**
 * Calls over a set of endpoints: one HTTP/2 connection at a time to the preferred endpoint, moving
 * round-robin to the next one when a connection fails or the member says it cannot serve (no leader,
 * leader changed, stopping). Unary calls are retried by clientv3's policy: repeatable ones on any
 * Unavailable, the others only when the request surely never left this process. With credentials,
 * every call and stream carries an auth token (auth.ts).
 */
import { EtcdError, GrpcCode } from "../pkg/errors.ts";
import type { Logger } from "../pkg/logger.ts";
import { type Credentials, needsNewToken, TokenKeeper } from "./auth.ts";
import { asEtcdError, canceled, clientClosed, deadlineExceeded, isEndpointUnhealthy, retryableRead, retryableWrite, TransportError } from "./errors.ts";
import { type CallOptions, Channel, type CallStream, type ClientTlsOptions, type KeepAliveOptions, type Session } from "./grpc/channel.ts";
import { encodeFrame } from "./grpc/framing.ts";
import { type Method, rpc } from "./rpc.ts";

/** clientv3 retries a unary call at most this many times (defaultUnaryMaxRetries). */
const MAX_RETRIES = 100;
/** First wait between retries; it grows linearly to BACKOFF_MAX_MS, with ±10% jitter (clientv3: 25 ms, 10%). */
const BACKOFF_STEP_MS = 25;
const BACKOFF_MAX_MS = 500;

export interface CallOpts {
  /** Absolute deadline (Date.now() based). */
  deadline?: number;
  signal?: AbortSignal;
  /** A token sent as is when the client has no credentials of its own (a proxy forwarding its caller's). */
  token?: string;
}

export interface TypedStream<Req> {
  /** The endpoint this stream runs on. */
  readonly endpoint: string;
  send(request: Req): void;
  end(): void;
  cancel(): void;
}

export interface TypedHandlers<Res> {
  onMessage(response: Res): void;
  /** Exactly once; null when the server ended the call with status OK. */
  onClose(err: EtcdError | null): void;
}

export class Transport {
  readonly #endpoints: readonly string[];
  readonly #dialTimeoutMs: number;
  readonly #keepAlive: KeepAliveOptions | null;
  readonly #tls: ClientTlsOptions | null;
  readonly #channels = new Map<string, Channel>();
  readonly #tokens: TokenKeeper | null;
  readonly #log: Logger | null;
  /** clientv3's dial target, named in its retry warnings: endpoint://client-<id>/<first endpoint>. */
  readonly #target: string;
  #current = 0;
  #closed = false;

  /**
   * `dialTimeoutMs` 0: no limit of its own on a connection attempt (clientv3's DialTimeout 0); the
   * call's deadline still bounds it. `log` hears clientv3's warning for each failed call attempt.
   */
  constructor(
    endpoints: readonly string[],
    dialTimeoutMs: number,
    keepAlive: KeepAliveOptions | null = null,
    credentials: Credentials | null = null,
    tls: ClientTlsOptions | null = null,
    log: Logger | null = null,
  ) {
    if (endpoints.length === 0) throw new Error("Cannot create a client: no endpoints given");
    this.#endpoints = endpoints;
    this.#tls = tls;
    this.#dialTimeoutMs = dialTimeoutMs > 0 ? dialTimeoutMs : Infinity;
    this.#log = log;
    this.#target = log ? `endpoint://client-${crypto.randomUUID()}/${endpoints[0].replace(/^[a-z]+:\/\//i, "")}` : "";
    this.#keepAlive = keepAlive;
    this.#tokens = credentials
      ? new TokenKeeper(credentials, async (name, password, deadline) => {
          const res = await this.#unary(rpc.authenticate, encodeFrame(rpc.authenticate.request, { name, password }), { deadline }, "");
          return res.token;
        })
      : null;
  }

  /** The endpoint new calls go to. */
  get endpoint(): string {
    return this.#endpoints[this.#current];
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Moves new calls off `endpoint` (if it is still the preferred one) to the next endpoint. */
  markUnhealthy(endpoint: string): void {
    if (this.#endpoints[this.#current] === endpoint) this.#current = (this.#current + 1) % this.#endpoints.length;
  }

  async unary<Req, Res>(m: Method<Req, Res>, request: Req, opts: CallOpts = {}): Promise<Res> {
    const frame = encodeFrame(m.request, request);
    const tokens = this.#tokens;
    if (!tokens) return this.#unary(m, frame, opts, opts.token ?? "");
    const token = await tokens.token(opts.deadline);
    try {
      return await this.#unary(m, frame, opts, token);
    } catch (err) {
      // clientv3 authenticates again once and repeats the call (its retry interceptor).
      if (!needsNewToken(err)) throw err;
      tokens.invalidate(token);
      return this.#unary(m, frame, opts, await tokens.token(opts.deadline));
    }
  }

  async #unary<Req, Res>(m: Method<Req, Res>, frame: Buffer, opts: CallOpts, token: string): Promise<Res> {
    // Attempts as clientv3's retry interceptor counts them: waiting for a connection is part of one.
    let invoked = 0;
    for (let attempt = 0; ; attempt++) {
      let err: EtcdError;
      try {
        const { channel, session } = await this.#connect(opts);
        const body = await once(channel, session, m.path, frame, { ...opts, token });
        return m.response.decode(body);
      } catch (e) {
        err = asEtcdError(e);
      }
      if (isEndpointUnhealthy(err)) this.markUnhealthy(err instanceof TransportError ? err.endpoint : this.endpoint);
      // clientv3 waits for a ready connection inside a call (WaitForReady): a failed dial is not yet
      // a failed attempt, unless the call gives up on it.
      const dialing = err instanceof TransportError && !err.sent;
      const retry = m.repeatable ? retryableRead(err) : retryableWrite(err);
      const waitMs = backoffMs(attempt);
      const outOfTime = opts.deadline !== undefined && Date.now() + waitMs >= opts.deadline;
      const last = !retry || attempt >= MAX_RETRIES || this.#closed || !!opts.signal?.aborted || outOfTime;
      if (!dialing || last) this.#warnFailed(invoked++, dialing && outOfTime ? `rpc error: code = DeadlineExceeded desc = latest balancer error: ${err.message}` : goStatusText(err));
      if (last) throw err;
      await sleep(waitMs, opts.signal);
    }
  }

  /** clientv3's retry interceptor logs every failed attempt of a unary call at warn (etcdctl shows it on stderr). */
  #warnFailed(attempt: number, error: string): void {
    this.#log?.("warn", "retrying of unary invoker failed", { target: this.#target, attempt, error });
  }

  /**
   * Opens a (client-, server- or bidi-) streaming call on the preferred endpoint, failing over while
   * connecting. Once open, the stream is not retried: its owner decides how to resume.
   */
  async stream<Req, Res>(m: Method<Req, Res>, handlers: TypedHandlers<Res>, opts: CallOpts = {}): Promise<TypedStream<Req>> {
    const token = this.#tokens ? await this.#tokens.token(opts.deadline, true) : (opts.token ?? "");
    const { channel, session } = await this.#connect(opts);
    let call: CallStream | null = null;
    let failed: EtcdError | null = null;
    call = channel.open(session, m.path, { ...opts, token }, {
      onMessage(body) {
        let res: Res;
        try {
          res = m.response.decode(body);
        } catch (e) {
          failed = new EtcdError(GrpcCode.Internal, `grpc: cannot decode a ${m.path} response: ${(e as Error).message}`);
          call?.cancel();
          return;
        }
        handlers.onMessage(res);
      },
      onClose(err) {
        handlers.onClose(failed ?? err);
      },
    });
    const c = call;
    return {
      endpoint: channel.endpoint,
      send: (req) => c.send(encodeFrame(m.request, req)),
      end: () => c.end(),
      cancel: () => c.cancel(),
    };
  }

  close(): void {
    this.#closed = true;
    for (const ch of this.#channels.values()) ch.close();
    this.#channels.clear();
  }

  /** A connected channel, trying each endpoint once from the preferred one. */
  async #connect(opts: CallOpts): Promise<{ channel: Channel; session: Session }> {
    let last: EtcdError | null = null;
    for (let tried = 0; tried < this.#endpoints.length; tried++) {
      if (this.#closed) throw clientClosed();
      if (opts.signal?.aborted) throw canceled();
      const endpoint = this.endpoint;
      let channel = this.#channels.get(endpoint);
      if (!channel || channel.broken) {
        channel?.close();
        channel = new Channel(endpoint, this.#keepAlive, this.#tls);
        this.#channels.set(endpoint, channel);
      }
      const dialMs = opts.deadline === undefined ? this.#dialTimeoutMs : Math.min(this.#dialTimeoutMs, opts.deadline - Date.now());
      if (dialMs <= 0) throw deadlineExceeded();
      try {
        return { channel, session: await channel.connect(dialMs) };
      } catch (e) {
        last = asEtcdError(e);
        this.markUnhealthy(endpoint);
      }
    }
    throw last!;
  }
}

/** One unary call: resolves with the single response message. */
function once(channel: Channel, session: Session, path: string, frame: Buffer, opts: CallOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let response: Buffer | null = null;
    let extra = false;
    const call = channel.open(session, path, opts, {
      onMessage(m) {
        if (response) extra = true;
        response = m;
      },
      onClose(err) {
        if (err) return reject(err);
        if (!response || extra) return reject(new EtcdError(GrpcCode.Internal, `grpc: ${path} answered ${response ? "more than one message" : "no message"}`));
        resolve(response);
      },
    });
    call.send(frame);
    call.end();
  });
}

const CODE_NAMES = new Map<number, string>(Object.entries(GrpcCode).map(([name, code]) => [code, name]));

/** An error as grpc-go's status error prints: "rpc error: code = NotFound desc = etcdserver: …". */
export function goStatusText(err: EtcdError): string {
  return `rpc error: code = ${CODE_NAMES.get(err.code) ?? String(err.code)} desc = ${err.message}`;
}

export function backoffMs(attempt: number): number {
  const base = Math.min(BACKOFF_STEP_MS * (attempt + 1), BACKOFF_MAX_MS);
  return base * (0.9 + Math.random() * 0.2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(canceled());
    const onAbort = () => {
      clearTimeout(t);
      reject(canceled());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
