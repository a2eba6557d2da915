/** A key's state at one revision, field for field as mvccpb.KeyValue (so it encodes without copying). */
export interface KeyValue {
  key: Uint8Array;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  value: Uint8Array;
  lease: bigint;
}

/** Byte order of keys, as Go's bytes.Compare (SQLite compares BLOBs the same way). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

export type KeyRange =
  | { kind: "point"; key: Uint8Array }
  | { kind: "range"; key: Uint8Array; end: Uint8Array }
  | { kind: "from"; key: Uint8Array };

/**
 * etcd's range convention: no end → the one key; end "\0" → every key ≥ key; otherwise [key, end).
 * An end ≤ key is an empty range, as etcd's index treats it.
 */
export function keyRange(key: Uint8Array, end?: Uint8Array | null): KeyRange {
  if (!end || end.length === 0) return { kind: "point", key };
  if (end.length === 1 && end[0] === 0) return { kind: "from", key };
  return { kind: "range", key, end };
}
