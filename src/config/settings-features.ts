import { parseDuration } from "./duration";
import { InvalidValueError } from "./errors";
import { bool, ignored, NEVER, refused, row, type Setting } from "./setting";
import { parseWholeNumber } from "./values";

// Features etcd 3.4/3.5 called experimental. etcd 3.6 gave most of them plain names (the
// --experimental-* names stay as aliases of the same setting) and put the switches behind
// --feature-gates (feature-gates.ts ties those to the same fields); 3.7 dropped the old names.
// Also the unsafe flags.

const DEFAULT_PROGRESS_NOTIFY_MS = 10 * 60_000;

export const EXPERIMENTAL: readonly Setting[] = [
  row("corrupt-check-time", "corruptCheckTime", {
    group: "Experimental",
    description:
      "Duration between the leader's checks that every member holds the same history (HashKV compared; a member that differs raises the CORRUPT alarm). 0s disables.",
    aliases: ["experimental-corrupt-check-time"],
    default: "5m",
    parse: parseDuration,
  }),
  row("experimental-initial-corrupt-check", "initialCorruptCheck", bool(
    "Experimental",
    "Compare this member's history with its peers' before serving clients (HashKV at the same revision). Also --feature-gates=InitialCorruptCheck=true.",
    false,
  )),
  row("experimental-compact-hash-check-enabled", "compactHashCheckEnabled", bool(
    "Experimental",
    "The leader compares the members' hashes of each compacted revision every --compact-hash-check-time. Also --feature-gates=CompactHashCheck=true.",
    false,
  )),
  row("compact-hash-check-time", "compactHashCheckTime", {
    group: "Experimental",
    description: "Duration between the leader's compaction hash checks (more than 0).",
    aliases: ["experimental-compact-hash-check-time"],
    default: "1m",
    parse: (text) => {
      const ms = parseDuration(text);
      if (ms <= 0) throw new InvalidValueError("expected a duration longer than 0, such as 1m");
      return ms;
    },
  }),
  row("experimental-enable-lease-checkpoint", "enableLeaseCheckpoint", bool(
    "Experimental",
    "The leader sends the remaining TTLs of leases to the members, so a new leader does not restart them. Also --feature-gates=LeaseCheckpoint=true.",
    false,
  )),
  row("experimental-enable-lease-checkpoint-persist", "leaseCheckpointPersist", bool(
    "Experimental",
    "Lease checkpoints are also saved, so long-lived leases do not renew forever across restarts; needs lease checkpoints. Also --feature-gates=LeaseCheckpointPersist=true.",
    false,
  )),
  row("watch-progress-notify-interval", "watchProgressNotifyInterval", {
    group: "Experimental",
    description: "Duration between progress notifications to watchers that asked for them (0: 10m; at least 100ms).",
    aliases: ["experimental-watch-progress-notify-interval"],
    default: "10m",
    // As etcd: 0 keeps the default; the 100 ms floor is applied (with a warning) when loading.
    parse: (text) => parseDuration(text) || DEFAULT_PROGRESS_NOTIFY_MS,
  }),
  row("compaction-batch-limit", "compactionBatchLimit", {
    group: "Experimental",
    description: "Most revisions deleted in one batch of a compaction.",
    aliases: ["experimental-compaction-batch-limit"],
    default: "1000",
    parse: (text) => parseWholeNumber(text, { min: 0 }),
    support: ignored("mvcc tuning; etcd-ts compacts in SQLite transactions of its own size"),
  }),
  row("compaction-sleep-interval", "compactionSleepInterval", {
    group: "Experimental",
    description: "Pause between two batches of a compaction (0: etcd's 10ms).",
    aliases: ["experimental-compaction-sleep-interval"],
    default: "0",
    parse: parseDuration,
    support: ignored("mvcc tuning; etcd-ts compacts in SQLite transactions of its own size"),
  }),
  row("downgrade-check-time", "downgradeCheckTime", {
    group: "Experimental",
    description: "Duration between two checks of the cluster's downgrade status.",
    aliases: ["experimental-downgrade-check-time"],
    default: "5s",
    parse: parseDuration,
    support: ignored("etcd-ts does not support downgrades (the Downgrade RPC is refused)"),
  }),
  row("experimental-txn-mode-write-with-shared-buffer", "txnModeWriteWithSharedBuffer", bool(
    "Experimental",
    "Write transactions read through a shared buffer. Also --feature-gates=TxnModeWriteWithSharedBuffer=….",
    true,
    { support: ignored("bbolt read-buffer tuning; etcd-ts's backend is SQLite", NEVER) },
  )),
  row("experimental-stop-grpc-service-on-defrag", "stopGrpcServiceOnDefrag", bool(
    "Experimental",
    "Report gRPC health NOT_SERVING and refuse requests while the database is defragmented. Also --feature-gates=StopGRPCServiceOnDefrag=true.",
    false,
    { support: ignored("etcd-ts keeps serving during a defragmentation (requests wait for it)") },
  )),

  row("force-new-cluster", "forceNewCluster", bool("Unsafe", "Force to create a new one-member cluster from the existing data.", false, {
    support: refused(
      "to recover from a lost quorum, take `etcdctl snapshot save` from a surviving member and restore it into a new cluster (README: Disaster recovery)",
    ),
  })),
  row("unsafe-no-fsync", "unsafeNoFsync", bool("Unsafe", "Do not fsync the WAL and database (loses data on a crash; for tests).", false, {
    support: refused("etcd-ts always syncs its WAL; for a fast throwaway test cluster put --data-dir on a tmpfs (fsync costs nothing there)"),
  })),
];

export const CONFIG_FILE: readonly Setting[] = [
  row("config-file", "configFile", {
    group: "Config file",
    description: "Path to an etcd.conf environment file (ETCD_NAME=...) or an etcd YAML config file (name: ...).",
    default: "",
    parse: (text) => text.trim(),
  }),
];
