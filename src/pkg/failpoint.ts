// Crash-test failpoints. ETCD_TS_FAILPOINT=<name> acts on the Nth hit of that failpoint,
// N = ETCD_TS_FAILPOINT_AFTER (default 50); what it does is ETCD_TS_FAILPOINT_ACTION:
// - exit (default): the process dies with exit code 137 (what a shell reports for kill -9);
// - error: the failpoint throws once, as a failed write or fsync would at that point;
// - sleep:<ms>: the thread stalls there for ms, once (a slow disk, a stuck apply).
// A counter instead of randomness keeps crash tests reproducible.

import { writeFileSync } from "node:fs";
import { join } from "node:path";

const KILLED_EXIT_CODE = 137;
const DEFAULT_AFTER_HITS = 50;

export type FailpointAction = { kind: "exit" } | { kind: "error" } | { kind: "sleep"; ms: number };
type Armed = { name: string; afterHits: number; action: FailpointAction };

// undefined = env not read yet; null = read, nothing armed.
let armed: Armed | null | undefined;
let hits = 0;

export function parseFailpointEnv(env: Record<string, string | undefined>): Armed | null {
  const name = env.ETCD_TS_FAILPOINT;
  if (!name) return null;
  const raw = env.ETCD_TS_FAILPOINT_AFTER;
  const afterHits = raw === undefined || raw === "" ? DEFAULT_AFTER_HITS : Number(raw);
  // A typo here would silently disable a crash test, so refuse it loudly.
  if (!Number.isSafeInteger(afterHits) || afterHits < 1) {
    throw new Error(`ETCD_TS_FAILPOINT_AFTER must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return { name, afterHits, action: parseAction(env.ETCD_TS_FAILPOINT_ACTION) };
}

function parseAction(raw: string | undefined): FailpointAction {
  if (raw === undefined || raw === "" || raw === "exit") return { kind: "exit" };
  if (raw === "error") return { kind: "error" };
  const sleep = /^sleep:(\d{1,7})$/.exec(raw);
  if (sleep) return { kind: "sleep", ms: Number(sleep[1]) };
  throw new Error(`ETCD_TS_FAILPOINT_ACTION must be exit, error or sleep:<ms>, got ${JSON.stringify(raw)}`);
}

/** Reads the environment once; later calls are no-ops. */
export function initFailpoints(): void {
  if (armed === undefined) armed = parseFailpointEnv(process.env);
}

export function failpoint(name: string): void {
  if (armed === undefined) initFailpoints();
  if (armed === null || armed === undefined || armed.name !== name) return;
  hits++;
  if (hits !== armed.afterHits) return;
  const a = armed.action;
  if (a.kind === "exit") process.exit(KILLED_EXIT_CODE);
  if (a.kind === "error") throw new Error(`injected fault at failpoint ${name} (ETCD_TS_FAILPOINT_ACTION=error)`);
  // A real stall: nothing else of this process runs meanwhile, timers and I/O callbacks included.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, a.ms);
}

/** The bugs a test may plant in a real server (ServerOptions.unsafeBug), by ETCD_TS_UNSAFE_BUG. */
export const UNSAFE_BUGS = ["ack-before-fsync", "apply-twice-after-restart", "watch-skip-on-compaction"] as const;
export type UnsafeBug = (typeof UNSAFE_BUGS)[number];

/**
 * ETCD_TS_UNSAFE_BUG=<name>: the robustness suite's self-test runs the compiled server with one known
 * bug, to show its checkers catch it. A name it does not know is refused, so a typo cannot make a
 * self-test pass by planting nothing.
 */
export function parseUnsafeBugEnv(env: Record<string, string | undefined>): UnsafeBug | undefined {
  const name = env.ETCD_TS_UNSAFE_BUG;
  if (!name) return undefined;
  if (!(UNSAFE_BUGS as readonly string[]).includes(name)) {
    throw new Error(`ETCD_TS_UNSAFE_BUG must be one of ${UNSAFE_BUGS.join(", ")}, got ${JSON.stringify(name)}`);
  }
  return name as UnsafeBug;
}

/** Where ETCD_TS_RECORD_SYNCED notes the WAL's durable end, inside the WAL directory. */
export const SYNCED_NOTE_NAME = ".etcd-ts-synced";
let noteSyncs: boolean | undefined;

/**
 * ETCD_TS_RECORD_SYNCED=1: after every fdatasync the WAL notes which segment is durable up to which
 * byte, so the robustness suite can cut a killed member's WAL back to what a power cut would leave
 * (everything written after the last fdatasync gone, or torn). The note itself is not synced: a
 * SIGKILL keeps the page cache, and the suite reads it right after one.
 */
export function noteWalSynced(dir: string, segmentName: string, bytes: number): void {
  if (recordingSyncs()) writeFileSync(join(dir, SYNCED_NOTE_NAME), `${segmentName} ${bytes}\n`);
}

/**
 * Beside the database, with ETCD_TS_RECORD_SYNCED=1: a copy of it as of its last sync (a log
 * checkpoint, a snapshot installed), for power cuts that also lose SQLite's unsynced commits.
 */
export const DB_SYNCED_COPY_SUFFIX = ".etcd-ts-synced";

export function recordingSyncs(): boolean {
  noteSyncs ??= process.env.ETCD_TS_RECORD_SYNCED === "1";
  return noteSyncs;
}
