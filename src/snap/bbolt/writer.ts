/**
 * Writes a fresh, compact bbolt file from buckets of sorted entries, in one pass: pages are bulk-loaded
 * bottom-up (leaf pages filled in key order, then branch levels over their first keys) and given ids
 * in the order they are written, so they can stream to a file with only the page being filled held in
 * memory. The meta pages, which name the root page and the page count, are written last.
 *
 * Layout: pages 0 and 1 are the meta pages, page 2 an empty freelist, the trees follow; nothing is
 * free, so bbolt's tx.Check() finds every page below the high-water mark reachable. A bucket that fits
 * in a quarter page and holds no buckets is stored inline in its parent, as bbolt does.
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import {
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  FREELIST_PAGE,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE,
  MAGIC,
  MAX_ELEMENTS_PER_PAGE,
  MAX_KEY_SIZE,
  MAX_VALUE_SIZE,
  PAGE_HEADER_SIZE,
  VERSION,
  compareBytes,
  writeMetaPage,
} from "./format.ts";
import { isNested, type BoltBucket } from "./model.ts";

export interface WriteOptions {
  /** Bytes per page; bbolt's default (and etcd's) is 4096. */
  pageSize?: number;
  /**
   * How full to pack each page before starting the next, 0.1..1 (bbolt's Bucket.FillPercent). The
   * default 1 makes the smallest file; bbolt splits pages again as the database grows.
   */
  fillPercent?: number;
  /** The transaction id of the newer meta page (the other gets txid - 1). */
  txid?: bigint;
}

/** Where pages go: a growing buffer, or a file written at positions. */
interface PageSink {
  /** A zeroed region of `length` bytes that lands at file offset `offset`; valid until commit(). */
  take(offset: number, length: number): Uint8Array;
  commit(): void;
}

/** Builds the whole file in memory. Entry bytes must stay unchanged until the call returns. */
export function writeBolt(root: BoltBucket, options: WriteOptions = {}): Uint8Array {
  const sink = new MemorySink();
  new BoltWriter(sink, options).write(root);
  return sink.result();
}

/**
 * Writes the file at `path` (replacing it) and fsyncs it; memory use stays around one page plus the
 * branch keys, whatever the size. Returns the file's size in bytes.
 */
export function writeBoltFile(path: string, root: BoltBucket, options: WriteOptions = {}): number {
  const fd = openSync(path, "w", 0o600);
  try {
    const sink = new FileSink(fd);
    const pages = new BoltWriter(sink, options).write(root);
    fsyncSync(fd);
    return pages * (options.pageSize ?? DEFAULT_PAGE_SIZE);
  } finally {
    closeSync(fd);
  }
}

interface LeafElement {
  key: Uint8Array;
  value: Uint8Array;
  flags: number;
}

class BoltWriter {
  readonly pageSize: number;
  /** Page bytes after which a page is closed (bbolt's threshold = pageSize * FillPercent). */
  readonly threshold: number;
  readonly #sink: PageSink;
  readonly #txid: bigint;
  /** The next page id to hand out. */
  #next = 3;

  constructor(sink: PageSink, options: WriteOptions) {
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1024 || this.pageSize > 1 << 24 || (this.pageSize & (this.pageSize - 1)) !== 0) {
      throw new RangeError(`bbolt page size must be a power of two from 1024 to 16 MiB, got ${this.pageSize}`);
    }
    const fill = options.fillPercent ?? 1;
    if (!(fill >= 0.1 && fill <= 1)) throw new RangeError(`fillPercent must be within 0.1..1, got ${fill}`);
    this.threshold = Math.floor(this.pageSize * fill);
    this.#txid = options.txid ?? 1n;
    if (this.#txid < 1n) throw new RangeError(`txid must be at least 1 (the older meta page gets txid - 1), got ${this.#txid}`);
    this.#sink = sink;
  }

