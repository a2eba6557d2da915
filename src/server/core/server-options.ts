import type { Backend } from "../../backend/backend.ts";
import type { Clock } from "../../pkg/clock.ts";
import type { UnsafeBug } from "../../pkg/failpoint.ts";
import type { WalOptions, WalRecord, WalRepair } from "../../wal/wal.ts";
import type { TokenProvider } from "./auth/tokens.ts";
import type { RemoteCluster } from "./transport.ts";

export interface ServerOptions {
  name: string;
  dataDir: string;
  walDir?: string;
  initialAdvertisePeerUrls: string[];
  advertiseClientUrls: string[];
  initialClusterToken: string;
  /** name → peer URLs; defaults to this member alone. */
  initialCluster?: ReadonlyMap<string, readonly string[]>;
  /** Refuse membership changes that would leave fewer started voters than a quorum (default true). */
  strictReconfigCheck?: boolean;
  /** Database size at which writes stop with NOSPACE (etcd's --quota-backend-bytes). */
  quotaBackendBytes?: number;
  initialClusterState?: "new" | "existing";
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  snapshotCount: number;
  /** How a member started with --initial-cluster-state existing asks its peers for the cluster. */
  fetchCluster?: (peerUrls: string[]) => Promise<RemoteCluster>;
  /** WAL segment size (default 64 MiB; tests use small ones to purge soon). */
  walSegmentBytes?: number;
  /** WAL segments and .snap files kept (etcd's --max-wals, --max-snapshots; 0 keeps all). Default 5. */
  maxWals?: number;
  maxSnapshots?: number;
  /** How often watchers that asked for it get a progress notification (etcd: 10 min). */
  watchProgressNotifyIntervalMs?: number;
  /** Period of the leader's cross-member HashKV comparison (0: off). */
  corruptCheckTimeMs?: number;
  /**
   * The leader compares the members' hashes at compaction points every compactHashCheckTimeMs
   * (etcd's --experimental-compact-hash-check-enabled / -time; default off, 1 min).
   */
  compactHashCheckEnabled?: boolean;
  compactHashCheckTimeMs?: number;
  /**
   * Lease checkpointing (etcd's --experimental-enable-lease-checkpoint, default off): the leader
   * records each lease's remaining TTL through Raft every leaseCheckpointIntervalMs (etcd: 5 min, not
   * a flag), so a new leader does not restart it from its full TTL. leaseCheckpointPersist also
   * stores it in the database (etcd's -persist flag; 3.6 always), so it survives restarts too.
   */
  enableLeaseCheckpoint?: boolean;
  leaseCheckpointIntervalMs?: number;
  leaseCheckpointPersist?: boolean;
  /** Applying one entry (or answering a read-only range/txn) longer than this logs a warning (etcd: 100 ms). */
  warningApplyDurationMs?: number;
  /** Learners the cluster may have (etcd's --max-learners, default 1). */
  maxLearners?: number;
  /** Entries kept in the Raft log after a snapshot for slow followers (etcd: 5000; at most --snapshot-count here). */
  snapshotCatchupEntries?: number;
  /**
   * Writes a database copy as an etcd snapshot file (bbolt + sha256) for the Snapshot RPC. main.ts
   * runs it in a child process; the default converts in this process (tests).
   */
  exportSnapshot?: (dbPath: string, out: string) => Promise<void>;
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** Authentication: --auth-token's provider (default simple tokens, 300 s) and --bcrypt-cost (default 10). */
  auth?: { tokens?: TokenProvider; bcryptCost?: number };
  /** Time (default the system's); the whole-server simulation passes a fake one. */
  clock?: Clock;
  /** Named crash points (default ETCD_TS_FAILPOINT's process exit); the simulation crashes a member there. */
  failpoint?: (name: string) => void;
  /**
   * Opens the member's database at path (default `new Backend(path, { clock })`); the simulation
   * keeps the handles so that a simulated crash can abandon them.
   */
  openBackend?: (path: string) => Backend;
  /**
   * The database could not be written (Backend's onStorageFailure): what was applied and what is on
   * disk may differ, so the process must end now, before it answers anything more — the WAL replays
   * the difference at the next start. Default: the error is only thrown on (tests).
   */
  onStorageFailure?: (err: unknown) => void;
  /** Opens the member's WAL (default the real one in walDir); the simulation passes an in-memory twin. */
  openWal?: (dir: string, opts: WalOptions) => Promise<{ wal: WalStore; records: WalRecord[]; repaired: WalRepair | null }>;
  /**
   * TESTS ONLY: plants a known bug so the whole-server simulation and the robustness suite
   * (ETCD_TS_UNSAFE_BUG) can show their checkers catch it.
   * ack-before-fsync: a Ready's WAL write is not awaited (answers and applies go out before the fsync);
   * apply-twice-after-restart: entries the database already holds are applied again when replayed;
   * watch-skip-on-compaction: watchers lose one event of the first write after a compaction.
   */
  unsafeBug?: UnsafeBug;
}

/**
 * What the server needs of its WAL (src/wal's Wal; an in-memory twin in the simulation): appends that
 * resolve once durable, in order; purging released segments; closing.
 */
export interface WalStore {
  append(records: WalRecord[]): Promise<void>;
  purge(uptoIndex: bigint, opts?: { maxSegments?: number }): Promise<string[]>;
  close(): Promise<void>;
  /** Records that start every new segment (see Wal.segmentPreamble). */
  segmentPreamble: (() => WalRecord[]) | undefined;
}

export type Log = ServerOptions["log"];

/** --heartbeat-interval, etcd's default 100 ms: one Raft tick. */
export function heartbeatMs(opts: { heartbeatIntervalMs?: number }): number {
  return opts.heartbeatIntervalMs ?? 100;
}

/** --election-timeout, etcd's default 1 s. */
export function electionTimeoutMs(opts: { electionTimeoutMs?: number }): number {
  return opts.electionTimeoutMs ?? 1000;
}

/** etcd's request timeout: 5 s plus two election timeouts. */
export function requestTimeoutMs(opts: { electionTimeoutMs?: number }): number {
  return 5000 + 2 * electionTimeoutMs(opts);
}
