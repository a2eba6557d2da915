/**
 * Putting a converted member directory in place of etcd's, so that a kill -9 at any point leaves
 * either etcd's untouched directory (and nothing of ours that counts) or our complete one:
 *
 *   1. build under <data-dir>/member.adopting (and <wal-dir>.adopting for a dedicated --wal-dir),
 *      fsync everything;
 *   2. rename <wal-dir>.adopting → <wal-dir>.adopted, then member.adopting → member.adopted: the
 *      commit point. Before it, the next start throws the staging away and converts again;
 *   3. rename etcd's directories aside (<data-dir>/member → member.etcd-<version>, a dedicated
 *      <wal-dir> → <wal-dir>.etcd-<version>), then ours in. Once member.adopted exists, every start
 *      finishes these renames, each done only if its source is still there, so any prefix of them
 *      completes the same way.
 * Where the originals go is recorded in member.adopted/adopted-from-etcd.json (it stays with the
 * member as a note of where its data came from).
 */
import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fsyncDir } from "../../../pkg/fsync-dir.ts";

export const ORIGIN_FILE = "adopted-from-etcd.json";

export interface AdoptPaths {
  dataDir: string;
  member: string;
  staging: string;
  committed: string;
  /** Only for a --wal-dir outside the member directory (otherwise the WAL moves with it). */
  wal?: { dir: string; staging: string; committed: string };
}

export interface Origin {
  /** Where etcd's member directory is kept (absolute). */
  kept: string;
  /** Where etcd's dedicated WAL directory is kept (absolute), if it had one. */
  walKept?: string;
  etcdVersion: string;
  clusterId: string;
  memberId: string;
  consistentIndex: string;
  revision: string;
  keys: number;
  adoptedAt: string;
}

export function adoptionPaths(dataDir: string, walDir: string): AdoptPaths {
  const member = resolve(dataDir, "member");
  const wal = resolve(walDir || join(member, "wal"));
  return {
    dataDir: resolve(dataDir),
    member,
    staging: `${member}.adopting`,
    committed: `${member}.adopted`,
    ...(wal === join(member, "wal") ? {} : { wal: { dir: wal, staging: `${wal}.adopting`, committed: `${wal}.adopted` } }),
  };
}

/** Removes what an adoption that never reached its commit point left behind; returns what it removed. */
export function discardUnfinished(p: AdoptPaths): string[] {
  const leftovers = [p.staging, ...(p.wal ? [p.wal.staging, p.wal.committed] : [])].filter((d) => existsSync(d));
  for (const d of leftovers) rmSync(d, { recursive: true, force: true });
  return leftovers;
}

/** Step 2: the converted directories, complete and fsynced, become the committed ones. */
export async function commitAdoption(p: AdoptPaths): Promise<void> {
  if (p.wal) {
    renameSync(p.wal.staging, p.wal.committed);
    await fsyncDir(dirname(p.wal.dir));
  }
  renameSync(p.staging, p.committed);
  await fsyncDir(p.dataDir);
}

export function readOrigin(p: AdoptPaths): Origin {
  return JSON.parse(readFileSync(join(p.committed, ORIGIN_FILE), "utf8")) as Origin;
}

/** Step 3, idempotent: etcd's directories aside, ours in place. */
export async function finishAdoption(p: AdoptPaths): Promise<Origin> {
  const origin = readOrigin(p);
  if (p.wal && existsSync(p.wal.committed)) {
    if (existsSync(p.wal.dir)) moveAside(p.wal.dir, origin.walKept ?? `${p.wal.dir}.etcd`);
    renameSync(p.wal.committed, p.wal.dir);
    await fsyncDir(dirname(p.wal.dir));
  }
  if (existsSync(p.member)) moveAside(p.member, origin.kept);
  renameSync(p.committed, p.member);
  await fsyncDir(p.dataDir);
  return origin;
}

function moveAside(from: string, to: string): void {
  if (existsSync(to)) {
    throw new Error(`cannot keep etcd's '${from}' as '${to}': that path exists. Move it away, then start etcd-ts again to finish the adoption`);
  }
  renameSync(from, to);
}
