/**
 * The part of etcd's v2 Go client (go.etcd.io/etcd/client) that `member list` and `cluster-health`
 * use: endpoints from --endpoints/--endpoint/--peers or ETCDCTL_ENDPOINTS/ENDPOINT/PEERS (v2's
 * default http://127.0.0.1:2379,http://127.0.0.1:4001), the cluster sync (the members' client URLs
 * become the endpoints), GET requests tried endpoint by endpoint, and the client's errors in its own
 * words ("client: etcd cluster is unavailable or misconfigured; error #0: ...").
 */
import { readFileSync } from "node:fs";

export const DEFAULT_V2_ENDPOINTS = "http://127.0.0.1:2379,http://127.0.0.1:4001";

/** What every request needs: TLS files, Basic auth, the per-request and whole-command time limits. */
export interface V2Transport {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** --username as user:password (the password asked for before, when it was not given). */
  credentials?: { username: string; password: string };
  timeoutMs: number;
  /** Aborts when --total-timeout is over. */
  deadline: AbortSignal;
}

/** The v2 client's ClusterError: every endpoint failed. */
export class ClusterError extends Error {
  constructor(readonly errors: string[]) {
    super(`client: etcd cluster is unavailable or misconfigured${errors.map((e, i) => `; error #${i}: ${e}\n`).join("")}`);
  }

  /** Go's ClusterError.Detail(): one line per endpoint's error. */
  detail(): string {
    return this.errors.map((e, i) => `error #${i}: ${e}\n`).join("");
  }
}

/** A failure of one request that is not the cluster's (a bad answer, the command's deadline). */
export class V2ClientError extends Error {
  constructor(
    message: string,
    /** A connection could not be made (etcdctl exits 2 when syncing fails so). */
    readonly connection = false,
  ) {
    super(message);
  }
}

/** The cluster publishes no client URL to sync to. */
export class NoEndpointsError extends V2ClientError {
  constructor() {
    super("client: no endpoints available");
  }
}

/**
 * Go's url.Parse as etcdctl v2 applies it to an endpoint: a missing scheme becomes http; text
 * whose first segment holds a colon and no scheme ("127.0.0.1:2379") is refused with Go's words.
 */
export function parseEndpoint(ep: string): string {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(ep);
  if (!scheme) {
    const firstSegment = ep.split("/")[0];
    if (firstSegment.includes(":")) throw new V2ClientError(`parse ${JSON.stringify(ep)}: first path segment in URL cannot contain colon`);
    return `http://${ep}`;
  }
  return ep;
}

/** The endpoints etcdctl v2 starts from, before any sync. */
export function endpointsFrom(flags: { endpoints?: string; endpoint?: string; peers?: string }, env: Readonly<Record<string, string | undefined>>): string[] {
  const text = flags.endpoints || env.ETCDCTL_ENDPOINTS || flags.endpoint || env.ETCDCTL_ENDPOINT || flags.peers || env.ETCDCTL_PEERS || DEFAULT_V2_ENDPOINTS;
  return text.split(",").map(parseEndpoint);
}

/** host:port as Go dials it (the scheme's port when none is given). */
function dialAddress(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
}

/** Go's words for a failed dial or request to `url`. */
function requestError(url: URL, err: unknown): string {
  const code = (err as { code?: string } | null)?.code;
  const dial = `dial tcp ${dialAddress(url)}`;
  switch (code) {
    case "ECONNREFUSED":
      return `${dial}: connect: connection refused`;
    case "ENOTFOUND":
    case "EAI_NONAME":
      return `${dial}: lookup ${url.hostname}: no such host`;
    case "ECONNRESET":
      return `read tcp ${dialAddress(url)}: read: connection reset by peer`;
  }
  return `${dial}: ${(err as Error)?.message ?? String(err)}`;
}

let tlsCache: { key: string; tls: { ca?: string; cert?: string; key?: string } } | null = null;

function tlsOf(t: V2Transport): { ca?: string; cert?: string; key?: string } | undefined {
  if (!t.caFile && !t.certFile && !t.keyFile) return undefined;
  const key = `${t.caFile}\0${t.certFile}\0${t.keyFile}`;
  if (tlsCache?.key !== key) {
    const read = (path: string | undefined, what: string) => {
      if (!path) return undefined;
      try {
        return readFileSync(path, "utf8");
      } catch (e) {
        throw new V2ClientError(`open ${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message} (${what})`);
      }
    };
    tlsCache = { key, tls: { ca: read(t.caFile, "--ca-file"), cert: read(t.certFile, "--cert-file"), key: read(t.keyFile, "--key-file") } };
  }
  return tlsCache.tls;
}

/** One GET to one URL: status and body, or Go's error text (a whole-command timeout rejects). */
export async function getOnce(url: string, t: V2Transport): Promise<{ status: number; body: string } | { error: string }> {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") return { error: `unsupported protocol scheme ${JSON.stringify(u.protocol.slice(0, -1))}` };
  const headers: Record<string, string> = {};
  if (t.credentials) headers.authorization = `Basic ${Buffer.from(`${t.credentials.username}:${t.credentials.password}`).toString("base64")}`;
  const perRequest = AbortSignal.timeout(t.timeoutMs);
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.any([perRequest, t.deadline]), tls: tlsOf(t) } as RequestInit);
    return { status: res.status, body: await res.text() };
  } catch (err) {
    if (err instanceof V2ClientError) throw err;
    if (t.deadline.aborted) throw new V2ClientError("context deadline exceeded");
    if (perRequest.aborted) return { error: `client: endpoint ${u.origin} exceeded header timeout` };
    return { error: requestError(u, err) };
  }
}

