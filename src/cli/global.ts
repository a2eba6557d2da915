/**
 * etcdctl's global flags, and how ETCDCTL_* variables fill the ones not given on the command line
 * (etcd's pkg/flags.SetPflagsFromEnv: ETCDCTL_DIAL_TIMEOUT for --dial-timeout).
 */
import { CliError, ExitCode } from "./errors.ts";
import { type FlagSpec, type FlagValue, setFlag } from "./flags.ts";

export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: "endpoints", type: "strings", default: ["127.0.0.1:2379"], usage: "gRPC endpoints" },
  { name: "debug", type: "bool", usage: "enable client-side debug logging" },
  { name: "write-out", short: "w", type: "string", default: "simple", usage: "set the output format (fields, json, protobuf, simple, table)" },
  { name: "hex", type: "bool", usage: "print byte strings as hex encoded strings" },
  { name: "dial-timeout", type: "duration", default: 2000, usage: "dial timeout for client connections" },
  { name: "command-timeout", type: "duration", default: 5000, usage: "timeout for short running command (excluding dial timeout)" },
  { name: "keepalive-time", type: "duration", default: 2000, usage: "keepalive time for client connections" },
  { name: "keepalive-timeout", type: "duration", default: 6000, usage: "keepalive timeout for client connections" },
  { name: "insecure-transport", type: "bool", default: true, usage: "disable transport security for client connections" },
  { name: "insecure-discovery", type: "bool", default: true, usage: "accept insecure SRV records describing cluster endpoints" },
  { name: "insecure-skip-tls-verify", type: "bool", usage: "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)" },
  { name: "cert", type: "string", usage: "identify secure client using this TLS certificate file" },
  { name: "key", type: "string", usage: "identify secure client using this TLS key file" },
  { name: "cacert", type: "string", usage: "verify certificates of TLS-enabled secure servers using this CA bundle" },
  { name: "user", type: "string", usage: "username[:password] for authentication (prompt if password is not supplied)" },
  { name: "password", type: "string", usage: "password for authentication (if this option is used, --user option shouldn't include password)" },
  { name: "discovery-srv", short: "d", type: "string", usage: "domain name to query for SRV records describing cluster endpoints" },
  { name: "discovery-srv-name", type: "string", usage: "service name to query when using DNS discovery" },
];

export type OutputFormat = "simple" | "json" | "fields" | "table" | "protobuf";

export interface Globals {
  endpoints: string[];
  debug: boolean;
  writeOut: OutputFormat;
  hex: boolean;
  dialTimeoutMs: number;
  commandTimeoutMs: number;
  keepAliveTimeMs: number;
  keepAliveTimeoutMs: number;
  insecureTransport: boolean;
  insecureSkipVerify: boolean;
  cert: string;
  key: string;
  cacert: string;
  user: string;
  password: string;
  /** --user gave a name only and --password is empty: etcdctl asks "Password: " when it connects. */
  askPassword: boolean;
}

/** Variables etcdctl reads itself rather than through a flag. */
const NOT_FLAGS = new Set(["ETCDCTL_API", "ETCDCTL_WATCH_KEY", "ETCDCTL_WATCH_RANGE_END"]);

export function envName(flag: string): string {
  return "ETCDCTL_" + flag.toUpperCase().replace(/-/g, "_");
}

/**
 * Fills the global flags not given on the command line from ETCDCTL_*; an unknown ETCDCTL_ variable
 * is reported as etcd does (a warning line), since a typo there would otherwise pass unnoticed.
 */
export function applyEnv(values: Record<string, FlagValue>, set: Set<string>, env: Record<string, string | undefined>, warn: (line: string) => void): void {
  const byEnv = new Map(GLOBAL_FLAGS.map((s) => [envName(s.name), s]));
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith("ETCDCTL_") || v === undefined) continue;
    const spec = byEnv.get(k);
    if (!spec) {
      if (!NOT_FLAGS.has(k)) warn(`pkg/flags: unrecognized environment variable ${k}=${v}`);
      continue;
    }
    if (set.has(spec.name) || v === "") continue;
    try {
      setFlag(spec, v, values, new Set());
    } catch (e) {
      throw new CliError(ExitCode.Error, `invalid value ${JSON.stringify(v)} for ${k}: ${(e as Error).message}`);
    }
  }
}

export function globalsFrom(values: Readonly<Record<string, FlagValue>>): Globals {
  const writeOut = values["write-out"] as string;
  if (!["simple", "json", "fields", "table", "protobuf"].includes(writeOut)) {
    throw new CliError(ExitCode.BadFeature, "unsupported output format");
  }
  let user = values.user as string;
  let password = values.password as string;
  if (user && password && user.includes(":")) {
    throw new CliError(ExitCode.BadArgs, "If the password is given with --password, --user must be a user name only (without ':')");
  }
  const askPassword = user !== "" && password === "" && !user.includes(":");
  if (user.includes(":") && !password) {
    const i = user.indexOf(":");
    password = user.slice(i + 1);
    user = user.slice(0, i);
  }
  return {
    endpoints: values.endpoints as string[],
    debug: values.debug as boolean,
    writeOut: writeOut as OutputFormat,
    hex: values.hex as boolean,
    dialTimeoutMs: values["dial-timeout"] as number,
    commandTimeoutMs: values["command-timeout"] as number,
    keepAliveTimeMs: values["keepalive-time"] as number,
    keepAliveTimeoutMs: values["keepalive-timeout"] as number,
    insecureTransport: values["insecure-transport"] as boolean,
    insecureSkipVerify: values["insecure-skip-tls-verify"] as boolean,
    cert: values.cert as string,
    key: values.key as string,
    cacert: values.cacert as string,
    user,
    password,
    askPassword,
  };
}
