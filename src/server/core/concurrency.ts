// etcd's v3lock and v3election services (etcdserver/api/v3lock, api/v3election) with the semantics of
// clientv3/concurrency as those services use it: keys `<name>/<lease id in hex>` created by a Txn on
// create_revision == 0 under the caller's lease, ordered by create revision; a caller waits for every
// older key of its prefix to be deleted (newest predecessor first, then look again). etcd runs this
// through an in-process client; here the server's own range/txn/deleteRange (linearizable reads, writes
// through Raft) and its watch hub do the same work.
import { EtcdError, GrpcCode, isEtcdError, Errors } from "../../pkg/errors.ts";
import type { etcdserverpb, mvccpb, v3electionpb, v3lockpb } from "../../proto/etcd.js";
import { EventType } from "../../mvcc/event.ts";
import type { KeyValue } from "../../mvcc/key-value.ts";
import type { WatchBatch, WatchHub, WatchOptions, WatchStream } from "../../mvcc/watch/watch-hub.ts";
import type { ResponseOpOut } from "./kv-apply.ts";

type Header = { clusterId: bigint; memberId: bigint; revision: bigint; raftTerm: bigint };
type LeaderKey = v3electionpb.LeaderKey.$Properties;

/** What the services need from the server (EtcdServer fits through `concurrencyDeps`). */
export interface ConcurrencyDeps {
  range(r: etcdserverpb.RangeRequest.$Properties): Promise<{ header: Header; kvs: KeyValue[] }>;
  txn(r: etcdserverpb.TxnRequest.$Properties): Promise<{ header: Header; succeeded: boolean; responses: ResponseOpOut[] }>;
  deleteRange(r: etcdserverpb.DeleteRangeRequest.$Properties): Promise<{ header: Header }>;
  /** Grants a lease with this TTL (etcd's session does when the request names no lease). */
  grantLease(ttlSeconds: bigint): Promise<bigint>;
  header(revision: bigint): Header;
  watchHub: Pick<WatchHub, "newStream">;
}

/** The wiring for a running server. */
export function concurrencyDeps(s: {
  range: ConcurrencyDeps["range"];
  txn: ConcurrencyDeps["txn"];
  deleteRange: ConcurrencyDeps["deleteRange"];
  header(revision?: bigint): Header;
  watchHub: Pick<WatchHub, "newStream">;
  leases: { grant(r: etcdserverpb.LeaseGrantRequest.$Properties): Promise<unknown> };
}): ConcurrencyDeps {
  return {
    range: (r) => s.range(r),
    txn: (r) => s.txn(r),
    deleteRange: (r) => s.deleteRange(r),
    grantLease: async (ttl) => BigInt(((await s.leases.grant({ TTL: ttl })) as { ID: bigint }).ID),
    header: (rev) => s.header(rev),
    watchHub: s.watchHub,
  };
}

/** The caller went away (its gRPC call was cancelled); the caller never sees this status. */
const canceled = () => new EtcdError(GrpcCode.Canceled, "context canceled");

/** etcd's session TTL when a request names no lease (concurrency.defaultSessionTTL). */
const DEFAULT_SESSION_TTL_SECONDS = 60n;

const SortOrder = { ASCEND: 1, DESCEND: 2 } as const;
const SortTarget = { CREATE: 2 } as const;
const CompareResult = { EQUAL: 0 } as const;
const CompareTarget = { CREATE: 1 } as const;
const EMPTY = new Uint8Array(0);

/**
 * Lock/Unlock and Campaign/Proclaim/Leader/Observe/Resign, one method each, shaped as the gRPC
 * responses. A `signal` is the call's cancellation: a waiting caller that goes away stops waiting,
 * removes its watcher and, as etcd, its key.
 */
export class ConcurrencyService {
  #deps: ConcurrencyDeps;

  constructor(deps: ConcurrencyDeps) {
    this.#deps = deps;
  }

  // ---- v3lock (etcd's Mutex)

