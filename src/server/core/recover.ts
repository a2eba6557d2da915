import { accessSync, constants, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { Lessor } from "../../lease/lessor.ts";
import { minLeaseTtlSeconds } from "../../lease/min-ttl.ts";
import { MvccStore } from "../../mvcc/store.ts";
import type { MemoryStorage } from "../../raft/storage.ts";
import type { Snapshot } from "../../raft/types.ts";
import { Wal } from "../../wal/wal.ts";
import { bootstrapLog } from "./bootstrap.ts";
import { bootstrapMembers, hex, type MemberInfo, membersFromJson } from "./membership.ts";
import { metadataRecord, readyRecords, replayWal, snapshotRecord } from "./raft-wal.ts";
import { electionTimeoutMs, heartbeatMs, type ServerOptions, type WalStore } from "./server-options.ts";

/** What a member is made of when it starts: its files opened, its log replayed, who it is. */
export interface Recovered {
  backend: Backend;
  store: MvccStore;
  lessor: Lessor;
  wal: WalStore;
  storage: MemoryStorage;
  members: MemberInfo[];
  memberId: bigint;
  clusterId: bigint;
  /** The database's consistent index. */
  applied: bigint;
  /** Entries the WAL replayed (for the start log line). */
  walEntries: number;
}

/** etcd's lessor checkpoint interval. */
const LEASE_CHECKPOINT_INTERVAL_MS = 5 * 60_000;

/**
 * Opens (or creates) the member's data: the database, the leases held in it, the WAL and the Raft
 * log it replays. A new member bootstraps its log as etcd does; a joining one asks its peers who it
 * is; a restarted one takes its ids and membership from the data dir and ignores the initial-*
 * settings, as etcd does.
 */
export async function recoverMember(opts: ServerOptions): Promise<Recovered> {
  const memberDir = join(opts.dataDir, "member");
  ensureWritableDir(opts.dataDir);
  ensureWritableDir(memberDir);
  const walDir = opts.walDir || join(memberDir, "wal");
  ensureWritableDir(walDir);
  const backend = openBackend(opts)(join(memberDir, "snap", "db"));
  removeLeftoverSnapshots(join(memberDir, "snap"));
  const store = new MvccStore(backend);
  store.resumeCompaction(); // one cut short by a stop goes on
  const heartbeat = heartbeatMs(opts);
  const lessor = new Lessor(backend, {
    now: opts.clock ? () => opts.clock!.now() : () => performance.now(),
    minTtlSeconds: minLeaseTtlSeconds(Math.max(2, Math.round(electionTimeoutMs(opts) / heartbeat)), heartbeat),
    checkpointIntervalMs: opts.enableLeaseCheckpoint ? (opts.leaseCheckpointIntervalMs ?? LEASE_CHECKPOINT_INTERVAL_MS) : 0,
    checkpointPersist: opts.enableLeaseCheckpoint === true && opts.leaseCheckpointPersist === true,
  });
  if (opts.enableLeaseCheckpoint && !opts.leaseCheckpointPersist) {
    opts.log("warn", "Detected that checkpointing is enabled without persistence. Consider enabling experimental-enable-lease-checkpoint-persist");
  }
  const recovered = lessor.recover(store.leasedKeys());
  if (recovered.orphans) opts.log("warn", "keys held by leases that no longer exist", { keys: recovered.orphans });
  const { wal, records, repaired } = await (opts.openWal ?? Wal.open)(walDir, { log: (level, msg) => opts.log(level, msg), segmentBytes: opts.walSegmentBytes });
  if (repaired) opts.log("warn", "repaired a torn WAL tail", { ...repaired });

  const initialCluster = opts.initialCluster ?? new Map([[opts.name, opts.initialAdvertisePeerUrls]]);
  const replayed = replayWal(records);
  let members: MemberInfo[];
  let memberId: bigint;
  let clusterId: bigint;
  const storage = replayed.storage;
  const saved = backend.getMeta("members") as string | undefined;
  const savedCluster = backend.getMeta("cluster_id") as string | undefined;
  if (replayed.metadata) {
    memberId = replayed.metadata.memberId;
    clusterId = replayed.metadata.clusterId || (savedCluster ? BigInt(`0x${savedCluster}`) : 0n);
    members = saved ? membersFromJson(saved) : [];
  } else {
    const boot = bootstrapMembers(initialCluster, opts.initialClusterToken);
    const self = boot.members.find((m) => m.name === opts.name);
    if (!self) throw new Error(`--initial-cluster does not list this member's name '${opts.name}'`);
    if ((opts.initialClusterState ?? "new") === "existing") {
      // Joining: the cluster assigned this member's id when it was added; ask the peers for it.
      const joined = await joinExisting(opts, initialCluster);
      memberId = joined.memberId;
      clusterId = joined.clusterId;
      // A joiner must answer the leader before the log tells it who is who.
      members = joined.members.filter((m) => m.id !== memberId);
      await wal.append([metadataRecord(memberId, clusterId)]);
    } else {
      memberId = self.id;
      clusterId = boot.clusterId;
      members = [];
      // Bootstrap as etcd does: one committed conf change entry per initial member, in term 1.
      const { entries: ents, hardState } = bootstrapLog(boot.members);
      storage.append(ents);
      storage.hardState = hardState;
      await wal.append([
        metadataRecord(memberId, clusterId),
        ...readyRecords({ entries: ents, hardState: storage.hardState }),
      ]);
    }
  }
  const applied = (backend.getMeta("consistent_index") as bigint | undefined) ?? 0n;
  const installed = installedSnapshot(backend);
  if (installed && installed.meta.index > storage.snapshot.meta.index && BigInt(storage.lastIndex()) < applied) {
    // The database came from the leader as a snapshot and the crash came before the WAL said so.
    storage.applySnapshot(installed);
    await wal.append([snapshotRecord(installed.meta.index, installed.meta.term, installed.meta.confState.voters, installed.meta.confState.learners)]);
    opts.log("info", "resuming from a snapshot installed before the restart", { snapshotIndex: installed.meta.index });
  }
  if (BigInt(storage.lastIndex()) < applied && !(installed && installed.meta.index === storage.snapshot.meta.index)) {
    throw new Error(
      `The WAL in '${walDir}' ends at index ${storage.lastIndex()} but the database has applied up to ${applied}: ` +
        "the WAL was removed or replaced. Restore the member from a snapshot.",
    );
  }
  return { backend, store, lessor, wal, storage, members, memberId, clusterId, applied, walEntries: replayed.entries };
}

/** How the member opens its database (a simulation keeps the handles). */
export function openBackend(opts: Pick<ServerOptions, "openBackend" | "clock" | "onStorageFailure">): (path: string) => Backend {
  return opts.openBackend ?? ((path) => new Backend(path, { clock: opts.clock, onStorageFailure: opts.onStorageFailure }));
}

/** Database copies made for peers or received from them: none is needed after a restart or an install. */
export function removeLeftoverSnapshots(snapDir: string): void {
  let names: string[];
  try {
    names = readdirSync(snapDir);
  } catch {
    return;
  }
  for (const n of names) if (/^(db\.send-\d+|db\.snapshot-.*|db\.incoming(-wal|-shm)?|received-.*\.db|receiving-.*\.part)$/.test(n)) rmSync(join(snapDir, n), { force: true });
}

/**
 * A member started with --initial-cluster-state existing: its id is the one MemberAdd gave its peer
 * URLs, and the running members tell it (etcd reads its peers' member lists the same way).
 */
async function joinExisting(opts: ServerOptions, initialCluster: ReadonlyMap<string, readonly string[]>): Promise<{ memberId: bigint; clusterId: bigint; members: MemberInfo[] }> {
  const own = [...opts.initialAdvertisePeerUrls].sort();
  const peerUrls = [...initialCluster.values()].flat().filter((u) => !own.includes(u));
  if (!opts.fetchCluster) throw new Error("joining an existing cluster needs the peer transport");
  if (peerUrls.length === 0) {
    throw new Error("--initial-cluster-state existing: --initial-cluster lists no running member to join; list the cluster's members and this one");
  }
  const remote = await opts.fetchCluster(peerUrls);
  const self = remote.members.find((m) => [...m.peerURLs].sort().join(",") === own.join(","));
  const urls = own.join(",");
  if (!self) {
    throw new Error(
      `the cluster has no member with peer URLs ${urls} (this member's --initial-advertise-peer-urls): ` +
        `add it first with 'etcdctl member add ${opts.name} --peer-urls=${urls}', then start it with --initial-cluster-state existing`,
    );
  }
  if (self.name !== "") {
    throw new Error(
      `member ${hex(self.id)} (${self.name}) with peer URLs ${urls} has already been bootstrapped and this data dir is empty: ` +
        `to replace it, 'etcdctl member remove ${hex(self.id)}' and 'etcdctl member add ${opts.name} --peer-urls=${urls}' first`,
    );
  }
  return { memberId: self.id, clusterId: remote.clusterId, members: remote.members };
}

/** The Raft snapshot a database installed from the leader stands for, if any. */
function installedSnapshot(b: Backend): Snapshot | undefined {
  const saved = b.getMeta("raft_snapshot") as string | undefined;
  if (!saved) return undefined;
  const m = JSON.parse(saved) as { index: number; term: number; confState: { voters: string[]; learners: string[] } };
  const ids = (xs: string[]) => xs.map((x) => BigInt(`0x${x}`));
  return { meta: { index: m.index, term: m.term, confState: { voters: ids(m.confState.voters), learners: ids(m.confState.learners) } }, data: new Uint8Array(0) };
}

/**
 * Creates the directory (0700) if needed and checks this user may use it; the error says what to
 * change. The entry point calls it for the data dir before locking it, recoverMember for the member's own dirs.
 */
export function ensureWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (err) {
    const user = safeUser();
    throw new Error(
      `Cannot use data directory '${dir}' as user '${user}': ${(err as Error).message}. ` +
        `Create it and give '${user}' read/write access (e.g. chown -R ${user} '${dir}'), or pick another --data-dir.`,
    );
  }
}

/** Who we run as, by name when the system knows it (the error tells the operator whom to chown to). */
function safeUser(): string {
  const uid = process.getuid?.();
  try {
    const name = userInfo().username;
    if (name && name !== "unknown") return name;
  } catch {}
  if (uid === undefined) return "unknown";
  try {
    const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.split(":")[2] === String(uid));
    if (line) return line.split(":")[0];
  } catch {}
  return `uid ${uid}`;
}
