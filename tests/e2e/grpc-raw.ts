// A minimal gRPC client over node:http2 (h2c, prior knowledge) for e2e tests that need many fast,
// independent connections without a full client library: one unary call = one HTTP/2 stream carrying
// one length-prefixed message, answered by one message and a grpc-status trailer.
import http2 from "node:http2";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { frame } from "../../src/server/grpc/framing.ts";

export class GrpcError extends Error {
  constructor(
    message: string,
    readonly grpcStatus: number | null,
  ) {
    super(message);
  }
}

/** One HTTP/2 connection to a member's client port. */
export class GrpcConn {
  readonly session: http2.ClientHttp2Session;
  #broken: Error | null = null;

  constructor(endpoint: string) {
    this.session = http2.connect(`http://${endpoint}`);
    // A dead server surfaces here; calls on the session fail on their own, so only remember it.
    this.session.on("error", (err) => (this.#broken = err));
    this.session.on("goaway", () => (this.#broken ??= new Error("GOAWAY")));
  }

  get broken(): boolean {
    return this.#broken !== null || this.session.closed || this.session.destroyed;
  }

  /**
   * One unary call. Resolves with the response message only when the server sent exactly one message
   * and grpc-status 0; anything else (reset, closed connection, timeout, non-zero status) rejects.
   */
  unary(path: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      if (this.broken) return reject(new GrpcError(`connection unusable: ${this.#broken?.message ?? "closed"}`, null));
      let settled = false;
      const done = (err: Error | null, msg?: Uint8Array) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(msg!);
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
        });
      } catch (err) {
        return done(new GrpcError(`request failed: ${(err as Error).message}`, null));
      }
      const timer = setTimeout(() => {
        done(new GrpcError(`${path} timed out after ${timeoutMs} ms`, null));
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message: string | undefined;
      stream.on("response", (headers) => {
        // Trailers-only responses carry the status in the headers.
        if (headers["grpc-status"] !== undefined) {
          status = String(headers["grpc-status"]);
          message = headers["grpc-message"] as string | undefined;
        }
      });
      stream.on("trailers", (trailers) => {
        if (trailers["grpc-status"] !== undefined) status = String(trailers["grpc-status"]);
        if (trailers["grpc-message"] !== undefined) message = String(trailers["grpc-message"]);
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (err) => done(new GrpcError(`${path}: stream error: ${err.message}`, null)));
      stream.on("close", () => {
        if (status === undefined) return done(new GrpcError(`${path}: stream closed without grpc-status (rst ${stream.rstCode})`, null));
        if (status !== "0") return done(new GrpcError(`${path}: grpc-status ${status}: ${decodeURIComponent(message ?? "")}`, Number(status)));
        const body = Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0) return done(new GrpcError(`${path}: bad response framing (${body.length} bytes)`, null));
        const len = body.readUInt32BE(1);
        if (body.length !== 5 + len) return done(new GrpcError(`${path}: expected one ${len}-byte message, got ${body.length - 5} bytes`, null));
        done(null, body.subarray(5));
      });
      stream.end(frame(request));
    });
  }

  async put(key: string, value: string, timeoutMs = 5000): Promise<etcdserverpb.PutResponse> {
    const req = etcdserverpb.PutRequest.encode({ key: Buffer.from(key), value: Buffer.from(value) }).finish();
    return etcdserverpb.PutResponse.decode(await this.unary("/etcdserverpb.KV/Put", req, timeoutMs));
  }

  async range(r: etcdserverpb.RangeRequest.$Properties, timeoutMs = 10_000): Promise<etcdserverpb.RangeResponse> {
    const req = etcdserverpb.RangeRequest.encode(r).finish();
    return etcdserverpb.RangeResponse.decode(await this.unary("/etcdserverpb.KV/Range", req, timeoutMs));
  }

  close(): void {
    if (!this.session.destroyed) this.session.destroy();
  }
}

/** The range_end that selects every key starting with prefix (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]); // every key
}