  async lock(r: v3lockpb.LockRequest.$Properties, signal?: AbortSignal): Promise<v3lockpb.LockResponse.$Properties> {
    return relay(async () => {
      const prefix = concat(r.name, "/");
      const lease = await this.#session(r.lease, signal);
      const myKey = leaseKey(prefix, lease);
      // Join the queue with our own key, or find it from an earlier Lock with the same lease; read the
      // oldest key of the prefix in the same transaction so an uncontended lock costs one request.
      const t = await this.#deps.txn({
        compare: [createdAt(myKey, 0n)],
        success: [{ requestPut: { key: myKey, value: EMPTY, lease } }, { requestRange: oldest(prefix) }],
        failure: [{ requestRange: { key: myKey } }, { requestRange: oldest(prefix) }],
      });
      const myRev = t.succeeded ? t.header.revision : rangeKvs(t.responses[0])[0].createRevision;
      if (signal?.aborted) {
        // Nobody will hear of a key made for a caller already gone (etcd would leave it to its lease).
        if (t.succeeded) await this.#deleteQuietly(myKey);
        throw canceled();
      }
      const owner = rangeKvs(t.responses[1])[0];
      if (!owner || owner.createRevision === myRev) return { header: t.header, key: myKey };
      let header: Header;
      try {
        header = await this.#waitDeletes(prefix, myRev - 1n, signal);
      } catch (err) {
        // As etcd's Mutex: a wait that fails gives up its place.
        await this.#deleteQuietly(myKey);
        throw err;
      }
      return { header, key: myKey };
    });
  }

  async unlock(r: v3lockpb.UnlockRequest.$Properties): Promise<v3lockpb.UnlockResponse.$Properties> {
    return relay(async () => ({ header: (await this.#deps.deleteRange({ key: r.key ?? EMPTY })).header }));
  }

  // ---- v3election (etcd's Election)

  async campaign(r: v3electionpb.CampaignRequest.$Properties, signal?: AbortSignal): Promise<v3electionpb.CampaignResponse.$Properties> {
    return relay(async () => {
      const prefix = concat(r.name, "/");
      const value = r.value ?? EMPTY;
      const lease = await this.#session(r.lease, signal);
      const key = leaseKey(prefix, lease);
      const t = await this.#deps.txn({
        compare: [createdAt(key, 0n)],
        success: [{ requestPut: { key, value, lease } }],
        failure: [{ requestRange: { key } }],
      });
      // Not created: this lease campaigned before, and keeps its place with the value asked for now.
      const earlier = t.succeeded ? undefined : rangeKvs(t.responses[0])[0];
      const rev = earlier ? earlier.createRevision : t.header.revision;
      const leader: LeaderKey = { name: r.name ?? EMPTY, key, rev, lease };
      if (signal?.aborted) {
        if (!earlier) await this.#resignQuietly(leader);
        throw canceled();
      }
      if (earlier && !sameBytes(earlier.value, value)) {
        try {
          await this.#proclaim(leader, value);
        } catch (err) {
          await this.#resignQuietly(leader);
          throw err;
        }
      }
      try {
        await this.#waitDeletes(prefix, rev - 1n, signal);
      } catch (err) {
        // As etcd: a caller that went away resigns; on any other failure the key stays (its lease decides).
        if (signal?.aborted) await this.#resignQuietly(leader);
        throw err;
      }
      // etcd answers with the header of the campaign's own transaction, even after waiting.
      return { header: t.header, leader };
    });
  }

  async proclaim(r: v3electionpb.ProclaimRequest.$Properties, signal?: AbortSignal): Promise<v3electionpb.ProclaimResponse.$Properties> {
    return relay(async () => {
      if (!r.leader) throw Errors.missingLeaderKey;
      const lease = await this.#session(r.leader.lease, signal);
      return { header: await this.#proclaim({ ...r.leader, lease }, r.value ?? EMPTY) };
    });
  }

  async leader(r: v3electionpb.LeaderRequest.$Properties): Promise<v3electionpb.LeaderResponse.$Properties> {
    return relay(async () => {
      const out = await this.#deps.range(oldest(concat(r.name, "/")));
      if (out.kvs.length === 0) throw Errors.electionNoLeader;
      return { header: out.header, kv: out.kvs[0] };
    });
  }

  async resign(r: v3electionpb.ResignRequest.$Properties, signal?: AbortSignal): Promise<v3electionpb.ResignResponse.$Properties> {
    return relay(async () => {
      if (!r.leader) throw Errors.missingLeaderKey;
      // etcd opens a session for the request's lease even here, granting one when it names none.
      await this.#session(r.leader.lease, signal);
      return { header: await this.#resign(r.leader) };
    });
  }

  /**
   * etcd's Observe: the current leader's key-value, then every change of its value, then — once its
   * key is deleted — the next leader, and so on, until the caller goes away. With no leader it waits
   * for the first key put on the prefix. As etcd, a failed read or a compacted watch ends the stream
   * without an error.
   */
  async observe(r: v3electionpb.LeaderRequest.$Properties, send: (res: v3electionpb.LeaderResponse.$Properties) => Promise<void>, signal: AbortSignal): Promise<void> {
    const prefix = concat(r.name, "/");
    while (!signal.aborted) {
      let out: { header: Header; kvs: KeyValue[] };
      try {
        out = await this.#deps.range(oldest(prefix));
      } catch {
        return;
      }
      let header = out.header;
      let kv: mvccpb.KeyValue.$Properties | undefined = out.kvs[0];
      if (!kv) {
        const first = await this.#firstPut(prefix, out.header.revision, signal);
        if (!first) return;
        kv = first;
        header = this.#deps.header(first.modRevision);
      }
      if (signal.aborted) return;
      await send({ header, kv });
      // The leader's own changes, until its key is deleted.
      const w = new OneWatch(this.#deps.watchHub, { key: kv.key!, startRevision: header.revision + 1n }, signal);
      try {
        for (let deleted = false; !deleted; ) {
          const b = await w.next();
          if (!b || b.compactRevision !== 0n) return;
          for (const ev of b.events) {
            if (ev.type === EventType.DELETE) {
              deleted = true;
              break;
            }
            await send({ header: this.#deps.header(b.revision), kv: ev.kv });
          }
        }
      } finally {
        w.close();
      }
    }
  }

  // ---- the pieces

  /** etcd's session for a request: its lease, or a new one with etcd's default TTL when it names none. */
  async #session(lease: bigint | number | null | undefined, signal: AbortSignal | undefined): Promise<bigint> {
    if (signal?.aborted) throw canceled();
    const id = BigInt(lease ?? 0n);
    return id !== 0n ? id : this.#deps.grantLease(DEFAULT_SESSION_TTL_SECONDS);
  }

  /** Puts the value on the leader key if it still has its create revision. */
  async #proclaim(leader: LeaderKey, value: Uint8Array): Promise<Header> {
    const key = leader.key ?? EMPTY;
    const t = await this.#deps.txn({
      compare: [createdAt(key, BigInt(leader.rev ?? 0n))],
      success: [{ requestPut: { key, value, lease: BigInt(leader.lease ?? 0n) } }],
    });
    if (!t.succeeded) throw Errors.electionNotLeader;
    return t.header;
  }

  /** Deletes the leader key if it still has its create revision; succeeds either way. */
  async #resign(leader: LeaderKey): Promise<Header> {
    const key = leader.key ?? EMPTY;
    const t = await this.#deps.txn({ compare: [createdAt(key, BigInt(leader.rev ?? 0n))], success: [{ requestDeleteRange: { key } }] });
    return t.header;
  }

  async #resignQuietly(leader: LeaderKey): Promise<void> {
    await this.#resign(leader).catch(() => {});
  }

  async #deleteQuietly(key: Uint8Array): Promise<void> {
    await this.#deps.deleteRange({ key }).catch(() => {});
  }

  /**
   * etcd's waitDeletes: until no key of the prefix has a create revision ≤ maxCreateRev, wait for the
   * newest such key to be deleted. Returns the header of the read that found none.
   */
  async #waitDeletes(prefix: Uint8Array, maxCreateRev: bigint, signal: AbortSignal | undefined): Promise<Header> {
    for (;;) {
      if (signal?.aborted) throw canceled();
      const out = await this.#deps.range({ ...newest(prefix), maxCreateRevision: maxCreateRev });
      if (out.kvs.length === 0) return out.header;
      await this.#waitDelete(out.kvs[0].key, out.header.revision, signal);
    }
  }

  /** Waits for a delete of key at or after rev. */
  async #waitDelete(key: Uint8Array, rev: bigint, signal: AbortSignal | undefined): Promise<void> {
    const w = new OneWatch(this.#deps.watchHub, { key, startRevision: rev, noPut: true }, signal);
    try {
      for (;;) {
        const b = await w.next();
        if (!b) throw canceled();
        if (b.compactRevision !== 0n) throw Errors.compacted;
        if (b.events.some((ev) => ev.type === EventType.DELETE)) return;
      }
    } finally {
      w.close();
    }
  }

  /** Observe with no leader: the first key put on the prefix at or after rev (undefined: stop). */
  async #firstPut(prefix: Uint8Array, rev: bigint, signal: AbortSignal): Promise<KeyValue | undefined> {
    const w = new OneWatch(this.#deps.watchHub, { key: prefix, end: prefixEnd(prefix), startRevision: rev }, signal);
    try {
      for (;;) {
        const b = await w.next();
        if (!b || b.compactRevision !== 0n) return undefined;
        const put = b.events.find((ev) => ev.type === EventType.PUT);
        if (put) return put.kv;
      }
    } finally {
      w.close();
    }
  }
}

