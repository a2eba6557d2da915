/**
 * bbolt's on-disk layout (go.etcd.io/bbolt 1.3, file format version 2), shared by the reader and the
 * writer. Every multi-byte field is little endian (bbolt writes its structs with the host's layout and
 * etcd runs on little-endian machines; the Go structs have no padding at these sizes).
 *
 *   page header (16 bytes): id u64 | flags u16 | count u16 | overflow u32
 *     - overflow = how many further pages this one spans; a page is (overflow + 1) * pageSize bytes.
 *   leaf element (16 bytes):   flags u32 | pos u32 | ksize u32 | vsize u32
 *   branch element (16 bytes): pos u32 | ksize u32 | pgid u64
 *     - pos counts from the element's own first byte to its key; the value follows the key.
 *   bucket header (16 bytes, a bucket entry's value): root pgid u64 | sequence u64
 *     - root 0 = inline bucket: a leaf page (header + elements) follows in the same value.
 *   meta (64 bytes, after page 0's and page 1's headers):
 *     magic u32 | version u32 | pageSize u32 | flags u32 | root bucket header (16) |
 *     freelist pgid u64 | pgid (high-water mark) u64 | txid u64 | checksum u64
 *     - checksum = FNV-1a 64 of the 56 bytes before it; 0 means "not computed" and is accepted.
 *   freelist page: count u16 in the header holds the number of free pgids (u64 each) after the header;
 *     0xFFFF means the real count is the first u64.
 */

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;
export const DEFAULT_PAGE_SIZE = 4096;

export const PAGE_HEADER_SIZE = 16;
export const LEAF_ELEMENT_SIZE = 16;
export const BRANCH_ELEMENT_SIZE = 16;
export const BUCKET_HEADER_SIZE = 16;
export const META_SIZE = 64;
const META_CHECKSUM_OFFSET = 56;

export const BRANCH_PAGE = 0x01;
export const LEAF_PAGE = 0x02;
export const META_PAGE = 0x04;
export const FREELIST_PAGE = 0x10;

/** A leaf element whose value is a bucket header (a nested bucket), not a plain value. */
export const BUCKET_LEAF_FLAG = 0x01;

/** meta.freelist when the freelist is not stored (bbolt's NoFreelistSync). */
export const NO_FREELIST = 0xffffffffffffffffn;

/** bbolt's limits (bucket.go): larger keys or values are refused by Put. */
export const MAX_KEY_SIZE = 32768;
export const MAX_VALUE_SIZE = 2 ** 31 - 2;

/** A page's count is a u16 and bbolt refuses 0xFFFF elements on one page (node.write). */
export const MAX_ELEMENTS_PER_PAGE = 0xfffe;

export interface Meta {
  magic: number;
  version: number;
  pageSize: number;
  flags: number;
  /** The root bucket's root page (never 0: the root bucket is never inline). */
  root: bigint;
  /** The root bucket's NextSequence counter. */
  sequence: bigint;
  freelist: bigint;
  /** High-water mark: the number of pages in use; the file holds at least this many. */
  pgid: bigint;
  txid: bigint;
  checksum: bigint;
}

export function pageName(flags: number): string {
  if (flags & BRANCH_PAGE) return "branch";
  if (flags & LEAF_PAGE) return "leaf";
  if (flags & META_PAGE) return "meta";
  if (flags & FREELIST_PAGE) return "freelist";
  return `unknown<${flags.toString(16).padStart(2, "0")}>`;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = 0xffffffffffffffffn;

/** FNV-1a, 64 bits (Go's hash/fnv New64a). Only ever run over 56 bytes, so bigint is fast enough. */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) h = ((h ^ BigInt(bytes[i])) * FNV_PRIME) & U64;
  return h;
}

/** Reads the meta stored at `offset` (the start of a meta page's body, i.e. page start + 16). */
export function readMeta(bytes: Uint8Array, offset: number): Meta {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, META_SIZE);
  return {
    magic: v.getUint32(0, true),
    version: v.getUint32(4, true),
    pageSize: v.getUint32(8, true),
    flags: v.getUint32(12, true),
    root: v.getBigUint64(16, true),
    sequence: v.getBigUint64(24, true),
    freelist: v.getBigUint64(32, true),
    pgid: v.getBigUint64(40, true),
    txid: v.getBigUint64(48, true),
    checksum: v.getBigUint64(56, true),
  };
}

/** The checksum the meta at `offset` should carry. */
export function metaChecksum(bytes: Uint8Array, offset: number): bigint {
  return fnv1a64(bytes.subarray(offset, offset + META_CHECKSUM_OFFSET));
}

/** Why the meta at `offset` is unusable (bbolt's meta.validate), or undefined when it is fine. */
export function metaProblem(bytes: Uint8Array, offset: number): string | undefined {
  const m = readMeta(bytes, offset);
  if (m.magic !== MAGIC) return `not a bbolt file: bad magic 0x${m.magic.toString(16).padStart(8, "0")} (want 0x${MAGIC.toString(16)})`;
  if (m.version !== VERSION) return `unsupported bbolt version ${m.version} (want ${VERSION})`;
  if (m.checksum !== 0n && m.checksum !== metaChecksum(bytes, offset)) return "meta page checksum mismatch";
  return undefined;
}

/** Writes a whole meta page (header + meta with its checksum) at `pageOffset`. */
export function writeMetaPage(bytes: Uint8Array, pageOffset: number, pageId: number, m: Omit<Meta, "checksum">): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset + pageOffset, PAGE_HEADER_SIZE + META_SIZE);
  v.setBigUint64(0, BigInt(pageId), true);
  v.setUint16(8, META_PAGE, true);
  v.setUint16(10, 0, true);
  v.setUint32(12, 0, true);
  const b = PAGE_HEADER_SIZE;
  v.setUint32(b + 0, m.magic, true);
  v.setUint32(b + 4, m.version, true);
  v.setUint32(b + 8, m.pageSize, true);
  v.setUint32(b + 12, m.flags, true);
  v.setBigUint64(b + 16, m.root, true);
  v.setBigUint64(b + 24, m.sequence, true);
  v.setBigUint64(b + 32, m.freelist, true);
  v.setBigUint64(b + 40, m.pgid, true);
  v.setBigUint64(b + 48, m.txid, true);
  v.setBigUint64(b + 56, metaChecksum(bytes, pageOffset + b), true);
}

/** Bytewise comparison, as bbolt orders keys (bytes.Compare). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}
