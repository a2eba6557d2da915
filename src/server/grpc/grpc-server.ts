import { EtcdError, GrpcCode, isEtcdError } from "../../pkg/errors.ts";
import type protobuf from "protobufjs/minimal.js";
import { encodeWithHeadroom } from "../../proto/encode.ts";
import * as pb from "../../proto/etcd.js";
import { methods } from "../../proto/services.ts";
import { encodeGrpcMessage, MessageReader, serverDeadlineMs } from "./framing.ts";
import { encodeHeaderBlock, type HeaderMap } from "../../pkg/h2/hpack.ts";
import type { H2Stream, StreamSink } from "./h2/stream.ts";
import { MethodMetrics } from "./metrics.ts";

interface Codec {
  encode(message: any, writer?: protobuf.Writer): protobuf.Writer;
  decode(bytes: Uint8Array): any;
}

export interface Call {
  /** Aborted when the client cancels, the deadline passes or the connection drops. */
  readonly signal: AbortSignal;
  readonly headers: HeaderMap;
  /**
   * The common name (CN) of the client certificate verified on a TLS client port with
   * --client-cert-auth; undefined otherwise (cleartext, no client certificate). Set by the transport,
   * never from a header, so auth may take it as the user name when no token is sent (as etcd does).
   */
  readonly tlsCommonName?: string;
}

export type Handler =
  | {
      kind: "unary";
      handle(req: any, call: Call): Promise<unknown> | unknown;
      /**
       * Native gRPC only: the answer already framed (Framed), or null to use handle(). The JSON gateway
       * and gRPC-web, which need the response as an object, always call handle().
       */
      framed?(req: any, call: Call): Promise<Framed | null>;
    }
  | { kind: "serverStream"; handle(req: any, call: Call, send: (msg: unknown) => Promise<void>): Promise<void> }
  | { kind: "bidi"; handle(reqs: AsyncIterable<any>, call: Call, send: (msg: unknown) => Promise<void>): Promise<void> };

/** A method of the handler table with its generated codecs (shared by gRPC and gRPC-web). */
export interface Route {
  request: Codec;
  response: Codec;
  handler: Handler;
}

export interface GrpcOptions {
  /** Largest request message accepted (etcd: max-request-bytes plus gRPC overhead). */
  maxRecvBytes: number;
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

function codecFor(typeName: string): Codec {
  const [pkg, ...rest] = typeName.split(".");
  let t: any = (pb as any)[pkg];
  for (const part of rest) t = t?.[part];
  if (!t?.encode) throw new Error(`no generated code for ${typeName}`);
  return t as Codec;
}

/** The handler table keyed by :path, each method with its request and response codecs. */
export function routesFor(handlers: Record<string, Handler>): Map<string, Route> {
  const routes = new Map<string, Route>();
  for (const m of methods) {
    const handler = handlers[m.path];
    if (handler) routes.set(m.path, { request: codecFor(m.request), response: codecFor(m.response), handler });
  }
  return routes;
}

/** The status for a path with no route (grpc-go's texts). */
export function unknownPathError(routes: ReadonlyMap<string, Route>, path: string): EtcdError {
  const [, service = "", method = ""] = path.split("/");
  const known = [...routes.keys()].some((p) => p.startsWith(`/${service}/`));
  return new EtcdError(GrpcCode.Unimplemented, known ? `unknown method ${method} for service ${service}` : `unknown service ${service}`);
}

/** A unary or server-streaming call needs exactly one request message (grpc-go's texts). */
export function requestCountError(count: number): EtcdError {
  return new EtcdError(
    GrpcCode.Unimplemented,
    count === 0 ? "grpc: no request message received" : "grpc: too many request messages for a unary call",
  );
}

/** Decodes a request message; a malformed one is INVALID_ARGUMENT, as grpc-go answers. */
export function decodeRequest(route: Route, bytes: Uint8Array): any {
  try {
    return route.request.decode(bytes);
  } catch (err) {
    throw new EtcdError(GrpcCode.InvalidArgument, `grpc: error unmarshalling request: ${(err as Error).message}`);
  }
}

/**
 * The one mapping from a thrown value to a gRPC status: an EtcdError carries its code and etcd's text;
 * anything else is a bug, logged, and UNKNOWN.
 */
export function statusOf(err: unknown, log: GrpcOptions["log"], path: string | undefined): { code: number; message: string } {
  if (isEtcdError(err)) return { code: err.code, message: err.message };
  log("error", "unexpected error serving a request", { path, error: String((err as Error)?.stack ?? err) });
  return { code: GrpcCode.Unknown, message: String((err as Error)?.message ?? err) };
}

// Header blocks used on every call, encoded once.
const RESPONSE_HEADERS = encodeHeaderBlock([
  [":status", "200"],
  ["content-type", "application/grpc"],
]);
const TRAILERS_OK = encodeHeaderBlock([["grpc-status", "0"]]);

function trailers(code: number, message: string | undefined, only: boolean): Uint8Array {
  const fields: [string, string][] = only
    ? [
        [":status", "200"],
        ["content-type", "application/grpc"],
      ]
    : [];
  fields.push(["grpc-status", String(code)]);
  if (message) fields.push(["grpc-message", encodeGrpcMessage(message)]);
  return encodeHeaderBlock(fields);
}

const NOT_GRPC_HEADERS = encodeHeaderBlock([
  [":status", "415"],
  ["content-type", "text/plain"],
]);
const NOT_GRPC_BODY = Buffer.from("gRPC requests need content-type application/grpc\n");

/** One length-prefixed gRPC message (flag 0, 4-byte length), encoded straight behind its prefix. */
export function encodeMessage(codec: Codec, msg: unknown): Buffer {
  const out = encodeWithHeadroom(codec, msg, 5);
  out[0] = 0;
  out.writeUInt32BE(out.length - 5, 1);
  return out;
}

/**
 * A unary answer already encoded and framed (one length-prefixed message), in chunks written as they
 * are: what a handler returns when building the response object would cost too much (range-response.ts).
 */
export class Framed {
  constructor(
    readonly chunks: Buffer[],
    /** The message's length, the 5-byte prefix not counted. */
    readonly bytes: number,
  ) {}
}

/**
 * gRPC over HTTP/2: routes a stream by its :path, decodes the request messages, runs the handler and
 * answers with framed messages and a grpc-status trailer. Errors never escape: each becomes a status.
 */
export class GrpcServer {
  #routes: Map<string, Route>;
  #opts: GrpcOptions;
  /** grpc_server_started_total / grpc_server_handled_total of each route, by path. */
  #metrics = new Map<string, MethodMetrics>();

