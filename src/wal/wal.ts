// The durability point of the server: append() resolves only after the
// records are fdatasync'ed. See group-commit.ts for batching, segment-reader.ts
// for torn-tail repair versus corruption.
import { readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { failpoint, initFailpoints, noteWalSynced } from "../pkg/failpoint";
import { WalClosedError } from "./errors";
import { encodeRecords } from "./frame";
import { fsyncDir } from "../pkg/fsync-dir.ts";
import { GroupCommit } from "./group-commit";
import { assertValidRecord, isUint64, MAX_UINT64, type WalRecord } from "./record";
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from "./segment-header";
import { SegmentFile } from "./segment-file";
import { formatSegmentName, type SegmentId } from "./segment-name";
import { readSegment } from "./segment-reader";
import { ensureWalDir, listSegments } from "./wal-dir";
import { walFsyncSeconds, walWriteBytes, walWriteSeconds } from "./metrics.ts";

export { WalClosedError, WalCorruptError } from "./errors";
export type { WalRecord } from "./record";

export type WalLogLevel = "info" | "warn" | "error";
export type WalLog = (level: WalLogLevel, msg: string) => void;
export type WalOptions = { segmentBytes?: number; log?: WalLog };
export type WalRepair = { segment: string; offset: number; droppedBytes: number };
export type WalOpenResult = { wal: Wal; records: WalRecord[]; repaired: WalRepair | null };
export type WalStats = { segments: number; bytes: number; fsyncs: number; lastFsyncMs: number };
/**
 * How much of what a purge releases it deletes. Without `maxSegments`, every released segment goes.
 * With it, released segments are deleted, oldest first, only while more than `maxSegments` segment
 * files exist (etcd's --max-wals); 0 means no limit, so nothing is deleted.
 */
export type WalPurgeOptions = { maxSegments?: number };

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
// Below this, the header alone would take a noticeable share of each segment.
export const MIN_SEGMENT_BYTES = 1024;

type SegmentInfo = { name: string; id: SegmentId; sizeBytes: number };
type PendingAppend = { bytes: Uint8Array; firstIndex: bigint | undefined; lastIndex: bigint | undefined };

const defaultLog: WalLog = (level, msg) => {
  const line = `wal ${level}: ${msg}`;
  if (level === "info") console.log(line);
  else console.error(line);
};

export class Wal {
  readonly dir: string;
  #segmentBytes: number;
  #log: WalLog;
  // Oldest first; the last entry is always the segment #current writes to.
  #segments: SegmentInfo[];
  #current: SegmentFile;
  #committer: GroupCommit<PendingAppend>;
  // Index of the newest durable record that carried one; names a segment
  // rolled for a batch without indexes.
  #lastIndex: bigint | null;
  #fsyncs = 0;
  #lastFsyncMs = 0;
  #closing: Promise<void> | null = null;
  #purgeChain: Promise<unknown> = Promise.resolve();

  private constructor(
    dir: string,
    opts: { segmentBytes: number; log: WalLog; segments: SegmentInfo[]; current: SegmentFile; lastIndex: bigint | null },
  ) {
    this.dir = dir;
    this.#segmentBytes = opts.segmentBytes;
    this.#log = opts.log;
    this.#segments = opts.segments;
    this.#current = opts.current;
    this.#lastIndex = opts.lastIndex;
    this.#committer = new GroupCommit((items) => this.#flush(items), { maxBatchBytes: opts.segmentBytes });
  }

  static async open(dir: string, opts: WalOptions = {}): Promise<WalOpenResult> {
    initFailpoints();
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES) {
      throw new RangeError(`segmentBytes must be an integer >= ${MIN_SEGMENT_BYTES}, got ${segmentBytes}`);
    }
    const log = opts.log ?? defaultLog;
    await ensureWalDir(dir, log);

    const listed = await listSegments(dir);
    const records: WalRecord[] = [];
    const segments: SegmentInfo[] = [];
    let repaired: WalRepair | null = null;
    let repairReason = "";
    for (const [i, { name, id }] of listed.entries()) {
      const path = join(dir, name);
      const bytes = await readFile(path);
      const result = readSegment(bytes, { path, id, isLast: i === listed.length - 1 });
      for (const record of result.records) records.push(record);
      segments.push({ name, id, sizeBytes: result.validEndBytes });
      if (result.tornTail !== null) {
        repaired = { segment: name, offset: result.tornTail.offsetBytes, droppedBytes: bytes.length - result.validEndBytes };
        repairReason = result.tornTail.reason;
      }
    }

    let current: SegmentFile;
    const last = segments.at(-1);
    if (last === undefined) {
      const id = { seq: 0n, firstIndex: 0n };
      const name = formatSegmentName(id);
      current = await SegmentFile.create(join(dir, name));
      await writeHeader(current, id);
      await fsyncDir(dir);
      segments.push({ name, id, sizeBytes: current.sizeBytes });
    } else {
      // Truncates a torn tail (and fsyncs) before anything new is appended after it.
      current = await SegmentFile.openForAppend(join(dir, last.name), last.sizeBytes);
      if (current.sizeBytes === 0) {
        try {
          await writeHeader(current, last.id);
        } catch (error) {
          await current.close();
          throw error;
        }
        last.sizeBytes = current.sizeBytes;
      }
    }
    if (repaired !== null) {
      log(
        "warn",
        `repaired torn tail of WAL segment ${join(dir, repaired.segment)}: ${repairReason}; ` +
          `truncated at byte offset ${repaired.offset}, dropped ${repaired.droppedBytes} bytes of an unacknowledged write`,
      );
    }

    let lastIndex: bigint | null = null;
    for (let i = records.length - 1; i >= 0 && lastIndex === null; i--) lastIndex = records[i].index ?? null;
    const wal = new Wal(dir, { segmentBytes, log, segments, current, lastIndex });
    return { wal, records, repaired };
  }

  /**
   * Durably appends `records` after those of every earlier call. Resolves once
   * the fdatasync covering them returned; concurrent calls share one
   * write + fdatasync. Data is copied before this returns.
   */
  /**
   * Records written at the start of every new segment, before the batch that starts it (etcd writes
   * the metadata, the hard state and the latest snapshot marker there): a segment must be readable on
   * its own once the segments before it are purged. (Their indexes do not move the segment's.)
   */
  segmentPreamble: (() => WalRecord[]) | undefined;

  append(records: WalRecord[]): Promise<void> {
    if (this.#closing !== null) return Promise.reject(new WalClosedError("append"));
    let pending: PendingAppend;
    try {
      if (!Array.isArray(records)) throw new TypeError("append expects an array of WAL records");
      for (const record of records) assertValidRecord(record);
      pending = { bytes: encodeRecords(records), firstIndex: undefined, lastIndex: undefined };
    } catch (error) {
      return Promise.reject(error);
    }
    for (const record of records) {
      if (record.index === undefined) continue;
      pending.firstIndex ??= record.index;
      pending.lastIndex = record.index;
    }
    return this.#committer.submit(pending, pending.bytes.length);
  }

  /**
   * Releases the oldest segments whose records all have index < uptoIndex,
   * judged by the next segment's first index, so every record with
   * index >= uptoIndex survives, and deletes them (all of them, or only as
   * many as `opts.maxSegments` asks). Never deletes the segment being written.
   * Resolves to the names deleted, oldest first.
   */
  purge(uptoIndex: bigint, opts: WalPurgeOptions = {}): Promise<string[]> {
    if (this.#closing !== null) return Promise.reject(new WalClosedError("purge"));
    if (typeof uptoIndex !== "bigint" || !isUint64(uptoIndex)) {
      return Promise.reject(new RangeError(`purge expects a uint64 bigint index, got ${String(uptoIndex)}`));
    }
    const { maxSegments } = opts;
    if (maxSegments !== undefined && (!Number.isSafeInteger(maxSegments) || maxSegments < 0)) {
      return Promise.reject(new RangeError(`purge expects maxSegments to be an integer >= 0, got ${String(maxSegments)}`));
    }
    // Serialized so two purges never race on the same oldest segment.
    const run = this.#purgeChain.then(() => this.#purgeNow(uptoIndex, maxSegments));
    this.#purgeChain = run.catch(() => undefined);
    return run;
  }

  /** Waits for pending appends, then closes. Rejects if the WAL had failed. */
  close(): Promise<void> {
    this.#closing ??= this.#closeNow();
    return this.#closing;
  }

  stats(): WalStats {
    let bytes = 0;
    for (const segment of this.#segments) bytes += segment.sizeBytes;
    return { segments: this.#segments.length, bytes, fsyncs: this.#fsyncs, lastFsyncMs: this.#lastFsyncMs };
  }

  async #flush(items: PendingAppend[]): Promise<void> {
    let batchBytes = 0;
    let firstIndex: bigint | undefined;
    let lastIndex: bigint | undefined;
    for (const item of items) {
      batchBytes += item.bytes.length;
      firstIndex ??= item.firstIndex;
      lastIndex = item.lastIndex ?? lastIndex;
    }
    // Only empty appends: everything before them is already durable.
    if (batchBytes === 0) return;

    const parts: Uint8Array[] = [];
    const currentHasRecords = this.#current.sizeBytes > SEGMENT_HEADER_BYTES;
    if (currentHasRecords && this.#current.sizeBytes + batchBytes > this.#segmentBytes) {
      parts.push(await this.#roll(firstIndex ?? this.#nextIndexGuess()));
      // What a reader needs before this segment's own records once the older ones are purged.
      const preamble = this.segmentPreamble?.() ?? [];
      if (preamble.length) parts.push(encodeRecords(preamble));
    }
    for (const item of items) parts.push(item.bytes);

    const payload = concat(parts);
    const expectedSizeBytes = this.#current.sizeBytes + payload.length;
    const writeStartMs = performance.now();
    this.#current.write(payload);
    walWriteSeconds.observe((performance.now() - writeStartMs) / 1000);
    walWriteBytes.inc(payload.length);
    if (this.#current.sizeBytes !== expectedSizeBytes) {
      throw new Error(`WAL segment ${this.#current.path} is ${this.#current.sizeBytes} bytes after a write, expected ${expectedSizeBytes}`);
    }
    failpoint("wal-before-sync");
    const startMs = performance.now();
    await this.#current.datasync();
    this.#lastFsyncMs = performance.now() - startMs;
    walFsyncSeconds.observe(this.#lastFsyncMs / 1000);
    this.#fsyncs++;
    const synced = this.#segments[this.#segments.length - 1];
    synced.sizeBytes = this.#current.sizeBytes;
    noteWalSynced(this.dir, synced.name, synced.sizeBytes);
    if (lastIndex !== undefined) this.#lastIndex = lastIndex;
    failpoint("wal-after-sync");
  }

  /** Starts segment seq+1; returns its header, to go out in the same write as the batch. */
  async #roll(firstIndex: bigint): Promise<Uint8Array> {
    const previous = this.#segments[this.#segments.length - 1];
    const id = { seq: previous.id.seq + 1n, firstIndex };
    const name = formatSegmentName(id);
    const next = await SegmentFile.create(join(this.dir, name));
    const old = this.#current;
    this.#current = next;
    this.#segments.push({ name, id, sizeBytes: 0 });
    // The old segment's last batch was already fdatasync'ed, so closing suffices.
    await old.close();
    await fsyncDir(this.dir);
    this.#log("info", `started WAL segment ${name}`);
    return encodeSegmentHeader(id);
  }

  #nextIndexGuess(): bigint {
    if (this.#lastIndex === null) return this.#segments[this.#segments.length - 1].id.firstIndex;
    return this.#lastIndex < MAX_UINT64 ? this.#lastIndex + 1n : MAX_UINT64;
  }

  async #purgeNow(uptoIndex: bigint, maxSegments: number | undefined): Promise<string[]> {
    const deleted: string[] = [];
    // 0 is etcd's "unlimited": released segments stay until a later purge with a limit.
    if (maxSegments === 0) return deleted;
    const keepAtLeast = Math.max(1, maxSegments ?? 1);
    // Only ever a prefix, and never the last segment: released segments form a
    // prefix, so stopping at the first needed one is etcd's stop at a locked file.
    while (this.#segments.length > keepAtLeast && this.#segments[1].id.firstIndex <= uptoIndex) {
      const victim = this.#segments[0];
      try {
        await unlink(join(this.dir, victim.name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
      this.#segments.shift();
      deleted.push(victim.name);
      // One directory fsync per deletion keeps deletions ordered on disk, so a
      // crash can never leave a gap in the sequence (open() rejects gaps).
      await fsyncDir(this.dir);
    }
    if (deleted.length > 0) {
      const limit = maxSegments === undefined ? "" : ` (over the limit of ${maxSegments} segment files)`;
      this.#log("info", `purged ${deleted.length} WAL segment(s) below index ${uptoIndex}${limit}: ${deleted.join(", ")}`);
    }
    return deleted;
  }

  async #closeNow(): Promise<void> {
    await this.#committer.drain();
    await this.#purgeChain;
    await this.#current.close();
    const failure = this.#committer.failure;
    if (failure !== null) throw failure.error;
  }
}

async function writeHeader(segment: SegmentFile, id: SegmentId): Promise<void> {
  if (segment.sizeBytes !== 0) throw new Error(`${segment.path}: header must be the first write`);
  segment.write(encodeSegmentHeader(id));
  await segment.datasync();
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let totalBytes = 0;
  for (const part of parts) totalBytes += part.length;
  const out = new Uint8Array(totalBytes);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
