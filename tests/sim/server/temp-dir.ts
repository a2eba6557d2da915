import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A fresh directory for one run's member files: on tmpfs when there is one (SQLite and .snap fsyncs
 * cost no disk I/O), named with this process's pid so a run's leftovers are told from another's.
 */
export function runDir(prefix: string): string {
  return mkdtempSync(join(onTmpfs() ? "/dev/shm" : tmpdir(), `${prefix}-${process.pid}-`));
}

function onTmpfs(): boolean {
  try {
    return statSync("/dev/shm").isDirectory();
  } catch {
    return false;
  }
}

/** An error as a line for a violation or a trace. */
export function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