  /** Writes every page; returns the page count (the meta's high-water mark). */
  write(root: BoltBucket): number {
    const free = this.#sink.take(2 * this.pageSize, this.pageSize);
    writeHeader(new DataView(free.buffer, free.byteOffset, PAGE_HEADER_SIZE), 0, 2, FREELIST_PAGE, 0, 0);
    this.#sink.commit();

    const written = this.writeBucket(root, true);
    if (written.root === undefined) throw new Error("the root bucket was written inline"); // unreachable: inline is refused for the root

    const pgid = BigInt(this.#next);
    const metas = this.#sink.take(0, 2 * this.pageSize);
    for (const page of [0, 1]) {
      // The meta page with id txid % 2 holds txid, as bbolt's commits alternate between them.
      const txid = BigInt(page) === this.#txid % 2n ? this.#txid : this.#txid - 1n;
      writeMetaPage(metas, page * this.pageSize, page, {
        magic: MAGIC,
        version: VERSION,
        pageSize: this.pageSize,
        flags: 0,
        root: BigInt(written.root),
        sequence: root.sequence ?? 0n,
        freelist: 2n,
        pgid,
        txid,
      });
    }
    this.#sink.commit();
    return this.#next;
  }

  /** Writes a bucket's tree (nested buckets first, as they are met) and returns its root page or inline value. */
  writeBucket(bucket: BoltBucket, isRoot: boolean): { root: number; inline?: undefined } | { root?: undefined; inline: Uint8Array } {
    const tree = new TreeBuilder(this);
    let previous: Uint8Array | undefined;
    let hasBuckets = false;
    for (const entry of bucket.entries) {
      const key = entry.key;
      if (key.length === 0 || key.length > MAX_KEY_SIZE) throw new RangeError(`bbolt keys are 1..${MAX_KEY_SIZE} bytes, got ${key.length}`);
      if (previous && compareBytes(previous, key) >= 0) {
        throw new RangeError(`bucket entries must be sorted and unique: key 0x${hex(key)} follows 0x${hex(previous)}`);
      }
      previous = key;
      if (isNested(entry)) {
        hasBuckets = true;
        const child = this.writeBucket(entry.bucket, false);
        tree.add(key, child.inline ?? bucketHeader(child.root, entry.bucket.sequence ?? 0n), BUCKET_LEAF_FLAG);
      } else {
        if (isRoot) throw new RangeError(`the root bucket holds buckets only, but key 0x${hex(key)} is a value`);
        if (entry.value.length > MAX_VALUE_SIZE) throw new RangeError(`bbolt values are at most ${MAX_VALUE_SIZE} bytes, got ${entry.value.length}`);
        tree.add(key, entry.value, 0);
      }
    }
    return tree.finish(!isRoot && !hasBuckets, bucket.sequence ?? 0n);
  }

  /** Writes one leaf or branch page (with its overflow pages) and returns its id. */
  writePage(flags: number, elements: LeafElement[] | BranchLevel, bytes: number): number {
    const pages = Math.ceil(bytes / this.pageSize);
    const id = this.#next;
    this.#next += pages;
    const region = this.#sink.take(id * this.pageSize, pages * this.pageSize);
    if (flags === LEAF_PAGE) fillLeafPage(region, id, pages - 1, elements as LeafElement[]);
    else fillBranchPage(region, id, pages - 1, elements as BranchLevel);
    this.#sink.commit();
    return id;
  }
}

/** One level of branch pages being filled: the first key and page id of each child. */
interface BranchLevel {
  keys: Uint8Array[];
  ids: number[];
  bytes: number;
  /** Branch pages this level has written so far. */
  written: number;
}

/** Bulk-loads one bucket's B+tree from entries in key order. */
class TreeBuilder {
  readonly #w: BoltWriter;
  #leaf: LeafElement[] = [];
  #leafBytes = PAGE_HEADER_SIZE;
  #leavesWritten = 0;
  readonly #levels: BranchLevel[] = [];

  constructor(writer: BoltWriter) {
    this.#w = writer;
  }

