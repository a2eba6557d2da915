// Lease through the proxy. Grant, revoke, time-to-live and list are forwarded. Keep-alives from every
// client stream share one LeaseKeepAlive stream to the cluster (per auth token), and requests for the
// same lease are coalesced: while one is in flight, later ones wait for the next round, which is sent
// when the answer comes (so every answer still reports a refresh made after its request was sent).
// When the upstream stream breaks, it is opened again on the next endpoint and the requests in flight
// are sent again: a keep-alive is idempotent.
import { EtcdError, GrpcCode } from "../pkg/errors.ts";
import type { Logger } from "../pkg/logger.ts";
import type { etcdserverpb } from "../proto/etcd.js";
import { TransportError } from "../client/errors.ts";
import { rpc } from "../client/rpc.ts";
import { backoffMs, type TypedStream } from "../client/transport.ts";
import type { Call, Handler } from "../server/grpc/grpc-server.ts";
import type { Namespace } from "./namespace.ts";
import { callOpts, type Upstream } from "./upstream.ts";

type KeepAliveResponse = etcdserverpb.LeaseKeepAliveResponse;

/** One client's LeaseKeepAlive stream, as the shared upstream sees it. */
export interface KeepAliveClient {
  /** An answer for one of its requests. */
  answer(res: KeepAliveResponse): void;
  /** The upstream failed for good (not a lost connection, which is retried): end the client's stream. */
  fail(err: EtcdError): void;
}

interface Round {
  /** Requests waiting for the answer in flight, by client (a client may ask several times). */
  inflight: Map<KeepAliveClient, number>;
  /** Requests that came while one was in flight: the next round. */
  next: Map<KeepAliveClient, number>;
}

/** The upstream keep-alive stream of one auth token, shared by its clients. */
export class SharedKeepAlive {
  readonly #upstream: Upstream;
  readonly #token: string;
  readonly #log: Logger;
  readonly #rounds = new Map<bigint, Round>();
  readonly #clients = new Set<KeepAliveClient>();
  #stream: TypedStream<etcdserverpb.LeaseKeepAliveRequest.$Properties> | null = null;
  #opening = false;
  #generation = 0;
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  /** Told when the last client leaves (the owner drops this object). */
  onIdle: (() => void) | null = null;

  constructor(upstream: Upstream, token: string, log: Logger) {
    this.#upstream = upstream;
    this.#token = token;
    this.#log = log;
  }

  join(c: KeepAliveClient): void {
    this.#clients.add(c);
  }

  /** The client's stream ended: its pending requests are forgotten. */
  leave(c: KeepAliveClient): void {
    if (!this.#clients.delete(c)) return;
    for (const [id, round] of this.#rounds) {
      round.inflight.delete(c);
      round.next.delete(c);
      if (round.inflight.size === 0 && round.next.size === 0) this.#rounds.delete(id);
    }
    if (this.#clients.size === 0) {
      this.close();
      this.onIdle?.();
    }
  }

  request(c: KeepAliveClient, id: bigint): void {
    let round = this.#rounds.get(id);
    if (round && round.inflight.size > 0) {
      round.next.set(c, (round.next.get(c) ?? 0) + 1);
      return;
    }
    if (!round) this.#rounds.set(id, (round = { inflight: new Map(), next: new Map() }));
    round.inflight.set(c, (round.inflight.get(c) ?? 0) + 1);
    this.#send(id);
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#generation++;
    this.#stream?.cancel();
    this.#stream = null;
  }

  #send(id: bigint): void {
    if (this.#stream) {
      this.#stream.send({ ID: id });
      return;
    }
    this.#open();
  }

