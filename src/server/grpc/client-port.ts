import type { Server as Http1Server } from "node:http";
import net from "node:net";
import tls from "node:tls";
import { type TlsRefusal, type TlsSide, verifiedCommonName } from "../../pkg/tls-options.ts";
import { CONNECTION_PREFACE } from "../../pkg/h2/frames.ts";
import type { ConnectionInfo } from "./h2/connection.ts";
import type { H2Server } from "./h2/server.ts";

export interface ClientPortOptions {
  /** Serve TLS (an https:// or unixs:// listen URL): ALPN offers h2 and http/1.1; the rest is as on cleartext. */
  tls?: TlsSide;
  /** A TLS handshake failed (plaintext sent to the TLS port, an unknown or expired client certificate). */
  onTlsError?: (err: Error & { code?: string }, remoteAddress: string | undefined) => void;
  /**
   * A client was refused after its handshake: its certificate is revoked (--client-crl-file) or not
   * for an allowed host (--client-cert-allowed-hostname). The connection is closed unserved.
   */
  onRefused?: (refusal: TlsRefusal, remoteAddress: string | undefined) => void;
}

/**
 * One port, two protocols: a connection that opens with the HTTP/2 preface (gRPC with prior knowledge,
 * as grpc-go and grpc-js speak, or ALPN h2 over TLS) goes to the HTTP/2 server, anything else to the
 * HTTP/1.1 server. Over TLS the decrypted socket takes the same path; the verified client
 * certificate's CN (--client-cert-auth) travels with the connection (ConnectionInfo).
 */
export function createClientPort(h2: H2Server, h1: Http1Server, opts: ClientPortOptions = {}): net.Server {
  if (!opts.tls) return net.createServer({ noDelay: true }, (socket) => dispatch(socket, h2, h1, NO_INFO));
  // ALPN picks the server's first protocol the client offers: a client offering only h2 (grpc-go as in
  // etcdctl, grpc-js, node:http2) gets h2; browsers and curl, which offer http/1.1 too, get HTTP/1.1,
  // where /health, the JSON gateway and gRPC-web are served (our HTTP/2 server speaks only gRPC).
  const side = opts.tls;
  const server = tls.createServer({ ...side.server, ALPNProtocols: ["http/1.1", "h2"] }, (socket) => {
    socket.setNoDelay?.(true);
    const refused = side.acceptRefusal(socket);
    if (refused) {
      opts.onRefused?.(refused, socket.remoteAddress);
      socket.destroy();
      return;
    }
    // The CN names the user only under --client-cert-auth (a trusted CA alone asks for certificates too).
    const cn = side.clientCertAuth ? verifiedCommonName(socket) : undefined;
    dispatch(socket, h2, h1, cn ? Object.freeze({ tlsCommonName: cn }) : NO_INFO);
  });
  server.on("tlsClientError", (err: Error & { code?: string }, socket: tls.TLSSocket) => {
    opts.onTlsError?.(err, socket?.remoteAddress);
    socket?.destroy();
  });
  return server;
}

const NO_INFO: ConnectionInfo = Object.freeze({});

function dispatch(socket: net.Socket, h2: H2Server, h1: Http1Server, info: ConnectionInfo): void {
  let seen: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
    const n = Math.min(seen.length, CONNECTION_PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(CONNECTION_PREFACE.subarray(0, n));
    if (isH2 && n < CONNECTION_PREFACE.length) return; // wait for the whole preface
    socket.off("data", onData);
    if (isH2) {
      // The HTTP/2 connection takes the bytes read so far (preface included) and reads on itself.
      h2.handleConnection(socket, seen, info);
      return;
    }
    socket.pause();
    socket.unshift(seen);
    h1.emit("connection", socket);
    socket.resume();
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}