  add(key: Uint8Array, value: Uint8Array, flags: number): void {
    const size = LEAF_ELEMENT_SIZE + key.length + value.length;
    if (this.#leaf.length > 0 && (this.#leafBytes + size > this.#w.threshold || this.#leaf.length >= MAX_ELEMENTS_PER_PAGE)) this.#flushLeaf();
    this.#leaf.push({ key, value, flags });
    this.#leafBytes += size;
  }

  finish(mayInline: boolean, sequence: bigint): { root: number; inline?: undefined } | { root?: undefined; inline: Uint8Array } {
    const single = this.#leavesWritten === 0;
    // bbolt's Bucket.inlineable: one leaf, no nested buckets, at most a quarter page.
    if (single && mayInline && this.#leafBytes <= this.#w.pageSize / 4) {
      const value = new Uint8Array(BUCKET_HEADER_SIZE + this.#leafBytes);
      value.set(bucketHeader(0, sequence));
      fillLeafPage(value.subarray(BUCKET_HEADER_SIZE), 0, 0, this.#leaf);
      return { inline: value };
    }
    // An empty bucket that may not be inline (the root) still needs its (empty) leaf page.
    if (single && this.#leaf.length === 0) return { root: this.#w.writePage(LEAF_PAGE, [], this.#leafBytes) };
    if (this.#leaf.length > 0) this.#flushLeaf();
    for (let i = 0; i < this.#levels.length; i++) {
      const level = this.#levels[i];
      if (i === this.#levels.length - 1 && level.written === 0) {
        // The top level: one child is the root itself; more need one last branch page above them.
        return { root: level.ids.length === 1 ? level.ids[0] : this.#w.writePage(BRANCH_PAGE, level, level.bytes) };
      }
      if (level.ids.length > 0) this.#flushBranch(i);
    }
    throw new Error("bbolt writer: the tree has no top level"); // unreachable: the last level always returns
  }

  #flushLeaf(): void {
    const id = this.#w.writePage(LEAF_PAGE, this.#leaf, this.#leafBytes);
    this.#addChild(0, this.#leaf[0].key, id);
    this.#leaf = [];
    this.#leafBytes = PAGE_HEADER_SIZE;
    this.#leavesWritten++;
  }

  #addChild(depth: number, key: Uint8Array, id: number): void {
    const level = (this.#levels[depth] ??= { keys: [], ids: [], bytes: PAGE_HEADER_SIZE, written: 0 });
    const size = BRANCH_ELEMENT_SIZE + key.length;
    if (level.ids.length > 0 && (level.bytes + size > this.#w.threshold || level.ids.length >= MAX_ELEMENTS_PER_PAGE)) this.#flushBranch(depth);
    level.keys.push(key);
    level.ids.push(id);
    level.bytes += size;
  }

  #flushBranch(depth: number): void {
    const level = this.#levels[depth];
    const id = this.#w.writePage(BRANCH_PAGE, level, level.bytes);
    const first = level.keys[0];
    level.keys = [];
    level.ids = [];
    level.bytes = PAGE_HEADER_SIZE;
    level.written++;
    this.#addChild(depth + 1, first, id);
  }
}

function writeHeader(v: DataView, at: number, id: number, flags: number, count: number, overflow: number): void {
  v.setBigUint64(at, BigInt(id), true);
  v.setUint16(at + 8, flags, true);
  v.setUint16(at + 10, count, true);
  v.setUint32(at + 12, overflow, true);
}

/** Writes a leaf page into `page` (zeroed, large enough): header, elements, then keys and values. */
function fillLeafPage(page: Uint8Array, id: number, overflow: number, elements: LeafElement[]): void {
  const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
  writeHeader(v, 0, id, LEAF_PAGE, elements.length, overflow);
  let data = PAGE_HEADER_SIZE + elements.length * LEAF_ELEMENT_SIZE;
  for (let i = 0; i < elements.length; i++) {
    const { key, value, flags } = elements[i];
    const e = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
    v.setUint32(e, flags, true);
    v.setUint32(e + 4, data - e, true); // pos: from the element to its key
    v.setUint32(e + 8, key.length, true);
    v.setUint32(e + 12, value.length, true);
    page.set(key, data);
    page.set(value, data + key.length);
    data += key.length + value.length;
  }
}

function fillBranchPage(page: Uint8Array, id: number, overflow: number, level: BranchLevel): void {
  const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const n = level.ids.length;
  writeHeader(v, 0, id, BRANCH_PAGE, n, overflow);
  let data = PAGE_HEADER_SIZE + n * BRANCH_ELEMENT_SIZE;
  for (let i = 0; i < n; i++) {
    const key = level.keys[i];
    const e = PAGE_HEADER_SIZE + i * BRANCH_ELEMENT_SIZE;
    v.setUint32(e, data - e, true);
    v.setUint32(e + 4, key.length, true);
    v.setBigUint64(e + 8, BigInt(level.ids[i]), true);
    page.set(key, data);
    data += key.length;
  }
}

function bucketHeader(root: number, sequence: bigint): Uint8Array {
  const b = new Uint8Array(BUCKET_HEADER_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(root), true);
  v.setBigUint64(8, sequence, true);
  return b;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.subarray(0, 32)).toString("hex") + (b.length > 32 ? "…" : "");
}

/** A buffer that doubles as pages arrive; pages are written straight into it. */
class MemorySink implements PageSink {
  #buf = new Uint8Array(64 * 1024);
  #size = 0;

  take(offset: number, length: number): Uint8Array {
    const end = offset + length;
    if (end > this.#buf.length) {
      const grown = new Uint8Array(Math.max(end, this.#buf.length * 2));
      grown.set(this.#buf.subarray(0, this.#size));
      this.#buf = grown;
    }
    this.#size = Math.max(this.#size, end);
    return this.#buf.subarray(offset, end); // zero: every region is taken once (fresh memory)
  }

  commit(): void {}

  result(): Uint8Array {
    // Give back doubling's slack when it is large; a view is fine when it is small.
    return this.#buf.length > this.#size * 1.25 ? this.#buf.slice(0, this.#size) : this.#buf.subarray(0, this.#size);
  }
}

/** Writes each page at its offset as soon as it is filled; one scratch buffer is reused. */
class FileSink implements PageSink {
  readonly #fd: number;
  #scratch = new Uint8Array(64 * 1024);
  #pending: { offset: number; length: number } | undefined;

  constructor(fd: number) {
    this.#fd = fd;
  }

  take(offset: number, length: number): Uint8Array {
    if (length > this.#scratch.length) this.#scratch = new Uint8Array(length);
    const region = this.#scratch.subarray(0, length);
    region.fill(0);
    this.#pending = { offset, length };
    return region;
  }

  commit(): void {
    const { offset, length } = this.#pending!;
    let done = 0;
    // writeSync may write less than asked; a round that writes nothing is an error, so this ends.
    while (done < length) {
      const n = writeSync(this.#fd, this.#scratch, done, length - done, offset + done);
      if (n <= 0) throw new Error(`bbolt writer: writing ${length} bytes at offset ${offset + done} made no progress`);
      done += n;
    }
    this.#pending = undefined;
  }
}
