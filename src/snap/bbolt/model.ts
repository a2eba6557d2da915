/**
 * What a bbolt file holds, as the reader returns it and the writer takes it: a bucket is its key order
 * of entries, each a plain key/value pair or a nested bucket under that key (bbolt keeps both in one
 * sorted B+tree). The root bucket holds buckets only (bbolt's Tx has no Put).
 *
 * Keys and values are bytes. The reader hands out views into the file's buffer (no copies); the writer
 * accepts any Iterable, so a large bucket can be streamed from a generator instead of an array.
 */

export interface BoltPair {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface BoltNested {
  readonly key: Uint8Array;
  readonly bucket: BoltBucket;
}

export type BoltEntry = BoltPair | BoltNested;

export interface BoltBucket {
  /** bbolt's NextSequence counter; 0 when absent. */
  readonly sequence?: bigint;
  /** Sorted bytewise by key, no duplicates (the writer checks). */
  readonly entries: Iterable<BoltEntry>;
}

/** A bucket as the reader materialises it: arrays all the way down. */
export interface ReadBucket extends BoltBucket {
  readonly sequence: bigint;
  readonly entries: ReadEntry[];
}

export type ReadEntry = BoltPair | { readonly key: Uint8Array; readonly bucket: ReadBucket };

export function isNested<E extends BoltEntry>(e: E): e is Extract<E, BoltNested> {
  return (e as BoltNested).bucket !== undefined;
}

/** Names given as text are UTF-8, as etcd's bucket names are. */
export function nameBytes(name: string | Uint8Array): Uint8Array {
  return typeof name === "string" ? new TextEncoder().encode(name) : name;
}
