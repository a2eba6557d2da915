import { parseDuration } from "./duration";
import { InvalidValueError } from "./errors";
import { checkCipherSuites, TLS_VERSIONS } from "../pkg/tls-config.ts";
import { parseInitialCluster } from "./initial-cluster";
import type { ConfigSettings, SettingField } from "./types";
import { parseUrlList } from "./urls";
import { parseAuthToken } from "./auth-token";
import {
  parseBool,
  parseChoice,
  parseList,
  parseMemberName,
  parseNonEmpty,
  parseNonEmptyList,
  parseWholeNumber,
} from "./values";

// The table of settings: one row per etcd flag, carrying everything the
// parsers, the precedence logic and --help need, so adding a flag is one edit.

export type Group = "Member" | "Clustering" | "Security" | "Logging" | "Profiling and monitoring" | "Experimental" | "Unsafe" | "Config file";

/** The resolved values a computed default may depend on; these have plain defaults themselves. */
export type DefaultInputs = Pick<ConfigSettings, "name" | "initialAdvertisePeerUrls">;

export interface Setting<K extends SettingField = SettingField> {
  /** Without dashes: "initial-cluster-token". Also the YAML config-file key. */
  readonly flag: string;
  /** "ETCD_INITIAL_CLUSTER_TOKEN"; also the env-file key. */
  readonly env: string;
  readonly field: K;
  readonly group: Group;
  readonly description: string;
  /** Boolean flags never consume the next argument, so "-debug -name x" works. */
  readonly boolean: boolean;
  /** A YAML sequence is accepted and joined with commas. */
  readonly list: boolean;
  /** Text fed to `parse` when no source sets the value; a function when it depends on other settings. */
  readonly default: string | ((inputs: DefaultInputs) => string);
  /** The default as --help shows it. */
  readonly defaultHelp: string;
  readonly parse: (text: string) => ConfigSettings[K];
}

interface Row<K extends SettingField> {
  readonly group: Group;
  readonly description: string;
  readonly default: string | ((inputs: DefaultInputs) => string);
  readonly defaultHelp?: string;
  readonly boolean?: boolean;
  readonly list?: boolean;
  readonly parse: (text: string) => ConfigSettings[K];
}

function row<K extends SettingField>(flag: string, field: K, spec: Row<K>): Setting<K> {
  return Object.freeze({
    flag,
    env: envName(flag),
    field,
    group: spec.group,
    description: spec.description,
    boolean: spec.boolean ?? false,
    list: spec.list ?? false,
    default: spec.default,
    defaultHelp: spec.defaultHelp ?? (typeof spec.default === "string" ? spec.default : ""),
    parse: spec.parse,
  });
}

export function envName(flag: string): string {
  return `ETCD_${flag.toUpperCase().replaceAll("-", "_")}`;
}

function bool(group: Group, description: string, byDefault: boolean) {
  return { group, description, default: String(byDefault), boolean: true, parse: parseBool };
}

function urls(example: string, options: { allowEmpty: boolean; listening: boolean }) {
  return (text: string): readonly string[] =>
    parseUrlList(text, { example, allowEmpty: options.allowEmpty, allowPortZero: options.listening }).map((u) => u.url);
}

function parseCipherSuites(text: string): readonly string[] {
  try {
    return checkCipherSuites(parseList(text));
  } catch (e) {
    throw new InvalidValueError((e as Error).message);
  }
}

function discoveryString(text: string): string {
  // Kept verbatim so validation can quote it; any non-empty value is rejected there.
  return text.trim();
}

const TWO_GIB = 2 * 1024 * 1024 * 1024;

