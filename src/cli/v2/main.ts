/**
 * etcdctl with ETCDCTL_API=2: the v2 command line (urfave/cli v1: global flags first, then the
 * command and its flags), its help and version screens, `member list` and `cluster-health` as
 * etcdctl v2 runs them, and for the other v2 commands an error naming the v3 command to use.
 */
import type { Io } from "../context.ts";
import { CTL_VERSION } from "../help.ts";
import { clusterHealth, isUnsupported, memberList, unsupported, type V2Context, V2Exit, V2ExitCode } from "./commands.ts";
import { parseV2Flags, type V2Flag, V2FlagError, type V2Values } from "./flags.ts";
import { clusterHealthHelp, memberHelp, memberListHelp, rootHelp, V2_GLOBAL_FLAGS } from "./help.ts";
import { endpointsFrom, V2ClientError } from "./http.ts";

const HELP_FLAG: V2Flag = { names: ["help", "h"], type: "bool", usage: "show help" };
const CLUSTER_HEALTH_FLAGS: V2Flag[] = [{ names: ["forever", "f"], type: "bool", usage: "forever check the health every 10 second until CTRL+C" }, HELP_FLAG];

/** Runs the v2 command line; resolves to the exit code. */
export async function runCtlV2(argv: readonly string[], io: Io, sleep: (ms: number) => Promise<void> = (ms) => Bun.sleep(ms)): Promise<number> {
  try {
    await run(argv, io, sleep);
    return V2ExitCode.Success;
  } catch (e) {
    if (e instanceof V2Exit) return e.code;
    throw e;
  }
}

/** urfave/cli's answer to a flag it cannot read: the reason, then the help of that level. */
function incorrectUsage(io: Io, err: V2FlagError, help: string, separator: "." | ":"): never {
  io.err(`${err.message}\n`);
  io.out(`Incorrect Usage${separator} ${err.message}\n\n${help}`);
  throw new V2Exit(V2ExitCode.BadArgs);
}

function parse(io: Io, flags: readonly V2Flag[], args: readonly string[], help: string, separator: "." | ":"): { values: V2Values; rest: string[] } {
  try {
    return parseV2Flags(flags, args);
  } catch (e) {
    if (e instanceof V2FlagError) incorrectUsage(io, e, help, separator);
    throw e;
  }
}

function noHelpTopic(io: Io, word: string): never {
  io.err(`No help topic for '${word}'\n`);
  throw new V2Exit(V2ExitCode.NoHelpTopic);
}

async function run(argv: readonly string[], io: Io, sleep: (ms: number) => Promise<void>): Promise<void> {
  const { values: g, rest } = parse(io, V2_GLOBAL_FLAGS, argv, rootHelp(CTL_VERSION), ".");
  if (g.version) {
    io.out(`etcdctl version: ${CTL_VERSION}\nAPI version: 2\n`);
    return;
  }
  const [command, ...args] = rest;
  if (g.help || command === undefined || command === "help" || command === "h") {
    const topic = command === "help" || command === "h" ? args[0] : undefined;
    if (topic === undefined) io.out(rootHelp(CTL_VERSION));
    else if (topic === "member") io.out(memberHelp());
    else if (topic === "cluster-health") io.out(clusterHealthHelp());
    else if (!isUnsupported(topic)) noHelpTopic(io, topic);
    else unsupported(io, topic, []);
    return;
  }

  if (command === "cluster-health") {
    const { values } = parse(io, CLUSTER_HEALTH_FLAGS, args, clusterHealthHelp(), ":");
    if (values.help) return void io.out(clusterHealthHelp());
    // v2 lists the members without a deadline and reads each /health within the dial timeout.
    return clusterHealth(await context(io, g, false), values.forever === true, sleep);
  }
  if (command === "member") {
    const [sub, ...subArgs] = args;
    if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help" || sub === "h") return void io.out(memberHelp());
    if (sub === "list") {
      const { values, rest: listArgs } = parse(io, [HELP_FLAG], subArgs, memberListHelp(), ":");
      if (values.help) return void io.out(memberListHelp());
      return memberList(await context(io, g, true), listArgs);
    }
    if (isUnsupported(`member ${sub}`)) unsupported(io, `member ${sub}`, subArgs);
    noHelpTopic(io, sub);
  }
  if (isUnsupported(command)) {
    // "user add", "role grant": the v2 subcommand named as typed.
    const shown = ["user", "role", "auth"].includes(command) && args[0] && !args[0].startsWith("-") ? `${command} ${args[0]}` : command;
    unsupported(io, command, args, shown);
  }
  noHelpTopic(io, command);
}

/**
 * The endpoints and transport the global flags and ETCDCTL_* variables describe; with `deadline`
 * the whole command is bounded by --total-timeout (as v2's member commands are).
 */
async function context(io: Io, g: V2Values, deadline: boolean): Promise<V2Context> {
  const str = (name: string) => (typeof g[name] === "string" ? (g[name] as string) : undefined);
  if (str("discovery-srv") || io.env.ETCDCTL_DISCOVERY_SRV) {
    io.err("Error:  etcd-ts's etcdctl does not look endpoints up by DNS SRV records (--discovery-srv); give them with --endpoints\n");
    throw new V2Exit(V2ExitCode.BadArgs);
  }
  let endpoints: string[];
  try {
    endpoints = endpointsFrom({ endpoints: str("endpoints"), endpoint: str("endpoint"), peers: str("peers") }, io.env);
  } catch (e) {
    if (!(e instanceof V2ClientError)) throw e;
    io.err(`${e.message}\n`);
    throw new V2Exit(V2ExitCode.BadArgs);
  }
  const totalTimeoutMs = typeof g["total-timeout"] === "number" ? g["total-timeout"] : 5000;
  const user = str("username") || io.env.ETCDCTL_USERNAME;
  let credentials: { username: string; password: string } | undefined;
  if (user) {
    const colon = user.indexOf(":");
    if (colon >= 0) credentials = { username: user.slice(0, colon), password: user.slice(colon + 1) };
    else {
      io.out("Password: ");
      credentials = { username: user, password: (await io.readLine()) ?? "" };
    }
  }
  return {
    io,
    endpoints,
    noSync: g["no-sync"] === true,
    debug: g.debug === true,
    // etcdctl v2's transport dials for at most 30 s, or --total-timeout if shorter.
    dialTimeoutMs: Math.min(30_000, totalTimeoutMs > 0 ? totalTimeoutMs : 30_000),
    transport: {
      caFile: str("ca-file") || io.env.ETCDCTL_CA_FILE,
      certFile: str("cert-file") || io.env.ETCDCTL_CERT_FILE,
      keyFile: str("key-file") || io.env.ETCDCTL_KEY_FILE,
      credentials,
      timeoutMs: typeof g.timeout === "number" ? g.timeout : 2000,
      deadline: deadline ? AbortSignal.timeout(Math.max(1, totalTimeoutMs)) : new AbortController().signal,
    },
  };
}
