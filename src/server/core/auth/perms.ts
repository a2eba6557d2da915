/**
 * etcd's range permission check (auth/range_perm_cache.go): a user's permissions from all its roles
 * are intervals [key, rangeEnd) over byte strings; a request on [key, rangeEnd) is allowed when the
 * union of the intervals of the wanted kind covers it. A permission without rangeEnd is the single
 * key [key, key+"\0"); a rangeEnd of "\0" means "to the end of the key space".
 */

export const PermType = { READ: 0, WRITE: 1, READWRITE: 2 } as const;
export type PermType = (typeof PermType)[keyof typeof PermType];

export interface Perm {
  permType: number;
  key: Uint8Array;
  rangeEnd: Uint8Array;
}

/** An interval [begin, end); end null: unbounded. */
interface Interval {
  begin: Uint8Array;
  end: Uint8Array | null;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function pointEnd(key: Uint8Array): Uint8Array {
  const end = new Uint8Array(key.length + 1);
  end.set(key);
  return end;
}

const isOpenEnd = (end: Uint8Array | null | undefined) => !!end && end.length === 1 && end[0] === 0;

/** The interval a permission (or a request) names. */
export function intervalOf(key: Uint8Array, rangeEnd: Uint8Array | null | undefined): Interval {
  if (!rangeEnd || rangeEnd.length === 0) return { begin: key, end: pointEnd(key) };
  if (isOpenEnd(rangeEnd)) return { begin: key, end: null };
  return { begin: key, end: rangeEnd };
}

const grants = (p: Perm, want: "read" | "write") => p.permType === PermType.READWRITE || p.permType === (want === "read" ? PermType.READ : PermType.WRITE);

/**
 * Merged permissions of one user, one list per kind, sorted by begin: what the checks sweep over.
 * Built once per user and auth revision (the store caches it), as etcd's rangePermCache.
 */
export class UserPerms {
  readonly #read: Interval[];
  readonly #write: Interval[];

  constructor(perms: Iterable<Perm>) {
    const read: Interval[] = [];
    const write: Interval[] = [];
    for (const p of perms) {
      const ivl = intervalOf(p.key, p.rangeEnd);
      // An empty or inverted interval grants nothing (etcd's interval tree ignores it too).
      if (ivl.end !== null && compareBytes(ivl.begin, ivl.end) >= 0) continue;
      if (grants(p, "read")) read.push(ivl);
      if (grants(p, "write")) write.push(ivl);
    }
    const byBegin = (a: Interval, b: Interval) => compareBytes(a.begin, b.begin);
    this.#read = read.sort(byBegin);
    this.#write = write.sort(byBegin);
  }

  /** Whether [key, rangeEnd) (a single key without rangeEnd; "\0": to the end) is covered for `want`. */
  permits(want: "read" | "write", key: Uint8Array, rangeEnd?: Uint8Array | null): boolean {
    const req = intervalOf(key, rangeEnd);
    // An empty request range (end <= begin) touches no key; etcd's interval tree still asks for
    // its begin point, so treat it as the single key.
    const end = req.end !== null && compareBytes(req.begin, req.end) >= 0 ? pointEnd(req.begin) : req.end;
    return covers(want === "read" ? this.#read : this.#write, req.begin, end);
  }
}

/** Sweep: does the union of `sorted` (by begin) cover [begin, end)? */
function covers(sorted: readonly Interval[], begin: Uint8Array, end: Uint8Array | null): boolean {
  let reached = begin; // everything in [begin, reached) is covered
  for (const ivl of sorted) {
    if (compareBytes(ivl.begin, reached) > 0) break; // a gap at `reached`
    if (ivl.end === null) return true;
    if (compareBytes(ivl.end, reached) > 0) reached = ivl.end;
    if (end !== null && compareBytes(reached, end) >= 0) return true;
  }
  return false;
}