/**
 * httpClusterClient.Do for a GET: each endpoint in turn until one answers below 500; a 500 or 503
 * reads as "has no leader", as the v2 client says; all failing is a ClusterError.
 */
export async function getFromCluster(endpoints: readonly string[], path: string, t: V2Transport): Promise<{ status: number; body: string }> {
  if (endpoints.length === 0) throw new V2ClientError("client: no endpoints available");
  const errors: string[] = [];
  for (const ep of endpoints) {
    const base = ep.replace(/\/+$/, "");
    const r = await getOnce(`${base}${path}`, t);
    if ("error" in r) {
      errors.push(r.error);
      continue;
    }
    if (r.status === 500 || r.status === 503) {
      errors.push(`client: etcd member ${base} has no leader`);
      continue;
    }
    if (r.status >= 500) {
      errors.push(`client: etcd member ${base} returns server error [${STATUS_TEXT[r.status] ?? r.status}]`);
      continue;
    }
    return r;
  }
  throw new ClusterError(errors);
}

const STATUS_TEXT: Record<number, string> = { 501: "Not Implemented", 502: "Bad Gateway", 504: "Gateway Timeout", 505: "HTTP Version Not Supported" };

/** A member as the v2 members API writes it. */
export interface V2Member {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

function decode<T>(body: string): T {
  try {
    return JSON.parse(body) as T;
  } catch (e) {
    throw new V2ClientError(`invalid character in the answer: ${(e as Error).message}`);
  }
}

function expectStatus(status: number, want: number): void {
  if (status !== want) throw new V2ClientError(`unexpected status code ${status}`);
}

/** GET /v2/members (MembersAPI.List), in the server's order (by id). */
export async function listMembers(endpoints: readonly string[], t: V2Transport): Promise<V2Member[]> {
  const r = await getFromCluster(endpoints, "/v2/members", t);
  expectStatus(r.status, 200);
  return (decode<{ members?: V2Member[] | null }>(r.body).members ?? []).map((m) => ({ id: m.id, name: m.name ?? "", peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [] }));
}

/** GET /v2/members/leader (MembersAPI.Leader). */
export async function leaderMember(endpoints: readonly string[], t: V2Transport): Promise<V2Member> {
  const r = await getFromCluster(endpoints, "/v2/members/leader", t);
  expectStatus(r.status, 200);
  return decode<V2Member>(r.body);
}

/**
 * The client's Sync: the members' client URLs become the endpoints. A connection failure is
 * reported (etcdctl exits 2); any other failure keeps the endpoints given, as etcdctl does.
 */
export async function syncEndpoints(endpoints: readonly string[], t: V2Transport): Promise<string[]> {
  let members: V2Member[];
  try {
    members = await listMembers(endpoints, t);
  } catch (e) {
    // Go's isConnectionError: every endpoint failed to connect (a dial or a read).
    if (e instanceof ClusterError && e.errors.every((x) => x.startsWith("dial ") || x.startsWith("read "))) throw e;
    if (e instanceof V2ClientError && e.message === "context deadline exceeded") throw e;
    return [...endpoints];
  }
  const urls = members.flatMap((m) => m.clientURLs);
  if (urls.length === 0) throw new NoEndpointsError();
  return urls.map(parseEndpoint);
}
