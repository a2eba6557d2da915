import { mkdir, readdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { WalCorruptError } from "./errors";
import { fsyncDir } from "../pkg/fsync-dir.ts";
import { parseSegmentName, type SegmentId } from "./segment-name";

const WAL_DIR_MODE = 0o700;

/** Creates `dir` (and missing parents) durably; warns if others can read an existing one. */
export async function ensureWalDir(dir: string, log: (level: "warn", msg: string) => void): Promise<void> {
  const firstCreated = await mkdir(dir, { recursive: true, mode: WAL_DIR_MODE });
  if (firstCreated !== undefined) {
    // A new directory entry is only durable once its parent is fsynced, for
    // every level we created.
    for (let created = dir; ; created = dirname(created)) {
      await fsyncDir(dirname(created));
      if (created === firstCreated || dirname(created) === created) break;
    }
    return;
  }
  const { mode } = await stat(dir);
  if ((mode & 0o077) !== 0) {
    log("warn", `WAL directory ${dir} has mode 0${(mode & 0o777).toString(8)}; expected 0700 (it holds every key and value)`);
  }
}

export type ListedSegment = { name: string; id: SegmentId };

/** Segment files in sequence order; throws if the sequence has a gap (a lost file). */
export async function listSegments(dir: string): Promise<ListedSegment[]> {
  const listed: ListedSegment[] = [];
  for (const name of await readdir(dir)) {
    const id = parseSegmentName(name);
    if (id !== null) listed.push({ name, id });
  }
  listed.sort((a, b) => (a.id.seq < b.id.seq ? -1 : a.id.seq > b.id.seq ? 1 : 0));
  for (let i = 1; i < listed.length; i++) {
    const expectedSeq = listed[i - 1].id.seq + 1n;
    if (listed[i].id.seq !== expectedSeq) {
      throw new WalCorruptError(
        join(dir, listed[i].name),
        0,
        `segment with seq ${expectedSeq} is missing before this file (after ${listed[i - 1].name}), so records between them are lost`,
      );
    }
  }
  return listed;
}