  #open(): void {
    if (this.#stream || this.#opening || this.#closed || this.#retry) return;
    this.#opening = true;
    const gen = ++this.#generation;
    this.#upstream
      .stream(
        rpc.leaseKeepAlive,
        {
          onMessage: (res) => gen === this.#generation && this.#onAnswer(res),
          onClose: (err) => gen === this.#generation && this.#onBroken(err),
        },
        { token: this.#token || undefined },
      )
      .then(
        (s) => {
          this.#opening = false;
          if (gen !== this.#generation) return s.cancel();
          this.#stream = s;
          this.#failures = 0;
          // Every round with requests in flight is asked again on the new stream.
          for (const [id, round] of this.#rounds) if (round.inflight.size > 0) s.send({ ID: id });
        },
        (err: EtcdError) => {
          this.#opening = false;
          if (gen === this.#generation) this.#onBroken(err);
        },
      );
  }

  #onAnswer(res: KeepAliveResponse): void {
    this.#failures = 0;
    const round = this.#rounds.get(res.ID);
    if (!round || round.inflight.size === 0) return;
    for (const [c, n] of round.inflight) for (let i = 0; i < n; i++) c.answer(res);
    round.inflight = round.next;
    round.next = new Map();
    if (round.inflight.size > 0) this.#send(res.ID);
    else this.#rounds.delete(res.ID);
  }

  #onBroken(err: EtcdError | null): void {
    const endpoint = this.#stream?.endpoint;
    this.#stream = null;
    this.#generation++;
    if (this.#closed) return;
    const e = err ?? new EtcdError(GrpcCode.Unavailable, "lease keep-alive stream ended");
    if (e instanceof TransportError) this.#upstream.transport.markUnhealthy(e.endpoint);
    else if (endpoint && e.code === GrpcCode.Unavailable) this.#upstream.transport.markUnhealthy(endpoint);
    // A lost connection or a member that cannot serve: another endpoint may. Anything else is the
    // cluster's answer to these clients (an auth error, say): they hear it.
    if (e.code !== GrpcCode.Unavailable && e.code !== GrpcCode.Internal) {
      for (const c of [...this.#clients]) if (this.#pendingFor(c)) c.fail(e);
      return;
    }
    if (this.#rounds.size === 0) return;
    const waitMs = backoffMs(Math.min(this.#failures++, 20));
    this.#log("debug", "lease keep-alive stream to the cluster broke; opening another", { error: e.message, retryInMs: Math.round(waitMs) });
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#open();
    }, waitMs);
  }

  /** Whether some request of `c` still waits for its answer. */
  hasPending(c: KeepAliveClient): boolean {
    return this.#pendingFor(c);
  }

  #pendingFor(c: KeepAliveClient): boolean {
    for (const r of this.#rounds.values()) if (r.inflight.has(c) || r.next.has(c)) return true;
    return false;
  }
}

/** The bound on answers queued for a client that does not read (etcd's proxy drops its stream then too). */
const MAX_QUEUED_ANSWERS = 1024;

export function leaseHandlers(upstream: Upstream, ns: Namespace | null, log: Logger): Record<string, Handler> {
  const shared = new Map<string, SharedKeepAlive>();
  const sharedFor = (token: string): SharedKeepAlive => {
    let s = shared.get(token);
    if (!s) {
      const made = new SharedKeepAlive(upstream, token, log);
      made.onIdle = () => {
        if (shared.get(token) === made) shared.delete(token);
      };
      shared.set(token, (s = made));
    }
    return s;
  };

  return {
    [rpc.leaseGrant.path]: { kind: "unary", handle: (req: etcdserverpb.LeaseGrantRequest, call: Call) => upstream.unary(rpc.leaseGrant, req, callOpts(call)) },
    [rpc.leaseRevoke.path]: { kind: "unary", handle: (req: etcdserverpb.LeaseRevokeRequest, call: Call) => upstream.unary(rpc.leaseRevoke, req, callOpts(call)) },
    [rpc.leaseLeases.path]: { kind: "unary", handle: (req: etcdserverpb.LeaseLeasesRequest, call: Call) => upstream.unary(rpc.leaseLeases, req, callOpts(call)) },
    [rpc.leaseTimeToLive.path]: {
      kind: "unary",
      async handle(req: etcdserverpb.LeaseTimeToLiveRequest, call: Call) {
        const res = await upstream.unary(rpc.leaseTimeToLive, req, callOpts(call));
        return ns ? { ...res, header: res.header, ID: res.ID, TTL: res.TTL, grantedTTL: res.grantedTTL, keys: ns.leaseKeys(res.keys) } : res;
      },
    },
    [rpc.leaseKeepAlive.path]: {
      kind: "bidi",
      async handle(requests: AsyncIterable<etcdserverpb.LeaseKeepAliveRequest>, call: Call, send: (msg: unknown) => Promise<void>) {
        const s = sharedFor(call.headers.token ?? "");
        const queue: KeepAliveResponse[] = [];
        let failure: EtcdError | null = null;
        let inputDone = false;
        let wake: (() => void) | null = null;
        const kick = () => {
          const w = wake;
          wake = null;
          w?.();
        };
        const client: KeepAliveClient = {
          answer(res) {
            if (queue.length >= MAX_QUEUED_ANSWERS) {
              failure ??= new EtcdError(GrpcCode.ResourceExhausted, `etcd-ts grpc-proxy: ${MAX_QUEUED_ANSWERS} keep-alive answers are waiting for this client, which is not reading them`);
            } else queue.push(res);
            kick();
          },
          fail(err) {
            failure ??= err;
            kick();
          },
        };
        s.join(client);
        call.signal.addEventListener("abort", kick, { once: true });
        // Requests are read on their own, so answers go out while more requests arrive.
        void (async () => {
          try {
            for await (const req of requests) s.request(client, BigInt(req.ID ?? 0));
          } catch (err) {
            failure ??= err instanceof EtcdError ? err : new EtcdError(GrpcCode.Unknown, String(err));
          } finally {
            inputDone = true;
            kick();
          }
        })();
        try {
          for (;;) {
            while (queue.length && !failure) await send(queue.shift()!);
            if (failure) throw failure;
            // A client that half-closes is done once its requests are answered.
            if (call.signal.aborted || (inputDone && !s.hasPending(client))) return;
            await new Promise<void>((r) => (wake = r));
          }
        } finally {
          s.leave(client);
        }
      },
    },
  };
}
