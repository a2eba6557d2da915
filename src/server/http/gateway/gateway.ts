/**
 * etcd's grpc-gateway on the client port's HTTP/1.1 side: POST /v3/<service>/<method> with a JSON
 * body, answered in etcd 3.4's JSON. Each route calls the gRPC handler table, so the gateway adds
 * only the mapping (jsonpb.ts) and HTTP framing (this file), never its own server calls.
 *
 * Framing as grpc-gateway's: unary answers are one JSON object; streams are newline-delimited
 * {"result": …} objects, ended by an {"error": …} object if the call fails; the HTTP status and
 * headers go out with the first message (a watch that never answers never sends headers, as etcd).
 *
 * Calls are counted as gRPC calls of their method (grpc_server_started_total/_handled_total), through
 * the counters the table's entries carry: etcd's gateway is a gRPC client of its own server. As there,
 * a request that does not decode never reaches the method and is not counted.
 */
import type { Context, Hono } from "hono";
import { EtcdError, GrpcCode, isEtcdError } from "../../../pkg/errors.ts";
import { decodeNext, GoJsonError, type JsonNode } from "../../../pkg/go-json.ts";
import {
  methodInfo,
  throughWire,
  unimplemented,
  type CallCounter,
  type GatewayCall,
  type GatewayHandler,
  type HandlerTable,
  type MethodInfo,
} from "./handlers.ts";
import { errorBody, httpStatusFromCode, messageFromJson, streamError, streamResult, messageToJson } from "./jsonpb.ts";
import { GATEWAY_PREFIXES, GATEWAY_ROUTES } from "./routes.ts";
import { requestCommonName } from "../../../pkg/tls-identity.ts";

