/**
 * One HTTP/2 connection to one endpoint (h2c with prior knowledge, or TLS with ALPN "h2"), carrying
 * gRPC calls; our own HTTP/2 client (h2-client.ts, over dial.ts's sockets), so it runs under both Bun
 * and Node without loading node:http2. Dialed lazily; once it fails it stays failed and the owner
 * makes a new one.
 */
import type { ConnectionOptions } from "node:tls";
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import { ErrorCode } from "../../pkg/h2/frames.ts";
import type { HeaderMap } from "../../pkg/h2/hpack.ts";
import { canceled, deadlineExceeded, statusError, TransportError } from "../errors.ts";
import { decodeGrpcMessage, FrameDecoder, grpcTimeout } from "./framing.ts";
import { dial, type DialTarget } from "./dial.ts";
import { type ClientStream, H2ClientConnection, type StreamEnd } from "./h2-client.ts";

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

/** What connect() resolves with and open() takes: the live HTTP/2 connection. */
export type Session = H2ClientConnection;

export class Channel {
  readonly endpoint: string;
  readonly #url: URL;
  readonly #keepAlive: KeepAliveOptions | null;
  readonly #tls: ClientTlsOptions | null;
  #session: H2ClientConnection | null = null;
  #connected: Promise<H2ClientConnection> | null = null;
  #failure: TransportError | null = null;
  #pinger: ReturnType<typeof setInterval> | null = null;

  /**
   * An https:// endpoint speaks TLS (ALPN h2); so does a bare "host:port" when `tls` is given, as
   * clientv3 with a TLS config. http:// stays cleartext.
   */
  constructor(endpoint: string, keepAlive: KeepAliveOptions | null = null, tls: ClientTlsOptions | null = null) {
    this.endpoint = endpoint;
    this.#url = new URL(/^https?:\/\//i.test(endpoint) ? endpoint : `${tls ? "https" : "http"}://${endpoint}`);
    this.#keepAlive = effectiveKeepAlive(keepAlive);
    this.#tls = tls;
  }

  /** Failed or closed: calls on it fail at once, and the owner should dial a new one. */
  get broken(): boolean {
    return this.#failure !== null || (this.#session !== null && this.#session.closed);
  }

