// Opens the byte stream to a peer URL: TCP for http://, TLS for https:// (the peer certificate and
// CA from --peer-cert-file/--peer-key-file/--peer-trusted-ca-file). The frames inside are the same.
import net from "node:net";
import tls from "node:tls";
import { parsePeerUrl } from "./url.ts";

export interface PeerSocket {
  socket: net.Socket;
  /** The event after which the peer handshake may be sent: "connect" (TCP) or "secureConnect" (TLS). */
  ready: "connect" | "secureConnect";
}

/**
 * Connects to url. `tlsClient` is this member's peer TLS client side; an https:// URL without it is
 * dialed with the system's CAs and no client certificate.
 */
export function connectPeer(url: string, tlsClient: tls.ConnectionOptions | undefined): PeerSocket {
  const { host, port, secure } = parsePeerUrl(url, "dial");
  if (!secure) return { socket: net.connect({ host, port }), ready: "connect" };
  // SNI only for names: an IP address is checked against the certificate's IP SANs.
  const servername = net.isIP(host) ? undefined : host;
  return { socket: tls.connect({ ...tlsClient, host, port, servername }), ready: "secureConnect" };
}

/** A TLS failure's reason for a log line: the library's text and its code. */
export function describeSocketError(e: Error & { code?: string }): string {
  if (!e.code) return e.message;
  if (e.message && e.message !== e.code && !/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|EPIPE)$/.test(e.code)) return `${e.code}: ${e.message}`;
  return e.code;
}
