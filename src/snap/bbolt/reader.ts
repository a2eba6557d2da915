/**
 * Reads a bbolt file held in one buffer: picks the meta page bbolt would (the valid one with the
 * higher txid) and walks B+trees lazily, handing out keys and values as views into that buffer, so a
 * file of a few hundred MB costs its own size and no copies. Every page reference is bounds-checked and
 * every walk is bounded in depth, so a damaged file ends in an error naming the page, never a hang.
 */
import { readFileSync } from "node:fs";
import {
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  FREELIST_PAGE,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE,
  META_SIZE,
  NO_FREELIST,
  PAGE_HEADER_SIZE,
  metaProblem,
  pageName,
  readMeta,
  type Meta,
} from "./format.ts";
import { nameBytes, type ReadBucket, type ReadEntry } from "./model.ts";

export class BoltFormatError extends Error {
  override name = "BoltFormatError";
}

/** Where a bucket's tree starts: a root page, or (root 0) a leaf page stored inline in its parent. */
export interface BucketRef {
  readonly root: number;
  readonly sequence: bigint;
  /** For an inline bucket: the byte range of its page inside the file buffer. */
  readonly inline?: { readonly start: number; readonly end: number };
}

/** One leaf element: a plain pair, or (isBucket) a nested bucket whose header is `value`. */
export interface RawEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly isBucket: boolean;
}

/** Deeper trees or bucket nesting than this mean a cycle or garbage (a real tree of 4 KiB pages is < 10 deep). */
const MAX_DEPTH = 64;

/** Page sizes tried for meta page 1 when meta page 0 is unreadable (bbolt itself only tries the OS page size). */
const PAGE_SIZE_GUESSES = [4096, 8192, 16384, 32768, 65536, 1024, 2048];

export class BoltReader {
  readonly pageSize: number;
  /** The meta in use. */
  readonly meta: Meta;
  /** Which meta page (0 or 1) that is. */
  readonly metaPage: 0 | 1;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #pageCount: number;

  /** Reads a whole file into memory once; the reader's views point into that buffer. */
  static fromFile(path: string): BoltReader {
    return new BoltReader(readFileSync(path));
  }

  constructor(bytes: Uint8Array) {
    if (bytes.length < PAGE_HEADER_SIZE + META_SIZE) {
      throw new BoltFormatError(`not a bbolt file: ${bytes.length} bytes is too short to hold a meta page`);
    }
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

    const problem0 = metaProblem(bytes, PAGE_HEADER_SIZE);
    const pageSize = problem0 === undefined ? readMeta(bytes, PAGE_HEADER_SIZE).pageSize : guessPageSize(bytes);
    if (pageSize === undefined) {
      // Neither meta tells the page size: report page 1 as found at bbolt's default size.
      const at = DEFAULT_PAGE_SIZE + PAGE_HEADER_SIZE;
      throw new BoltFormatError(bothBad(problem0!, bytes.length >= at + META_SIZE ? metaProblem(bytes, at) : "missing (the file ends before it)"));
    }
    if (pageSize < PAGE_HEADER_SIZE + META_SIZE || pageSize > 1 << 24) {
      throw new BoltFormatError(`meta page 0 records an impossible page size ${pageSize}`);
    }
    const problem1 = bytes.length >= pageSize + PAGE_HEADER_SIZE + META_SIZE ? metaProblem(bytes, pageSize + PAGE_HEADER_SIZE) : "missing (the file ends before it)";
    const meta0 = problem0 === undefined ? readMeta(bytes, PAGE_HEADER_SIZE) : undefined;
    const meta1 = problem1 === undefined ? readMeta(bytes, pageSize + PAGE_HEADER_SIZE) : undefined;
    if (!meta0 && !meta1) {
      throw new BoltFormatError(bothBad(problem0!, problem1!));
    }
    this.metaPage = meta1 && (!meta0 || meta1.txid > meta0.txid) ? 1 : 0;
    this.meta = this.metaPage === 1 ? meta1! : meta0!;
    this.pageSize = pageSize;

    const m = this.meta;
    if (m.pageSize !== pageSize) throw new BoltFormatError(`meta page ${this.metaPage} records page size ${m.pageSize}, meta page 0 ${pageSize}`);
    if (m.pgid > BigInt(Math.floor(bytes.length / pageSize))) {
      throw new BoltFormatError(
        `the file is truncated: meta page ${this.metaPage} records ${m.pgid} pages of ${pageSize} bytes, the file has ${bytes.length} bytes`,
      );
    }
    this.#pageCount = Number(m.pgid);
    if (m.root < 2n || m.root >= m.pgid) throw new BoltFormatError(`root bucket page id ${m.root} out of range (the file has ${m.pgid} pages)`);
    if (m.freelist !== NO_FREELIST && (m.freelist < 2n || m.freelist >= m.pgid)) {
      throw new BoltFormatError(`freelist page id ${m.freelist} out of range (the file has ${m.pgid} pages)`);
    }
  }

