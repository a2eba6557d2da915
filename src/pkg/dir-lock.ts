/**
 * An exclusive lock on a directory for the life of this process: flock(2) on a lock file inside it
 * (etcd locks its WAL files; one file that says what it is reads better in `ls`). The kernel drops
 * the lock when the process ends, however it ends, so a crash never leaves a stale lock behind.
 * The holder writes its PID into the file, and /proc/locks names it too, so a refused second
 * process can say who holds the directory.
 *
 * flock is reached through bun:ffi (part of the runtime, as server/systemd/notify.ts does for
 * sd_notify): Node's fs has no file locks.
 */
import { closeSync, constants, ftruncateSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";

/** The lock file's name inside a locked directory. */
export const LOCK_FILE_NAME = "etcd-ts.lock";

const LOCK_EX = 2;
const LOCK_NB = 4;
// EWOULDBLOCK differs by kernel: a busy lock mistaken for "flock unsupported" would let two servers in.
const EWOULDBLOCK = process.platform === "darwin" ? 35 : 11;
const ERRNO_NAMES: Record<number, string> = { 9: "EBADF", 22: "EINVAL", 37: "ENOLCK", 95: "EOPNOTSUPP" };

export type DirLock =
  /** Held until the process exits (the file descriptor stays open on purpose). */
  | { kind: "locked"; path: string; fd: number }
  /** Another open file holds it: `pid` when /proc/locks or the file names the holder. */
  | { kind: "busy"; path: string; pid?: number }
  /** This platform or file system cannot lock (no libc, or flock failed for another reason). */
  | { kind: "unsupported"; path: string; reason: string };

interface Libc {
  flock(fd: number, op: number): number;
  errno(): number;
}

let libc: Libc | null | undefined;

async function loadLibc(): Promise<Libc | null> {
  if (libc !== undefined) return libc;
  try {
    const { dlopen, FFIType, read } = await import("bun:ffi");
    const darwin = process.platform === "darwin";
    const lib = dlopen(darwin ? "libc.dylib" : "libc.so.6", {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      [darwin ? "__error" : "__errno_location"]: { args: [], returns: FFIType.ptr },
    });
    const errnoAt = (lib.symbols as Record<string, () => unknown>)[darwin ? "__error" : "__errno_location"];
    libc = {
      flock: (fd, op) => lib.symbols.flock(fd, op) as number,
      errno: () => read.i32(errnoAt() as never, 0),
    };
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * Takes the lock on `dir` (which must exist) without waiting. The lock file is created if missing
 * (mode 0600) and left in place afterwards: removing it would let a third process lock a new file
 * while the old one is still held.
 */
export async function lockDirectory(dir: string): Promise<DirLock> {
  const path = join(dir, LOCK_FILE_NAME);
  const c = await loadLibc();
  if (!c) return { kind: "unsupported", path, reason: "libc could not be loaded for flock(2)" };
  // Bun opens files with O_CLOEXEC, so children (the snapshot exporter) do not inherit the lock.
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
  if (c.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = c.errno();
    closeSync(fd);
    if (errno !== EWOULDBLOCK) return { kind: "unsupported", path, reason: `flock failed with ${ERRNO_NAMES[errno] ?? `errno ${errno}`}` };
    return { kind: "busy", path, pid: lockHolder(path) };
  }
  // Ours now: say who we are for the next process that finds the directory taken.
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return { kind: "locked", path, fd };
}

/** The PID holding a flock on `path`: the kernel's word first (/proc/locks), else what the holder wrote. */
export function lockHolder(path: string): number | undefined {
  try {
    const st = statSync(path);
    const pid = flockHolderFromProcLocks(readFileSync("/proc/locks", "utf8"), { major: devMajor(st.dev), minor: devMinor(st.dev), inode: st.ino });
    if (pid !== undefined) return pid;
  } catch {}
  try {
    const written = Number.parseInt(readFileSync(path, "utf8").trim(), 10);
    if (Number.isInteger(written) && written > 0) return written;
  } catch {}
  return undefined;
}

/**
 * The PID of the FLOCK line for this file in /proc/locks text ("1: FLOCK  ADVISORY  WRITE 4242
 * fe:01:131090 0 EOF"; device numbers in hex). Waiters ("1: -> FLOCK …") are skipped; a PID the
 * reader cannot see (another PID namespace) shows as 0 or -1 and counts as unknown.
 */
export function flockHolderFromProcLocks(text: string, file: { major: number; minor: number; inode: number }): number | undefined {
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] !== "FLOCK" || f.length < 6) continue;
    const [major, minor, inode] = f[5].split(":");
    if (Number.parseInt(major, 16) !== file.major || Number.parseInt(minor, 16) !== file.minor || Number(inode) !== file.inode) continue;
    const pid = Number(f[4]);
    if (Number.isInteger(pid) && pid > 0) return pid;
  }
  return undefined;
}

/** glibc's gnu_dev_major / gnu_dev_minor for a dev_t as Node's stat gives it. */
export function devMajor(dev: number): number {
  const d = BigInt(dev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}

export function devMinor(dev: number): number {
  const d = BigInt(dev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}
