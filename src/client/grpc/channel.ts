/**
 * One HTTP/2 (h2c, prior knowledge) connection to one endpoint, carrying gRPC calls; built on
 * node:http2 so it runs under both Bun and Node. Dialed lazily; once it fails it stays failed and the
 * owner makes a new one.
 */
import http2 from "node:http2";
import { isIP } from "node:net";
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import { canceled, deadlineExceeded, statusError, TransportError } from "../errors.ts";
import { decodeGrpcMessage, FrameDecoder, grpcTimeout } from "./framing.ts";

/** grpc-go's keepalive timeout when none is given (ClientParameters.Timeout = 0). */
const DEFAULT_KEEPALIVE_TIMEOUT_MS = 20_000;

/** Largest response message accepted (clientv3 takes up to 2 GiB; 512 MiB bounds our buffering). */
const MAX_RECV_BYTES = 512 * 1024 * 1024;

export interface CallOptions {
  /** Absolute deadline (Date.now() based); sent as grpc-timeout and enforced locally. */
  deadline?: number;
  signal?: AbortSignal;
  /** An auth token from Authenticate, sent as the "token" metadata (clientv3's per-RPC credentials). */
  token?: string;
}

/** What a stream's owner hears: each message, then exactly one close (null error = status OK). */
export interface StreamHandlers {
  onMessage(message: Buffer): void;
  onClose(err: EtcdError | null): void;
}

/** The sending half of a call. */
export interface CallStream {
  send(frame: Buffer): void;
  /** Half-closes: no more requests (the server may go on answering). */
  end(): void;
  /** Resets the stream with CANCEL; onClose then reports Canceled. */
  cancel(): void;
}

/**
 * TLS towards the server (clientv3's Config.TLS; etcdctl's --cacert, --cert, --key,
 * --insecure-skip-tls-verify). PEM text or bytes, not paths.
 */
export interface ClientTlsOptions {
  /** CA certificate(s) that sign the server's certificate; default: the system's CAs. */
  ca?: string | Buffer;
  /** Client certificate and key, for servers with --client-cert-auth. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Accept any server certificate (testing only: anyone in the middle can read and change traffic). */
  insecureSkipVerify?: boolean;
  /** The name to verify the server's certificate against (default: the endpoint's host). */
  serverName?: string;
}

/** HTTP/2 keepalive as clientv3's DialKeepAliveTime/Timeout: a PING every timeMs, unanswered within timeoutMs = dead. */
export interface KeepAliveOptions {
  timeMs: number;
  timeoutMs: number;
}

/** As grpc-go: a time of 0 turns pings off; a timeout of 0 means its default (20 s), not "at once". */
export function effectiveKeepAlive(k: KeepAliveOptions | null): KeepAliveOptions | null {
  if (!k || !(k.timeMs > 0)) return null;
  return { timeMs: k.timeMs, timeoutMs: k.timeoutMs > 0 ? k.timeoutMs : DEFAULT_KEEPALIVE_TIMEOUT_MS };
}

export class Channel {
  readonly endpoint: string;
  readonly #authority: string;
  readonly #keepAlive: KeepAliveOptions | null;
  readonly #tls: ClientTlsOptions | null;
  #session: http2.ClientHttp2Session | null = null;
  #connected: Promise<http2.ClientHttp2Session> | null = null;
  #failure: TransportError | null = null;
  #pinger: ReturnType<typeof setInterval> | null = null;

  /**
   * An https:// endpoint speaks TLS (ALPN h2); so does a bare "host:port" when `tls` is given, as
   * clientv3 with a TLS config. http:// stays cleartext.
   */
  constructor(endpoint: string, keepAlive: KeepAliveOptions | null = null, tls: ClientTlsOptions | null = null) {
    this.endpoint = endpoint;
    this.#authority = /^https?:\/\//i.test(endpoint) ? endpoint : `${tls ? "https" : "http"}://${endpoint}`;
    this.#keepAlive = effectiveKeepAlive(keepAlive);
    this.#tls = tls;
  }

  /** Failed or closed: calls on it fail at once, and the owner should dial a new one. */
  get broken(): boolean {
    const s = this.#session;
    return this.#failure !== null || (s !== null && (s.closed || s.destroyed));
  }

  /**
   * Resolves once the connection is up; rejects with a TransportError (sent = false) otherwise.
   * `dialTimeoutMs` Infinity: no timer of its own (the connection attempt ends when TCP gives up).
   */
  connect(dialTimeoutMs: number): Promise<http2.ClientHttp2Session> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#connected) return this.#connected;
    this.#connected = new Promise((resolve, reject) => {
      const session = http2.connect(this.#authority, this.#connectOptions());
      this.#session = session;
      let up = false;
      const timer = Number.isFinite(dialTimeoutMs) ? setTimeout(() => fail(`dial ${this.endpoint} timed out after ${dialTimeoutMs} ms`), dialTimeoutMs) : undefined;
      const fail = (why: string) => {
        clearTimeout(timer);
        if (this.#pinger) clearInterval(this.#pinger);
        this.#failure ??= new TransportError(this.endpoint, why, false);
        if (!session.destroyed) session.destroy();
        if (!up) reject(this.#failure);
      };
      session.once("connect", () => {
        up = true;
        clearTimeout(timer);
        this.#startPings(session, fail);
        resolve(session);
      });
      session.on("error", (err: Error) => fail(`connection to ${this.endpoint} failed: ${err.message}`));
      session.once("goaway", () => {
        // Streams already open may finish; new ones must go to a fresh connection.
        this.#failure ??= new TransportError(this.endpoint, `connection to ${this.endpoint} is going away`, false);
      });
      session.once("close", () => fail(`connection to ${this.endpoint} closed`));
    });
    // The owner may never await it (a failure found later by a call); do not leak an unhandled rejection.
    this.#connected.catch(() => {});
    return this.#connected;
  }

