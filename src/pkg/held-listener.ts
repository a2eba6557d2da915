/**
 * A TCP listener bound now whose connections wait, unread, until a server is ready to take them.
 *
 * etcd binds its peer and client listeners before it touches the data directory (a port in use
 * must not leave a half-made member behind), then accepts on them only once the server can answer:
 * peers as soon as the server runs, clients once the member is ready. Node cannot listen without
 * accepting, so accepted sockets are kept paused (pauseOnConnect: not a byte is read) and handed to
 * the real server later with its "connection" event — for a tls.Server that also runs the TLS
 * handshake then. To the client it looks like etcd's unaccepted backlog: connected, no answer yet.
 */
import net from "node:net";

/**
 * Connections held at most while waiting. etcd leaves them in the kernel's backlog; each one held
 * here is an open file, and a member stuck without quorum while clients retry must not run out of
 * descriptors (the usual soft limit is 1024) for its own WAL and database files.
 */
export const DEFAULT_MAX_HELD = 256;

export interface HeldListenerOptions {
  /** Beyond this many waiting connections new ones are closed at once (the client retries). */
  maxHeld?: number;
  /** TCP_NODELAY on every connection (the target server's own option does not apply to handed sockets). */
  noDelay?: boolean;
}

export class HeldListener {
  readonly server: net.Server;
  #held: net.Socket[] = [];
  #target: ((socket: net.Socket) => void) | null = null;
  #maxHeld: number;
  #closed = false;
  /** Connections turned away because too many were already waiting. */
  refused = 0;
  /** Accept failures (EMFILE, ...) after listening: the connection stays in the kernel's backlog. */
  acceptErrors = 0;

  private constructor(server: net.Server, opts: HeldListenerOptions) {
    this.server = server;
    this.#maxHeld = opts.maxHeld ?? DEFAULT_MAX_HELD;
    // Without a listener an accept failure (EMFILE) would be an uncaught exception ending the member.
    server.on("error", () => void this.acceptErrors++);
    server.on("connection", (socket: net.Socket) => {
      if (opts.noDelay) socket.setNoDelay(true);
      socket.on("error", () => socket.destroy());
      if (this.#target) return this.#pass(socket);
      if (this.#held.length >= this.#maxHeld) {
        this.refused++;
        socket.destroy();
        return;
      }
      this.#held.push(socket);
    });
  }

  /**
   * Listens at `at` (host and port, or a unix socket path), or lets `at` bind the server its own way
   * (pkg/socket-address.ts's listenOn clears a stale unix socket first). Rejects with the listen
   * error (EADDRINUSE, EACCES, ...), listening on nothing.
   */
  static async listen(at: net.ListenOptions | ((server: net.Server) => Promise<void>), opts: HeldListenerOptions = {}): Promise<HeldListener> {
    const server = net.createServer({ pauseOnConnect: true });
    const held = new HeldListener(server, opts);
    if (typeof at === "function") {
      await at(server);
      return held;
    }
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(at, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return held;
  }

  /** Connections accepted and still waiting for release(). */
  get waiting(): number {
    return this.#held.length;
  }

  /** host:port actually bound (the kernel's port for port 0); a unix socket's path as host, port 0. */
  address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === "string") return { host: a ?? "", port: 0 };
    return { host: a.address, port: a.port };
  }

  /**
   * Hands the waiting connections, then every new one, to `target`: a server that does not listen
   * itself (its "connection" handler runs, TLS included), or a function.
   */
  release(target: net.Server | ((socket: net.Socket) => void)): void {
    if (this.#target) throw new Error("held listener already released");
    this.#target = typeof target === "function" ? target : (socket) => void target.emit("connection", socket);
    for (const socket of this.#held.splice(0)) this.#pass(socket);
  }

  #pass(socket: net.Socket): void {
    if (socket.destroyed) return;
    this.#target!(socket);
    socket.resume();
  }

  /**
   * Stops listening and closes the connections still waiting. Released connections belong to their
   * server, which closes them (so this does not wait for them, unlike net.Server's close callback).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const socket of this.#held.splice(0)) socket.destroy();
    if (this.server.listening) this.server.close();
  }
}
