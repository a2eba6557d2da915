/**
 * Starting etcd-ts on a stopped etcd 3.4/3.5 member's data dir (or one made by etcd's `etcdctl
 * snapshot restore`): the directory is converted once into etcd-ts's format and etcd's own files
 * are kept beside it, untouched, so the upgrade is "stop etcd, replace the binary, start".
 *
 * How (the design, in short):
 * - etcd's database holds the state up to its consistent index; the WAL holds the log. etcd-ts
 *   already restarts that way — its database plus a consistent index, and its WAL replayed past it
 *   (applying skips what the database holds). So the conversion copies the database
 *   (adopt/import-db.ts) and rewrites etcd's WAL as ours, entry for entry with the same index and
 *   term (adopt/convert-log.ts); the server then applies the committed entries past the consistent
 *   index with its own apply code at start, and Raft keeps the uncommitted ones. Nothing is applied
 *   during the conversion, so there is one apply path, and every member converts its log alike.
 *   Normal entries are etcd's InternalRaftRequests, which ours are too (same field numbers); only
 *   the payloads we read differently are rewritten (conf-change contexts, v2 publishes, 3.4's plain
 *   passwords).
 * - The membership in the database is the one as of the consistent index: etcd's v2 store from
 *   the snapshot file plus the conf changes and publishes in the log up to that index (what etcd
 *   3.4/3.5 serve; their members bucket can be stale). Later conf changes are replayed at start.
 * - Crash safety: adopt/swap-dirs.ts (build under a staging name, fsync, rename).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import type { Logger } from "../../pkg/logger.ts";
import { fsyncDir } from "../../pkg/fsync-dir.ts";
import type { Entry } from "../../raft/types.ts";
import { EtcdWalError, listEtcdWalSegments, startsLikeEtcdSegment } from "../../wal/etcd/read.ts";
import type { EtcdEntry } from "../../wal/etcd/log.ts";
import { convertEntry, membershipAt } from "./adopt/convert-log.ts";
import { lockedByAnother } from "./adopt/held-lock.ts";
import { type ImportedDb, importEtcdDb } from "./adopt/import-db.ts";
import { type EtcdMemberData, readEtcdMember } from "./adopt/read-etcd-member.ts";
import { type AdoptPaths, adoptionPaths, commitAdoption, discardUnfinished, finishAdoption, ORIGIN_FILE, type Origin } from "./adopt/swap-dirs.ts";
import { hex, type MemberInfo } from "./membership.ts";
import { memberStartRecords, writeWal } from "./raft-wal.ts";
import { fileKind } from "./snapshot-file.ts";

export interface AdoptOptions {
  dataDir: string;
  /** --wal-dir ("" or the default <data-dir>/member/wal when etcd kept its WAL there). */
  walDir: string;
  log: Logger;
  /** bcrypt cost for the plain-text passwords in etcd 3.4's log (--bcrypt-cost). */
  bcryptCost?: number;
}

/** "adopted" when the data dir was etcd's (converted now, or earlier), "not-etcd" when there was nothing to do. */
export async function adoptEtcdDataDir(opts: AdoptOptions): Promise<"adopted" | "not-etcd"> {
  const { log } = opts;
  const p = adoptionPaths(opts.dataDir, opts.walDir);
  if (existsSync(p.committed)) {
    // A conversion completed, but the directories were not all in place when it was interrupted.
    const origin = await finishAdoption(p);
    log("info", "finished an interrupted adoption of an etcd data dir", { dataDir: opts.dataDir, keptAt: origin.kept, ...(origin.walKept ? { walKeptAt: origin.walKept } : {}) });
    return "adopted";
  }
  const discarded = discardUnfinished(p);
  if (discarded.length) log("warn", "removed an etcd data dir conversion that was interrupted before it completed; converting again", { removed: discarded });

  const db = join(p.member, "snap", "db");
  const walDir = p.wal?.dir ?? join(p.member, "wal");
  if (!existsSync(db)) {
    if (firstSegmentIsEtcd(walDir)) {
      throw new Error(`'${walDir}' holds etcd's WAL but '${db}' is missing: etcd cannot start without its database either. Restore this member from a snapshot`);
    }
    return "not-etcd";
  }
  if (fileKind(head(db)) !== "bbolt") return "not-etcd";
  if (await lockedByAnother(db)) {
    throw new Error(`'${db}' is locked by another process: etcd is still running on '${opts.dataDir}'. Stop it, then start etcd-ts`);
  }

  const started = performance.now();
  log("info", "found an etcd data dir: converting it once to etcd-ts's format (etcd's files are kept unchanged beside it)", { dataDir: opts.dataDir, walDir });
  const etcd = readMember(p.member, walDir, log);
  const where = (e: EtcdEntry) => `entry ${e.index} (term ${e.term}) of etcd's WAL in '${walDir}'`;
  const { members } = membershipAt(etcd.v2, etcd.entries, etcd.consistentIndex, where);
  const cost = opts.bcryptCost ?? 10;
  const entries: Entry[] = [];
  for (const e of etcd.entries) entries.push(await convertEntry(e, { where, hashPassword: (pw) => bcrypt.hash(pw, cost) }));

  const suffix = etcd.version ? `.etcd-${etcd.version}` : ".etcd";
  const kept = { member: `${p.member}${suffix}`, wal: p.wal ? `${p.wal.dir}${suffix}` : undefined };
  for (const path of [kept.member, kept.wal]) {
    if (path && existsSync(path)) throw new Error(`cannot keep etcd's files as '${path}': that path exists (an earlier adoption?). Move it away, then start etcd-ts again`);
  }
  let built: { imported: ImportedDb; origin: Origin };
  try {
    built = await buildStaging(p, etcd, { members, entries, kept, log });
  } catch (err) {
    // Before the commit point: etcd's files are as they were, and none of ours may stay.
    discardUnfinished(p);
    throw err;
  }
  await commitAdoption(p);
  await finishAdoption(p);
  const { imported, origin } = built;
  log("info", "adopted an etcd data dir", {
    etcdVersion: origin.etcdVersion,
    clusterId: origin.clusterId,
    memberId: origin.memberId,
    members: members.length,
    revision: imported.revision,
    compactRevision: imported.compactRevision,
    keys: imported.keys,
    leases: etcd.backend.leases.length,
    authEnabled: !!etcd.backend.authEnabled,
    consistentIndex: etcd.consistentIndex,
    entriesToReplay: entries.filter((e) => BigInt(e.index) > etcd.consistentIndex).length,
    keptAt: kept.member,
    ...(kept.wal ? { walKeptAt: kept.wal } : {}),
    tookMs: Math.round(performance.now() - started),
  });
  return "adopted";
}

