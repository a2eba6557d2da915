/**
 * --auto-compaction-mode / --auto-compaction-retention, with etcd's schedule (v3compactor):
 *
 * - periodic, retention P: the current revision is sampled every min(P, 1h)/10; the first compaction
 *   comes P after start, then one every min(P, 1h), each to the oldest of the last P's samples (P
 *   and one sample interval ago). So history always covers at least the last P.
 * - revision, retention N: every 5 minutes, compact to current - N (skipped if that is not positive or
 *   did not move).
 *
 * Only the leader compacts (one proposal for the cluster); followers keep sampling so a new leader
 * knows the revisions of the last period. The schedule is a pure state machine fed with the time,
 * so it is tested without waiting; `startAutoCompaction` drives it with a timer.
 */
import type { Logger } from "../../pkg/logger.ts";

export type AutoCompactionConfig = { mode: "periodic"; periodMs: number } | { mode: "revision"; revisions: number };

const HOUR_MS = 3_600_000;
const RETRY_DIVISOR = 10;
export const REVISION_MODE_INTERVAL_MS = 5 * 60_000;

export class CompactionSchedule {
  readonly tickMs: number;
  readonly #cfg: AutoCompactionConfig;
  readonly #keep: number;
  #samples: bigint[] = [];
  #lastSuccess: number;
  #interval: number;
  #prev = 0n;

  constructor(cfg: AutoCompactionConfig, nowMs: number) {
    this.#cfg = cfg;
    if (cfg.mode === "periodic") {
      const capped = Math.min(cfg.periodMs, HOUR_MS);
      this.tickMs = capped / RETRY_DIVISOR;
      this.#keep = Math.floor(cfg.periodMs / this.tickMs) + 1;
      this.#interval = cfg.periodMs;
    } else {
      this.tickMs = REVISION_MODE_INTERVAL_MS;
      this.#keep = 0;
      this.#interval = 0;
    }
    this.#lastSuccess = nowMs;
  }

  /** Samples the revision (periodic mode), before the first wait as etcd does. */
  sample(revision: bigint): void {
    if (this.#cfg.mode !== "periodic") return;
    this.#samples.push(revision);
    if (this.#samples.length > this.#keep) this.#samples.shift();
  }

  /** After a tick: the revision to compact to now, or null. */
  due(nowMs: number, revision: bigint, isLeader: boolean): bigint | null {
    if (!isLeader) return null;
    if (this.#cfg.mode === "revision") {
      const rev = revision - BigInt(this.#cfg.revisions);
      return rev <= 0n || rev === this.#prev ? null : rev;
    }
    if (nowMs - this.#lastSuccess < this.#interval) return null;
    const rev = this.#samples[0];
    return rev !== undefined && rev > 0n ? rev : null;
  }

  /** A compaction to `revision` succeeded (or was already done). */
  done(nowMs: number, revision: bigint): void {
    this.#prev = revision;
    this.#lastSuccess = nowMs;
    // After the first full period, compact every min(P, 1h).
    if (this.#cfg.mode === "periodic") this.#interval = Math.min(this.#cfg.periodMs, HOUR_MS);
  }
}

export interface Compactable {
  currentRevision(): bigint;
  isLeader(): boolean;
  compact(revision: bigint): Promise<void>;
}

/** Runs the schedule until the returned stop function is called; nothing when retention is 0. */
export function startAutoCompaction(cfg: AutoCompactionConfig, target: Compactable, log: Logger, now: () => number = Date.now): () => void {
  if ((cfg.mode === "periodic" && cfg.periodMs <= 0) || (cfg.mode === "revision" && cfg.revisions <= 0)) return () => {};
  const schedule = new CompactionSchedule(cfg, now());
  const retention = cfg.mode === "periodic" ? `${cfg.periodMs} ms` : `${cfg.revisions} revisions`;
  log("info", `auto compaction enabled (${cfg.mode}, retention ${retention})`, { tickMs: schedule.tickMs });
  let running = false;
  schedule.sample(target.currentRevision());
  const timer = setInterval(() => {
    if (running) return;
    const rev = schedule.due(now(), target.currentRevision(), target.isLeader());
    schedule.sample(target.currentRevision());
    if (rev === null) return;
    running = true;
    const started = now();
    log("info", `starting auto ${cfg.mode} compaction`, { revision: rev.toString(), retention });
    target.compact(rev).then(
      () => {
        schedule.done(now(), rev);
        log("info", `completed auto ${cfg.mode} compaction`, { revision: rev.toString(), tookMs: now() - started });
      },
      (err: Error) => {
        // Already compacted that far is success, as etcd counts it.
        if (/required revision has been compacted/.test(err.message)) schedule.done(now(), rev);
        else log("warn", `failed auto ${cfg.mode} compaction; retrying`, { revision: rev.toString(), error: err.message });
      },
    ).finally(() => (running = false));
  }, schedule.tickMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
