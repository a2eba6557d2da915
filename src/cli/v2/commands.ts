/**
 * The v2 commands etcd-ts answers (`member list`, `cluster-health`, through the server's v2
 * membership API and /health, printed as etcdctl v2 prints them) and, for every other v2 command, an
 * error that names it, says why etcd-ts cannot run it, and gives the v3 command to use instead.
 */
import { ClusterError, getOnce, leaderMember, listMembers, NoEndpointsError, syncEndpoints, type V2Member, type V2Transport } from "./http.ts";

/** etcdctl v2's exit codes. */
export const V2ExitCode = { Success: 0, BadArgs: 1, BadConnection: 2, NoHelpTopic: 3, ServerError: 4, ClusterNotHealthy: 5 } as const;

export interface V2Io {
  out(text: string): void;
  err(text: string): void;
}

/** What a command gets: its endpoints (before any sync), the transport, --no-sync and --debug. */
export interface V2Context {
  io: V2Io;
  endpoints: string[];
  transport: V2Transport;
  noSync: boolean;
  debug: boolean;
  /** How long a /health request may take (cluster-health). */
  dialTimeoutMs: number;
}

/** Ends a command with an exit code (after whatever it printed). */
export class V2Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** etcdctl v2's handleError: "Error:  <err>" (Go's Println puts the second space), a ClusterError's detail after it. */
function handleError(io: V2Io, code: number, err: unknown): never {
  io.err(`Error:  ${(err as Error).message}\n`);
  if (err instanceof ClusterError) io.err(`${err.detail()}\n`);
  throw new V2Exit(code);
}

/** mustNewClient: the endpoints to use, synced from the cluster unless --no-sync. */
async function syncedEndpoints(ctx: V2Context): Promise<string[]> {
  if (ctx.noSync) {
    if (ctx.debug) ctx.io.err(`Cluster-Endpoints: ${ctx.endpoints.join(", ")}\n`);
    return ctx.endpoints;
  }
  if (ctx.debug) ctx.io.err(`start to sync cluster using endpoints(${ctx.endpoints.join(",")})\n`);
  let eps: string[];
  try {
    eps = await syncEndpoints(ctx.endpoints, ctx.transport);
  } catch (e) {
    if (e instanceof NoEndpointsError) {
      ctx.io.err("etcd cluster has no published client endpoints.\n");
      ctx.io.err(`Try '--no-sync' if you want to access non-published client endpoints(${ctx.endpoints.join(",")}).\n`);
      handleError(ctx.io, V2ExitCode.ServerError, e);
    }
    handleError(ctx.io, V2ExitCode.BadConnection, e);
  }
  if (ctx.debug) {
    ctx.io.err(`got endpoints(${eps.join(",")}) after sync\n`);
    ctx.io.err(`Cluster-Endpoints: ${eps.join(", ")}\n`);
  }
  return eps;
}

/** `member list`: one line per member, the leader marked; an unstarted member by its peer URLs. */
export async function memberList(ctx: V2Context, args: readonly string[]): Promise<void> {
  if (args.length !== 0) {
    ctx.io.err("No arguments accepted\n");
    throw new V2Exit(V2ExitCode.BadArgs);
  }
  const eps = await syncedEndpoints(ctx);
  let members: V2Member[];
  try {
    members = await listMembers(eps, ctx.transport);
  } catch (e) {
    ctx.io.err(`${(e as Error).message}\n`);
    throw new V2Exit(V2ExitCode.BadArgs);
  }
  let leader: V2Member;
  try {
    leader = await leaderMember(eps, ctx.transport);
  } catch (e) {
    ctx.io.err(`Failed to get leader:  ${(e as Error).message}\n`);
    throw new V2Exit(V2ExitCode.BadArgs);
  }
  for (const m of members) {
    if (m.name === "") ctx.io.out(`${m.id}[unstarted]: peerURLs=${m.peerURLs.join(",")}\n`);
    else ctx.io.out(`${m.id}: name=${m.name} peerURLs=${m.peerURLs.join(",")} clientURLs=${m.clientURLs.join(",")} isLeader=${m.id === leader.id}\n`);
  }
}

