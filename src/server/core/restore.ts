/**
 * `etcdctl snapshot restore` (etcdutl's job in etcd 3.5): a new data directory from a snapshot file,
 * holding the snapshot's keys, revisions and leases under a new membership. As etcd's restore, the
 * directory starts from a Raft snapshot at index n (n = the number of members of `initialCluster`),
 * so every member restored with the same --initial-cluster and token holds the same state at the
 * same log position and they form one cluster:
 * - member/snap/db: the snapshot's database, with the members of the new cluster, the consistent
 *   index n, and nothing of the old cluster's Raft state;
 * - member/snap/<term>-<index>.snap: the Raft snapshot (index n, term 1, the members as voters), as the
 *   server writes one at each checkpoint;
 * - member/wal (or walDir): this member's id and the cluster's, a snapshot marker at (n, 1) and the hard
 *   state (term 1, commit n). The log is empty after the marker.
 * Why a snapshot and not the bootstrap log (conf changes 1..n) a fresh member writes: a member added
 * later is caught up from the leader's log, and a log from index 1 holds the membership but none of
 * the keys, which are only in the database. With the log starting after index n, the leader has to
 * send a new member its database.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { fsyncDir } from "../../pkg/fsync-dir.ts";
import { Snapshotter } from "../../snap/snapshotter.ts";
import { bootstrapMembers, hex, type MemberInfo, membersToJson } from "./membership.ts";
import { type LogStart, memberStartRecords, writeWal } from "./raft-wal.ts";
import { importEtcdBackend, readEtcdSnapshot } from "./etcd-snapshot.ts";
import { hasChecksum, openSnapshotDb, probeFile, requireSnapshot, SHA256_BYTES } from "./snapshot-file.ts";

export interface RestoreInput {
  snapshotPath: string;
  dataDir: string;
  /** "" for dataDir/member/wal. */
  walDir: string;
  /** This member's name: one of initialCluster's. */
  name: string;
  /** name → peer URLs, in --initial-cluster order (validated by the caller, as the server's config). */
  initialCluster: ReadonlyMap<string, readonly string[]>;
  initialClusterToken: string;
  skipHashCheck: boolean;
  /** Bytes of the database copied so far, of the total. */
  progress?(done: number, total: number): void;
}

export interface RestoreResult {
  memberId: bigint;
  clusterId: bigint;
  revision: bigint;
  /** Every member of the restored cluster, in --initial-cluster order (etcdctl logs "added member" for each). */
  members: { id: bigint; peerURLs: string[] }[];
  /** The Raft snapshot the member's log starts after. */
  start: LogStart;
}

const COPY_CHUNK_BYTES = 4 * 1024 * 1024;

/** Meta entries that belong to the old cluster's Raft state and must not follow the data. */
const OLD_CLUSTER_META = ["raft_snapshot", "cluster_id", "alarms"];

export async function restoreSnapshot(input: RestoreInput): Promise<RestoreResult> {
  const { snapshotPath } = input;
  // Built under a staging name and renamed into place when complete: a restore killed halfway (where
  // no cleanup runs) must not leave a directory that would start as an empty member.
  const finalData = input.dataDir;
  const dataDir = `${finalData}.restoring`;
  const stagedWal = input.walDir ? `${input.walDir}.restoring` : "";
  const walDir = stagedWal || join(dataDir, "member", "wal");
  for (const leftover of [dataDir, stagedWal].filter((d) => d && existsSync(d))) {
    throw new Error(`"${leftover}" is left from an interrupted restore: remove it and run the restore again`);
  }
  if (existsSync(finalData)) {
    throw new Error(`data-dir "${finalData}" exists: restore into a new directory (a restore never overwrites one), or remove it first`);
  }
  if (input.walDir && existsSync(input.walDir)) {
    throw new Error(`wal-dir "${input.walDir}" exists: restore into a new directory (a restore never overwrites one), or remove it first`);
  }
  const boot = bootstrapMembers(input.initialCluster, input.initialClusterToken);
  const self = boot.members.find((m) => m.name === input.name);
  if (!self) throw new Error(`--initial-cluster does not list this member's name '${input.name}' (--name)`);
  // Names stay empty until each member publishes its own, as after a fresh bootstrap.
  const members: MemberInfo[] = boot.members.map((m) => ({ ...m, name: "" }));
  // The same on every member restored with these flags: index and term fixed, voters sorted by id.
  const start: LogStart = { index: members.length, term: 1, voters: members.map((m) => m.id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), learners: [] };

  const { kind, sizeBytes } = probeFile(snapshotPath);
  requireSnapshot(snapshotPath, kind);
  const withHash = hasChecksum(sizeBytes);
  if (!withHash && !input.skipHashCheck) {
    throw new Error(
      `snapshot missing hash but --skip-hash-check=false: ${snapshotPath} does not end with the sha256 'snapshot save' appends ` +
        "(a database copied out of a data directory has none); add --skip-hash-check to restore it anyway",
    );
  }

  const snapDir = join(dataDir, "member", "snap");
  const dbPath = join(snapDir, "db");
  // Whatever fails from here leaves nothing behind: a half-restored directory would start as a member.
  try {
    mkdirSync(snapDir, { recursive: true, mode: 0o700 }); // as the server creates them
    if (kind === "bbolt") await importEtcd(snapshotPath, dbPath, input);
    else await copyDatabase(snapshotPath, dbPath, sizeBytes, withHash, input);
    const revision = rewriteMembership(dbPath, snapshotPath, members, start, self.id);
    await saveSnapFile(snapDir, start, members);
    // Term 1 with no vote: the members elect a leader in term 2, as a freshly bootstrapped cluster.
    await writeWal(walDir, memberStartRecords({ memberId: self.id, clusterId: boot.clusterId, start, hardState: { term: start.term, vote: 0n, commit: start.index } }));
    // The WAL and the .snap file fsynced their own directories; the database's entries must be durable too.
    for (const dir of [snapDir, dirname(snapDir), dataDir]) await fsyncDir(dir);
    renameSync(dataDir, finalData);
    await fsyncDir(dirname(resolve(finalData)));
    if (stagedWal) {
      renameSync(stagedWal, input.walDir);
      await fsyncDir(dirname(resolve(input.walDir)));
    }
    return { memberId: self.id, clusterId: boot.clusterId, revision, members: members.map((m) => ({ id: m.id, peerURLs: [...m.peerURLs] })), start };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    if (stagedWal) rmSync(stagedWal, { recursive: true, force: true });
    throw err;
  }
}