export const SETTINGS: readonly Setting[] = Object.freeze([
  row("config-file", "configFile", {
    group: "Config file",
    description: "Path to an etcd.conf environment file (ETCD_NAME=...) or an etcd YAML config file (name: ...).",
    default: "",
    parse: (text) => text.trim(),
  }),

  row("name", "name", {
    group: "Member",
    description: "Human-readable name for this member.",
    default: "default",
    parse: parseMemberName,
  }),
  row("data-dir", "dataDir", {
    group: "Member",
    description: "Path to the data directory.",
    default: ({ name }) => `${name}.etcd`,
    defaultHelp: "${name}.etcd",
    parse: (text) => parseNonEmpty(text, "a directory path"),
  }),
  row("wal-dir", "walDir", {
    group: "Member",
    description: "Path to the dedicated WAL directory; empty means ${data-dir}/member/wal.",
    default: "",
    parse: (text) => text.trim(),
  }),
  row("snapshot-count", "snapshotCount", {
    group: "Member",
    description: "Number of committed transactions to trigger a snapshot to disk.",
    default: "100000",
    parse: (text) => parseWholeNumber(text, { min: 1 }),
  }),
  row("heartbeat-interval", "heartbeatInterval", {
    group: "Member",
    description: "Time (in milliseconds) of a heartbeat interval.",
    default: "100",
    parse: (text) => parseWholeNumber(text, { min: 1, unit: "milliseconds" }),
  }),
  row("election-timeout", "electionTimeout", {
    group: "Member",
    description: "Time (in milliseconds) for an election to timeout; at least 5 times --heartbeat-interval.",
    default: "1000",
    parse: (text) => parseWholeNumber(text, { min: 1, unit: "milliseconds" }),
  }),
  row("listen-peer-urls", "listenPeerUrls", {
    group: "Member",
    description: "List of URLs to listen on for peer traffic.",
    default: "http://localhost:2380",
    list: true,
    parse: urls("http://10.0.0.1:2380", { allowEmpty: false, listening: true }),
  }),
  row("listen-client-urls", "listenClientUrls", {
    group: "Member",
    description: "List of URLs to listen on for client traffic.",
    default: "http://localhost:2379",
    list: true,
    parse: urls("http://10.0.0.1:2379", { allowEmpty: false, listening: true }),
  }),
  row("max-snapshots", "maxSnapshots", {
    group: "Member",
    description: "Maximum number of snapshot files to retain (0 is unlimited).",
    default: "5",
    parse: (text) => parseWholeNumber(text, { min: 0 }),
  }),
  row("max-wals", "maxWals", {
    group: "Member",
    description: "Maximum number of WAL files to retain (0 is unlimited).",
    default: "5",
    parse: (text) => parseWholeNumber(text, { min: 0 }),
  }),
  row("cors", "cors", {
    group: "Member",
    description: "Comma-separated list of origins allowed for CORS (cross-origin resource sharing).",
    default: "",
    list: true,
    parse: parseList,
  }),
  row("quota-backend-bytes", "quotaBackendBytes", {
    group: "Member",
    description: "Raise alarms when the backend size exceeds the given quota (0 means the default, 2 GiB).",
    default: "0",
    parse: (text) => parseWholeNumber(text, { min: 0, unit: "bytes" }) || TWO_GIB,
  }),
  row("max-request-bytes", "maxRequestBytes", {
    group: "Member",
    description: "Maximum client request size in bytes the server will accept.",
    default: "1572864",
    parse: (text) => parseWholeNumber(text, { min: 1, unit: "bytes" }),
  }),
  row("max-txn-ops", "maxTxnOps", {
    group: "Member",
    description: "Maximum number of operations permitted in a transaction.",
    default: "128",
    parse: (text) => parseWholeNumber(text, { min: 1 }),
  }),
  row("grpc-keepalive-min-time", "grpcKeepaliveMinTime", {
    group: "Member",
    description: "Minimum duration a client should wait between pings to the server.",
    default: "5s",
    parse: parseDuration,
  }),
  row("grpc-keepalive-interval", "grpcKeepaliveInterval", {
    group: "Member",
    description: "Frequency of server-to-client pings that check a connection is alive (0 to disable).",
    default: "2h",
    parse: parseDuration,
  }),
  row("grpc-keepalive-timeout", "grpcKeepaliveTimeout", {
    group: "Member",
    description: "Additional wait before closing a non-responsive connection (0 to disable).",
    default: "20s",
    parse: parseDuration,
  }),

  row("initial-advertise-peer-urls", "initialAdvertisePeerUrls", {
    group: "Clustering",
    description: "List of this member's peer URLs to advertise to the rest of the cluster.",
    default: "http://localhost:2380",
    list: true,
    parse: urls("http://10.0.0.1:2380", { allowEmpty: false, listening: false }),
  }),
  row("initial-cluster", "initialCluster", {
    group: "Clustering",
    description: "Initial cluster configuration for bootstrapping, as name=peer-url pairs; when unset, built from --name and --initial-advertise-peer-urls.",
    default: ({ name, initialAdvertisePeerUrls }) => initialAdvertisePeerUrls.map((url) => `${name}=${url}`).join(","),
    defaultHelp: "default=http://localhost:2380",
    list: true,
    parse: parseInitialCluster,
  }),
  row("initial-cluster-state", "initialClusterState", {
    group: "Clustering",
    description: "Initial cluster state ('new' or 'existing').",
    default: "new",
    parse: (text) => parseChoice(text, ["new", "existing"] as const),
  }),
  row("initial-cluster-token", "initialClusterToken", {
    group: "Clustering",
    description: "Initial cluster token; distinct tokens keep separate clusters from joining each other by mistake.",
    default: "etcd-cluster",
    parse: (text) => text.trim(),
  }),
  row("advertise-client-urls", "advertiseClientUrls", {
    group: "Clustering",
    description: "List of this member's client URLs to advertise to clients; required when --listen-client-urls is set.",
    default: "http://localhost:2379",
    list: true,
    parse: urls("http://10.0.0.1:2379", { allowEmpty: false, listening: false }),
  }),
  row("discovery", "discovery", {
    group: "Clustering",
    description: "Discovery URL used to bootstrap the cluster (not supported: use --initial-cluster).",
    default: "",
    parse: discoveryString,
  }),
  row("discovery-fallback", "discoveryFallback", {
    group: "Clustering",
    description: "Expected behavior ('exit' or 'proxy') when the discovery service fails.",
    default: "proxy",
    parse: (text) => parseChoice(text, ["proxy", "exit"] as const),
  }),
  row("discovery-proxy", "discoveryProxy", {
    group: "Clustering",
    description: "HTTP proxy to use for traffic to the discovery service (not supported).",
    default: "",
    parse: discoveryString,
  }),
  row("discovery-srv", "discoverySrv", {
    group: "Clustering",
    description: "DNS SRV domain used to bootstrap the cluster (not supported: use --initial-cluster).",
    default: "",
    parse: discoveryString,
  }),
  row("strict-reconfig-check", "strictReconfigCheck", bool("Clustering", "Reject reconfiguration requests that would cause quorum loss.", true)),
  row("auto-compaction-retention", "autoCompactionRetention", {
    group: "Clustering",
    description: "Auto compaction retention: hours or a duration (e.g. '30m') in periodic mode, revisions in revision mode; 0 disables.",
    default: "0",
    parse: (text) => parseNonEmpty(text, "a retention such as 1, 30m or 1000"),
  }),
  row("auto-compaction-mode", "autoCompactionMode", {
    group: "Clustering",
    description: "How to interpret --auto-compaction-retention: 'periodic' (time based) or 'revision' (revision count).",
    default: "periodic",
    parse: (text) => parseChoice(text, ["periodic", "revision"] as const),
  }),
  row("enable-v2", "enableV2", bool("Clustering", "Accept etcd v2 client requests (only false is accepted: etcd-ts has no v2 API).", false)),

  row("cert-file", "certFile", {
    group: "Security",
    description: "Path to the client server TLS cert file (PEM); with --key-file, https:// client URLs serve TLS.",
    default: "",
    parse: (text) => text.trim(),
  }),
  row("key-file", "keyFile", {
    group: "Security",
    description: "Path to the client server TLS key file (PEM).",
    default: "",
    parse: (text) => text.trim(),
  }),
  row("client-cert-auth", "clientCertAuth", bool("Security", "Require a client certificate signed by --trusted-ca-file on the client port; its CN is the user when no token is sent.", false)),
  row("trusted-ca-file", "trustedCaFile", {
    group: "Security",
    description: "Path to the client server TLS trusted CA cert file (PEM), which checks client certificates.",
    default: "",
    parse: (text) => text.trim(),
  }),
  row("auto-tls", "autoTls", bool("Security", "Client TLS using a generated self-signed certificate (in <data-dir>/fixtures/client).", false)),
  row("peer-cert-file", "peerCertFile", {
    group: "Security",
    description: "Path to the peer server TLS cert file (PEM), also presented when dialing other members.",
    default: "",
    parse: (text) => text.trim(),
  }),
  row("peer-key-file", "peerKeyFile", {
    group: "Security",
    description: "Path to the peer server TLS key file (PEM).",
    default: "",
    parse: (text) => text.trim(),
  }),
  row("peer-client-cert-auth", "peerClientCertAuth", bool("Security", "Require a peer certificate signed by --peer-trusted-ca-file from every member that connects.", false)),
  row("peer-trusted-ca-file", "peerTrustedCaFile", {
    group: "Security",
    description: "Path to the peer server TLS trusted CA file (PEM), which checks the other members' certificates.",
    default: "",
    parse: (text) => text.trim(),
  }),
  row("peer-auto-tls", "peerAutoTls", bool("Security", "Peer TLS using a generated self-signed certificate (in <data-dir>/fixtures/peer); members then do not verify each other.", false)),
  row("cipher-suites", "cipherSuites", {
    group: "Security",
    description: "Comma-separated list of TLS 1.2 cipher suites, by Go's names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...); empty: secure defaults.",
    default: "",
    list: true,
    parse: parseCipherSuites,
  }),
  row("tls-min-version", "tlsMinVersion", {
    group: "Security",
    description: "Minimum TLS version of client and peer connections: TLS1.2 or TLS1.3.",
    default: "TLS1.2",
    parse: (text) => parseChoice(text, TLS_VERSIONS),
  }),
  row("auth-token", "authToken", {
    group: "Security",
    description: "Authentication token type: 'simple', or 'jwt,pub-key=<file>,priv-key=<file>,sign-method=<RS256|PS256|ES256|EdDSA|…>[,ttl=<duration>]'.",
    default: "simple",
    parse: (text) => parseAuthToken(text),
  }),
  row("auth-token-ttl", "authTokenTtl", {
    group: "Security",
    description: "Time (in seconds) a simple token stays valid after its last use.",
    default: "300",
    parse: (text) => parseWholeNumber(text, { min: 1, unit: "seconds" }),
  }),
  row("bcrypt-cost", "bcryptCost", {
    group: "Security",
    description: "Cost of bcrypt when hashing passwords (4 to 31; each step doubles the time of every password check).",
    default: "10",
    parse: (text) => {
      const n = parseWholeNumber(text, { min: 4 });
      if (n > 31) throw new InvalidValueError("expected a bcrypt cost from 4 to 31");
      return n;
    },
  }),

  row("logger", "logger", {
    group: "Logging",
    description: "Logger implementation; only 'zap' is supported.",
    default: "zap",
    parse: (text) => parseChoice(text, ["zap"] as const),
  }),
  row("log-outputs", "logOutputs", {
    group: "Logging",
    description: "Comma-separated log targets: 'default', 'stdout', 'stderr' or file paths.",
    default: "default",
    list: true,
    parse: (text) => parseNonEmptyList(text, "log output, such as default, stderr or a file path"),
  }),
  row("log-level", "logLevel", {
    group: "Logging",
    description: "Log level: debug, info, warn, error, panic or fatal.",
    default: "info",
    parse: (text) => parseChoice(text, ["debug", "info", "warn", "error", "panic", "fatal"] as const),
  }),
  row("debug", "debug", bool("Logging", "Enable debug-level logging (same as --log-level=debug).", false)),

  row("enable-pprof", "enablePprof", bool("Profiling and monitoring", "Enable runtime profiling data via HTTP (only false is accepted: there is no Go pprof).", false)),
  row("listen-metrics-urls", "listenMetricsUrls", {
    group: "Profiling and monitoring",
    description: "List of additional URLs to listen on for the metrics and health endpoints.",
    default: "",
    list: true,
    parse: urls("http://10.0.0.1:2381", { allowEmpty: true, listening: true }),
  }),

  row("experimental-corrupt-check-time", "experimentalCorruptCheckTime", {
    group: "Experimental",
    description: "Duration between the leader's checks that every member holds the same history (HashKV compared; a member that differs raises the CORRUPT alarm). 0s disables.",
    default: "5m",
    parse: parseDuration,
  }),

  row("experimental-initial-corrupt-check", "experimentalInitialCorruptCheck", bool("Experimental", "Compare this member's history with its peers' before serving clients (HashKV at the same revision).", false)),

  row("force-new-cluster", "forceNewCluster", bool("Unsafe", "Force to create a new one-member cluster from the existing data (only false is accepted: restore a snapshot instead).", false)),
]);

const BY_FLAG = new Map(SETTINGS.map((s) => [s.flag, s]));
const BY_ENV = new Map(SETTINGS.map((s) => [s.env, s]));

export function settingByFlag(flag: string): Setting | undefined {
  return BY_FLAG.get(flag);
}

export function settingByEnv(name: string): Setting | undefined {
  return BY_ENV.get(name);
}

export function settingByField(field: SettingField): Setting {
  const found = SETTINGS.find((s) => s.field === field);
  if (found === undefined) throw new Error(`no setting for field ${field}`);
  return found;
}

/** etcd's other experimental-* flags; named separately so the error can say "not supported" rather than "unknown". */
export function isExperimentalFlag(flag: string): boolean {
  return flag.startsWith("experimental-");
}
