// Opens the byte stream to a peer URL: TCP for http://, TLS for https:// (the peer certificate and
// CA from --peer-cert-file/--peer-key-file/--peer-trusted-ca-file), a unix socket for unix:// and TLS
// over one for unixs://. The frames inside are the same.
import net from "node:net";
import tls from "node:tls";
import { encodeRefusalFrame } from "./handshake.ts";
import { parsePeerUrl } from "./url.ts";

/** Emitted on a TLS socket once its handshake is done and the server's certificate passed every check. */
export const TLS_VERIFIED = "etcd-ts:tls-verified";

export interface PeerSocket {
  socket: net.Socket;
  /** The event after which the peer handshake may be sent: "connect" (TCP, unix) or TLS_VERIFIED. */
  ready: "connect" | typeof TLS_VERIFIED;
}

/** How long a refused server has to read our refusal frame before the socket is closed anyway. */
const REFUSAL_LINGER_MS = 1000;

/**
 * Connects to url. `tlsClient` is this member's peer TLS client side; an https:// URL without it is
 * dialed with the system's CAs and no client certificate.
 *
 * A server certificate that fails the identity checks (the URL's host, and --peer-cert-allowed-cn /
 * --peer-cert-allowed-hostname, which the side puts in checkServerIdentity) is refused after the
 * handshake rather than during it, so the refused member can be told why: it gets a refusal frame
 * and logs "remote error: tls: bad certificate" (etcd's TLS alert). The socket then fails with the
 * check's error and never emits `ready`.
 */
export function connectPeer(url: string, tlsClient: tls.ConnectionOptions | undefined): PeerSocket {
  const { host, port, secure, path } = parsePeerUrl(url, "dial");
  const where = path !== undefined ? { path } : { host, port };
  if (!secure) return { socket: net.connect(where), ready: "connect" };
  let refused: Error | undefined;
  const verify = tlsClient?.rejectUnauthorized !== false;
  const check = tlsClient?.checkServerIdentity ?? tls.checkServerIdentity;
  const socket = tls.connect({
    ...tlsClient,
    ...where,
    // SNI only for names: an IP address is checked against the certificate's IP SANs.
    servername: net.isIP(host) ? undefined : host,
    // Over a unix socket there is no host to connect to, but still one to check the certificate against.
    ...(path !== undefined ? { host } : {}),
    checkServerIdentity: (name, cert) => {
      // Without verification (a self-signed setup) nothing is checked, as node:tls and etcd do.
      if (verify) refused = check(name, cert);
      return undefined;
    },
  });
  socket.once("secureConnect", () => {
    if (!refused) return void socket.emit(TLS_VERIFIED);
    const err = refused;
    const timer = setTimeout(() => socket.destroy(err), REFUSAL_LINGER_MS);
    socket.end(encodeRefusalFrame("bad certificate"), () => {
      clearTimeout(timer);
      socket.destroy(err);
    });
  });
  return { socket, ready: TLS_VERIFIED };
}

/** A TLS failure's reason for a log line: the library's text and its code. */
export function describeSocketError(e: Error & { code?: string }): string {
  if (!e.code) return e.message;
  if (e.message && e.message !== e.code && !/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|EPIPE)$/.test(e.code)) return `${e.code}: ${e.message}`;
  return e.code;
}
