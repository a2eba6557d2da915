// The L4 gateway's core (etcd's proxy/tcpproxy): every client connection is piped, byte for byte, to
// one of the endpoints, picked round-robin. An endpoint that refuses a connection is deactivated and
// the next one tried for the same client; every `retryDelayMs` the inactive ones are dialed again and
// come back once one answers. Nothing above TCP is looked at, so gRPC, TLS and HTTP/1.1 all pass.
import net from "node:net";
import type { Logger } from "../pkg/logger.ts";

export interface TcpEndpoint {
  host: string;
  port: number;
}

export interface TcpProxyOptions {
  endpoints: readonly TcpEndpoint[];
  /** How long a refused endpoint stays out before it is dialed again (etcd's --retry-delay). */
  retryDelayMs: number;
  log: Logger;
  /** How long one dial may take before the endpoint counts as refusing (etcd has none; a black hole would hang the client). */
  dialTimeoutMs?: number;
}

interface Remote {
  readonly addr: string;
  readonly ep: TcpEndpoint;
  active: boolean;
  /** A reactivation dial is running (at most one per endpoint). */
  probing: boolean;
}

export class TcpProxy {
  readonly #remotes: Remote[];
  readonly #opts: TcpProxyOptions;
  readonly #conns = new Set<net.Socket>();
  #pick = 0;
  #monitor: ReturnType<typeof setInterval> | null = null;
  #server: net.Server | null = null;

  constructor(opts: TcpProxyOptions) {
    if (opts.endpoints.length === 0) throw new Error("no endpoints to proxy to");
    this.#opts = opts;
    this.#remotes = opts.endpoints.map((ep) => ({ ep, addr: joinHostPort(ep.host, ep.port), active: true, probing: false }));
  }

  /** The endpoints, as "host:port", in round-robin order. */
  get endpoints(): string[] {
    return this.#remotes.map((r) => r.addr);
  }

  /** The endpoints currently taking connections. */
  get activeEndpoints(): string[] {
    return this.#remotes.filter((r) => r.active).map((r) => r.addr);
  }

  /** Serves on `server` (listening already or about to): each accepted connection is proxied. */
  serve(server: net.Server): void {
    this.#server = server;
    server.on("connection", (socket) => void this.#proxy(socket));
    this.#monitor = setInterval(() => this.#reactivate(), Math.max(1, this.#opts.retryDelayMs));
    this.#monitor.unref?.();
  }

  /** Stops accepting and closes every proxied connection. */
  close(): void {
    if (this.#monitor) clearInterval(this.#monitor);
    this.#monitor = null;
    this.#server?.close();
    for (const c of this.#conns) c.destroy();
  }

  /** The next active endpoint in round-robin order, or null when none is active (etcd's pick). */
  #next(): Remote | null {
    for (let i = 0; i < this.#remotes.length; i++) {
      const r = this.#remotes[this.#pick % this.#remotes.length];
      this.#pick++;
      if (r.active) return r;
    }
    return null;
  }

  async #proxy(client: net.Socket): Promise<void> {
    this.#track(client);
    // Bytes the client sends while we dial wait in the socket (paused), so nothing is lost.
    client.pause();
    client.on("error", () => client.destroy());
    let upstream: net.Socket | null = null;
    for (let r = this.#next(); r !== null; r = this.#next()) {
      try {
        upstream = await dial(r.ep, this.#opts.dialTimeoutMs ?? 5000);
        break;
      } catch (err) {
        r.active = false;
        this.#opts.log("warn", "deactivated endpoint", { address: r.addr, interval: `${this.#opts.retryDelayMs}ms`, error: (err as Error).message });
      }
    }
    if (!upstream || client.destroyed) {
      // No endpoint takes connections (or the client left meanwhile): the client sees a close, as with etcd.
      upstream?.destroy();
      client.destroy();
      return;
    }
    this.#track(upstream);
    const up = upstream;
    up.on("error", () => up.destroy());
    // Either side closing ends both: a half-open pipe would leave the client waiting forever.
    up.on("close", () => client.destroy());
    client.on("close", () => up.destroy());
    client.pipe(up);
    up.pipe(client);
    client.resume();
  }

  #track(s: net.Socket): void {
    s.setNoDelay(true);
    this.#conns.add(s);
    s.once("close", () => this.#conns.delete(s));
  }

  /** Dials every inactive endpoint once; an answer brings it back (etcd's runMonitor). */
  #reactivate(): void {
    for (const r of this.#remotes) {
      if (r.active || r.probing) continue;
      r.probing = true;
      dial(r.ep, this.#opts.dialTimeoutMs ?? 5000).then(
        (s) => {
          s.destroy();
          r.probing = false;
          r.active = true;
          this.#opts.log("info", "activated", { address: r.addr });
        },
        (err: Error) => {
          r.probing = false;
          this.#opts.log("warn", "failed to activate endpoint (stay inactive for another interval)", {
            address: r.addr,
            interval: `${this.#opts.retryDelayMs}ms`,
            error: err.message,
          });
        },
      );
    }
  }
}

function dial(ep: TcpEndpoint, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: ep.host, port: ep.port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`dial tcp ${joinHostPort(ep.host, ep.port)}: i/o timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.destroy();
      reject(new Error(`dial tcp ${joinHostPort(ep.host, ep.port)}: ${err.code === "ECONNREFUSED" ? "connect: connection refused" : err.message}`));
    });
  });
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
