import type { ParsedUrl } from "./urls";

/** Where a setting's value came from, highest precedence first. */
export type Source = "flag" | "env" | "file" | "default";

export type LogLevel = "debug" | "info" | "warn" | "error" | "panic" | "fatal";

/**
 * One field per etcd server flag of etcd 3.4–3.7, named by camel-casing the
 * flag (--initial-cluster-token → initialClusterToken); for a former
 * --experimental-* flag, its etcd 3.6 plain name (watchProgressNotifyInterval),
 * and one field answers to both names. Durations are in milliseconds, sizes in
 * bytes. Fields of flags etcd-ts accepts without acting on them say so; the
 * full list with reasons is NOT_HONOURED (flags.ts).
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
  /** --listen-client-http-urls: always empty (refused otherwise: etcd-ts serves HTTP and gRPC on one port). */
  listenClientHttpUrls: readonly string[];
  /** --max-concurrent-streams: HTTP/2 streams one client connection may open at once (1 … 2^32-1). */
  maxConcurrentStreams: number;
  /** Accepted, not acted on (etcd's backend batching); milliseconds, 0 means the backend's default. */
  backendBatchInterval: number;
  /** Accepted, not acted on; 0 means the backend's default. */
  backendBatchLimit: number;
  /** Accepted, not acted on (bbolt tuning). Also --experimental-backend-bbolt-freelist-type. */
  backendBboltFreelistType: "array" | "map";
  /** Accepted, not acted on (bbolt tuning). Also --experimental-bootstrap-defrag-threshold-megabytes. */
  bootstrapDefragThresholdMegabytes: number;
  /** Accepted, not acted on (mvcc tuning). Also --experimental-compaction-batch-limit. */
  compactionBatchLimit: number;
  /** Milliseconds; accepted, not acted on. Also --experimental-compaction-sleep-interval. */
  compactionSleepInterval: number;
  /** Accepted, not acted on (raft tuning). */
  initialElectionTickAdvance: boolean;
  /** Milliseconds; accepted, not acted on (rafthttp timeouts). */
  raftReadTimeout: number;
  raftWriteTimeout: number;
  /** Raft entries kept after a snapshot for slow followers. Also --experimental-snapshot-catchup-entries. */
  snapshotCatchupEntries: number;
  /** Most learners the cluster may have (MemberAdd of one more is refused). */
  maxLearners: number;
  /** Accepted, not acted on (Bun cannot mlock). Also --experimental-memory-mlock. */
  memoryMlock: boolean;
  /** Accepted, not acted on: etcd-ts sets no SO_REUSEPORT. */
  socketReusePort: boolean;
  /** Accepted: Bun's listening sockets set SO_REUSEADDR whatever the value. */
  socketReuseAddress: boolean;
  /**
   * --feature-gates, resolved: every feature gate etcd 3.6/3.7 knows (StopGRPCServiceOnDefrag,
   * TxnModeWriteWithSharedBuffer, InitialCorruptCheck, CompactHashCheck, LeaseCheckpoint,
   * LeaseCheckpointPersist, SetMemberLocalAddr, FastLeaseKeepAlive, PriorityRequest) → enabled,
   * after defaults, AllAlpha/AllBeta, the gates named and the --experimental-* flags that stand for
   * gates. The fields of those flags (initialCorruptCheck, …) always agree with this map.
   */
  featureGates: ReadonlyMap<string, boolean>;

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
  /** --experimental-enable-v2v3 (etcd 3.4/3.5): always "" (refused otherwise: no v2 API). */
  experimentalEnableV2v3: string;
  /** --v2-deprecation (etcd 3.5+): accepted, not acted on — etcd-ts has no v2 store at all. */
  v2Deprecation: "not-yet" | "write-only" | "write-only-skip-check" | "write-only-drop-data" | "gone";
  /** --pre-vote: etcd-ts's Raft always runs Pre-Vote; false is accepted and not acted on. */
  preVote: boolean;
  /** Accepted, not acted on: it only names the SRV service of --discovery-srv, which is refused. */
  discoverySrvName: string;
  /** etcd 3.6 v3 discovery: always empty (refused otherwise). */
  discoveryEndpoints: readonly string[];
  /** Always "" (refused otherwise, see discoveryEndpoints). */
  discoveryToken: string;
  /** The other v3 discovery settings: accepted, not acted on (discovery is refused). Milliseconds. */
  discoveryDialTimeout: number;
  discoveryRequestTimeout: number;
  discoveryKeepaliveTime: number;
  discoveryKeepaliveTimeout: number;
  discoveryInsecureTransport: boolean;
  discoveryInsecureSkipTlsVerify: boolean;
  discoveryCert: string;
  discoveryKey: string;
  discoveryCacert: string;
  discoveryUser: string;
  discoveryPassword: string;

  // v2 proxy (etcd 3.4/3.5)
  /** Always "off" (refused otherwise: etcd-ts runs only as a member). */
  proxy: "off" | "readonly" | "on";
  /** Milliseconds; accepted, not acted on (proxy mode only). */
  proxyFailureWait: number;
  proxyRefreshInterval: number;
  proxyDialTimeout: number;
  proxyWriteTimeout: number;
  proxyReadTimeout: number;

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
  /** --client-crl-file: certificate revocation list checked against client certificates; "" when unset. */
  clientCrlFile: string;
  /** --peer-crl-file: certificate revocation list checked against member certificates; "" when unset. */
  peerCrlFile: string;
  /** --client-cert-allowed-hostname: a client certificate must be valid for one of these names (SAN/CN); empty: any. */
  clientCertAllowedHostname: readonly string[];
  /** --peer-cert-allowed-cn: a member's certificate CN must be one of these; empty: any. */
  peerCertAllowedCn: readonly string[];
  /** --peer-cert-allowed-hostname: a member's certificate must be valid for one of these names; empty: any. */
  peerCertAllowedHostname: readonly string[];
  /** --client-cert-file/--client-key-file: accepted, not needed (etcd-ts's gateway does not dial its own gRPC port). */
  clientCertFile: string;
  clientKeyFile: string;
  /** --peer-client-cert-file/--peer-client-key-file: presented when dialing other members instead of --peer-cert-file; "" when unset. */
  peerClientCertFile: string;
  peerClientKeyFile: string;
  /** Accepted: etcd-ts never compares a member's certificate SANs with its address. Also --experimental-peer-skip-client-san-verification. */
  peerSkipClientSanVerification: boolean;
  /** Years; accepted, not acted on (auto-TLS certificates are valid one year). */
  selfSignedCertValidity: number;
  /** --tls-max-version: "" lets the TLS library choose (TLS 1.3). */
  tlsMaxVersion: "" | "TLS1.2" | "TLS1.3";
  /** --host-whitelist: ["*"] unless set; other values are refused while a client URL is plain http. */
  hostWhitelist: readonly string[];
  /** Go's names, checked (pkg/tls-config.ts); empty: the TLS library's defaults. */
  cipherSuites: readonly string[];
  tlsMinVersion: "TLS1.2" | "TLS1.3";
  /** "simple", or "jwt,pub-key=…,priv-key=…,sign-method=…[,ttl=…]" as written (server/core/auth reads the keys). */
  authToken: string;
  /** Seconds a simple token lives after its last use. */
  authTokenTtl: number;
  bcryptCost: number;

  // Logging
  /** "capnslog" (etcd 3.4's default) is accepted; etcd-ts always logs as zap does. */
  logger: "zap" | "capnslog";
  logOutputs: readonly string[];
  /** Already "debug" when debug is true. */
  logLevel: LogLevel;
  debug: boolean;
  /** "console" is accepted and not acted on: etcd-ts writes JSON lines. */
  logFormat: "json" | "console";
  /** Always false (refused otherwise: etcd-ts does not rotate its logs). */
  enableLogRotation: boolean;
  /** As written (a JSON object); used only with log rotation, which is refused. */
  logRotationConfigJson: string;
  /** etcd 3.4's capnslog per-package levels: accepted, not acted on. */
  logPackageLevels: string;
  /** Milliseconds: applies slower than this are logged. Also --experimental-warning-apply-duration. */
  warningApplyDuration: number;
  /** Milliseconds; accepted, not acted on (slow-request warnings). Also --experimental-warning-unary-request-duration. */
  warningUnaryRequestDuration: number;

  // Profiling and monitoring
  /** Accepted for etcd compatibility; has no effect. */
  enablePprof: boolean;
  /** Empty when unset. */
  listenMetricsUrls: readonly string[];
  /** "extensive" is accepted and not acted on (no gRPC latency histograms). */
  metrics: "basic" | "extensive";
  /** false is accepted and not acted on: the JSON gateway is always served. */
  enableGrpcGateway: boolean;
  /** OpenTelemetry tracing: accepted, not acted on. Also the --experimental-* names. */
  enableDistributedTracing: boolean;
  distributedTracingAddress: string;
  distributedTracingServiceName: string;
  distributedTracingInstanceId: string;
  /** Samples per million spans (0 … 1000000). */
  distributedTracingSamplingRate: number;

  // Former experimental features (etcd 3.6 plain names; the --experimental-* names are aliases)
  /** --corrupt-check-time: milliseconds between the leader's cross-member HashKV checks; 0 disables. */
  corruptCheckTime: number;
  /** --experimental-initial-corrupt-check / InitialCorruptCheck: compare history with the peers' before serving. */
  initialCorruptCheck: boolean;
  /** --experimental-compact-hash-check-enabled / CompactHashCheck: the leader compares followers' hashes at compactions. */
  compactHashCheckEnabled: boolean;
  /** --compact-hash-check-time: milliseconds between those checks (> 0). */
  compactHashCheckTime: number;
  /** --experimental-enable-lease-checkpoint / LeaseCheckpoint: the leader checkpoints remaining lease TTLs to the members. */
  enableLeaseCheckpoint: boolean;
  /** --experimental-enable-lease-checkpoint-persist / LeaseCheckpointPersist: checkpoints are persisted (needs enableLeaseCheckpoint). */
  leaseCheckpointPersist: boolean;
  /** --watch-progress-notify-interval: milliseconds; 0 in the input means etcd's 10 minutes, less than 100 ms becomes 100 ms. */
  watchProgressNotifyInterval: number;
  /** Milliseconds; accepted, not acted on (etcd-ts has no downgrade). */
  downgradeCheckTime: number;
  /** TxnModeWriteWithSharedBuffer: accepted, not acted on (bbolt read-buffer tuning). */
  txnModeWriteWithSharedBuffer: boolean;
  /** StopGRPCServiceOnDefrag: true is accepted and not acted on (etcd-ts keeps serving during defragmentation). */
  stopGrpcServiceOnDefrag: boolean;

  // Unsafe
  forceNewCluster: boolean;
  /** Always false (refused otherwise: the WAL is always synced). */
  unsafeNoFsync: boolean;

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

/**
 * Something the operator should know that does not stop the server, shaped for the zap-style logger:
 * an unrecognized ETCD_* variable (etcd warns too: Kubernetes injects ETCD_CLIENT_PORT and friends
 * through service links), a flag accepted but not acted on, a value adjusted as etcd adjusts it.
 */
export interface ConfigWarning {
  readonly msg: string;
  readonly fields: Readonly<Record<string, string>>;
}

export type ConfigResult =
  | { readonly kind: "run"; readonly config: Config; readonly warnings: readonly ConfigWarning[] }
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
  /** The name it was given under when that is an alias ("experimental-watch-progress-notify-interval"); absent for the setting's own name. */
  readonly alias?: string;
}
