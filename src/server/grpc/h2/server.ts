// An HTTP/2 server for gRPC: takes connections that already speak HTTP/2 (h2c with prior knowledge
// after the preface was sniffed, or TLS after ALPN "h2"), hands each new stream to `onStream`, and
// shuts down gracefully.
import type { Duplex } from "node:stream";
import { H2Connection, DEFAULT_LIMITS, type ConnectionInfo, type H2Limits } from "./connection.ts";
import type { H2Stream } from "./stream.ts";

export interface H2ServerOptions extends Partial<H2Limits> {
  onStream(stream: H2Stream): void;
  /** Protocol errors of a client (fatal = false) and unexpected failures (fatal = true). */
  onError?(err: Error, fatal: boolean): void;
}

export class H2Server {
  readonly #conns = new Set<H2Connection>();
  readonly #opts;
  #closed = false;
  #idle: (() => void) | null = null;

  constructor(opts: H2ServerOptions) {
    this.#opts = { ...DEFAULT_LIMITS, ...opts };
  }

  get connectionCount(): number {
    return this.#conns.size;
  }

  /**
   * Serves HTTP/2 on `socket`; `head` holds bytes already read from it (the connection preface onwards);
   * `info` is what the listener knows about the client (its verified TLS certificate's CN).
   */
  handleConnection(socket: Duplex, head: Buffer | null = null, info?: ConnectionInfo): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    const conn = new H2Connection(socket, this.#opts, head, this.#gone, info);
    // The constructor may already have failed and removed the connection (a bad preface in `head`).
    if (!socket.destroyed) this.#conns.add(conn);
  }

  #gone = (c: H2Connection): void => {
    this.#conns.delete(c);
    if (this.#closed && this.#conns.size === 0 && this.#idle) this.#idle();
  };

  /**
   * Graceful shutdown: new connections are refused, each connection gets GOAWAY and ends once its
   * streams are done. Resolves when all are closed, or after `graceMs` (the rest are destroyed then).
   */
  close(graceMs = 5000): Promise<void> {
    this.#closed = true;
    for (const c of this.#conns) c.close();
    if (this.#conns.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const c of [...this.#conns]) c.destroy();
        resolve();
      }, graceMs);
      (timer as { unref?: () => void }).unref?.();
      this.#idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