function readMember(memberDir: string, walDir: string, log: Logger): EtcdMemberData {
  let etcd: EtcdMemberData;
  try {
    etcd = readEtcdMember({ memberDir, walDir, log });
  } catch (err) {
    if (err instanceof EtcdWalError) {
      throw new Error(`${err.message}. This is not a torn last record, so etcd would refuse to start from it too; restore the member from a snapshot of a healthy member`);
    }
    throw err;
  }
  if (etcd.torn) log("warn", "leaving out etcd's torn last WAL record (etcd would truncate it at its next start)", { ...etcd.torn });
  return etcd;
}

/** Our member directory (and dedicated WAL directory) under their staging names, complete and fsynced. */
async function buildStaging(
  p: AdoptPaths,
  etcd: EtcdMemberData,
  o: { members: MemberInfo[]; entries: Entry[]; kept: { member: string; wal?: string }; log: Logger },
): Promise<{ imported: ImportedDb; origin: Origin }> {
  mkdirSync(join(p.staging, "snap"), { recursive: true, mode: 0o700 });
  o.log("info", "copying etcd's database", { from: etcd.dbPath, revisions: etcd.backend.keys.length, leases: etcd.backend.leases.length });
  const imported = importEtcdDb(etcd.backend, join(p.staging, "snap", "db"), {
    members: o.members,
    consistentIndex: etcd.consistentIndex,
    progress: (done, total) => o.log("info", "copying etcd's database", { revisionsDone: done, revisionsTotal: total }),
  });
  // The entries the database holds were committed, whatever the last hard state written says.
  const commit = etcd.hardState.commit > etcd.consistentIndex ? etcd.hardState.commit : etcd.consistentIndex;
  const snap = etcd.snapshot;
  await writeWal(
    p.wal?.staging ?? join(p.staging, "wal"),
    memberStartRecords({
      memberId: etcd.memberId,
      clusterId: etcd.clusterId,
      start: { index: Number(snap.index), term: Number(snap.term), voters: snap.voters, learners: snap.learners },
      entries: o.entries,
      hardState: { term: Number(etcd.hardState.term), vote: etcd.hardState.vote, commit: Number(commit) },
    }),
  );
  const origin: Origin = {
    kept: o.kept.member,
    ...(o.kept.wal ? { walKept: o.kept.wal } : {}),
    etcdVersion: etcd.backend.clusterVersion ?? etcd.v2.clusterVersion ?? "",
    clusterId: hex(etcd.clusterId),
    memberId: hex(etcd.memberId),
    consistentIndex: String(etcd.consistentIndex),
    revision: String(imported.revision),
    keys: imported.keys,
    adoptedAt: new Date().toISOString(),
  };
  writeDurably(join(p.staging, ORIGIN_FILE), `${JSON.stringify(origin, null, 2)}\n`);
  for (const dir of [join(p.staging, "snap"), p.staging]) await fsyncDir(dir);
  return { imported, origin };
}

function writeDurably(path: string, text: string): void {
  const fd = openSync(path, "wx", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function head(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(32);
    return b.subarray(0, readSync(fd, b, 0, b.length, 0));
  } finally {
    closeSync(fd);
  }
}

function firstSegmentIsEtcd(walDir: string): boolean {
  if (!existsSync(walDir) || readdirSync(walDir).length === 0) return false;
  const first = listEtcdWalSegments(walDir)[0];
  return !!first && startsLikeEtcdSegment(head(first.path));
}
