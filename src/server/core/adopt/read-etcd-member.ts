/**
 * Reads a stopped etcd 3.4/3.5 member's directory as etcd itself restarts from it (etcdserver's
 * NewServer / restartNode), touching nothing:
 * 1. the WAL's snapshot markers at or below its newest commit index;
 * 2. the newest member/snap/<term>-<index>.snap that matches one of them (a broken one is skipped,
 *    as etcd skips it) — its v2 store holds the membership at that index;
 * 3. the WAL from that marker: metadata (member and cluster id), newest hard state, entries after it;
 * 4. the bbolt database, which holds the applied state up to its consistent index (or, when that is
 *    behind the snapshot, the <index>.snap.db a leader had sent, as etcd takes it).
 * Whatever etcd would refuse to start from is refused here too, naming the file and what to do.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BoltReader, decodeEtcdBackend, type EtcdBackend } from "../../../snap/bbolt/index.ts";
import { decodeSnapFile } from "../../../snap/snap-file.ts";
import { parseSnapName } from "../../../snap/snap-name.ts";
import type { Logger } from "../../../pkg/logger.ts";
import { etcdWalLog, etcdWalSnapshots, type EtcdEntry, type EtcdHardState } from "../../../wal/etcd/log.ts";
import { readEtcdWal } from "../../../wal/etcd/read.ts";
import { EMPTY_V2, readV2Store, type V2Membership } from "./v2-store.ts";

export class RefusedError extends Error {
  override name = "RefusedError";
}

export interface EtcdMemberData {
  memberId: bigint;
  clusterId: bigint;
  /** Where Raft's log starts (index 0 when etcd never took a snapshot). */
  snapshot: { index: bigint; term: bigint; voters: bigint[]; learners: bigint[]; file?: string };
  v2: V2Membership;
  hardState: EtcdHardState;
  /** The log after the snapshot, consecutive. */
  entries: EtcdEntry[];
  /** The database the state comes from, and what it holds. */
  dbPath: string;
  backend: EtcdBackend;
  consistentIndex: bigint;
  /** "3.4", "3.5" or "" (from the cluster version etcd recorded), for naming the kept copy. */
  version: string;
  /** A torn last WAL record that was left out (etcd would truncate it at its next start). */
  torn: null | { path: string; offset: number; reason: string };
}

const utf8 = new TextDecoder();

