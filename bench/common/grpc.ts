// gRPC unary calls over h2c (node:http2, prior knowledge), the one implementation for the benches:
// bench/load.ts sends pre-encoded frames through unaryFramed (no per-call encoding, the body kept
// only when asked for); bench/failover.ts uses connectH2, unaryCall (deadline also sent as
// grpc-timeout), put and status for single, deadline-bounded requests.
import http2 from "node:http2";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { frame } from "../../src/server/grpc/framing.ts";

export class CallError extends Error {}

/** An h2c session to 127.0.0.1:port, or CallError after timeoutMs. Session errors are swallowed (calls report them). */
export function connectH2(port: number, timeoutMs: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on("error", () => {});
    const timer = setTimeout(() => {
      s.destroy();
      reject(new CallError(`connect to port ${port}: timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once("error", (err) => {
      clearTimeout(timer);
      s.destroy();
      reject(new CallError(`connect to port ${port}: ${err.message}`));
    });
  });
}

/** How unaryFramed runs a call. Callers on a hot path make one and pass it to every call. */
export interface UnaryOptions {
  /** Deadline of the call (a plain client-side timer); the call fails with CallError after it. */
  timeoutMs: number;
  /** Also send the deadline to the server as grpc-timeout. */
  sendTimeout?: boolean;
  /** Keep the response body and resolve with it; otherwise its data is dropped and the call resolves with null. */
  keepBody?: boolean;
}

const drop = (_: Buffer): void => {};

/**
 * One unary call with an already framed request (framing.ts frame()). Resolves with the whole
 * response body, frame header included, if o.keepBody (else null) when the call ends with HTTP 200
 * and grpc-status 0; rejects with CallError otherwise or after o.timeoutMs.
 */
export function unaryFramed(session: http2.ClientHttp2Session, path: string, framed: Uint8Array, o: UnaryOptions): Promise<Buffer | null> {
  return new Promise<Buffer | null>((resolve, reject) => {
    const timeoutMs = o.timeoutMs;
    let req: http2.ClientHttp2Stream;
    try {
      req = session.request(
        o.sendTimeout
          ? { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", "grpc-timeout": `${Math.max(1, Math.floor(timeoutMs))}m` }
          : { ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" },
        { endStream: false },
      );
    } catch (err) {
      reject(new CallError(`request failed: ${(err as Error).message}`));
      return;
    }
    let status: string | undefined;
    let grpcMessage: string | undefined;
    let httpStatus: number | undefined;
    const chunks: Buffer[] | null = o.keepBody ? [] : null;
    let settled = false;
    // A plain timer: the stream's own setTimeout adds a listener to the session per call under Bun.
    const timer = setTimeout(() => {
      settle(new CallError(`deadline ${timeoutMs} ms exceeded`));
      try {
        req.close(http2.constants.NGHTTP2_CANCEL);
      } catch {}
    }, timeoutMs);
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(chunks ? Buffer.concat(chunks) : null);
    };
    req.on("response", (h) => {
      httpStatus = Number(h[":status"]);
      // Trailers-only responses carry grpc-status in the headers.
      if (h["grpc-status"] !== undefined) {
        status = String(h["grpc-status"]);
        grpcMessage = h["grpc-message"] === undefined ? undefined : String(h["grpc-message"]);
      }
    });
    req.on("trailers", (t) => {
      status = String(t["grpc-status"]);
      grpcMessage = t["grpc-message"] === undefined ? undefined : String(t["grpc-message"]);
    });
    // Data is always read (the stream must flow to end), but only kept when asked for.
    req.on("data", chunks ? (c: Buffer) => chunks.push(c) : drop);
    req.on("error", (err) => settle(new CallError(`stream error: ${err.message}`)));
    req.on("close", () => {
      if (httpStatus !== 200) settle(new CallError(`HTTP status ${httpStatus ?? "none"} (rst ${req.rstCode})`));
      else if (status !== "0") {
        let msg = grpcMessage ?? "";
        try {
          msg = decodeURIComponent(msg);
        } catch {}
        settle(new CallError(`grpc-status ${status ?? "missing"}${msg ? `: ${msg}` : ""}`));
      } else settle(null);
    });
    req.end(framed);
  });
}

/** The message of a response body from unaryFramed (without the 5-byte frame header; empty if there is none). */
export function unframe(body: Buffer): Buffer {
  return body.length >= 5 ? body.subarray(5, 5 + body.readUInt32BE(1)) : Buffer.alloc(0);
}

/** One unary call with the deadline also sent as grpc-timeout; resolves with the response message (unframed). */
export async function unaryCall(session: http2.ClientHttp2Session, path: string, message: Uint8Array, timeoutMs: number): Promise<Buffer> {
  const body = await unaryFramed(session, path, frame(message), { timeoutMs, sendTimeout: true, keepBody: true });
  return unframe(body!);
}

export async function put(session: http2.ClientHttp2Session, key: string, value: string, timeoutMs: number): Promise<etcdserverpb.PutResponse> {
  const enc = new TextEncoder();
  const msg = etcdserverpb.PutRequest.encode({ key: enc.encode(key), value: enc.encode(value) }).finish();
  return etcdserverpb.PutResponse.decode(await unaryCall(session, "/etcdserverpb.KV/Put", msg, timeoutMs));
}

/** Maintenance Status: header.memberId is the member asked, leader its idea of the leader (0n: none). */
export async function status(session: http2.ClientHttp2Session, timeoutMs: number): Promise<etcdserverpb.StatusResponse> {
  const msg = etcdserverpb.StatusRequest.encode({}).finish();
  return etcdserverpb.StatusResponse.decode(await unaryCall(session, "/etcdserverpb.Maintenance/Status", msg, timeoutMs));
}