export interface GatewayOptions {
  /** The gRPC server's largest request message (--max-request-bytes plus gRPC overhead). */
  maxRecvBytes: number;
  log?: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

const JSON_HEADERS = { "content-type": "application/json", "grpc-metadata-content-type": "application/grpc" };
const TEXT_HEADERS = { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" };
/** Response chunks queued before a stream's handler waits for the client. */
const RESPONSE_QUEUE_MAX = 16;

const encoder = new TextEncoder();

/** Registers etcd's gateway routes (and its 404/405 answers under /v3/ and /v3beta/) on the app. */
export function registerGateway(app: Hono, table: HandlerTable, opts: GatewayOptions): void {
  // Bodies are JSON with base64 inside: allow generously more than the message limit, then refuse.
  const serveOpts: ServeOptions = { ...opts, bodyMaxBytes: opts.maxRecvBytes * 2 + 64 * 1024 };
  for (const prefix of GATEWAY_PREFIXES) {
    for (const [path, method] of GATEWAY_ROUTES) {
      const info = methodInfo(method);
      // Looked up once per route, with its counters.
      const handler = table[info.path];
      app.post(prefix + path, (c) => serve(c, table, handler, info, serveOpts));
      app.all(prefix + path, (c) => c.body("Method Not Allowed\n", 405, TEXT_HEADERS));
    }
    app.all(`${prefix}*`, (c) => c.body("Not Found\n", 404, TEXT_HEADERS));
  }
}

interface ServeOptions extends GatewayOptions {
  bodyMaxBytes: number;
}

async function serve(c: Context, table: HandlerTable, handler: GatewayHandler | undefined, info: MethodInfo, opts: ServeOptions): Promise<Response> {
  const abort = new AbortController();
  const reqSignal = c.req.raw.signal;
  if (reqSignal.aborted) abort.abort();
  else reqSignal.addEventListener("abort", () => abort.abort(), { once: true });
  const headers: Record<string, string> = Object.create(null);
  headers[":path"] = info.path;
  const auth = c.req.header("authorization");
  if (auth !== undefined) headers.authorization = auth;
  const call: GatewayCall = { signal: abort.signal, headers, tlsCommonName: requestCommonName(c.req.raw) };
  try {
    if (info.clientStream) return await serveBidi(c, handler, info, call, abort, opts, table);
    const req = await readRequest(c.req.raw, info, opts);
    if (!handler) throw unimplemented(table, info);
    if (handler.kind === "unary") {
      const res = await countUnary(handler.metrics, abort.signal, () => handler.handle(req, call));
      return new Response(messageToJson(info.responseType, throughWire(info.response, res)), { status: 200, headers: JSON_HEADERS });
    }
    if (handler.kind !== "serverStream") throw unimplemented(table, info);
    return await streamResponse(
      info,
      abort,
      (send) => {
        handler.metrics?.received?.(); // the one request, counted once the call runs (as go-grpc-prometheus)
        return handler.handle(req, call, send);
      },
      opts,
      handler.metrics,
    );
  } catch (err) {
    const { code, message } = statusOf(err, opts, info);
    return new Response(errorBody(code, message), { status: httpStatusFromCode(code), headers: { "content-type": "application/json" } });
  }
}

/** The one request of a unary or server-streaming call: the body's first JSON value (none = empty). */
async function readRequest(req: Request, info: MethodInfo, opts: ServeOptions): Promise<unknown> {
  const text = await readText(req, opts.bodyMaxBytes);
  let node: JsonNode | null = null;
  let obj: Record<string, unknown>;
  try {
    const next = decodeNext(text, 0, true);
    if (next.kind === "value") node = next.node;
    obj = node ? messageFromJson(info.requestType, node) : {};
  } catch (err) {
    // The gateway wraps decoding errors as InvalidArgument for these calls.
    if (err instanceof GoJsonError) throw new EtcdError(GrpcCode.InvalidArgument, err.message);
    throw err;
  }
  return throughWire(info.request, obj, opts.maxRecvBytes);
}

async function readText(req: Request, maxBytes: number): Promise<string> {
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(size, maxBytes);
    chunks.push(chunk);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

const tooLarge = (size: number, max: number) =>
  new EtcdError(GrpcCode.ResourceExhausted, `grpc: received message larger than max (${size} vs. ${max})`);

/**
 * The request body as a stream of JSON values, decoded as they arrive (a client may keep the body
 * open and send more requests); read only as the handler asks for the next request. Throws
 * GoJsonError on bad syntax.
 */
async function* jsonValues(body: ReadableStream<Uint8Array> | null, maxBytes: number): AsyncGenerator<JsonNode> {
  if (!body) return;
  const decoder = new TextDecoder();
  let text = "";
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      text += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const next = decodeNext(text, 0, done);
        if (next.kind === "value") {
          text = text.slice(next.end);
          yield next.node;
          continue;
        }
        if (next.kind === "eof") text = "";
        break;
      }
      if (done) return;
      if (text.length > maxBytes) throw tooLarge(text.length, maxBytes);
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Watch and LeaseKeepAlive: requests are the body's JSON values. A first request that does not decode
 * fails the call (code Unknown, as the gateway passes the decoder's error on unwrapped); a later one
 * ends the requests, as the gateway's sending goroutine stops.
 */
async function serveBidi(
  c: Context,
  handler: GatewayHandler | undefined,
  info: MethodInfo,
  call: GatewayCall,
  abort: AbortController,
  opts: ServeOptions,
  table: HandlerTable,
): Promise<Response> {
  const values = jsonValues(c.req.raw.body, opts.bodyMaxBytes);
  const decode = (n: JsonNode) => throughWire(info.request, messageFromJson(info.requestType, n), opts.maxRecvBytes);
  let first: unknown;
  let firstDone = false;
  try {
    const r = await values.next();
    if (r.done) firstDone = true;
    else first = decode(r.value);
  } catch (err) {
    if (err instanceof GoJsonError) throw new EtcdError(GrpcCode.Unknown, err.message);
    throw err;
  }
  if (!handler) throw unimplemented(table, info);
  if (handler.kind !== "bidi") throw unimplemented(table, info);
  const counter = handler.metrics;

  async function* requests(): AsyncGenerator<unknown> {
    if (firstDone) return;
    counter?.received?.();
    yield first;
    for (;;) {
      let r: IteratorResult<JsonNode>;
      let msg: unknown;
      try {
        r = await values.next();
        if (r.done) return;
        msg = decode(r.value);
      } catch (err) {
        if (isEtcdError(err)) throw err;
        // The gateway stops forwarding requests at the first one it cannot decode; the call goes on.
        opts.log?.("debug", "gateway: stopped reading a stream's requests", { path: info.path, error: String((err as Error).message) });
        return;
      }
      counter?.received?.();
      yield msg;
    }
  }
  return streamResponse(info, abort, (send) => handler.handle(requests(), call, send), opts, handler.metrics);
}

/**
 * Runs a unary handler and counts the call as the gRPC server counts its own: started, then handled
 * with the handler's status, or Canceled if the client went away first.
 */
async function countUnary(metrics: CallCounter | undefined, signal: AbortSignal, run: () => unknown): Promise<unknown> {
  if (!metrics) return run();
  metrics.started.inc();
  metrics.received?.(); // a unary call's one request (go-grpc-prometheus counts it as the call starts)
  let code: number = GrpcCode.OK;
  try {
    const out = await run();
    if (!signal.aborted) metrics.sent?.();
    return out;
  } catch (err) {
    code = codeOf(err);
    throw err;
  } finally {
    metrics.handled(signal.aborted ? GrpcCode.Canceled : code);
  }
}

/**
 * Runs a streaming handler and answers with its messages as they come. The Response (status and
 * headers) is handed to the HTTP server with the first message, or when the call ends without one.
 * The call is counted as started now and as handled when the handler ends (Canceled if the client
 * went away before).
 */
function streamResponse(
  info: MethodInfo,
  abort: AbortController,
  run: (send: (msg: unknown) => Promise<void>) => Promise<void>,
  opts: GatewayOptions,
  metrics: CallCounter | undefined,
): Promise<Response> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let room: (() => void) | null = null;
  const wake = () => {
    const r = room;
    room = null;
    r?.();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start: (ctl) => {
        controller = ctl;
      },
      pull: () => wake(),
      cancel: () => {
        closed = true;
        abort.abort();
        wake();
      },
    },
    { highWaterMark: RESPONSE_QUEUE_MAX },
  );
  let started = false;
  let respond!: (r: Response) => void;
  const response = new Promise<Response>((r) => (respond = r));
  const start = (status: number, headers: Record<string, string>) => {
    if (started) return;
    started = true;
    respond(new Response(body, { status, headers }));
  };
  const send = async (msg: unknown) => {
    if (closed || abort.signal.aborted) throw new EtcdError(GrpcCode.Canceled, "context canceled");
    controller.enqueue(encoder.encode(streamResult(info.responseType, throughWire(info.response, msg)) + "\n"));
    metrics?.sent?.();
    start(200, JSON_HEADERS);
    while (!closed && (controller.desiredSize ?? 1) <= 0) await new Promise<void>((r) => (room = r));
  };
  const finish = () => {
    if (closed) return;
    closed = true;
    try {
      controller.close();
    } catch {}
  };
  metrics?.started.inc();
  run(send).then(
    () => {
      metrics?.handled(abort.signal.aborted ? GrpcCode.Canceled : GrpcCode.OK);
      start(200, { "content-type": "application/json" });
      finish();
    },
    (err) => {
      metrics?.handled(abort.signal.aborted ? GrpcCode.Canceled : codeOf(err));
      if (!closed) {
        const { code, message } = statusOf(err, opts, info);
        controller.enqueue(encoder.encode(streamError(code, message)));
        start(httpStatusFromCode(code), { "content-type": "application/json" });
      }
      finish();
    },
  );
  return response;
}

/** A thrown value's gRPC code (statusOf without the logging). */
function codeOf(err: unknown): number {
  return isEtcdError(err) ? err.code : GrpcCode.Unknown;
}

function statusOf(err: unknown, opts: GatewayOptions, info: MethodInfo): { code: number; message: string } {
  if (isEtcdError(err)) return { code: err.code, message: err.message };
  opts.log?.("error", "unexpected error serving a gateway request", { path: info.path, error: String((err as Error)?.stack ?? err) });
  return { code: GrpcCode.Unknown, message: String((err as Error)?.message ?? err) };
}
