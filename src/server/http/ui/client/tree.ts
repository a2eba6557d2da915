// Lists one level of the key space as a tree ("/" separates levels) without reading whole subtrees.
// etcd has no "list children" call, so this skip-scans: read a page of keys (keys_only, limited);
// every key names a child (a leaf key, or a directory "name/"); once a directory is seen, the next
// read starts past all of it (at prefixEnd of the directory), so a directory of a million keys costs
// one read, not a million keys.
import { concat, keyAfter, prefixEnd, compare } from "./bytes.ts";

const SLASH = 0x2f;

export interface TreeChild {
  /** The bytes after the parent's prefix; a directory's name ends with "/". */
  name: Uint8Array;
  /** The full key of a leaf, or the prefix of a directory. */
  path: Uint8Array;
  dir: boolean;
}

export interface ChildPage {
  children: TreeChild[];
  /** Where the next page starts, or null when this page reached the end of the prefix. */
  next: Uint8Array | null;
  /** Range requests this page took. */
  requests: number;
}

export type RangeKeys = (key: Uint8Array, rangeEnd: Uint8Array, limit: number) => Promise<{ keys: Uint8Array[]; more: boolean }>;

export interface ListOptions {
  /** Resume from a previous page's `next`. */
  from?: Uint8Array | null;
  /** Children per page, and the range limit of each read. */
  pageSize?: number;
  /** Reads per page at most; a page of huge directories may stop short and offer `next`. */
  requestsMax?: number;
}

/** The child of `prefix` that `key` (which starts with `prefix`) belongs to. */
export function childOf(prefix: Uint8Array, key: Uint8Array): TreeChild {
  const rest = key.subarray(prefix.length);
  const slash = rest.indexOf(SLASH);
  if (slash < 0) return { name: rest.slice(), path: key, dir: false };
  const name = rest.slice(0, slash + 1);
  return { name, path: concat(prefix, name), dir: true };
}

/** Where a scan continues after having seen `child`: past its whole subtree for a directory. */
function after(child: TreeChild): Uint8Array {
  return child.dir ? prefixEnd(child.path) : keyAfter(child.path);
}

export async function listChildren(range: RangeKeys, prefix: Uint8Array, opts: ListOptions = {}): Promise<ChildPage> {
  const pageSize = opts.pageSize ?? 100;
  const requestsMax = opts.requestsMax ?? 50;
  // The empty prefix is the whole key space: etcd spells it key "\0", range_end "\0".
  const end = prefixEnd(prefix);
  const wholeSpace = end.length === 1 && end[0] === 0;
  let start = opts.from ?? (prefix.length ? prefix : new Uint8Array([0]));
  const children: TreeChild[] = [];
  let requests = 0;
  while (requests < requestsMax) {
    requests++;
    const { keys, more } = await range(start, end, pageSize);
    for (const key of keys) {
      const child = childOf(prefix, key);
      const last = children[children.length - 1];
      if (last && last.dir && child.dir && compare(last.path, child.path) === 0) continue;
      if (children.length === pageSize) return { children, next: key, requests };
      children.push(child);
    }
    const last = children[children.length - 1];
    if (!more || !last) return { children, next: null, requests };
    start = after(last);
    // Past the end of the prefix (possible only after a directory): nothing more to read.
    if (!wholeSpace && compare(start, end) >= 0) return { children, next: null, requests };
  }
  const last = children[children.length - 1];
  return { children, next: last ? after(last) : start, requests };
}
