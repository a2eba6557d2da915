// The grpc-proxy's cache of range answers (etcd's proxy/grpcproxy/cache): a serializable Range is
// answered from the last answer to the same request, as etcd's proxy does — serializable reads may be
// stale by definition; a write through this proxy drops the answers whose range it touches, so a
// client reads its own writes. Least recently used answers go first past `maxEntries`.
import { Errors } from "../pkg/errors.ts";
import { etcdserverpb } from "../proto/etcd.js";

type Bytes = Uint8Array;

interface Entry {
  response: etcdserverpb.IRangeResponse;
  /** Only answers at the current revision (revision 0) can go stale; those are invalidated by writes. */
  key: Bytes;
  end: Bytes | null;
  atRevision: boolean;
}

/** etcd's DefaultMaxEntries. */
export const DEFAULT_MAX_ENTRIES = 2048;

export class RangeCache {
  /** A Map keeps insertion order: re-inserting on a hit makes its first key the least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  #compactedRev = -1n;

  constructor(maxEntries = DEFAULT_MAX_ENTRIES) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached answer for a serializable request, or undefined; throws etcd's compacted error for a compacted revision. */
  get(req: etcdserverpb.IRangeRequest): etcdserverpb.IRangeResponse | undefined {
    const k = cacheKey(req);
    const rev = BigInt(req.revision ?? 0);
    if (rev > 0n && rev < this.#compactedRev) {
      this.#entries.delete(k);
      throw Errors.compacted;
    }
    const e = this.#entries.get(k);
    if (!e) return undefined;
    this.#entries.delete(k);
    this.#entries.set(k, e);
    return e.response;
  }

  /** Keeps the answer to `req` (as a serializable request: a linearizable answer serves later serializable ones). */
  add(req: etcdserverpb.IRangeRequest, response: etcdserverpb.IRangeResponse): void {
    const rev = BigInt(req.revision ?? 0);
    if (rev !== 0n && rev <= this.#compactedRev) return;
    const k = cacheKey(req);
    this.#entries.delete(k);
    this.#entries.set(k, { response, key: req.key ?? new Uint8Array(0), end: req.rangeEnd && req.rangeEnd.length ? req.rangeEnd : null, atRevision: rev === 0n });
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Drops the answers at the current revision whose range meets [key, end) (end empty: the one key). */
  invalidate(key: Bytes | null | undefined, end: Bytes | null | undefined): void {
    const k = key ?? new Uint8Array(0);
    const e = end && end.length ? end : null;
    for (const [ck, entry] of this.#entries) {
      if (entry.atRevision && intersects(entry.key, entry.end, k, e)) this.#entries.delete(ck);
    }
  }

  /** Answers for revisions before `revision` are gone from the cluster; they go from here as they are asked for. */
  compact(revision: bigint): void {
    if (revision > this.#compactedRev) this.#compactedRev = revision;
  }
}

/** The request's identity: its encoding with serializable set (how a linearizable answer is filed). */
function cacheKey(req: etcdserverpb.IRangeRequest): string {
  return Buffer.from(etcdserverpb.RangeRequest.encode({ ...req, serializable: true }).finish()).toString("latin1");
}

function cmp(a: Bytes, b: Bytes): number {
  return Buffer.compare(a, b);
}

/** [key, end) as etcd reads a range: no end = just the key; end "\0" = every key from key on. */
function bounds(key: Bytes, end: Bytes | null): { lo: Bytes; hi: Bytes | null; point: boolean } {
  if (end === null) return { lo: key, hi: key, point: true };
  if (end.length === 1 && end[0] === 0) return { lo: key, hi: null, point: false };
  return { lo: key, hi: end, point: false };
}

/** Whether two key ranges share a key. */
export function intersects(aKey: Bytes, aEnd: Bytes | null, bKey: Bytes, bEnd: Bytes | null): boolean {
  const a = bounds(aKey, aEnd);
  const b = bounds(bKey, bEnd);
  // x is in a range r when r.lo <= x and (r.hi is null, or x < r.hi, or r is the point r.lo).
  const below = (x: Bytes, r: typeof a) => r.hi === null || (r.point ? cmp(x, r.hi) <= 0 : cmp(x, r.hi) < 0);
  if (a.point && b.point) return cmp(a.lo, b.lo) === 0;
  // Two ranges meet when one's start lies inside the other.
  return (cmp(b.lo, a.lo) >= 0 && below(b.lo, a)) || (cmp(a.lo, b.lo) >= 0 && below(a.lo, b));
}
