/**
 * Whether another process holds an exclusive flock(2) on a file — how a running etcd shows itself:
 * bbolt locks member/snap/db for as long as etcd has it open. Converting a directory etcd is still
 * writing would copy a moving target and then move it from under etcd, so the adoption refuses.
 * node:fs has no flock, so the one libc call goes through bun:ffi (as server/systemd does).
 */
import { closeSync, openSync } from "node:fs";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

type Flock = (fd: number, op: number) => number;
let flock: Flock | null | undefined;

async function loadFlock(): Promise<Flock | null> {
  if (flock !== undefined) return flock;
  try {
    const { dlopen, FFIType } = await import("bun:ffi");
    const lib = dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    });
    flock = lib.symbols.flock as unknown as Flock;
  } catch {
    flock = null;
  }
  return flock;
}

/** true: someone holds the lock; false: free (taken and released at once); undefined: cannot tell here. */
export async function lockedByAnother(path: string): Promise<boolean | undefined> {
  const f = await loadFlock();
  if (!f) return undefined;
  const fd = openSync(path, "r");
  try {
    if (f(fd, LOCK_EX | LOCK_NB) !== 0) return true;
    f(fd, LOCK_UN);
    return false;
  } finally {
    closeSync(fd);
  }
}
