// Where a client or peer URL's socket is, as etcd reads its URLs: http:// and https:// are TCP host and
// port; unix:// and unixs:// are a unix socket whose path is everything after "//" (etcd: URL host +
// path), so unix://localhost:2379 is the file "localhost:2379" in the working directory and
// unix:///run/etcd.sock an absolute path. The "s" schemes speak TLS on the same socket.
import fs from "node:fs";
import net from "node:net";

export type SocketAddress = { readonly kind: "tcp"; readonly host: string; readonly port: number } | { readonly kind: "unix"; readonly path: string };

export interface UrlSocket {
  readonly address: SocketAddress;
  readonly secure: boolean;
  /** The URL's host name: what a TLS certificate of the other side is checked against ("localhost" when none). */
  readonly hostname: string;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;

/** Reads a URL's socket. Throws an Error saying what is wrong with it. */
export function socketOfUrl(url: string): UrlSocket {
  const m = SCHEME.exec(url.trim());
  if (!m) throw new Error(`${JSON.stringify(url)} is not a URL`);
  const scheme = m[1].toLowerCase();
  if (scheme === "unix" || scheme === "unixs") {
    const path = m[2].replace(/[?#].*$/s, "");
    if (path === "") throw new Error(`${url} names no socket file (want unix://name:port or unix:///absolute/path)`);
    const authority = path.startsWith("/") ? "" : path.split("/")[0];
    const hostname = authority.replace(/:\d*$/, "").replace(/^\[(.*)\]$/, "$1") || "localhost";
    return { address: { kind: "unix", path }, secure: scheme === "unixs", hostname };
  }
  if (scheme !== "http" && scheme !== "https") throw new Error(`${url} has unsupported scheme ${scheme} (want http, https, unix or unixs)`);
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new Error(`${JSON.stringify(url)} is not a valid URL`);
  }
  if (u.port === "") throw new Error(`${url} has no port`);
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { address: { kind: "tcp", host, port: Number(u.port) }, secure: scheme === "https", hostname: host };
}

/** node:net's listen/connect options for an address. */
export function netOptions(a: SocketAddress): { path: string } | { host: string; port: number } {
  return a.kind === "unix" ? { path: a.path } : { host: a.host, port: a.port };
}

/**
 * Listens on `a`. A unix socket file left behind by a process that is gone (nothing answers on it) is
 * removed first, as etcd removes it; one that answers is in use, and listening fails (EADDRINUSE).
 */
export async function listenOn(server: net.Server, a: SocketAddress): Promise<void> {
  if (a.kind === "unix") await removeStaleSocket(a.path);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(netOptions(a), () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function removeStaleSocket(path: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) return; // not ours to remove: listen reports the address in use
  const answered = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path });
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (!answered) fs.rmSync(path, { force: true });
}

/** An address for logs: host:port, or the socket path. */
export function describeAddress(a: SocketAddress): string {
  return a.kind === "unix" ? a.path : `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;
}