/**
 * An etcd snapshot (saved from a real etcd, or from etcd-ts's Snapshot RPC): its buckets become our
 * database. Progress is reported per phase (read and check, then write), as a whole-file step each.
 */
async function importEtcd(from: string, to: string, input: RestoreInput): Promise<void> {
  let backend;
  try {
    ({ backend } = readEtcdSnapshot(from, input.skipHashCheck));
  } catch (err) {
    const why = (err as Error).message;
    if (/sha256 mismatch/.test(why)) throw new Error(`${from} is damaged: ${why}. Restore an intact copy; --skip-hash-check restores it anyway`);
    throw new Error(`${from} cannot be read as an etcd snapshot (${why}): the file is damaged; save a new snapshot`);
  }
  input.progress?.(1, 2);
  await new Promise<void>((r) => setImmediate(r));
  try {
    importEtcdBackend(backend, to);
  } catch (err) {
    throw new Error(`${from}: ${(err as Error).message}`);
  }
  input.progress?.(2, 2);
}

/** Copies the database part of the snapshot (fsynced), checking the trailing sha256 unless told not to. */
async function copyDatabase(from: string, to: string, sizeBytes: number, withHash: boolean, input: RestoreInput): Promise<void> {
  const dbBytes = withHash ? sizeBytes - SHA256_BYTES : sizeBytes;
  const src = openSync(from, "r");
  const dst = openSync(to, "wx", 0o600);
  try {
    const hash = createHash("sha256");
    const buf = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
    for (let off = 0; off < dbBytes; ) {
      const n = readSync(src, buf, 0, Math.min(buf.length, dbBytes - off), off);
      if (n === 0) throw new Error(`${from} ended at byte ${off} while ${dbBytes} were expected; the file changed while it was read`);
      hash.update(buf.subarray(0, n));
      for (let w = 0; w < n; ) w += writeSync(dst, buf, w, n - w, off + w);
      off += n;
      input.progress?.(off, dbBytes);
      await new Promise<void>((r) => setImmediate(r));
    }
    if (dbBytes === 0) input.progress?.(0, 0);
    if (withHash && !input.skipHashCheck) {
      const expected = Buffer.alloc(SHA256_BYTES);
      readSync(src, expected, 0, SHA256_BYTES, dbBytes);
      const got = hash.digest();
      if (!got.equals(expected)) {
        throw new Error(
          `sha256 mismatch: ${from} is damaged (its content hashes to ${got.toString("hex")}, but it ends with ${expected.toString("hex")}). ` +
            "Restore an intact copy; --skip-hash-check restores it anyway",
        );
      }
    }
    fsyncSync(dst);
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}

/**
 * Puts the new cluster's members into the copied database and forgets the old cluster's Raft state.
 * The consistent index becomes the snapshot's index: the database is the state the log starts after.
 */
function rewriteMembership(dbPath: string, snapshotPath: string, members: MemberInfo[], start: LogStart, self: bigint): bigint {
  const check = openSnapshotDb(dbPath);
  try {
    const problems = check.problems();
    if (problems.length) throw new Error(`${snapshotPath} is damaged (${problems.slice(0, 3).join("; ")}); restore an intact copy`);
  } finally {
    check.close();
  }
  const b = new Backend(dbPath);
  try {
    const revision = (b.getMeta("rev") as bigint | undefined) ?? 1n;
    b.batch(() => {
      b.setMeta("members", membersToJson(members));
      b.setMeta("consistent_index", BigInt(start.index));
      // The old cluster's alarms name its members; they mean nothing to the new one.
      const forget = b.prepare("DELETE FROM meta WHERE name = ?1");
      for (const name of OLD_CLUSTER_META) forget.run(name);
    });
    if (!b.checkpoint()) throw new Error(`could not make ${dbPath} durable (checkpoint incomplete) for member ${hex(self)}`);
    return revision;
  } finally {
    b.close();
  }
}

/** The Raft snapshot as a member/snap/<term>-<index>.snap file with the membership, as the server's checkpoints write it. */
async function saveSnapFile(snapDir: string, start: LogStart, members: MemberInfo[]): Promise<void> {
  const snapshotter = new Snapshotter(snapDir, { log: () => {} });
  await snapshotter.save({
    metadata: { index: BigInt(start.index), term: BigInt(start.term), confState: { voters: start.voters, learners: start.learners } },
    data: new TextEncoder().encode(membersToJson(members)),
  });
}
