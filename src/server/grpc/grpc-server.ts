import { EtcdError, GrpcCode, isEtcdError } from "../../pkg/errors.ts";
import type protobuf from "protobufjs/minimal.js";
import { encodeWithHeadroom } from "../../proto/encode.ts";
import * as pb from "../../proto/etcd.js";
import { methods } from "../../proto/services.ts";
import { encodeGrpcMessage, MessageReader, parseGrpcTimeoutMs } from "./framing.ts";
import { encodeHeaderBlock, type HeaderMap } from "./h2/hpack.ts";
import type { H2Stream, StreamSink } from "./h2/stream.ts";

interface Codec {
  encode(message: any, writer?: protobuf.Writer): protobuf.Writer;
  decode(bytes: Uint8Array): any;
}

export interface Call {
  /** Aborted when the client cancels, the deadline passes or the connection drops. */
  readonly signal: AbortSignal;
  readonly headers: HeaderMap;
}

export type Handler =
  | { kind: "unary"; handle(req: any, call: Call): Promise<unknown> | unknown }
  | { kind: "serverStream"; handle(req: any, call: Call, send: (msg: unknown) => Promise<void>): Promise<void> }
  | { kind: "bidi"; handle(reqs: AsyncIterable<any>, call: Call, send: (msg: unknown) => Promise<void>): Promise<void> };

interface Route {
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
function encodeMessage(codec: Codec, msg: unknown): Buffer {
  const out = encodeWithHeadroom(codec, msg, 5);
  out[0] = 0;
  out.writeUInt32BE(out.length - 5, 1);
  return out;
}

/**
 * gRPC over HTTP/2: routes a stream by its :path, decodes the request messages, runs the handler and
 * answers with framed messages and a grpc-status trailer. Errors never escape: each becomes a status.
 */
export class GrpcServer {
  #routes = new Map<string, Route>();
  #opts: GrpcOptions;

  constructor(handlers: Record<string, Handler>, opts: GrpcOptions) {
    this.#opts = opts;
    for (const m of methods) {
      const handler = handlers[m.path];
      if (handler) this.#routes.set(m.path, { request: codecFor(m.request), response: codecFor(m.response), handler });
    }
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
      const [, service = "", method = ""] = path.split("/");
      const known = this.paths.some((p) => p.startsWith(`/${service}/`));
      stream.respond(trailers(GrpcCode.Unimplemented, known ? `unknown method ${method} for service ${service}` : `unknown service ${service}`, true), true);
      return;
    }
    new ServerCall(stream, route, this.#opts);
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

  constructor(stream: H2Stream, route: Route, opts: GrpcOptions) {
    this.#stream = stream;
    this.#route = route;
    this.#opts = opts;
    this.headers = stream.headers;
    this.#reader = new MessageReader(opts.maxRecvBytes);
    const timeout = stream.headers["grpc-timeout"];
    if (timeout !== undefined) {
      const ms = parseGrpcTimeoutMs(timeout);
      if (ms !== undefined) this.#timer = setTimeout(ServerCall.#onDeadline, ms, this);
    }
    stream.sink = this;
    if (route.handler.kind === "bidi") {
      this.#queue = [];
      this.#run();
    }
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
    if (this.#count !== 1) {
      return this.#finish(
        GrpcCode.Unimplemented,
        this.#count === 0 ? "grpc: no request message received" : "grpc: too many request messages for a unary call",
      );
    }
    this.#run();
  }

  onClose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#finished = true;
    this.#cancel();
  }

  // ---------------------------------------------------------------- running the handler

  async #run(): Promise<void> {
    const h = this.#route.handler;
    try {
      if (h.kind === "unary") {
        const res = await h.handle(this.#decode(this.#request!), this);
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
    const bytes = encodeMessage(this.#route.response, res);
    const s = this.#stream;
    this.#finished = true;
    if (s.closed) return;
    s.respond(RESPONSE_HEADERS);
    s.write(bytes);
    s.end(TRAILERS_OK);
    // The deadline timer stays until the stream closes: a large answer still draining is reset then.
  }

  #sender(): (msg: unknown) => Promise<void> {
    return async (msg: unknown) => {
      const s = this.#stream;
      if (this.#finished || s.closed) throw new EtcdError(GrpcCode.Canceled, "context canceled");
      if (!s.headersSent) s.respond(RESPONSE_HEADERS);
      // The stream queues what the flow-control windows do not take yet; wait while that queue is long.
      if (!s.write(encodeMessage(this.#route.response, msg))) await s.waitWritable();
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
      if (this.#readError) throw this.#readError;
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
    try {
      return this.#route.request.decode(bytes);
    } catch (err) {
      throw new EtcdError(GrpcCode.InvalidArgument, `grpc: error unmarshalling request: ${(err as Error).message}`);
    }
  }

  // ---------------------------------------------------------------- ending

  #finish(code: number, message?: string): void {
    if (this.#finished) return;
    this.#finished = true;
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
    if (isEtcdError(err)) return this.#finish(err.code, err.message);
    this.#opts.log("error", "unexpected error serving a request", {
      path: this.headers[":path"],
      error: String((err as Error)?.stack ?? err),
    });
    this.#finish(GrpcCode.Unknown, String((err as Error)?.message ?? err));
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
