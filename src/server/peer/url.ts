/** host and port of a peer URL, and whether it is https:// (TLS around the same frames). */
export interface HostPort {
  host: string;
  port: number;
  secure: boolean;
}

export function parsePeerUrl(url: string, purpose: "listen" | "dial"): HostPort {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid peer URL ${JSON.stringify(url)}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`peer URL ${url} has unsupported scheme ${u.protocol.replace(/:$/, "")} (want http or https)`);
  if (u.port === "") throw new Error(`peer URL ${url} has no port`);
  const port = Number(u.port);
  if (purpose === "dial" && port === 0) throw new Error(`peer URL ${url} has no port to dial`);
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port, secure: u.protocol === "https:" };
}
