// An in-memory twin of src/wal/wal.ts with crash semantics. Records are framed by the real encoder
// (src/wal/frame.ts) into segment images that start with the real header, and reopening reads them
// with the real segment reader — so the torn-tail repair that runs after a real crash runs here too.
//
// Durability as on a disk: append() only queues bytes; they reach the segment when the simulation
// completes the fsync (`sync`), and only then do the appends resolve. A crash keeps what was synced
// and, sometimes, a torn prefix of what was not (some of it written before the power went), which the
// next open truncates at the first frame that does not check out.
import { encodeRecords } from "../../../src/wal/frame.ts";
import { MAX_UINT64, type WalRecord } from "../../../src/wal/record.ts";
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from "../../../src/wal/segment-header.ts";
import { formatSegmentName, type SegmentId } from "../../../src/wal/segment-name.ts";
import { readSegment } from "../../../src/wal/segment-reader.ts";
import type { WalOptions, WalRepair } from "../../../src/wal/wal.ts";
import type { WalStore } from "../../../src/server/core/server-options.ts";

interface Segment {
  id: SegmentId;
  name: string;
  /** The segment image; bytes past `used` are spare capacity. */
  buf: Uint8Array;
  used: number;
}

interface Pending {
  bytes: Uint8Array;
  firstIndex: bigint | undefined;
  lastIndex: bigint | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** What a member's WAL directory holds: it outlives the member (and the MemoryWal that writes it). */
export class MemoryWalDisk {
  readonly segmentBytes: number;
  /** Oldest first. */
  segments: Segment[] = [];
  /** The handle writing to this disk, if a member has it open. */
  #open: MemoryWal | null = null;
  /** Counters for the run's statistics. */
  stats = { syncs: 0, tornTails: 0, repairs: 0 };

  constructor(segmentBytes: number) {
    this.segmentBytes = segmentBytes;
  }

  /**
   * Wal.open's twin: reads every segment with the real reader, truncates a torn tail of the last one,
   * and returns the surviving records. `onPending` is told when an append waits for an fsync.
   */
  open(opts: WalOptions, onPending: () => void): { wal: MemoryWal; records: WalRecord[]; repaired: WalRepair | null } {
    if (this.#open && !this.#open.dead) throw new Error("MemoryWalDisk: already open (a crashed member's WAL must be crashed first)");
    const records: WalRecord[] = [];
    let repaired: WalRepair | null = null;
    for (const [i, seg] of this.segments.entries()) {
      const image = seg.buf.subarray(0, seg.used);
      const r = readSegment(image, { path: `memory-wal/${seg.name}`, id: seg.id, isLast: i === this.segments.length - 1 });
      for (const rec of r.records) records.push(rec);
      if (r.tornTail !== null) {
        repaired = { segment: seg.name, offset: r.tornTail.offsetBytes, droppedBytes: seg.used - r.validEndBytes };
        seg.used = r.validEndBytes;
        this.stats.repairs++;
        opts.log?.("warn", `repaired torn tail of WAL segment ${seg.name}: ${r.tornTail.reason}`);
      }
    }
    const last = this.segments.at(-1);
    if (!last) this.segments.push(newSegment({ seq: 0n, firstIndex: 0n }));
    else if (last.used === 0) write(last, encodeSegmentHeader(last.id));
    let lastIndex: bigint | null = null;
    for (let i = records.length - 1; i >= 0 && lastIndex === null; i--) lastIndex = records[i].index ?? null;
    const wal = new MemoryWal(this, lastIndex, onPending);
    this.#open = wal;
    return { wal, records, repaired };
  }

  /**
   * The member died: its open handle stops, what it had not synced is lost — except, with probability
   * `tornChance`, a prefix of it that reached the last segment before the crash (cut anywhere, so the
   * last frame may be partial).
   */
  crash(random: () => number, tornChance: number): void {
    const wal = this.#open;
    this.#open = null;
    if (!wal || wal.dead) return;
    const unsynced = wal.kill();
    if (unsynced.length === 0 || random() >= tornChance) return;
    const keep = Math.floor(random() * (unsynced.length + 1));
    if (keep === 0) return;
    this.stats.tornTails++;
    write(this.segments[this.segments.length - 1], unsynced.subarray(0, keep));
  }

  get bytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.used;
    return n;
  }
}

/** One open WAL (what Wal is to a running member); `sync` is the fsync the simulation completes. */
export class MemoryWal implements WalStore {
  readonly #disk: MemoryWalDisk;
  readonly #onPending: () => void;
  #pending: Pending[] = [];
  #lastIndex: bigint | null;
  #closed = false;
  #dead = false;
  /** An fsync failed (a simulated crash in it): nothing more is written or acknowledged. */
  #failed = false;
  segmentPreamble: (() => WalRecord[]) | undefined;