export function readEtcdMember(opts: { memberDir: string; walDir: string; log: Logger }): EtcdMemberData {
  const { memberDir, walDir, log } = opts;
  const snapDir = join(memberDir, "snap");
  if (!existsSync(walDir) || readdirSync(walDir).every((n) => !n.endsWith(".wal"))) {
    throw new RefusedError(
      `'${join(snapDir, "db")}' is an etcd database, but there is no etcd WAL in '${walDir}'. If etcd ran with --wal-dir, start etcd-ts with the same --wal-dir`,
    );
  }
  const wal = readEtcdWal(walDir);
  const markers = etcdWalSnapshots(wal);
  const snapFiles = readdirSync(snapDir)
    .flatMap((n) => {
      const f = parseSnapName(n);
      return f ? [f] : [];
    })
    .sort((a, b) => (a.index === b.index ? 0 : a.index < b.index ? 1 : -1));
  let chosen: { index: bigint; term: bigint; voters: bigint[]; learners: bigint[]; file: string; data: Uint8Array } | undefined;
  for (const f of snapFiles) {
    if (!markers.some((m) => m.index === f.index && m.term === f.term)) continue; // orphaned: written after the WAL's last marker
    const path = join(snapDir, f.name);
    const decoded = decodeSnapFile(readFileSync(path));
    if (!decoded.ok) {
      log("warn", "skipping a broken etcd snapshot file (etcd would skip it too)", { file: path, reason: decoded.reason });
      continue;
    }
    const m = decoded.snapshot.metadata;
    chosen = { index: m.index, term: m.term, voters: [...(m.confState.voters ?? [])], learners: [...(m.confState.learners ?? [])], file: path, data: decoded.snapshot.data };
    break;
  }
  const start = chosen ?? { index: 0n, term: 0n, voters: [], learners: [] };
  if (!chosen && markers.some((m) => m.index > 0n) && !markers.some((m) => m.index === 0n)) {
    throw new RefusedError(
      `etcd's WAL in '${walDir}' starts after a snapshot, but no readable snapshot file in '${snapDir}' matches it: the snapshot files were removed or damaged. ` +
        "Restore this member from a snapshot of a healthy member instead (etcdctl snapshot save, then etcd-ts's etcdctl snapshot restore)",
    );
  }
  let walLog;
  try {
    walLog = etcdWalLog(wal, walDir, start);
  } catch (err) {
    throw new RefusedError(`${(err as Error).message}. etcd cannot start from this WAL either; restore the member from a snapshot`);
  }
  const v2 = chosen ? readV2Store(chosen.data, chosen.file) : EMPTY_V2;
  if (v2.v2Keys > 0) {
    throw new RefusedError(
      `${chosen!.file} holds ${v2.v2Keys} key(s) written with etcd's v2 API; etcd-ts serves only the v3 API and cannot take over v2 data. ` +
        "Move the v2 keys to v3 with etcd 3.4 first (etcdctl migrate, or re-write them through the v3 API and delete them from v2)",
    );
  }

  let dbPath = join(snapDir, "db");
  let backend = readDb(dbPath);
  let consistentIndex = backend.consistentIndex ?? 0n;
  if (consistentIndex < start.index) {
    // etcd renames a database received from the leader to db only at its next start.
    const received = join(snapDir, `${start.index.toString(16).padStart(16, "0")}.snap.db`);
    if (existsSync(received)) {
      dbPath = received;
      backend = readDb(received);
      consistentIndex = backend.consistentIndex ?? 0n;
    }
    if (consistentIndex < start.index) {
      throw new RefusedError(
        `'${dbPath}' holds the state up to index ${consistentIndex}, older than the snapshot at index ${start.index} (${chosen?.file}): ` +
          "the database the leader sent is missing. Restore this member from a snapshot of a healthy member",
      );
    }
  }
  const lastIndex = start.index + BigInt(walLog.entries.length);
  if (consistentIndex > lastIndex) {
    throw new RefusedError(
      `'${dbPath}' has applied up to index ${consistentIndex}, but etcd's WAL in '${walDir}' ends at index ${lastIndex}: the WAL is missing its end. ` +
        "etcd cannot start from this either; restore the member from a snapshot",
    );
  }
  if (walLog.hardState.commit > lastIndex) {
    throw new RefusedError(
      `etcd's WAL in '${walDir}' says entries up to index ${walLog.hardState.commit} were committed, but it ends at index ${lastIndex}` +
        `${wal.torn ? ` (a damaged record at ${wal.torn.path} byte offset ${wal.torn.offset}: ${wal.torn.reason})` : ""}. ` +
        "etcd refuses this log too; restore the member from a snapshot of a healthy member",
    );
  }
  const storageVersion = backend.extra.find((x) => x.bucket === "meta" && utf8.decode(x.key) === "storageVersion");
  if (storageVersion) {
    throw new RefusedError(
      `'${dbPath}' has storage version ${utf8.decode(storageVersion.value)} (an etcd 3.6 or newer data dir); etcd-ts adopts the data dirs of etcd 3.4 and 3.5. ` +
        "Downgrade the cluster to 3.5 first (etcdctl downgrade enable 3.5), or move the data with etcdctl snapshot save and etcd-ts's etcdctl snapshot restore",
    );
  }
  const ver = /^(\d+\.\d+)\./.exec(backend.clusterVersion ?? v2.clusterVersion ?? "")?.[1] ?? "";
  return {
    memberId: walLog.memberId,
    clusterId: walLog.clusterId,
    snapshot: { index: start.index, term: start.term, voters: start.voters, learners: start.learners, ...(chosen ? { file: chosen.file } : {}) },
    v2,
    hardState: walLog.hardState,
    entries: walLog.entries,
    dbPath,
    backend,
    consistentIndex,
    version: ver,
    torn: wal.torn,
  };
}

function readDb(path: string): EtcdBackend {
  try {
    return decodeEtcdBackend(BoltReader.fromFile(path));
  } catch (err) {
    throw new RefusedError(`'${path}' cannot be read as etcd's database (${(err as Error).message}): the file is damaged; restore the member from a snapshot`);
  }
}