/**
 * One watcher on its own hub stream, read one batch at a time. `next` resolves undefined once the
 * signal fires; `close` (always, in a finally) removes the watcher.
 */
class OneWatch {
  #stream: WatchStream;
  #signal: AbortSignal | undefined;
  #wake: (() => void) | null = null;
  #kick = () => {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  };

  constructor(hub: Pick<WatchHub, "newStream">, opts: WatchOptions, signal: AbortSignal | undefined) {
    this.#signal = signal;
    this.#stream = hub.newStream();
    this.#stream.onReady = this.#kick;
    try {
      this.#stream.watch(opts);
    } catch (err) {
      this.#stream.close();
      throw err;
    }
    signal?.addEventListener("abort", this.#kick, { once: true });
  }

  async next(): Promise<WatchBatch | undefined> {
    for (;;) {
      if (this.#signal?.aborted) return undefined;
      const b = this.#stream.take();
      if (b) return b;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  close(): void {
    this.#signal?.removeEventListener("abort", this.#kick);
    this.#stream.close();
    this.#kick();
  }
}

/**
 * Runs one request; errors reach the caller as etcd's services send them: the text unchanged, the code
 * Unknown (etcd relays its in-process client's errors as rpctypes values, which gRPC sends as Unknown).
 */
async function relay<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (isEtcdError(err) && err.code !== GrpcCode.Unknown && err.code !== GrpcCode.Canceled) throw new EtcdError(GrpcCode.Unknown, err.message);
    throw err;
  }
}

/** `<prefix><lease id in hex>`, as Go's %x prints an int64. */
function leaseKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  return concat(prefix, lease.toString(16));
}

function concat(a: Uint8Array | null | undefined, b: string): Uint8Array {
  return Buffer.concat([a ?? EMPTY, Buffer.from(b)]);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** The end of the range of keys starting with prefix (clientv3's GetPrefixRangeEnd). */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = Uint8Array.from(prefix.subarray(0, i + 1)); // a copy (a Buffer's slice is a view)
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]); // all 0xff: every key from prefix on
}

/** The key of the prefix with the smallest create revision (clientv3's WithFirstCreate). */
function oldest(prefix: Uint8Array): etcdserverpb.RangeRequest.$Properties {
  return { key: prefix, rangeEnd: prefixEnd(prefix), limit: 1n, sortOrder: SortOrder.ASCEND, sortTarget: SortTarget.CREATE };
}

/** The key of the prefix with the largest create revision (clientv3's WithLastCreate). */
function newest(prefix: Uint8Array): etcdserverpb.RangeRequest.$Properties {
  return { key: prefix, rangeEnd: prefixEnd(prefix), limit: 1n, sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.CREATE };
}

function createdAt(key: Uint8Array, rev: bigint): etcdserverpb.Compare.$Properties {
  return { key, result: CompareResult.EQUAL, target: CompareTarget.CREATE, createRevision: rev };
}

function rangeKvs(op: ResponseOpOut | undefined): KeyValue[] {
  if (!op || !("responseRange" in op)) throw new Error("assertion failed: expected a range response in the transaction");
  return op.responseRange.kvs;
}