  constructor(disk: MemoryWalDisk, lastIndex: bigint | null, onPending: () => void) {
    this.#disk = disk;
    this.#lastIndex = lastIndex;
    this.#onPending = onPending;
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Appends waiting for an fsync. */
  get unsynced(): number {
    return this.#pending.length;
  }

  append(records: WalRecord[]): Promise<void> {
    if (this.#closed || this.#dead) return Promise.reject(new Error("MemoryWal: append after close"));
    if (this.#failed) return Promise.reject(new Error("MemoryWal: an earlier fsync failed"));
    const bytes = encodeRecords(records);
    let firstIndex: bigint | undefined;
    let lastIndex: bigint | undefined;
    for (const r of records) {
      if (r.index === undefined) continue;
      firstIndex ??= r.index;
      lastIndex = r.index;
    }
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ bytes, firstIndex, lastIndex, resolve, reject });
      if (this.#pending.length === 1) this.#onPending();
    });
  }

  /**
   * The fsync completes: everything queued is written (rolling to a new segment, preamble first, when
   * the current one is full) and made durable. Resolving the appends is a separate step (`ack`), so a
   * crash can fall between the two (wal-after-sync).
   */
  sync(): { ack: () => void; fail: (err: unknown) => void } | null {
    if (this.#dead || this.#failed || this.#pending.length === 0) return null;
    const items = this.#pending;
    this.#pending = [];
    const disk = this.#disk;
    let batchBytes = 0;
    let firstIndex: bigint | undefined;
    for (const it of items) {
      batchBytes += it.bytes.length;
      firstIndex ??= it.firstIndex;
      if (it.lastIndex !== undefined) this.#lastIndex = it.lastIndex;
    }
    let current = disk.segments[disk.segments.length - 1];
    if (current.used > SEGMENT_HEADER_BYTES && current.used + batchBytes > disk.segmentBytes) {
      const guess = this.#lastIndex === null ? current.id.firstIndex : this.#lastIndex < MAX_UINT64 ? this.#lastIndex + 1n : MAX_UINT64;
      current = newSegment({ seq: current.id.seq + 1n, firstIndex: firstIndex ?? guess });
      disk.segments.push(current);
      const preamble = this.segmentPreamble?.() ?? [];
      if (preamble.length) write(current, encodeRecords(preamble));
    }
    for (const it of items) write(current, it.bytes);
    disk.stats.syncs++;
    return {
      ack: () => {
        for (const it of items) it.resolve();
      },
      // Durable, but the member dies before it hears so (wal-after-sync).
      fail: (err) => {
        this.#failed = true;
        for (const it of items) it.reject(err);
      },
    };
  }

  /**
   * The fsync never returns (the member dies in it: wal-before-sync): the waiting appends fail with
   * err, as a failed fsync fails them, and their bytes stay queued for the crash to tear.
   */
  failPending(err: unknown): void {
    this.#failed = true;
    for (const it of this.#pending) it.reject(err);
  }

  /** What a crash loses: the queued bytes in order (a torn write may keep a prefix). */
  kill(): Uint8Array {
    this.#dead = true;
    const parts = this.#pending.map((p) => p.bytes);
    this.#pending = [];
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** Wal.purge's rule: whole segments below uptoIndex, oldest first, never the last, above maxSegments. */
  async purge(uptoIndex: bigint, opts: { maxSegments?: number } = {}): Promise<string[]> {
    if (this.#closed || this.#dead) throw new Error("MemoryWal: purge after close");
    const deleted: string[] = [];
    if (opts.maxSegments === 0) return deleted;
    const keepAtLeast = Math.max(1, opts.maxSegments ?? 1);
    const segs = this.#disk.segments;
    while (segs.length > keepAtLeast && segs[1].id.firstIndex <= uptoIndex) deleted.push(segs.shift()!.name);
    return deleted;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

function newSegment(id: SegmentId): Segment {
  const seg: Segment = { id, name: formatSegmentName(id), buf: new Uint8Array(4096), used: 0 };
  write(seg, encodeSegmentHeader(id));
  return seg;
}

function write(seg: Segment, bytes: Uint8Array): void {
  if (seg.used + bytes.length > seg.buf.length) {
    const grown = new Uint8Array(Math.max(seg.buf.length * 2, seg.used + bytes.length));
    grown.set(seg.buf.subarray(0, seg.used));
    seg.buf = grown;
  }
  seg.buf.set(bytes, seg.used);
  seg.used += bytes.length;
}
