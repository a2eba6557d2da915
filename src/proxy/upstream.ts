// The proxy's side towards the cluster: the client's Transport (one connection at a time, failover to
// the next endpoint, clientv3's retry policy), with each caller's auth token and deadline carried
// through, and etcd's --max-send-bytes / --max-recv-bytes on every message (grpc-go's texts).
import { EtcdError, GrpcCode } from "../pkg/errors.ts";
import { parseGrpcTimeoutMs } from "../pkg/grpc-framing.ts";
import type { ClientTlsOptions } from "../client/grpc/channel.ts";
import type { Method, MessageType } from "../client/rpc.ts";
import { type CallOpts, Transport, type TypedHandlers, type TypedStream } from "../client/transport.ts";
import type { Call } from "../server/grpc/grpc-server.ts";

export interface UpstreamOptions {
  endpoints: readonly string[];
  tls: ClientTlsOptions | null;
  dialTimeoutMs: number;
  /** HTTP/2 PINGs towards the members (0 = none); a member that stops answering is failed over. */
  keepAliveTimeMs: number;
  keepAliveTimeoutMs: number;
  /** The largest request message sent to a member, and response message taken from one. */
  maxSendBytes: number;
  maxRecvBytes: number;
}

/** What a forwarded call carries: the caller's token and cancellation, and its deadline if it set one. */
export function callOpts(call: Pick<Call, "headers" | "signal">): CallOpts {
  const opts: CallOpts = { signal: call.signal };
  const token = call.headers.token;
  if (token) opts.token = token;
  const timeoutMs = parseGrpcTimeoutMs(call.headers["grpc-timeout"]);
  if (timeoutMs !== undefined) opts.deadline = Date.now() + timeoutMs;
  return opts;
}

export class Upstream {
  readonly transport: Transport;
  readonly #maxSend: number;
  readonly #maxRecv: number;
  readonly #limited = new Map<Method<unknown, unknown>, Method<unknown, unknown>>();

  constructor(opts: UpstreamOptions) {
    this.transport = new Transport(
      opts.endpoints,
      opts.dialTimeoutMs,
      opts.keepAliveTimeMs > 0 ? { timeMs: opts.keepAliveTimeMs, timeoutMs: opts.keepAliveTimeoutMs } : null,
      null,
      opts.tls,
    );
    this.#maxSend = opts.maxSendBytes;
    this.#maxRecv = opts.maxRecvBytes;
  }

  /** The endpoint calls go to now. */
  get endpoint(): string {
    return this.transport.endpoint;
  }

  /** A unary call with the client's failover and retries. Errors are the member's, code and text. */
  unary<Req, Res>(m: Method<Req, Res>, request: Req, opts: CallOpts): Promise<Res> {
    return this.transport.unary(this.#limits(m), request, opts);
  }

  /** Opens a stream (not retried once open: its owner resumes). */
  stream<Req, Res>(m: Method<Req, Res>, handlers: TypedHandlers<Res>, opts: CallOpts): Promise<TypedStream<Req>> {
    return this.transport.stream(this.#limits(m), handlers, opts);
  }

  /**
   * A server-streaming call forwarded as it comes: each response goes to `send` (which waits while the
   * caller does not read); the member's status ends it.
   */
  async serverStream<Req, Res>(m: Method<Req, Res>, request: Req, opts: CallOpts, send: (msg: Res) => Promise<void>): Promise<void> {
    const queue: Res[] = [];
    let done = false;
    let failure: EtcdError | null = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const stream = await this.stream(
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
      opts,
    );
    stream.send(request);
    stream.end();
    try {
      for (;;) {
        while (queue.length) await send(queue.shift()!);
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

  close(): void {
    this.transport.close();
  }

  /** The method with its messages checked against the size limits (made once per method). */
  #limits<Req, Res>(m: Method<Req, Res>): Method<Req, Res> {
    let out = this.#limited.get(m as Method<unknown, unknown>);
    if (!out) {
      const maxSend = this.#maxSend;
      const maxRecv = this.#maxRecv;
      const request: MessageType<Req> = {
        encode(message, writer) {
          const w = m.request.encode(message, writer);
          if (w.len > maxSend) throw new EtcdError(GrpcCode.ResourceExhausted, `grpc: trying to send message larger than max (${w.len} vs. ${maxSend})`);
          return w;
        },
        decode: (bytes) => m.request.decode(bytes),
      };
      const response: MessageType<Res> = {
        encode: (message, writer) => m.response.encode(message, writer),
        decode(bytes) {
          if (bytes.length > maxRecv) throw new EtcdError(GrpcCode.ResourceExhausted, `grpc: received message larger than max (${bytes.length} vs. ${maxRecv})`);
          return m.response.decode(bytes);
        },
      };
      out = { path: m.path, repeatable: m.repeatable, request, response } as Method<unknown, unknown>;
      this.#limited.set(m as Method<unknown, unknown>, out);
    }
    return out as Method<Req, Res>;
  }
}