  /** The top-level bucket whose entries are the named buckets. */
  get root(): BucketRef {
    return { root: Number(this.meta.root), sequence: this.meta.sequence };
  }

  /** The number of pages in use (the meta's high-water mark). */
  get pageCount(): number {
    return this.#pageCount;
  }

  /** Opens a nested bucket from its entry (an entry this reader produced, with isBucket set). */
  open(entry: RawEntry): BucketRef {
    const v = entry.value;
    if (!entry.isBucket) throw new BoltFormatError(`key ${hexPreview(entry.key)} is a value, not a bucket`);
    if (v.buffer !== this.#bytes.buffer) throw new BoltFormatError("open() takes an entry read from this file");
    if (v.length < BUCKET_HEADER_SIZE) {
      throw new BoltFormatError(`bucket ${hexPreview(entry.key)}: its value is ${v.length} bytes, shorter than a bucket header`);
    }
    const at = v.byteOffset - this.#bytes.byteOffset;
    const root = this.#view.getBigUint64(at, true);
    const sequence = this.#view.getBigUint64(at + 8, true);
    if (root !== 0n) {
      if (root >= BigInt(this.#pageCount)) throw this.#outOfRange(root, `bucket ${hexPreview(entry.key)}`);
      return { root: Number(root), sequence };
    }
    const start = at + BUCKET_HEADER_SIZE;
    const end = at + v.length;
    if (end - start < PAGE_HEADER_SIZE) throw new BoltFormatError(`inline bucket ${hexPreview(entry.key)} is too short for a page header`);
    const flags = this.#view.getUint16(start + 8, true);
    if (!(flags & LEAF_PAGE)) throw new BoltFormatError(`inline bucket ${hexPreview(entry.key)} holds a ${pageName(flags)} page, expected a leaf page`);
    return { root: 0, sequence, inline: { start, end } };
  }

  /** The bucket at a path of names from the root, or undefined when some name is missing or not a bucket. */
  bucket(...path: (string | Uint8Array)[]): BucketRef | undefined {
    let ref = this.root;
    for (const part of path) {
      const name = nameBytes(part);
      let found: RawEntry | undefined;
      for (const e of this.entries(ref)) {
        if (e.isBucket && equalBytes(e.key, name)) {
          found = e;
          break;
        }
      }
      if (!found) return undefined;
      ref = this.open(found);
    }
    return ref;
  }

  /** The bucket's entries in key order, read lazily page by page. */
  *entries(bucket: BucketRef): Generator<RawEntry> {
    if (bucket.inline) {
      yield* this.#leaf(bucket.inline.start, bucket.inline.end, "inline bucket page");
      return;
    }
    // Depth-first over the tree with an explicit stack: each frame is a branch page and the next child.
    const stack: { offset: number; next: number; count: number; id: number }[] = [];
    let id = bucket.root;
    for (;;) {
      const offset = this.#page(id, stack.length === 0 ? "bucket root" : `child of branch page ${stack[stack.length - 1].id}`);
      const flags = this.#view.getUint16(offset + 8, true);
      const count = this.#view.getUint16(offset + 10, true);
      if (flags & LEAF_PAGE) {
        yield* this.#leaf(offset, offset + this.#span(offset), `leaf page ${id}`);
      } else if (flags & BRANCH_PAGE) {
        if (stack.length >= MAX_DEPTH) throw new BoltFormatError(`branch page ${id} is ${MAX_DEPTH} levels deep: the tree has a cycle`);
        if (PAGE_HEADER_SIZE + count * BRANCH_ELEMENT_SIZE > this.#span(offset)) throw new BoltFormatError(`branch page ${id}: ${count} elements do not fit the page`);
        stack.push({ offset, next: 0, count, id });
      } else {
        throw new BoltFormatError(`page ${id} is a ${pageName(flags)} page where a branch or leaf page was expected`);
      }
      // Find the next child to visit, popping finished branch pages.
      let top = stack[stack.length - 1];
      while (top && top.next >= top.count) {
        stack.pop();
        top = stack[stack.length - 1];
      }
      if (!top) return;
      const e = top.offset + PAGE_HEADER_SIZE + top.next * BRANCH_ELEMENT_SIZE;
      top.next++;
      const child = this.#view.getBigUint64(e + 8, true);
      if (child >= BigInt(this.#pageCount)) throw this.#outOfRange(child, `child of branch page ${top.id}`);
      id = Number(child);
    }
  }

  /** A page's type, element count and overflow (for tests of the tree shape and for diagnostics). */
  pageInfo(id: number): { type: string; count: number; overflow: number } {
    const offset = this.#page(id, "page");
    return {
      type: pageName(this.#view.getUint16(offset + 8, true)),
      count: this.#view.getUint16(offset + 10, true),
      overflow: this.#view.getUint32(offset + 12, true),
    };
  }

  /** The page ids on the freelist (empty when the freelist is not stored). */
  freePages(): number[] {
    if (this.meta.freelist === NO_FREELIST) return [];
    const id = Number(this.meta.freelist);
    const offset = this.#page(id, "freelist");
    const flags = this.#view.getUint16(offset + 8, true);
    if (!(flags & FREELIST_PAGE)) throw new BoltFormatError(`freelist page ${id} is a ${pageName(flags)} page`);
    let count = this.#view.getUint16(offset + 10, true);
    let first = offset + PAGE_HEADER_SIZE;
    if (count === 0xffff) {
      count = Number(this.#view.getBigUint64(first, true));
      first += 8;
    }
    if (first + count * 8 > offset + this.#span(offset)) throw new BoltFormatError(`freelist page ${id}: ${count} ids do not fit the page`);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(Number(this.#view.getBigUint64(first + i * 8, true)));
    return ids;
  }

  /** Every bucket and pair, materialised (values are still views into the file buffer). */
  readAll(bucket: BucketRef = this.root, depth = 0): ReadBucket {
    if (depth > MAX_DEPTH) throw new BoltFormatError(`buckets nested more than ${MAX_DEPTH} deep`);
    const entries: ReadEntry[] = [];
    for (const e of this.entries(bucket)) {
      entries.push(e.isBucket ? { key: e.key, bucket: this.readAll(this.open(e), depth + 1) } : { key: e.key, value: e.value });
    }
    return { sequence: bucket.sequence, entries };
  }

  *#leaf(offset: number, end: number, what: string): Generator<RawEntry> {
    const v = this.#view;
    const count = v.getUint16(offset + 10, true);
    if (offset + PAGE_HEADER_SIZE + count * LEAF_ELEMENT_SIZE > end) throw new BoltFormatError(`${what}: ${count} elements do not fit the page`);
    for (let i = 0; i < count; i++) {
      const e = offset + PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
      const flags = v.getUint32(e, true);
      const keyStart = e + v.getUint32(e + 4, true);
      const valueStart = keyStart + v.getUint32(e + 8, true);
      const valueEnd = valueStart + v.getUint32(e + 12, true);
      if (valueEnd > end) throw new BoltFormatError(`${what}: element ${i} runs past the end of the page`);
      yield {
        key: this.#bytes.subarray(keyStart, valueStart),
        value: this.#bytes.subarray(valueStart, valueEnd),
        isBucket: (flags & BUCKET_LEAF_FLAG) !== 0,
      };
    }
  }

  /** The byte offset of page `id`, after checking it lies inside the file and says it is that page. */
  #page(id: number, what: string): number {
    if (id < 2 || id >= this.#pageCount) throw this.#outOfRange(BigInt(id), what);
    const offset = id * this.pageSize;
    const recorded = this.#view.getBigUint64(offset, true);
    if (recorded !== BigInt(id)) throw new BoltFormatError(`page ${id} (${what}) records page id ${recorded}: the file is damaged`);
    const overflow = this.#view.getUint32(offset + 12, true);
    if (id + overflow + 1 > this.#pageCount) {
      throw new BoltFormatError(`page ${id} (${what}) spans ${overflow + 1} pages, past the file's ${this.#pageCount} pages`);
    }
    return offset;
  }

  /** Bytes covered by the page at `offset`, overflow pages included. */
  #span(offset: number): number {
    return (this.#view.getUint32(offset + 12, true) + 1) * this.pageSize;
  }

  #outOfRange(id: bigint, what: string): BoltFormatError {
    return new BoltFormatError(`page id ${id} out of range (${what}): the file has pages 2..${this.#pageCount - 1} besides the two meta pages`);
  }
}

/** Both meta pages unusable: say what is wrong with page 0 first, as bbolt's Open does. */
function bothBad(problem0: string, problem1: string | undefined): string {
  if (problem1 === undefined) return `${problem0} (meta page 0; meta page 1 is valid for another page size)`;
  if (problem0 === problem1 || (problem0.startsWith("not a bbolt file") && problem1.startsWith("not a bbolt file"))) return `${problem0} (both meta pages)`;
  return `${problem0} (meta page 0; meta page 1: ${problem1})`;
}

/** Meta page 1's page size when meta page 0 cannot tell: the guess at which page 1 holds a valid meta for that size. */
function guessPageSize(bytes: Uint8Array): number | undefined {
  for (const size of PAGE_SIZE_GUESSES) {
    if (bytes.length < size + PAGE_HEADER_SIZE + META_SIZE) continue;
    if (metaProblem(bytes, size + PAGE_HEADER_SIZE) === undefined && readMeta(bytes, size + PAGE_HEADER_SIZE).pageSize === size) return size;
  }
  return undefined;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hexPreview(key: Uint8Array): string {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(key.subarray(0, 40));
  return /^[\x20-\x7e]*$/.test(text) ? `'${text}'` : `0x${Buffer.from(key.subarray(0, 20)).toString("hex")}`;
}
