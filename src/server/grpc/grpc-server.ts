import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { EtcdError, GrpcCode, isEtcdError } from "../../pkg/errors.ts";
import * as pb from "../../proto/etcd.js";
import { methods } from "../../proto/services.ts";
import { encodeGrpcMessage, frame, MessageReader, parseGrpcTimeoutMs } from "./framing.ts";

interface Codec {
  encode(message: any): { finish(): Uint8Array };
  decode(bytes: Uint8Array): any;
}

export interface Call {
  /** Aborted when the client cancels, the deadline passes or the connection drops. */
  signal: AbortSignal;
  headers: IncomingHttpHeaders;
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

/** Largest slice of a response handed to the HTTP/2 stream at once (see send). */
const WRITE_SLICE_BYTES = 64 * 1024;

function codecFor(typeName: string): Codec {
  const [pkg, ...rest] = typeName.split(".");
  let t: any = (pb as any)[pkg];
  for (const part of rest) t = t?.[part];
  if (!t?.encode) throw new Error(`no generated code for ${typeName}`);
  return t as Codec;
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

  handleStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    const path = String(headers[":path"] ?? "");
    const route = this.#routes.get(path);
    const abort = new AbortController();
    let finished = false;
    const finish = (code: number, message?: string) => {
      if (finished || stream.destroyed || stream.closed) return;
      finished = true;
      const trailers: Record<string, string> = { "grpc-status": String(code) };
      if (message) trailers["grpc-message"] = encodeGrpcMessage(message);
      if (!stream.headersSent) {
        // Trailers-only response: status travels in the (only) HEADERS frame.
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
      } else {
        pendingTrailers = trailers;
        stream.end();
      }
    };
    let pendingTrailers: Record<string, string> | null = null;
    const startResponse = () => {
      if (!stream.headersSent) {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers(pendingTrailers ?? { "grpc-status": "0" }));
      }
    };
    const fail = (err: unknown) => {
      if (isEtcdError(err)) return finish(err.code, err.message);
      this.#opts.log("error", "unexpected error serving a request", { path, error: String((err as Error)?.stack ?? err) });
      finish(GrpcCode.Unknown, String((err as Error)?.message ?? err));
    };

    stream.on("close", () => abort.abort());
    stream.on("error", () => abort.abort());

    const contentType = String(headers["content-type"] ?? "");
    if (!contentType.startsWith("application/grpc")) {
      stream.respond({ ":status": 415, "content-type": "text/plain" }, { endStream: false });
      stream.end("gRPC requests need content-type application/grpc\n");
      return;
    }
    if (!route) {
      const [, service = "", method = ""] = path.split("/");
      const known = this.paths.some((p) => p.startsWith(`/${service}/`));
      return finish(
        GrpcCode.Unimplemented,
        known ? `unknown method ${method} for service ${service}` : `unknown service ${service}`,
      );
    }
    const timeoutMs = parseGrpcTimeoutMs(headers["grpc-timeout"] as string | undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        finish(GrpcCode.DeadlineExceeded, "context deadline exceeded");
        abort.abort();
      }, timeoutMs);
      stream.on("close", () => clearTimeout(timer));
    }
    const call: Call = { signal: abort.signal, headers };
    const send = async (msg: unknown) => {
      if (finished || stream.destroyed) throw new EtcdError(GrpcCode.Canceled, "context canceled");
      startResponse();
      const bytes = frame(route.response.encode(msg).finish());
      // Respect HTTP/2 flow control: hand the message over in slices and wait for the peer's window
      // in between. One big write would sit whole in the session's outbound queue, and a few large
      // answers at once exceed the session memory limit, which tears the connection down.
      for (let off = 0; off < bytes.length; off += WRITE_SLICE_BYTES) {
        if (finished || stream.destroyed || stream.closed) throw new EtcdError(GrpcCode.Canceled, "context canceled");
        const ok = stream.write(bytes.subarray(off, off + WRITE_SLICE_BYTES));
        if (!ok) await new Promise<void>((resolve) => {
          const done = () => { stream.off("drain", done); stream.off("close", done); resolve(); };
          stream.on("drain", done);
          stream.on("close", done);
        });
      }
    };
    const done = () => {
      if (timer) clearTimeout(timer);
      if (finished) return;
      startResponse();
      finish(GrpcCode.OK);
    };

    const reader = new MessageReader(this.#opts.maxRecvBytes);
    const decode = (bytes: Uint8Array) => {
      try {
        return route.request.decode(bytes);
      } catch (err) {
        throw new EtcdError(GrpcCode.InvalidArgument, `grpc: error unmarshalling request: ${(err as Error).message}`);
      }
    };

    const h = route.handler;
    if (h.kind === "bidi") {
      const queue: any[] = [];
      let wakeUp: (() => void) | null = null;
      let ended = false;
      let readError: unknown = null;
      stream.on("data", (chunk: Buffer) => {
        try {
          for (const m of reader.push(chunk)) queue.push(decode(m));
        } catch (err) {
          readError = err;
        }
        wakeUp?.();
      });
      stream.on("end", () => { ended = true; wakeUp?.(); });
      stream.on("close", () => { ended = true; wakeUp?.(); });
      const reqs: AsyncIterable<any> = {
        async *[Symbol.asyncIterator]() {
          for (;;) {
            if (readError) throw readError;
            if (queue.length) { yield queue.shift(); continue; }
            if (ended) return;
            await new Promise<void>((r) => (wakeUp = r));
            wakeUp = null;
          }
        },
      };
      Promise.resolve()
        .then(() => h.handle(reqs, call, send))
        .then(done, fail);
      return;
    }

    // Unary and server-streaming: exactly one request message.
    let request: any = undefined;
    let count = 0;
    stream.on("data", (chunk: Buffer) => {
      if (finished) return;
      try {
        for (const m of reader.push(chunk)) {
          count++;
          request = m;
        }
      } catch (err) {
        fail(err);
        stream.resume();
      }
    });
    stream.on("end", () => {
      if (finished) return;
      if (count !== 1) {
        return finish(GrpcCode.Unimplemented, count === 0 ? "grpc: no request message received" : "grpc: too many request messages for a unary call");
      }
      let req: any;
      try {
        req = decode(request);
      } catch (err) {
        return fail(err);
      }
      const run = async () => {
        if (h.kind === "unary") {
          const res = await h.handle(req, call);
          if (finished) return;
          await send(res);
        } else {
          await h.handle(req, call, send);
        }
      };
      run().then(done, fail);
    });
  };
}