/** One member's /health: healthy, unhealthy, or Go's words for why it could not be read. */
async function memberHealth(url: string, t: V2Transport): Promise<boolean | string> {
  const target = `${url}/health`;
  const r = await getOnce(target, t);
  if ("error" in r) return `Get ${JSON.stringify(target)}: ${r.error}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.body);
  } catch (e) {
    return `invalid character in the /health answer: ${(e as Error).message}`;
  }
  // etcd answers "true"/"false"; old servers answered a JSON boolean, which etcdctl v2 also takes.
  const health = (parsed as { health?: unknown; Health?: unknown } | null)?.health ?? (parsed as { Health?: unknown } | null)?.Health;
  return health === "true" || health === true;
}

/** One round of `cluster-health`; true when every member is healthy. */
async function healthRound(ctx: V2Context, members: readonly V2Member[]): Promise<boolean> {
  let healthy = 0;
  for (const m of members) {
    if (m.clientURLs.length === 0) {
      ctx.io.out(`member ${m.id} is unreachable: no available published client urls\n`);
      continue;
    }
    let checked = false;
    for (const url of m.clientURLs) {
      const h = await memberHealth(url, { ...ctx.transport, timeoutMs: ctx.dialTimeoutMs });
      if (typeof h === "string") {
        ctx.io.out(`failed to check the health of member ${m.id} on ${url}: ${h}\n`);
        continue;
      }
      checked = true;
      if (h) {
        ctx.io.out(`member ${m.id} is healthy: got healthy result from ${url}\n`);
        healthy++;
      } else {
        ctx.io.out(`member ${m.id} is unhealthy: got unhealthy result from ${url}\n`);
      }
      break;
    }
    // Go's %v of a []string: [a b].
    if (!checked) ctx.io.out(`member ${m.id} is unreachable: [${m.clientURLs.join(" ")}] are all unreachable\n`);
  }
  if (healthy === members.length) ctx.io.out("cluster is healthy\n");
  else if (healthy === 0) ctx.io.out("cluster is unavailable\n");
  else ctx.io.out("cluster is degraded\n");
  return healthy === members.length;
}

/**
 * `cluster-health`: the member list (from the endpoints as given: v2 does not sync here), then each
 * member's /health at its client URLs. Exit 0 when all are healthy, 5 otherwise; with --forever a
 * round every 10 seconds until interrupted.
 */
export async function clusterHealth(ctx: V2Context, forever: boolean, sleep: (ms: number) => Promise<void>): Promise<void> {
  if (ctx.debug) ctx.io.err(`Cluster-Endpoints: ${ctx.endpoints.join(", ")}\n`);
  let members: V2Member[];
  try {
    members = await listMembers(ctx.endpoints, ctx.transport);
  } catch (e) {
    ctx.io.out("cluster may be unhealthy: failed to list members\n");
    handleError(ctx.io, V2ExitCode.ServerError, e);
  }
  for (;;) {
    const ok = await healthRound(ctx, members);
    if (!forever) throw new V2Exit(ok ? V2ExitCode.Success : V2ExitCode.ClusterNotHealthy);
    ctx.io.out("\nnext check after 10 second...\n\n");
    await sleep(10_000);
  }
}

// ---- the v2 commands etcd-ts does not run --------------------------------------------------------

const NO_KEY_SPACE = "etcd-ts has no v2 key space (it serves the etcd v3 API)";

/** The v2 commands' flags that take a value (the others are booleans). */
const VALUE_FLAGS = /^--?(ttl|swap-with-value|swap-with-index|after-index|with-value|with-index|roles|path|data-dir|backup-dir|wal-dir|backup-wal-dir)$/;

/** The positional arguments of a v2 command line (its flags and their values left out). */
function positional(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") return [...out, ...args.slice(i + 1)];
    if (a.startsWith("-") && a.length > 1) {
      if (!a.includes("=") && VALUE_FLAGS.test(a)) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

const hasFlag = (args: readonly string[], ...names: string[]) => args.some((a) => names.some((n) => a === `-${n}` || a === `--${n}` || a.startsWith(`-${n}=`) || a.startsWith(`--${n}=`)));

/** The value of a v2 flag ("--roles a,b" or "--roles=a,b"), if given. */
function flagValue(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i].replace(/^--?/, "");
    if (a === name && i + 1 < args.length) return args[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}
const arg = (p: readonly string[], i: number, placeholder: string) => p[i] ?? placeholder;

/** What each v2 command does instead in v3, given its arguments. */
const UNSUPPORTED: Record<string, { why?: string; v3: (args: readonly string[]) => string }> = {
  backup: {
    why: "there is no v2 data directory to back up",
    v3: () => "etcdctl snapshot save <file>",
  },
  mk: { v3: (a) => `etcdctl put ${arg(positional(a), 0, "<key>")} ${arg(positional(a), 1, "<value>")} (to create it only if absent: etcdctl txn, comparing create("<key>") = "0")` },
  mkdir: { v3: (a) => `v3 has no directories, a key prefix takes their place: etcdctl put ${arg(positional(a), 0, "<dir>")}/<key> <value>` },
  setdir: { v3: (a) => `v3 has no directories, a key prefix takes their place: etcdctl put ${arg(positional(a), 0, "<dir>")}/<key> <value>` },
  updatedir: { v3: (a) => `v3 has no directories (nor directory TTLs): a key prefix takes their place, and a lease gives keys a TTL: etcdctl lease grant <ttl>, then etcdctl put --lease=<id> ${arg(positional(a), 0, "<dir>")}/<key> <value>` },
  rm: { v3: (a) => `etcdctl del ${hasFlag(a, "recursive", "r", "dir") ? "--prefix " : ""}${arg(positional(a), 0, "<key>")}` },
  rmdir: { v3: (a) => `etcdctl del --prefix ${arg(positional(a), 0, "<dir>")}/` },
  get: { v3: (a) => `etcdctl get ${arg(positional(a), 0, "<key>")}` },
  ls: { v3: (a) => `etcdctl get --prefix --keys-only ${arg(positional(a), 0, "/")}` },
  set: { v3: (a) => `etcdctl put ${arg(positional(a), 0, "<key>")} ${arg(positional(a), 1, "<value>")}${hasFlag(a, "ttl") ? " --lease=<id> (after etcdctl lease grant <ttl>)" : ""}` },
  update: { v3: (a) => `etcdctl put ${arg(positional(a), 0, "<key>")} ${arg(positional(a), 1, "<value>")} (to update it only if present: etcdctl txn, comparing version("<key>") > "0")` },
  watch: { v3: (a) => `etcdctl watch ${hasFlag(a, "recursive", "r") ? "--prefix " : ""}${arg(positional(a), 0, "<key>")}` },
  "exec-watch": { v3: (a) => `etcdctl watch ${hasFlag(a, "recursive", "r") ? "--prefix " : ""}${arg(positional(a), 0, "<key>")} -- ${positional(a).slice(1).join(" ") || "<command>"}` },
  "member add": {
    why: "membership changes go through the v3 API",
    v3: (a) => `etcdctl member add ${arg(positional(a), 0, "<name>")} --peer-urls=${arg(positional(a), 1, "<peerURL>")}`,
  },
  "member remove": { why: "membership changes go through the v3 API", v3: (a) => `etcdctl member remove ${arg(positional(a), 0, "<memberID>")}` },
  "member update": {
    why: "membership changes go through the v3 API",
    v3: (a) => `etcdctl member update ${arg(positional(a), 0, "<memberID>")} --peer-urls=${arg(positional(a), 1, "<peerURLs>")}`,
  },
  user: { why: "users and roles are managed through the v3 API", v3: (a) => `etcdctl user ${v3Auth(a, "user")}` },
  role: { why: "users and roles are managed through the v3 API", v3: (a) => `etcdctl role ${v3Auth(a, "role")}` },
  auth: { why: "authentication is turned on and off through the v3 API", v3: (a) => `etcdctl auth ${arg(positional(a), 0, "enable")}` },
};

/**
 * v2's user and role subcommands in v3's words: `user grant u --roles r` is `user grant-role u r`
 * (one role a call), `role grant r --path /k --readwrite` is `role grant-permission r readwrite /k`.
 */
function v3Auth(args: readonly string[], kind: "user" | "role"): string {
  const p = positional(args);
  const sub = p[0] ?? "list";
  const name = p[1];
  if (kind === "user" && (sub === "grant" || sub === "revoke")) {
    const role = flagValue(args, "roles")?.split(",")[0] ?? "<role>";
    return `${sub}-role ${name ?? "<user>"} ${role}`;
  }
  if (kind === "role" && (sub === "grant" || sub === "revoke")) {
    const perm = hasFlag(args, "readwrite", "rw") ? "readwrite" : hasFlag(args, "write") ? "write" : hasFlag(args, "read") ? "read" : "<read|write|readwrite>";
    return `${sub}-permission ${name ?? "<role>"} ${perm} ${flagValue(args, "path") ?? "<key>"}`;
  }
  const renamed: Record<string, string> = { remove: "delete" };
  return [renamed[sub] ?? sub, ...p.slice(1)].join(" ");
}

/** The v2 commands that only get an error, by name ("get", "member add"). */
export function isUnsupported(command: string): boolean {
  return command in UNSUPPORTED;
}

/**
 * Says which v2 command cannot run here, why, and what to run instead; exits 1. `shown` is the
 * command as typed ("user add"), `command` its entry ("user").
 */
export function unsupported(io: V2Io, command: string, args: readonly string[], shown = command): never {
  const u = UNSUPPORTED[command];
  io.err(`Error: "etcdctl ${shown}" is an etcd v2 command, and ${NO_KEY_SPACE}${u.why ? `; ${u.why}` : ""}.\n`);
  io.err(`Use the v3 command instead: ETCDCTL_API=3 ${u.v3(args)}\n`);
  throw new V2Exit(V2ExitCode.BadArgs);
}

