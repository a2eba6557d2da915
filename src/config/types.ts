import type { ParsedUrl } from "./urls";

/** Where a setting's value came from, highest precedence first. */
export type Source = "flag" | "env" | "file" | "default";

export type LogLevel = "debug" | "info" | "warn" | "error" | "panic" | "fatal";

/**
 * One field per etcd flag, named by camel-casing the flag
 * (--initial-cluster-token → initialClusterToken). Durations are in
 * milliseconds, sizes in bytes.
 */
export interface ConfigSettings {
  // Member
  /** --name; default "default". */
  name: string;
  /** --data-dir; defaults to `${name}.etcd`. */
  dataDir: string;
  /** --wal-dir; never empty: "" resolves to `${dataDir}/member/wal`. */
  walDir: string;
  snapshotCount: number;
  /** Milliseconds. */
  heartbeatInterval: number;
  /** Milliseconds; at least 5 × heartbeatInterval. */
  electionTimeout: number;
  listenPeerUrls: readonly string[];
  listenClientUrls: readonly string[];
  /** 0 keeps every snapshot file. */
  maxSnapshots: number;
  /** 0 keeps every WAL file. */
  maxWals: number;
  /** Allowed CORS origins; empty when unset. */
  cors: readonly string[];
  /** Effective quota in bytes: a configured 0 becomes the 2 GiB default. */
  quotaBackendBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  /** Milliseconds. */
  grpcKeepaliveMinTime: number;
  /** Milliseconds; 0 disables server pings. */
  grpcKeepaliveInterval: number;
  /** Milliseconds; 0 disables the ping timeout. */
  grpcKeepaliveTimeout: number;

  // Clustering
  initialAdvertisePeerUrls: readonly string[];
  /** Member name → peer URLs; defaults to this member's name with initialAdvertisePeerUrls. */
  initialCluster: ReadonlyMap<string, readonly string[]>;
  initialClusterState: "new" | "existing";
  initialClusterToken: string;
  advertiseClientUrls: readonly string[];
  /** Always "": discovery is rejected, the field exists so every flag has one. */
  discovery: string;
  /** Always "" (see discovery). */
  discoverySrv: string;
  discoveryFallback: "proxy" | "exit";
  /** Always "" (see discovery). */
  discoveryProxy: string;
  strictReconfigCheck: boolean;
  /** As written; see Config.autoCompaction for the interpreted value. */
  autoCompactionRetention: string;
  autoCompactionMode: "periodic" | "revision";
  /** Accepted for etcd compatibility; etcd-ts serves no v2 API. */
  enableV2: boolean;

  // Security
  /** --cert-file and --key-file: "" when unset; https:// client URLs need both (or autoTls). */
  certFile: string;
  keyFile: string;
  clientCertAuth: boolean;
  trustedCaFile: string;
  autoTls: boolean;
  peerCertFile: string;
  peerKeyFile: string;
  peerClientCertAuth: boolean;
  peerTrustedCaFile: string;
  peerAutoTls: boolean;
  /** Go's names, checked (pkg/tls-config.ts); empty: the TLS library's defaults. */
  cipherSuites: readonly string[];
  tlsMinVersion: "TLS1.2" | "TLS1.3";
  /** "simple", or "jwt,pub-key=…,priv-key=…,sign-method=…[,ttl=…]" as written (server/core/auth reads the keys). */
  authToken: string;
  /** Seconds a simple token lives after its last use. */
  authTokenTtl: number;
  bcryptCost: number;

  // Logging
  logger: "zap";
  logOutputs: readonly string[];
  /** Already "debug" when debug is true. */
  logLevel: LogLevel;
  debug: boolean;

  // Profiling and monitoring
  /** Accepted for etcd compatibility; has no effect. */
  enablePprof: boolean;
  /** Empty when unset. */
  listenMetricsUrls: readonly string[];

  // Experimental
  /** Milliseconds; 0 disables the leader's periodic cross-member HashKV check. */
  experimentalCorruptCheckTime: number;
  /** --experimental-initial-corrupt-check: check this member's history against its peers' at start. */
  experimentalInitialCorruptCheck: boolean;

  // Unsafe
  forceNewCluster: boolean;

  /** --config-file; "" when none was given. */
  configFile: string;
}

export type SettingField = keyof ConfigSettings;

/** --auto-compaction-retention interpreted under --auto-compaction-mode; 0 disables compaction. */
export type AutoCompaction =
  | { readonly mode: "periodic"; readonly periodMs: number }
  | { readonly mode: "revision"; readonly revisions: number };

export interface Config extends Readonly<ConfigSettings> {
  /** The URL settings, parsed; same order as the string arrays. */
  readonly parsedUrls: {
    readonly listenPeerUrls: readonly ParsedUrl[];
    readonly listenClientUrls: readonly ParsedUrl[];
    readonly initialAdvertisePeerUrls: readonly ParsedUrl[];
    readonly advertiseClientUrls: readonly ParsedUrl[];
    readonly listenMetricsUrls: readonly ParsedUrl[];
  };
  readonly autoCompaction: AutoCompaction;
  /** Where each setting came from, for the startup log. Derived defaults count as "default". */
  readonly sources: Readonly<Record<SettingField, Source>>;
}

export type ConfigResult =
  | { readonly kind: "run"; readonly config: Config }
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "version" };

/**
 * A setting's value as text, before parsing, with enough context to blame
 * the right place when it does not parse.
 */
export interface RawValue {
  readonly text: string;
  readonly source: Source;
  /** ConfigError.setting when this value is at fault: "--name", "ETCD_NAME", "/etc/etcd/etcd.conf:7". */
  readonly setting: string;
  /** Appended after the flag name in messages, e.g. " in config file '/x' line 7"; "" for flags and env. */
  readonly where: string;
}
