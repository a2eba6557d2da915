// Peer URLs: host and port for http:// and https://, a unix socket path for unix:// and unixs://
// (pkg/socket-address.ts has etcd's reading of those); the "s" schemes wrap the same frames in TLS.
import { socketOfUrl } from "../../pkg/socket-address.ts";

export interface HostPort {
  /** The URL's host: what is dialed over TCP, and what the other side's TLS certificate must name. */
  host: string;
  /** 0 for a unix socket. */
  port: number;
  secure: boolean;
  /** Set for unix:// and unixs://: the socket file listened on or dialed. */
  path?: string;
}

export function parsePeerUrl(url: string, purpose: "listen" | "dial"): HostPort {
  let s;
  try {
    s = socketOfUrl(url);
  } catch (e) {
    throw new Error(`invalid peer URL: ${(e as Error).message}`);
  }
  if (s.address.kind === "unix") return { host: s.hostname, port: 0, secure: s.secure, path: s.address.path };
  if (purpose === "dial" && s.address.port === 0) throw new Error(`peer URL ${url} has no port to dial`);
  return { host: s.address.host, port: s.address.port, secure: s.secure };
}
