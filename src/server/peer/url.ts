/** host and port of an http:// peer URL (the only scheme until peer TLS lands). */
export interface HostPort {
  host: string;
  port: number;
}

export function parsePeerUrl(url: string, purpose: "listen" | "dial"): HostPort {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid peer URL ${JSON.stringify(url)}`);
  }
  if (u.protocol === "https:") throw new Error(`cannot ${purpose} on ${url}: peer TLS arrives with the security issue (use http:// peer URLs for now)`);
  if (u.protocol !== "http:") throw new Error(`peer URL ${url} has unsupported scheme ${u.protocol.replace(/:$/, "")} (want http)`);
  if (u.port === "") throw new Error(`peer URL ${url} has no port`);
  const port = Number(u.port);
  if (purpose === "dial" && port === 0) throw new Error(`peer URL ${url} has no port to dial`);
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port };
}
