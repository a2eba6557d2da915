/**
 * `etcdctl snapshot restore` (etcdutl's job in etcd 3.5): a new data directory from a snapshot file,
 * holding the snapshot's keys, revisions and leases under a new membership. The directory is what a
 * fresh member of `initialCluster` would have after applying its bootstrap log, so every member
 * restored with the same --initial-cluster and token forms one cluster:
 * - member/snap/db: the snapshot's database, with the members of the new cluster, the consistent
 *   index at the end of the bootstrap log, and nothing of the old cluster's Raft state;
 * - member/wal (or walDir): this member's id and the cluster's, the bootstrap log (one conf change per
 *   member, committed, term 1) as a new member writes it (bootstrap.ts).
 * On start the member replays that log (skipping what the database holds) and elects a leader.
 */
import { createHash } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { fsyncDir } from "../../pkg/fsync-dir.ts";
import { Wal } from "../../wal/wal.ts";
import { bootstrapLog } from "./bootstrap.ts";
import { bootstrapMembers, hex, membersToJson } from "./membership.ts";
import { metadataRecord, readyRecords } from "./raft-wal.ts";
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
    const revision = rewriteMembership(dbPath, snapshotPath, boot.members, self.id);
    const { wal } = await Wal.open(walDir, { log: () => {} });
    try {
      const { entries, hardState } = bootstrapLog(boot.members);
      await wal.append([
        metadataRecord(self.id, boot.clusterId),
        ...readyRecords({ entries, hardState, committedEntries: [], messages: [], readStates: [], mustSync: true }),
      ]);
    } finally {
      await wal.close();
    }
    // The WAL fsynced its own directories; the database's entries must be durable too.
    for (const dir of [snapDir, dirname(snapDir), dataDir]) await fsyncDir(dir);
    renameSync(dataDir, finalData);
    await fsyncDir(dirname(resolve(finalData)));
    if (stagedWal) {
      renameSync(stagedWal, input.walDir);
      await fsyncDir(dirname(resolve(input.walDir)));
    }
    return { memberId: self.id, clusterId: boot.clusterId, revision };
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
 * The consistent index becomes the bootstrap log's last index: the members it adds are already here.
 */
function rewriteMembership(dbPath: string, snapshotPath: string, members: ReturnType<typeof bootstrapMembers>["members"], self: bigint): bigint {
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
      // Names stay empty until each member publishes its own, as after a fresh bootstrap.
      b.setMeta("members", membersToJson(members.map((m) => ({ ...m, name: "" }))));
      b.setMeta("consistent_index", BigInt(members.length));
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
