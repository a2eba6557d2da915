import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import { encodeGrpcMessage, MessageReader, serverDeadlineMs } from "./framing.ts";
import {
  decodeRequest,
  encodeMessage,
  requestCountError,
  routesFor,
  statusOf,
  unknownPathError,
  type Call,
  type GrpcOptions,
  type Handler,
  type Route,
} from "./grpc-server.ts";
import type { HeaderMap } from "../../pkg/h2/hpack.ts";
import { MethodMetrics } from "./metrics.ts";
import { requestCommonName } from "../../pkg/tls-identity.ts";

export interface GrpcWebOptions {
  /** Largest request message accepted: --max-request-bytes plus etcd's 512 KiB gRPC overhead, as for gRPC. */
  maxRecvBytes: number;
  /** --cors: origins a browser may call from ("*": any). Empty: same-origin only, no CORS headers. */
  cors: readonly string[];
  log: GrpcOptions["log"];
}

const PROTO_TYPE = "application/grpc-web+proto";
const TEXT_TYPE = "application/grpc-web-text+proto";
/** Request content types (parameters stripped) → whether the body is base64 text. */
const CONTENT_TYPES: Record<string, boolean> = {
  "application/grpc-web": false,
  [PROTO_TYPE]: false,
  "application/grpc-web-text": true,
  [TEXT_TYPE]: true,
};
/** What a browser's gRPC-web client sends besides the simple headers; etcd's own list first. */
const ALLOW_HEADERS = "accept, authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout";
const EXPOSE_HEADERS = "grpc-status, grpc-message";
/** A gRPC method path: /package.Service/Method (the JSON gateway's /v3/... paths never match). */
const GRPC_PATH = /^\/[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+\/[A-Za-z_]\w*$/;
/** Response bytes queued for a slow reader before a streaming handler's send() waits. */
const STREAM_QUEUE_BYTES = 1024 * 1024;
const TRAILER_FLAG = 0x80;

/**
 * gRPC-web on the HTTP/1.1 side of the client port, over the same handler table, codecs and
 * error → status mapping as the HTTP/2 gRPC server. A request is one length-prefixed message
 * (base64 for -text); the response is data frames, then a trailer frame (flag 0x80) with grpc-status
 * and grpc-message, always with HTTP status 200. Unary and server-streaming methods map directly; a
 * bidi method gets the one request as a one-element request stream (Watch: one create, the response
 * stays open until the client goes away; LeaseKeepAlive: one answer, then the end). Calls are counted
 * in grpc_server_started_total / grpc_server_handled_total under their gRPC method, as gRPC calls.
 */
export class GrpcWeb {
  readonly #routes: Map<string, Route>;
  /** The counters of each route, by path (the same series as the gRPC server's). */
  readonly #metrics = new Map<string, MethodMetrics>();
  readonly #opts: GrpcWebOptions;
  readonly #anyOrigin: boolean;
  readonly #origins: ReadonlySet<string>;

  constructor(handlers: Record<string, Handler>, opts: GrpcWebOptions) {
    this.#routes = routesFor(handlers);
    for (const [path, route] of this.#routes) this.#metrics.set(path, new MethodMetrics(path, route.handler.kind));
    this.#opts = opts;
    this.#anyOrigin = opts.cors.includes("*");
    this.#origins = new Set(opts.cors);
  }

  /**
   * The answer to a gRPC-web call (POST with an application/grpc-web* content type) or to the CORS
   * preflight of one; null for every other request, which the caller serves as before.
   */
  handle = (req: Request): Promise<Response> | null => {
    if (req.method === "POST") {
      const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (!type.startsWith("application/grpc-web")) return null;
      return this.#call(req, pathOf(req.url), type);
    }
    if (req.method === "OPTIONS" && GRPC_PATH.test(pathOf(req.url))) return Promise.resolve(this.#preflight(req));
    return null;
  };

  #preflight(req: Request): Response {
    // etcd answers every OPTIONS with 200; the CORS headers decide whether the browser goes on.
    const headers = new Headers({ allow: "POST, OPTIONS", "content-length": "0" });
    if (this.#cors(req, headers)) {
      headers.set("access-control-allow-methods", "POST, OPTIONS");
      headers.set("access-control-allow-headers", ALLOW_HEADERS);
      headers.set("access-control-max-age", "600");
    }
    return new Response(null, { status: 200, headers });
  }

  /** Adds the CORS headers if --cors allows the request's origin (etcd's semantics); true if it did. */
  #cors(req: Request, headers: Headers): boolean {
    if (this.#origins.size === 0) return false;
    let allowed: string | null = null;
    if (this.#anyOrigin) allowed = "*";
    else {
      headers.append("vary", "Origin");
      const origin = req.headers.get("origin");
      if (origin !== null && this.#origins.has(origin)) allowed = origin;
    }
    if (allowed === null) return false;
    headers.set("access-control-allow-origin", allowed);
    headers.set("access-control-allow-headers", ALLOW_HEADERS);
    headers.set("access-control-expose-headers", EXPOSE_HEADERS);
    return true;
  }

  async #call(req: Request, path: string, type: string): Promise<Response> {
    const text = CONTENT_TYPES[type];
    if (text === undefined) {
      const headers = new Headers({ "content-type": "text/plain" });
      this.#cors(req, headers);
      return new Response(`gRPC-web requests need content-type ${Object.keys(CONTENT_TYPES).join(", ")}\n`, { status: 415, headers });
    }
    const headers = new Headers({ "content-type": text ? TEXT_TYPE : PROTO_TYPE });
    this.#cors(req, headers);
    const route = this.#routes.get(path);
    if (!route) {
      req.body?.cancel().catch(() => {});
      const err = unknownPathError(this.#routes, path);
      return new Response(encodeBody(trailerFrame(err.code, err.message), text), { headers });
    }
    return new WebCall(req, path, route, this.#metrics.get(path)!, headers, text, this.#opts).response;
  }
}

/**
 * One gRPC-web call: reads the request message, runs the handler, answers. The deadline
 * (grpc-timeout) and the client going away abort `signal`; the first of answer, deadline and
 * disconnect decides the status, which is what the call is counted as handled with.
 */
class WebCall implements Call {
  readonly headers: HeaderMap;
  /** See Call.tlsCommonName: the HTTP/1.1 listener tags the request (pkg/tls-identity.ts). */
  readonly tlsCommonName: string | undefined;
  readonly response: Promise<Response>;
  readonly #abort = new AbortController();
  readonly #path: string;
  readonly #route: Route;
  readonly #metrics: MethodMetrics;
  readonly #responseHeaders: Headers;
  readonly #text: boolean;
  readonly #opts: GrpcWebOptions;
  #respond!: (r: Response) => void;
  /** Set once the response is decided (unary) or streaming has begun. */
  #responded = false;
  #out: FrameStream | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(req: Request, path: string, route: Route, metrics: MethodMetrics, responseHeaders: Headers, text: boolean, opts: GrpcWebOptions) {
    this.#path = path;
    this.#route = route;
    this.#metrics = metrics;
    metrics.start(req.headers.get("client-api-version") ?? undefined);
    this.#responseHeaders = responseHeaders;
    this.#text = text;
    this.#opts = opts;
    const headers: HeaderMap = {};
    req.headers.forEach((value, name) => (headers[name] = value));
    headers[":path"] = path;
    headers[":method"] = req.method;
    this.headers = headers;
    this.tlsCommonName = requestCommonName(req);
    this.response = new Promise((resolve) => (this.#respond = resolve));
    const ms = serverDeadlineMs(headers["grpc-timeout"]);
    if (ms !== undefined) this.#timer = setTimeout(() => this.#end(GrpcCode.DeadlineExceeded, "context deadline exceeded"), ms);
    if (req.signal.aborted) this.#end(GrpcCode.Canceled, "context canceled");
    else req.signal.addEventListener("abort", () => this.#end(GrpcCode.Canceled, "context canceled"), { once: true });
    void this.#run(req.body);
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get #done(): boolean {
    return this.#abort.signal.aborted;
  }

  async #run(body: ReadableStream<Uint8Array> | null): Promise<void> {
    try {
      const bytes = await readOneMessage(body, this.#text, this.#opts.maxRecvBytes, this.#abort.signal);
      if (this.#done) return;
      this.#metrics.received(bytes.length);
      const req = decodeRequest(this.#route, bytes);
      const h = this.#route.handler;
      if (h.kind === "unary") {
        const res = await h.handle(req, this);
        if (this.#done) return;
        const data = encodeMessage(this.#route.response, res);
        this.#metrics.handled(GrpcCode.OK);
        this.#metrics.sent(data.length - 5);
        this.#finishUnary(Buffer.concat([data, trailerFrame(GrpcCode.OK, "")]));
        return;
      }
      // Streaming: the headers go out now; messages follow as the handler sends them.
      const out = new FrameStream(this.#text, () => this.#end(GrpcCode.Canceled, "context canceled"));
      this.#out = out;
      this.#responded = true;
      this.#respond(new Response(out.readable, { headers: this.#responseHeaders }));
      const send = async (msg: unknown): Promise<void> => {
        if (this.#done) throw new EtcdError(GrpcCode.Canceled, "context canceled");
        const data = encodeMessage(this.#route.response, msg);
        this.#metrics.sent(data.length - 5);
        await out.write(data);
      };
      if (h.kind === "serverStream") await h.handle(req, this, send);
      else await h.handle(oneRequest(req), this, send);
      this.#end(GrpcCode.OK, "");
    } catch (err) {
      if (this.#done) return;
      const { code, message } = statusOf(err, this.#opts.log, this.#path);
      this.#end(code, message);
    }
  }

  #finishUnary(body: Buffer): void {
    this.#responded = true;
    this.#stop();
    this.#respond(new Response(encodeBody(body, this.#text), { headers: this.#responseHeaders }));
  }

  /** Ends the call with a status (once): a trailers-only answer, or the trailer frame of a stream. */
  #end(code: number, message: string): void {
    if (this.#done) return;
    this.#metrics.handled(code);
    if (this.#out) {
      this.#stop();
      this.#out.close(trailerFrame(code, message));
    } else if (!this.#responded) this.#finishUnary(trailerFrame(code, message));
    // else: a unary answer already went out.
  }

  /** The handler's signal fires (the stream is over for it) and the deadline timer goes. */
  #stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
  }
}

/** The response body of a streaming call: frames queued up to a byte bound; write() waits beyond it. */
class FrameStream {
  readonly readable: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #text: boolean;
  #closed = false;
  #pulled: (() => void) | null = null;

  constructor(text: boolean, onCancel: () => void) {
    this.#text = text;
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.#controller = c;
        },
        pull: () => this.#wake(),
        cancel: () => {
          // The client went away (the HTTP layer cancels the body it was writing).
          this.#closed = true;
          this.#wake();
          onCancel();
        },
      },
      { highWaterMark: STREAM_QUEUE_BYTES, size: (chunk) => chunk?.byteLength ?? 0 },
    );
  }

  async write(frame: Buffer): Promise<void> {
    if (this.#closed) throw new EtcdError(GrpcCode.Canceled, "context canceled");
    this.#controller.enqueue(encodeBody(frame, this.#text));
    while (!this.#closed && (this.#controller.desiredSize ?? 0) <= 0) {
      await new Promise<void>((resolve) => (this.#pulled = resolve));
    }
  }

  close(trailer: Buffer): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.enqueue(encodeBody(trailer, this.#text));
    this.#controller.close();
    this.#wake();
  }

  #wake(): void {
    const w = this.#pulled;
    this.#pulled = null;
    w?.();
  }
}

/** A bidi handler's request stream over gRPC-web: the one request, then the end of input. */
async function* oneRequest(req: unknown): AsyncGenerator<any> {
  yield req;
}

/** The trailer frame: flag 0x80, then grpc-status and grpc-message as HTTP/1 header lines. */
function trailerFrame(code: number, message: string): Buffer {
  let lines = `grpc-status:${code}\r\n`;
  if (message) lines += `grpc-message:${encodeGrpcMessage(message)}\r\n`;
  const out = Buffer.alloc(5 + lines.length);
  out[0] = TRAILER_FLAG;
  out.writeUInt32BE(lines.length, 1);
  out.write(lines, 5, "latin1");
  return out;
}

/** -text bodies are base64, each piece padded on its own (clients decode padded pieces one after another). */
function encodeBody(bytes: Buffer, text: boolean): Uint8Array {
  return text ? Buffer.from(bytes.toString("base64"), "latin1") : bytes;
}

/**
 * Reads the request body up to its one message; the length prefix is checked before the body of a
 * message is buffered, so an oversized request is refused at once (grpc-go's RESOURCE_EXHAUSTED).
 */
async function readOneMessage(body: ReadableStream<Uint8Array> | null, text: boolean, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  const reader = new MessageReader(maxBytes);
  const base64 = text ? new Base64Decoder() : null;
  let message: Uint8Array | undefined;
  let count = 0;
  const take = (chunk: Buffer) => {
    for (const m of reader.push(chunk)) {
      count++;
      message = m;
    }
    if (count > 1) throw requestCountError(count);
  };
  if (body) {
    const r = body.getReader();
    const stop = () => void r.cancel().catch(() => {});
    signal.addEventListener("abort", stop, { once: true });
    try {
      for (;;) {
        const { done, value } = await r.read();
        if (done || signal.aborted) break;
        const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
        take(base64 ? base64.push(bytes) : bytes);
      }
      if (base64 && !signal.aborted) take(base64.end());
    } catch (err) {
      stop();
      throw err;
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }
  if (count !== 1) throw requestCountError(count);
  return message!;
}

/** Incremental base64 for -text request bodies: whitespace ignored, padded pieces may follow each other. */
class Base64Decoder {
  #pending = "";

  push(chunk: Buffer): Buffer {
    const s = this.#pending + chunk.toString("latin1").replace(/[\r\n\t ]/g, "");
    if (!/^[A-Za-z0-9+/=]*$/.test(s)) throw new EtcdError(GrpcCode.InvalidArgument, "grpc-web: request body is not valid base64");
    const whole = s.length - (s.length % 4);
    this.#pending = s.slice(whole);
    if (whole === 0) return Buffer.alloc(0);
    // Decoders stop at the first '=', so decode piece by piece: a piece ends with its padding.
    const pieces = s.slice(0, whole).match(/[^=]*=*/g)!.filter((p) => p.length > 0);
    return pieces.length === 1 ? Buffer.from(pieces[0], "base64") : Buffer.concat(pieces.map((p) => Buffer.from(p, "base64")));
  }

  end(): Buffer {
    if (this.#pending.length) throw new EtcdError(GrpcCode.InvalidArgument, "grpc-web: request body is not valid base64");
    return Buffer.alloc(0);
  }
}

function pathOf(url: string): string {
  // Request URLs are absolute; no need for a URL object per request.
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const end = url.indexOf("?", start);
  return end < 0 ? url.slice(start) : url.slice(start, end);
}
