// The peer listeners, one per listen URL: plain TCP (or a unix socket) for http://, TLS for https://,
// or a listener bound before start (main.ts binds them before it opens the data directory). Each
// hands its accepted connections to the acceptor.
import net from "node:net";
import tls from "node:tls";
import type { HeldListener } from "../../pkg/held-listener.ts";
import { describeSocketError } from "./connect.ts";
import { FrameReader } from "./frame.ts";
import { decodeRefusal, encodeRefusalFrame, HANDSHAKE_MAX_FRAME_BYTES } from "./handshake.ts";
import { hex, type TransportContext } from "./transport-context.ts";
import { parsePeerUrl } from "./url.ts";

export interface PeerListenersOptions {
  urls: readonly string[];
  /** Listeners already bound for urls, in the same order. */
  bound: readonly HeldListener[] | undefined;
  accept: (socket: net.Socket) => void;
}

export class PeerListeners {
  readonly #servers: net.Server[] = [];
  /** Listeners bound before start (opts.bound), which hand their connections to this transport. */
  readonly #held: { held: HeldListener; secure: boolean }[] = [];

  constructor(
    readonly ctx: TransportContext,
    readonly opts: PeerListenersOptions,
  ) {}

  /** Listens on every URL. Rejects, listening on none, if any fails. */
  async listen(): Promise<void> {
    const { log, memberId } = this.ctx;
    const targets = this.opts.urls.map((u) => ({ url: u, ...parsePeerUrl(u, "listen") }));
    try {
      for (const [i, t] of targets.entries()) {
        const server = t.secure ? this.#tlsServer(t.url) : net.createServer({ noDelay: true }, (s) => this.opts.accept(s));
        const bound = this.opts.bound?.[i];
        if (bound) {
          // Bound earlier: the server only handles what the listener accepts (TLS handshake included).
          this.#held.push({ held: bound, secure: t.secure });
          bound.release(server);
          log("info", "listening for peers", { address: t.url, "local-member-id": hex(memberId) });
          continue;
        }
        this.#servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen(t.path !== undefined ? { path: t.path } : { host: t.host, port: t.port }, () => {
            server.off("error", reject);
            server.on("error", (e) => log("warn", "peer listener error", { address: t.url, error: String(e) }));
            resolve();
          });
        });
        log("info", "listening for peers", { address: t.url, "local-member-id": hex(memberId) });
      }
    } catch (e) {
      await this.close();
      throw new Error(`cannot listen for peers: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The URLs actually listened on (with the port the kernel chose for port 0). */
  addresses(): string[] {
    const url = (secure: boolean, a: ReturnType<net.Server["address"]>) =>
      a === null || typeof a === "string" ? String(a) : `${secure ? "https" : "http"}://${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.port}`;
    return [...this.#held.map((h) => url(h.secure, h.held.server.address())), ...this.#servers.map((s) => url(s instanceof tls.Server, s.address()))];
  }

  async close(): Promise<void> {
    for (const h of this.#held.splice(0)) h.held.close();
    const servers = this.#servers.splice(0);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }

  /**
   * A TLS listener around the same accept path. A handshake that fails (no certificate, one from
   * another CA, expired, plaintext) is logged with its reason: that member cannot reach this one.
   */
  #tlsServer(url: string): net.Server {
    if (!this.ctx.tls) throw new Error(`${url} is https:// but no peer certificate is configured (--peer-cert-file and --peer-key-file, or --peer-auto-tls)`);
    const side = this.ctx.tls;
    const log = this.ctx.log;
    const server = tls.createServer(side.server, (s) => {
      s.setNoDelay(true);
      // Revoked (--peer-crl-file) or not allowed (--peer-cert-allowed-cn/-hostname): the dialer is told
      // with a refusal frame, so that it logs the TLS alert as etcd members do.
      const refused = side.acceptRefusal(s);
      if (refused) {
        const remoteAddr = `${s.remoteAddress}:${s.remotePort}`;
        if (!this.ctx.stopped) log("warn", "rejected a peer connection: its certificate is not accepted", { address: url, "remote-addr": remoteAddr, error: refused.message });
        // The dialer may be refusing ours at the same moment (it checks the server's certificate first,
        // as etcd's does in the handshake): read its refusal frame too, so this side says why.
        const reader = new FrameReader(HANDSHAKE_MAX_FRAME_BYTES);
        s.on("data", (chunk: Buffer) => {
          try {
            reader.push(chunk, (payload) => {
              const theirs = decodeRefusal(payload);
              if (theirs !== null && !this.ctx.stopped) log("warn", "rejected a peer connection: the dialing member refused this member's certificate", { "remote-addr": remoteAddr, error: theirs });
              return false;
            });
          } catch {}
        });
        s.on("error", () => {});
        s.end(encodeRefusalFrame(refused.alert));
        setTimeout(() => s.destroy(), 1000).unref?.();
        return;
      }
      this.opts.accept(s);
    });
    server.on("tlsClientError", (e: Error & { code?: string }, socket: tls.TLSSocket) => {
      if (!this.ctx.stopped) {
        log("warn", "rejected a peer connection: TLS handshake failed", {
          address: url,
          "remote-addr": `${socket?.remoteAddress}:${socket?.remotePort}`,
          error: describeSocketError(e),
        });
      }
      socket?.destroy();
    });
    return server;
  }
}