  /**
   * Resolves once the connection is up; rejects with a TransportError (sent = false) otherwise.
   * `dialTimeoutMs` Infinity: no timer of its own (the connection attempt ends when TCP gives up).
   */
  connect(dialTimeoutMs: number): Promise<H2ClientConnection> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#connected) return this.#connected;
    this.#connected = new Promise((resolve, reject) => {
      const target = this.#target();
      let up = false;
      const timer = Number.isFinite(dialTimeoutMs) ? setTimeout(() => fail(`dial ${this.endpoint} timed out after ${dialTimeoutMs} ms`), dialTimeoutMs) : undefined;
      const fail = (why: string) => {
        clearTimeout(timer);
        if (this.#pinger) clearInterval(this.#pinger);
        this.#failure ??= new TransportError(this.endpoint, why, false);
        session.destroy();
        if (!up) reject(this.#failure);
      };
      const session = new H2ClientConnection((events) => dial(target, events), {
        onOpen: () => {
          up = true;
          clearTimeout(timer);
          this.#startPings(session, fail);
          resolve(session);
        },
        onGoaway: () => {
          // Streams already open may finish; new ones must go to a fresh connection.
          this.#failure ??= new TransportError(this.endpoint, `connection to ${this.endpoint} is going away`, false);
        },
        onClose: (err) => fail(err ? `connection to ${this.endpoint} failed: ${err.message}` : `connection to ${this.endpoint} closed`),
      });
      this.#session = session;
    });
    // The owner may never await it (a failure found later by a call); do not leak an unhandled rejection.
    this.#connected.catch(() => {});
    return this.#connected;
  }

  #target(): DialTarget {
    const secure = this.#url.protocol === "https:";
    const host = this.#url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(this.#url.port || (secure ? 443 : 80));
    if (!secure) return { host, port, tls: null };
    const t = this.#tls ?? {};
    // SNI carries names only; an address is checked against the certificate's IP SANs.
    const servername = t.serverName ?? (isIpAddress(host) ? undefined : host);
    const tls: ConnectionOptions = { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: !t.insecureSkipVerify, servername, ALPNProtocols: ["h2"] };
    return { host, port, tls };
  }

  /**
   * A connection whose peer vanished (host down, partition) gives no error until TCP gives up, which
   * takes minutes; watches and keep-alives would hang there. A PING unanswered in time ends it, so the
   * owner fails over. Timers are unref'd: an idle client does not keep a process alive.
   */
  #startPings(session: H2ClientConnection, fail: (why: string) => void): void {
    const ka = this.#keepAlive;
    if (!ka) return;
    this.#pinger = setInterval(() => {
      if (session.closed) return;
      const deadline = setTimeout(() => fail(`connection to ${this.endpoint}: keepalive ping not answered within ${ka.timeoutMs} ms`), ka.timeoutMs);
      deadline.unref?.();
      session.ping(() => clearTimeout(deadline));
    }, ka.timeMs);
    this.#pinger.unref?.();
  }

  /**
   * Opens a call on the (connected) session. Response messages and the final status go to `handlers`;
   * the returned object sends requests.
   */
  open(session: H2ClientConnection, path: string, opts: CallOptions, handlers: StreamHandlers): CallStream {
    const fields: [string, string][] = [
      [":method", "POST"],
      [":scheme", this.#url.protocol === "https:" ? "https" : "http"],
      [":path", path],
      [":authority", this.#url.host],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ];
    if (opts.deadline !== undefined) fields.push(["grpc-timeout", grpcTimeout(opts.deadline - Date.now())]);
    if (opts.token) fields.push(["token", opts.token]);

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
    const reset = (err: EtcdError) => {
      finish(err);
      stream.reset(ErrorCode.CANCEL);
    };
    const takeStatus = (h: HeaderMap) => {
      if (h["grpc-status"] === undefined) return;
      status = Number(h["grpc-status"]);
      message = decodeGrpcMessage(h["grpc-message"] ?? "");
    };
    let responded = false;
    const stream: ClientStream = session.request(fields, {
      onHeaders: (h) => {
        if (!responded) {
          responded = true;
          const httpStatus = Number(h[":status"]);
          if (httpStatus !== 200) return reset(new EtcdError(GrpcCode.Unknown, `unexpected HTTP status ${httpStatus} from ${this.endpoint}`));
        }
        takeStatus(h); // a trailers-only response carries the status in its headers
      },
      onData: (chunk) => {
        if (closed) return;
        let messages: Buffer[];
        try {
          messages = decoder.push(chunk);
        } catch (err) {
          return reset(err as EtcdError);
        }
        for (const m of messages) if (!closed) handlers.onMessage(m);
      },
      onClose: (end: StreamEnd) => {
        if (status === undefined) {
          // REFUSED_STREAM, a GOAWAY below it, or never sent: the server did not process it (RFC 9113 §8.7).
          const why = this.#failure?.message ?? end.reason ?? `rst ${end.rstCode}`;
          return finish(new TransportError(this.endpoint, `stream to ${this.endpoint} closed without a status (${why})`, !end.unprocessed));
        }
        if (status !== 0) return finish(statusError(status, message));
        if (decoder.pendingBytes) return finish(new EtcdError(GrpcCode.Internal, "grpc: response ended inside a message"));
        finish(null);
      },
    });
    const onAbort = () => reset(canceled());
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = opts.deadline !== undefined ? setTimeout(() => reset(deadlineExceeded()), Math.max(0, opts.deadline - Date.now())) : null;
    if (opts.signal?.aborted) onAbort();

    return {
      send: (frame) => {
        if (!closed) stream.write(frame);
      },
      end: () => {
        if (!closed) stream.end();
      },
      cancel: () => reset(canceled()),
    };
  }

  close(): void {
    if (this.#pinger) clearInterval(this.#pinger);
    this.#failure ??= new TransportError(this.endpoint, `connection to ${this.endpoint} closed by the client`, false);
    this.#session?.destroy();
  }
}

/** An IPv4 or IPv6 literal (as URL.hostname gives it, brackets removed); node:net's isIP without loading node:net. */
function isIpAddress(host: string): boolean {
  return host.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}
