// Raft snapshot files in member/snap/, one per snapshot, as etcd keeps them:
// `${term}-${index}.snap` (16 hex digits each) holding a snappb.snapshot (see
// snap-file.ts). The same directory holds the SQLite database and its journal
// files; every name that is not a snapshot file is left alone.
import { mkdir, open, readdir, readFile, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { decodeSnapFile, encodeSnapFile, type RaftSnapshot } from "./snap-file";
import { compareSnapFiles, formatSnapName, isUint64, parseSnapName, type SnapFile } from "./snap-name";
import { fsyncDir } from "../pkg/fsync-dir.ts";
import { snapFsyncSeconds, snapMarshallingSeconds, snapSaveSeconds } from "./metrics.ts";

export type { RaftSnapshot } from "./snap-file";
export type { SnapFile } from "./snap-name";

export type SnapLogLevel = "info" | "warn" | "error";
export type SnapLog = (level: SnapLogLevel, msg: string) => void;
export type SnapshotterOptions = { log?: SnapLog };
export type SnapLoadOptions = {
  /** Only a snapshot this accepts is returned (e.g. one the WAL has a marker for); others are skipped, not renamed. */
  match?: (metadata: RaftSnapshot["metadata"]) => boolean;
};

/** Appended to a file that failed its checks, as etcd does, so it is kept for inspection but never loaded again. */
export const BROKEN_SUFFIX = ".broken";
/** A save writes here first; a crash can leave one behind, which nothing reads and purge() deletes. */
export const TEMP_SUFFIX = ".tmp";

const SNAP_DIR_MODE = 0o700;
const SNAP_FILE_MODE = 0o600;

const defaultLog: SnapLog = (level, msg) => {
  const line = `snap ${level}: ${msg}`;
  if (level === "info") console.log(line);
  else console.error(line);
};

export class Snapshotter {
  readonly dir: string;
  #log: SnapLog;
  // save, loadNewest and purge create, rename and delete files: one at a time.
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dir: string, opts: SnapshotterOptions = {}) {
    this.dir = dir;
    this.#log = opts.log ?? defaultLog;
  }

  /**
   * Durably writes `snapshot` to its own file (temp file, fsync, rename, fsync
   * of the directory), so a crash leaves either the whole file or none.
   * Resolves to the file's name. Creates the directory if it is missing.
   */
  save(snapshot: RaftSnapshot): Promise<string> {
    const startMs = performance.now();
    let name: string;
    let bytes: Uint8Array;
    try {
      const { index, term } = snapshot.metadata;
      if (!isUint64(index) || !isUint64(term)) {
        throw new RangeError(`save expects a uint64 bigint index and term, got index ${String(index)}, term ${String(term)}`);
      }
      // Raft's empty snapshot; etcd skips it. Refused here so a caller's mistake is not silently lost.
      if (index === 0n) throw new RangeError("save refuses an empty snapshot (index 0)");
      if (!(snapshot.data instanceof Uint8Array)) throw new TypeError("save expects snapshot.data to be a Uint8Array");
      name = formatSnapName(term, index);
      // Encoded now, so the caller may reuse its buffers once save() returns.
      const encodeStartMs = performance.now();
      bytes = encodeSnapFile(snapshot);
      snapMarshallingSeconds.observe((performance.now() - encodeStartMs) / 1000);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#serial(async () => {
      const saved = await this.#saveNow(name, bytes);
      snapSaveSeconds.observe((performance.now() - startMs) / 1000);
      return saved;
    });
  }

  /**
   * The newest snapshot that passes its checks (and `opts.match`), or null if
   * none does. A file that fails them is renamed to `<name>.broken`, logged,
   * and the next older one is tried.
   */
  loadNewest(opts: SnapLoadOptions = {}): Promise<RaftSnapshot | null> {
    return this.#serial(() => this.#loadNewestNow(opts.match));
  }

  /** Snapshot files, oldest first; [] if the directory does not exist. Broken and temp files are not listed. */
  async list(): Promise<SnapFile[]> {
    return snapFiles(await this.#names());
  }

  /**
   * Deletes the oldest snapshot files until at most `keep` remain (etcd's
   * --max-snapshots; 0 means no limit, so none is deleted), and any temp file a
   * crashed save left behind. Resolves to the snapshot files deleted, oldest first.
   */
  purge(keep: number): Promise<string[]> {
    if (!Number.isSafeInteger(keep) || keep < 0) {
      return Promise.reject(new RangeError(`purge expects keep to be an integer >= 0, got ${String(keep)}`));
    }
    return this.#serial(() => this.#purgeNow(keep));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #saveNow(name: string, bytes: Uint8Array): Promise<string> {
    await this.#ensureDir();
    const path = join(this.dir, name);
    const tempPath = path + TEMP_SUFFIX;
    try {
      const handle = await open(tempPath, "w", SNAP_FILE_MODE);
      try {
        const writeStartMs = performance.now();
        const { bytesWritten } = await handle.write(bytes, 0, bytes.length, 0);
        if (bytesWritten !== bytes.length) throw new Error(`Short write to '${tempPath}': ${bytesWritten} of ${bytes.length} bytes`);
        await handle.sync();
        snapFsyncSeconds.observe((performance.now() - writeStartMs) / 1000);
      } finally {
        await handle.close();
      }
      await rename(tempPath, path);
    } catch (error) {
      await unlink(tempPath).catch(() => undefined);
      throw error;
    }
    await fsyncDir(this.dir);
    return name;
  }

  async #loadNewestNow(match: SnapLoadOptions["match"]): Promise<RaftSnapshot | null> {
    const files = await this.list();
    for (let i = files.length - 1; i >= 0; i--) {
      const file = files[i];
      const path = join(this.dir, file.name);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (error) {
        // Gone since the listing (another process purged it): not damage.
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        // An I/O error says nothing about the contents; renaming a good file for it would lose it.
        throw error;
      }
      const decoded = decodeSnapFile(bytes);
      let reason = decoded.ok ? "" : decoded.reason;
      if (decoded.ok) {
        const { term, index } = decoded.snapshot.metadata;
        if (term !== file.term || index !== file.index) {
          reason = `its metadata says term ${term}, index ${index}, which does not match the file name`;
        }
      }
      if (!decoded.ok || reason !== "") {
        await this.#setAside(path, reason);
        continue;
      }
      if (match && !match(decoded.snapshot.metadata)) continue;
      return decoded.snapshot;
    }
    return null;
  }

  async #setAside(path: string, reason: string): Promise<void> {
    const brokenPath = path + BROKEN_SUFFIX;
    try {
      await rename(path, brokenPath);
      await fsyncDir(this.dir);
    } catch (error) {
      this.#log("warn", `snapshot file '${path}' is damaged (${reason}) and could not be renamed to '${brokenPath}': ${(error as Error).message}; skipping it`);
      return;
    }
    this.#log("warn", `snapshot file '${path}' is damaged (${reason}); renamed it to '${brokenPath}' and skipped it`);
  }

  async #purgeNow(keep: number): Promise<string[]> {
    const deleted: string[] = [];
    const names = await this.#names();
    const files = snapFiles(names);
    if (keep > 0) {
      for (const file of files.slice(0, Math.max(0, files.length - keep))) {
        await unlinkIfPresent(join(this.dir, file.name));
        deleted.push(file.name);
      }
    }
    const temps: string[] = [];
    for (const name of names) {
      if (!name.endsWith(TEMP_SUFFIX) || parseSnapName(name.slice(0, -TEMP_SUFFIX.length)) === null) continue;
      await unlinkIfPresent(join(this.dir, name));
      temps.push(name);
    }
    // Which of these deletions survive a crash does not matter, so one directory fsync covers them all.
    if (deleted.length > 0 || temps.length > 0) await fsyncDir(this.dir);
    if (deleted.length > 0) this.#log("info", `purged ${deleted.length} snapshot file(s) (keeping the newest ${keep}): ${deleted.join(", ")}`);
    if (temps.length > 0) this.#log("info", `deleted ${temps.length} temp file(s) left by an interrupted save: ${temps.join(", ")}`);
    return deleted;
  }

  /** Every name in the directory; [] if it does not exist yet. */
  async #names(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  }

  async #ensureDir(): Promise<void> {
    const firstCreated = await mkdir(this.dir, { recursive: true, mode: SNAP_DIR_MODE });
    if (firstCreated === undefined) return;
    // A new directory entry is durable only once its parent is fsynced, for every level created.
    for (let created = this.dir; ; created = dirname(created)) {
      await fsyncDir(dirname(created));
      if (created === firstCreated || dirname(created) === created) break;
    }
  }
}

/** The snapshot files among `names`, oldest first. */
function snapFiles(names: string[]): SnapFile[] {
  const files: SnapFile[] = [];
  for (const name of names) {
    const file = parseSnapName(name);
    if (file !== null) files.push(file);
  }
  return files.sort(compareSnapFiles);
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
