// Hashes of the key space at recent compaction points (etcd's mvcc HashStorage), which the leader's
// compaction hash check compares across members. etcd hashes while its compaction walks the rows;
// ours is HashKV at the compaction revision once the compacted rows are gone: what every member
// keeps at that point (each key's newest revision, tombstones dropped), so it depends on nothing
// but the data at that revision — not on where earlier compactions happened — and equal histories
// hash alike whatever their past.
import { Errors } from "../../pkg/errors.ts";
import type { PeerHash } from "./peer-api.ts";

/** What the hashes are taken from (MvccStore fits; a function because a snapshot install swaps it). */
export interface HashSource {
  readonly compactRev: bigint;
  /** Resolves once the physical compaction has caught up with compactRev. */
  compacted(): Promise<void>;
  hashKV(rev: bigint): Promise<{ hash: number; compactRevision: bigint }>;
}

type Log = (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

/** etcd keeps the hashes of its last 10 compactions. */
const KEEP = 10;

export class CompactionHashes {
  #source: () => HashSource;
  #log: Log;
  /** Ascending by revision, at most KEEP. */
  #hashes: PeerHash[] = [];
  #computing = new Map<bigint, Promise<PeerHash>>();

  constructor(source: () => HashSource, log: Log) {
    this.#source = source;
    this.#log = log;
  }

  /** The stored hashes, oldest first. */
  list(): PeerHash[] {
    return [...this.#hashes];
  }

  /**
   * A compaction at rev was applied: hash the store as compacted there once its rows are gone, in the
   * background. A later compaction that overtakes it leaves this one unrecorded.
   */
  record(rev: bigint): void {
    this.at(rev).catch((e) => this.#log("debug", "no hash recorded for a compaction", { "compact-revision": String(rev), error: e instanceof Error ? e.message : String(e) }));
  }

  /**
   * The hash at compaction point rev: the stored one, or computed now while rev is still the store's
   * compaction point. Throws Errors.compacted when it is neither (a later compaction took it).
   */
  at(rev: bigint): Promise<PeerHash> {
    const stored = this.#hashes.find((h) => h.revision === rev);
    if (stored) return Promise.resolve(stored);
    let p = this.#computing.get(rev);
    if (!p) {
      p = this.#compute(rev).finally(() => this.#computing.delete(rev));
      this.#computing.set(rev, p);
    }
    return p;
  }

  async #compute(rev: bigint): Promise<PeerHash> {
    const src = this.#source();
    await src.compacted();
    if (src.compactRev !== rev) throw src.compactRev > rev ? Errors.compacted : Errors.futureRev;
    const h = await src.hashKV(rev);
    if (h.compactRevision !== rev) throw Errors.compacted; // overtaken while hashing
    const hash: PeerHash = { hash: h.hash, compactRevision: rev, revision: rev };
    this.#store(hash);
    return hash;
  }

  #store(h: PeerHash): void {
    this.#log("info", "storing new hash", { hash: h.hash, revision: String(h.revision), "compact-revision": String(h.compactRevision) });
    this.#hashes = [...this.#hashes.filter((x) => x.revision !== h.revision), h].sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0)).slice(-KEEP);
  }
}