  #connectOptions(): http2.SecureClientSessionOptions | undefined {
    if (!this.#authority.toLowerCase().startsWith("https:")) return undefined;
    const t = this.#tls ?? {};
    const host = new URL(this.#authority).hostname.replace(/^\[|\]$/g, "");
    const servername = t.serverName ?? (isIP(host) ? undefined : host);
    return { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: !t.insecureSkipVerify, servername, ALPNProtocols: ["h2"] };
  }

  /**
   * A connection whose peer vanished (host down, partition) gives no error until TCP gives up, which
   * takes minutes; watches and keep-alives would hang there. A PING unanswered in time ends it, so the
   * owner fails over. Timers are unref'd: an idle client does not keep a process alive.
   */
  #startPings(session: http2.ClientHttp2Session, fail: (why: string) => void): void {
    const ka = this.#keepAlive;
    if (!ka) return;
    this.#pinger = setInterval(() => {
      if (session.closed || session.destroyed) return;
      const deadline = setTimeout(() => fail(`connection to ${this.endpoint}: keepalive ping not answered within ${ka.timeoutMs} ms`), ka.timeoutMs);
      deadline.unref?.();
      try {
        session.ping((err) => {
          clearTimeout(deadline);
          if (err && !session.destroyed) fail(`connection to ${this.endpoint}: keepalive ping failed: ${err.message}`);
        });
      } catch {
        clearTimeout(deadline);
      }
    }, ka.timeMs);
    this.#pinger.unref?.();
  }

  /**
   * Opens a call on the (connected) session. Response messages and the final status go to `handlers`;
   * the returned object sends requests.
   */
  open(session: http2.ClientHttp2Session, path: string, opts: CallOptions, handlers: StreamHandlers): CallStream {
    const headers: http2.OutgoingHttpHeaders = {
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    };
    if (opts.token) headers.token = opts.token;
    if (opts.deadline !== undefined) headers["grpc-timeout"] = grpcTimeout(opts.deadline - Date.now());

    let closed = false;
    let status: number | undefined;
    let message = "";
    const decoder = new FrameDecoder(MAX_RECV_BYTES);
    const finish = (err: EtcdError | null) => {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      handlers.onClose(err);
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch (err) {
      // The session was closed between connect and now: nothing was sent.
      const failure = new TransportError(this.endpoint, `request on ${this.endpoint} failed: ${(err as Error).message}`, false);
      queueMicrotask(() => finish(failure));
      return { send() {}, end() {}, cancel() {} };
    }
    const reset = (err: EtcdError) => {
      finish(err);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    };
    const onAbort = () => reset(canceled());
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = opts.deadline !== undefined ? setTimeout(() => reset(deadlineExceeded()), Math.max(0, opts.deadline - Date.now())) : null;

    const takeStatus = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] === undefined) return;
      status = Number(h["grpc-status"]);
      message = decodeGrpcMessage(String(h["grpc-message"] ?? ""));
    };
    stream.on("response", (h) => {
      const httpStatus = Number(h[":status"]);
      if (httpStatus !== 200) return reset(new EtcdError(GrpcCode.Unknown, `unexpected HTTP status ${httpStatus} from ${this.endpoint}`));
      takeStatus(h); // a trailers-only response carries the status in its headers
    });
    stream.on("trailers", takeStatus);
    stream.on("data", (chunk: Buffer) => {
      if (closed) return;
      let messages: Buffer[];
      try {
        messages = decoder.push(chunk);
      } catch (err) {
        return reset(err as EtcdError);
      }
      for (const m of messages) if (!closed) handlers.onMessage(m);
    });
    // Errors surface again as 'close'; the status (if any) decides there.
    stream.on("error", () => {});
    stream.on("close", () => {
      if (status === undefined) {
        const rst = stream.rstCode;
        // REFUSED_STREAM: the server did not process the stream at all (RFC 9113 §8.7).
        const sent = rst !== http2.constants.NGHTTP2_REFUSED_STREAM;
        return finish(new TransportError(this.endpoint, `stream to ${this.endpoint} closed without a status (${this.#failure?.message ?? `rst ${rst}`})`, sent));
      }
      if (status !== 0) return finish(statusError(status, message));
      if (decoder.pendingBytes) return finish(new EtcdError(GrpcCode.Internal, "grpc: response ended inside a message"));
      finish(null);
    });
    if (opts.signal?.aborted) onAbort();

    return {
      send: (frame) => {
        if (!closed && stream.writable) stream.write(frame);
      },
      end: () => {
        if (!closed && stream.writable) stream.end();
      },
      cancel: () => reset(canceled()),
    };
  }

  close(): void {
    if (this.#pinger) clearInterval(this.#pinger);
    this.#failure ??= new TransportError(this.endpoint, `connection to ${this.endpoint} closed by the client`, false);
    const s = this.#session;
    if (s && !s.destroyed) s.destroy();
  }
}
