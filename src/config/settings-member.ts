import { parseDuration } from "./duration";
import { InvalidValueError } from "./errors";
import { parseFeatureGates } from "./feature-gates";
import { bool, ignored, NEVER, refused, row, type Setting } from "./setting";
import { urlList } from "./urls";
import { parseChoice, parseList, parseMemberName, parseNonEmpty, parseWholeNumber } from "./values";

// Member settings: this member's storage, listeners and limits (etcd's "Member" group).

const TWO_GIB = 2 * 1024 * 1024 * 1024;
const MAX_UINT32 = 2 ** 32 - 1;

/** bbolt, etcd's storage engine, has knobs that mean nothing to a SQLite backend. */
const BBOLT = "bbolt tuning; etcd-ts's backend is SQLite";

export const MEMBER: readonly Setting[] = [
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
    // etcd 3.6's default (3.4/3.5: 100000), and what kubeadm sets: the Raft log kept in memory
    // between snapshots is a tenth as long (~45 MiB less RSS under a write load).
    default: "10000",
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
  row("initial-election-tick-advance", "initialElectionTickAdvance", bool(
    "Member",
    "Whether a starting member fast-forwards its election clock so a leader is elected sooner.",
    true,
    { support: ignored("Raft start-up timing only; etcd-ts does not fast-forward a starting member's election clock", NEVER) },
  )),
  row("listen-peer-urls", "listenPeerUrls", {
    group: "Member",
    description: "List of URLs to listen on for peer traffic.",
    default: "http://localhost:2380",
    list: true,
    parse: urlList("http://10.0.0.1:2380", { allowEmpty: false, listening: true }),
  }),
  row("listen-client-urls", "listenClientUrls", {
    group: "Member",
    description: "List of URLs to listen on for client traffic (gRPC, the JSON gateway, /health and /metrics on the same port).",
    default: "http://localhost:2379",
    list: true,
    parse: urlList("http://10.0.0.1:2379", { allowEmpty: false, listening: true }),
  }),
  row("listen-client-http-urls", "listenClientHttpUrls", {
    group: "Member",
    description: "List of URLs to listen on for HTTP-only client traffic (etcd 3.5+).",
    default: "",
    list: true,
    parse: urlList("http://10.0.0.1:2378", { allowEmpty: true, listening: true }),
    support: refused(
      "etcd-ts serves HTTP and gRPC together on --listen-client-urls: add these URLs to --listen-client-urls instead",
      (urls) => urls.length === 0,
    ),
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
  row("backend-bbolt-freelist-type", "backendBboltFreelistType", {
    group: "Member",
    description: "Freelist type of etcd's bbolt database: 'array' or 'map'.",
    aliases: ["experimental-backend-bbolt-freelist-type"],
    default: "map",
    parse: (text) => parseChoice(text, ["array", "map"] as const),
    support: ignored(BBOLT, NEVER),
  }),
  row("backend-batch-interval", "backendBatchInterval", {
    group: "Member",
    description: "Longest time before the backend commits its write transaction (0: the backend's default, 100ms).",
    default: "0",
    parse: parseDuration,
    support: ignored("backend tuning; etcd-ts commits its SQLite batch every 100ms and the WAL makes every write durable first"),
  }),
  row("backend-batch-limit", "backendBatchLimit", {
    group: "Member",
    description: "Most operations before the backend commits its write transaction (0: the backend's default).",
    default: "0",
    parse: (text) => parseWholeNumber(text, { min: 0 }),
    support: ignored("backend tuning; etcd-ts commits its SQLite batch by time and the WAL makes every write durable first"),
  }),
  row("bootstrap-defrag-threshold-megabytes", "bootstrapDefragThresholdMegabytes", {
    group: "Member",
    description: "Defragment the database at start when that frees at least this many megabytes (0 disables).",
    aliases: ["experimental-bootstrap-defrag-threshold-megabytes"],
    default: "0",
    parse: (text) => parseWholeNumber(text, { min: 0, unit: "megabytes" }),
    support: ignored(`${BBOLT}; run 'etcdctl defrag' to compact it`),
  }),
  row("max-txn-ops", "maxTxnOps", {
    group: "Member",
    description: "Maximum number of operations permitted in a transaction.",
    default: "128",
    parse: (text) => parseWholeNumber(text, { min: 1 }),
  }),
  row("max-request-bytes", "maxRequestBytes", {
    group: "Member",
    description: "Maximum client request size in bytes the server will accept.",
    default: "1572864",
    parse: (text) => parseWholeNumber(text, { min: 1, unit: "bytes" }),
  }),
  row("max-concurrent-streams", "maxConcurrentStreams", {
    group: "Member",
    description: "Maximum number of concurrent HTTP/2 streams (gRPC calls) one client connection may have open.",
    default: String(MAX_UINT32),
    defaultHelp: "math.MaxUint32",
    parse: (text) => {
      const n = parseWholeNumber(text, { min: 1 });
      if (n > MAX_UINT32) throw new InvalidValueError(`expected a whole number from 1 to ${MAX_UINT32}`);
      return n;
    },
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
  row("socket-reuse-port", "socketReusePort", bool("Member", "Set SO_REUSEPORT on listeners, so another process may bind the same port.", false, {
    support: ignored("etcd-ts's listeners do not set SO_REUSEPORT; a port already bound elsewhere stops the start with an error"),
  })),
  row("socket-reuse-address", "socketReuseAddress", bool("Member", "Set SO_REUSEADDR on listeners, so a port in TIME_WAIT can be bound again.", false, {
    support: ignored("Bun's listeners always set SO_REUSEADDR", NEVER),
  })),
  row("raft-read-timeout", "raftReadTimeout", {
    group: "Member",
    description: "Read timeout of etcd's peer HTTP connections.",
    default: "5s",
    parse: parseDuration,
    support: ignored("etcd-ts's peer links are TCP streams that notice a dead member by Raft heartbeats"),
  }),
  row("raft-write-timeout", "raftWriteTimeout", {
    group: "Member",
    description: "Write timeout of etcd's peer HTTP connections.",
    default: "5s",
    parse: parseDuration,
    support: ignored("etcd-ts's peer links are TCP streams that notice a dead member by Raft heartbeats"),
  }),
  row("snapshot-catchup-entries", "snapshotCatchupEntries", {
    group: "Member",
    description: "Raft entries kept after a snapshot so a slow follower can catch up from the log.",
    aliases: ["experimental-snapshot-catchup-entries"],
    default: "5000",
    parse: (text) => parseWholeNumber(text, { min: 1 }),
  }),
  row("max-learners", "maxLearners", {
    group: "Member",
    description: "Maximum number of learners (non-voting members) in the cluster.",
    default: "1",
    parse: (text) => parseWholeNumber(text, { min: 0 }),
  }),
  row("memory-mlock", "memoryMlock", bool("Member", "Lock the database pages in RAM (mlock) so they are never swapped out.", false, {
    aliases: ["experimental-memory-mlock"],
    support: ignored("Bun cannot mlock SQLite's pages; keep swap off on etcd hosts instead"),
  })),
  row("feature-gates", "featureGates", {
    group: "Member",
    description:
      "Comma-separated Name=true|false pairs switching etcd 3.6+ features: CompactHashCheck, InitialCorruptCheck, LeaseCheckpoint, " +
      "LeaseCheckpointPersist, StopGRPCServiceOnDefrag, TxnModeWriteWithSharedBuffer, SetMemberLocalAddr, FastLeaseKeepAlive, " +
      "PriorityRequest, or AllAlpha/AllBeta for every alpha/beta gate not named.",
    default: "",
    parse: parseFeatureGates,
  }),
];
