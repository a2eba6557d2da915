// Key order, key ranges and short printing for the checkers. etcd orders keys by their bytes; for
// strings that is the order of Unicode code points (UTF-8 preserves it), which JavaScript's `<` on
// UTF-16 units matches except between a surrogate and U+E000..U+FFFF, handled below.
import type { KvValue } from "../history.ts";

/** etcd's byte order of two keys (or values). */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // A surrogate starts (or ends) a code point above U+FFFF: it sorts after any other BMP unit.
      const sx = x <= 0xdfff;
      const sy = y <= 0xdfff;
      if (sx !== sy) return sx ? 1 : -1;
    }
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : 1;
}

/** Whether `k` is in etcd's range [key, end): no end is the single key, "\0" is every key ≥ key. */
export function inRange(k: string, key: string, end?: string): boolean {
  if (end === undefined || end === "") return k === key;
  if (compareBytes(k, key) < 0) return false;
  return end === "\0" || compareBytes(k, end) < 0;
}

/** The first index of a sorted key array whose key is ≥ `k`. */
export function lowerBound(sorted: string[], k: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(sorted[mid], k) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The keys of a sorted array that lie in [key, end). */
export function keysInRange(sorted: string[], key: string, end?: string): string[] {
  if (end === undefined || end === "") {
    const i = lowerBound(sorted, key);
    return i < sorted.length && sorted[i] === key ? [key] : [];
  }
  const from = lowerBound(sorted, key);
  const to = end === "\0" ? sorted.length : lowerBound(sorted, end);
  return from < to ? sorted.slice(from, to) : [];
}

/** A key as is when it is plain printable ASCII, else quoted. */
export function fmtKey(k: string): string {
  if (k === "") return '""';
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return JSON.stringify(k);
  }
  return k;
}

export function fmtRange(key: string, end?: string): string {
  if (end === undefined || end === "") return fmtKey(key);
  return `[${fmtKey(key)}, ${end === "\0" ? "∞" : fmtKey(end)})`;
}

/** `a=v3@5` — key, value and mod revision, enough to tell writes apart (values are unique). */
export function fmtKv(kv: KvValue): string {
  return `${fmtKey(kv.key)}=${fmtKey(kv.value)}@${kv.modRevision}`;
}

/** `a=v3@5 (create 4, version 2, lease 0)` — when the difference is in the metadata. */
export function fmtKvFull(kv: KvValue): string {
  return `${fmtKv(kv)} (create ${kv.createRevision}, version ${kv.version}, lease ${kv.lease})`;
}

export function sameKv(a: KvValue, b: KvValue): boolean {
  return (
    a.key === b.key &&
    a.value === b.value &&
    a.modRevision === b.modRevision &&
    a.createRevision === b.createRevision &&
    a.version === b.version &&
    a.lease === b.lease
  );
}

/** `a=v3@5`, or `a absent` when there is no value. */
export function fmtKvOr(kv: KvValue | undefined, key: string): string {
  return kv ? fmtKv(kv) : `${fmtKey(key)} absent`;
}

/** Describes how `got` differs from `want` for `key` ("got …, expected …"), or undefined when equal. */
export function kvDiff(want: KvValue | undefined, got: KvValue | undefined, key: string): string | undefined {
  if (!want && !got) return undefined;
  if (!want || !got) return `${fmtKvOr(got, key)}, expected ${fmtKvOr(want, key)}`;
  if (sameKv(want, got)) return undefined;
  if (want.key === got.key && want.value === got.value && want.modRevision === got.modRevision) {
    return `${fmtKvFull(got)}, expected ${fmtKvFull(want)}`;
  }
  return `${fmtKv(got)}, expected ${fmtKv(want)}`;
}

export function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