  constructor(handlers: Record<string, Handler>, opts: GrpcOptions) {
    this.#opts = opts;
    this.#routes = routesFor(handlers);
    for (const [path, route] of this.#routes) this.#metrics.set(path, new MethodMetrics(path, route.handler.kind));
  }

  get paths(): string[] {
    return [...this.#routes.keys()];
  }

  /** Serves one HTTP/2 stream (the h2 server's onStream). */
  handleStream = (stream: H2Stream): void => {
    const headers = stream.headers;
    const contentType = headers["content-type"];
    if (contentType === undefined || !contentType.startsWith("application/grpc")) {
      stream.respond(NOT_GRPC_HEADERS);
      stream.write(NOT_GRPC_BODY);
      stream.end(null);
      return;
    }
    const path = headers[":path"] ?? "";
    const route = this.#routes.get(path);
    if (!route) {
      const err = unknownPathError(this.#routes, path);
      stream.respond(trailers(err.code, err.message, true), true);
      return;
    }
    new ServerCall(stream, route, this.#opts, this.#metrics.get(path)!);
  };
}

/**
 * One call: the stream's sink (request body in, cancellation) and the handler's Call. The
 * AbortController exists only if the handler asks for `signal`.
 */
class ServerCall implements StreamSink, Call {
  readonly headers: HeaderMap;
  readonly #stream: H2Stream;
  readonly #route: Route;
  readonly #opts: GrpcOptions;
  readonly #reader: MessageReader;
  readonly #metrics: MethodMetrics;
  /** A status was sent or the stream is gone; the call is counted as handled when this turns true. */
  #finished = false;
  #cancelled = false;
  #abort: AbortController | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  // unary and server-streaming: the one request message
  #request: Uint8Array | undefined;
  #count = 0;
  // bidi: decoded requests waiting for the handler
  #queue: { msg: any; size: number }[] | null = null;
  #wakeUp: (() => void) | null = null;
  #inputDone = false;
  #readError: unknown = null;

  constructor(stream: H2Stream, route: Route, opts: GrpcOptions, metrics: MethodMetrics) {
    this.#stream = stream;
    this.#route = route;
    this.#opts = opts;
    this.#metrics = metrics;
    metrics.start(stream.headers["client-api-version"]);
    this.headers = stream.headers;
    this.#reader = new MessageReader(opts.maxRecvBytes);
    const timeout = stream.headers["grpc-timeout"];
    if (timeout !== undefined) {
      const ms = serverDeadlineMs(timeout);
      if (ms !== undefined) this.#timer = setTimeout(ServerCall.#onDeadline, ms, this);
    }
    stream.sink = this;
    if (route.handler.kind === "bidi") {
      this.#queue = [];
      this.#run();
    }
  }

  get tlsCommonName(): string | undefined {
    return this.#stream.connectionInfo.tlsCommonName;
  }

  get signal(): AbortSignal {
    if (this.#abort === null) {
      this.#abort = new AbortController();
      if (this.#cancelled) this.#abort.abort();
    }
    return this.#abort.signal;
  }

  // ---------------------------------------------------------------- StreamSink

  onData(chunk: Buffer): void {
    if (this.#finished) {
      this.#stream.release(chunk.length);
      return;
    }
    const before = this.#reader.pendingBytes;
    let msgs: Uint8Array[];
    try {
      msgs = this.#reader.push(chunk);
    } catch (err) {
      this.#stream.release(chunk.length);
      if (this.#queue) {
        this.#readError = err;
        this.#wake();
      } else this.#fail(err);
      return;
    }
    if (this.#queue) {
      // bidi: bytes are released as the handler takes the messages
      let rest = before + chunk.length - this.#reader.pendingBytes;
      for (const m of msgs) {
        let msg;
        try {
          msg = this.#decode(m);
        } catch (err) {
          this.#readError = err;
          break;
        }
        this.#queue.push({ msg, size: m.length + 5 });
        rest -= m.length + 5;
      }
      if (rest > 0) this.#stream.release(rest);
      this.#wake();
      return;
    }
    // unary and server-streaming: only the first message is kept; the reader holds at most one partial one
    this.#stream.release(before + chunk.length - this.#reader.pendingBytes);
    for (const m of msgs) {
      this.#count++;
      this.#request = m;
    }
  }

  onEnd(): void {
    if (this.#queue) {
      this.#inputDone = true;
      this.#wake();
      return;
    }
    if (this.#finished) return;
    if (this.#count !== 1) return this.#fail(requestCountError(this.#count));
    this.#run();
  }

  onClose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // Gone before a status was sent (the client cancelled or the connection dropped).
    if (!this.#finished) this.#metrics.handled(GrpcCode.Canceled);
    this.#finished = true;
    this.#cancel();
  }

  // ---------------------------------------------------------------- running the handler

  async #run(): Promise<void> {
    const h = this.#route.handler;
    try {
      if (h.kind === "unary") {
        const req = this.#decode(this.#request!);
        const res = (h.framed && (await h.framed(req, this))) || (await h.handle(req, this));
        if (!this.#finished) this.#reply(res);
        return;
      }
      if (h.kind === "serverStream") await h.handle(this.#decode(this.#request!), this, this.#sender());
      else await h.handle(this.#requests(), this, this.#sender());
      if (!this.#finished) {
        const s = this.#stream;
        if (!s.headersSent) s.respond(RESPONSE_HEADERS);
        this.#finish(GrpcCode.OK);
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /** The unary answer: headers, the message and the OK trailers in one go. */
  #reply(res: unknown): void {
    const framed = res instanceof Framed ? res : null;
    const bytes = framed ? null : encodeMessage(this.#route.response, res);
    const s = this.#stream;
    this.#finished = true;
    this.#metrics.handled(GrpcCode.OK);
    this.#metrics.sent(framed ? framed.bytes : bytes!.length - 5);
    if (s.closed) return;
    s.respond(RESPONSE_HEADERS);
    if (framed) for (const chunk of framed.chunks) s.write(chunk);
    else s.write(bytes!);
    s.end(TRAILERS_OK);
    // The deadline timer stays until the stream closes: a large answer still draining is reset then.
  }

  #sender(): (msg: unknown) => Promise<void> {
    return async (msg: unknown) => {
      const s = this.#stream;
      if (this.#finished || s.closed) throw new EtcdError(GrpcCode.Canceled, "context canceled");
      if (!s.headersSent) s.respond(RESPONSE_HEADERS);
      // The stream queues what the flow-control windows do not take yet; wait while that queue is long.
      const bytes = encodeMessage(this.#route.response, msg);
      this.#metrics.sent(bytes.length - 5);
      if (!s.write(bytes)) await s.waitWritable();
    };
  }

  async *#requests(): AsyncGenerator<any> {
    const q = this.#queue!;
    for (;;) {
      if (q.length) {
        const { msg, size } = q.shift()!;
        this.#stream.release(size);
        yield msg;
        continue;
      }
      if (this.#readError) {
        this.#metrics.receiveFailed();
        throw this.#readError;
      }
      if (this.#inputDone || this.#cancelled) return;
      await new Promise<void>((r) => (this.#wakeUp = r));
    }
  }

  #wake(): void {
    const w = this.#wakeUp;
    if (w) {
      this.#wakeUp = null;
      w();
    }
  }

  #decode(bytes: Uint8Array): any {
    this.#metrics.received(bytes.length);
    return decodeRequest(this.#route, bytes);
  }

  // ---------------------------------------------------------------- ending

  #finish(code: number, message?: string): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#metrics.handled(code);
    const s = this.#stream;
    if (s.closed) return;
    if (!s.headersSent) {
      // Trailers-only response: the status travels in the (only) HEADERS frame.
      s.respond(trailers(code, message, true), true);
    } else {
      s.end(code === GrpcCode.OK && !message ? TRAILERS_OK : trailers(code, message, false));
    }
  }

  #fail(err: unknown): void {
    const { code, message } = statusOf(err, this.#opts.log, this.headers[":path"]);
    this.#finish(code, message);
  }

  /** The grpc-timeout passed (static, so no closure per call). */
  static #onDeadline(call: ServerCall): void {
    call.#timer = undefined;
    if (!call.#finished) call.#finish(GrpcCode.DeadlineExceeded, "context deadline exceeded");
    // An answer still queued behind flow control is abandoned.
    if (!call.#stream.closed) call.#stream.reset();
    call.#cancel();
  }

  #cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#abort?.abort();
    this.#wake();
  }
}
