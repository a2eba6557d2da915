import type { Backend } from "../backend/backend.ts";
import { Errors } from "../pkg/errors.ts";
import { LeaseTable } from "./lease-table.ts";
import { leaseGranted, leaseRenewed, leaseRevoked, leaseTtlSeconds } from "./metrics.ts";
import { spreadExpiries } from "./spread-expiries.ts";
import { TimeQueue } from "./time-queue.ts";

/** The largest TTL a lease may be granted, in seconds (etcd's MaxLeaseTTL, about 285 years). */
export const MAX_LEASE_TTL_SECONDS = 9_000_000_000;

export interface LessorOptions {
  /**
   * Milliseconds on a monotonic clock (the server passes `() => performance.now()`; tests a fake).
   * Only leader-side expiry reads it; nothing applied through Raft depends on it.
   */
  now: () => number;
  /** Shorter grants are raised to this; see `minLeaseTtlSeconds` for how the server computes it. */
  minTtlSeconds: number;
  /**
   * How often the leader records a lease's remaining TTL through Raft (etcd's lessor
   * CheckpointInterval, 5 min, settable only in etcd's Go config); 0 or absent = no checkpoints are
   * scheduled (etcd's default: --experimental-enable-lease-checkpoint off). Applied checkpoints are
   * kept either way.
   */
  checkpointIntervalMs?: number;
  /**
   * Whether an applied checkpoint's remaining TTL is written to the lease table, so that it also
   * survives a restart of the whole cluster (etcd's --experimental-enable-lease-checkpoint-persist,
   * always on in etcd 3.6). Off (etcd 3.5's default): checkpoints live in memory on every member,
   * enough for a change of leader; a restart starts leases from their full TTL.
   */
  checkpointPersist?: boolean;
  /**
   * A lease handed out by `expired()` is handed out again after this long if it has not been revoked
   * by then (its revoke proposal may have been lost). etcd uses its request timeout; default 3 s.
   */
  expiredRetryMs?: number;
  /** The revoke rate the server allows (etcd: 1000/s); promote spreads expiries to fit it. */
  revokePerSecondMax?: number;
}

/** What the lessor knows about one lease (a copy; changing it changes nothing). */
export interface LeaseInfo {
  readonly id: bigint;
  /** Granted TTL in seconds (after the minimum was applied). */
  readonly ttl: number;
  /** Remaining TTL in seconds from the last applied checkpoint; 0 = none. */
  readonly remainingTtl: number;
  /** When the lease expires on this member's clock; Infinity unless this member is primary. */
  readonly expiresAtMs: number;
  readonly keyCount: number;
}

export interface TimeToLive {
  id: bigint;
  grantedTtl: number;
  /** Seconds left, truncated toward zero as etcd's LeaseTimeToLive (negative while a revoke is pending). */
  ttl: number;
  /** The attached keys in byte order. */
  keys: Uint8Array[];
}

/** `renew` on a member that is not the primary lessor: the server forwards the renew to the leader. */
export class NotPrimaryError extends Error {
  constructor() {
    super("lease: not a primary lessor");
    this.name = "NotPrimaryError";
  }
}

/**
 * `renew` of a lease that has expired but is not revoked yet. As etcd, the server should wait
 * (`settled(id)`) and renew again: that ends in leaseNotFound once the revoke applies (KeepAlive
 * answers TTL 0), or in NotPrimaryError when leadership moved (forward), or succeeds if the lease
 * survived a leader change.
 */
export class LeaseExpiredError extends Error {
  readonly id: bigint;
  constructor(id: bigint) {
    super(`lease: lease ${id} has expired and awaits its revoke`);
    this.name = "LeaseExpiredError";
    this.id = id;
  }
}

interface Lease {
  id: bigint;
  ttl: number;
  remainingTtl: number;
  /** The remaining TTL the lease table holds (it lags remainingTtl while checkpoints are not persisted). */
  storedRemainingTtl: number;
  expiresAtMs: number;
  /** Attached keys, each byte as one latin1 char: equal bytes ⇔ equal strings, and `<` is byte order. */
  keys: Set<string>;
}

const DEFAULT_EXPIRED_RETRY_MS = 3000;
const DEFAULT_REVOKE_PER_SECOND_MAX = 1000;

/**
 * Leases, as etcd's lessor: which exist and with what TTL (replicated: changed only by applied Raft
 * entries, stored in the `lease` table), which keys each one holds (rebuilt from MVCC by `recover`),
 * and — on the leader only, in memory — when each expires.
 *
 * Apply-time methods (grant, revoke, attach, detach, checkpoint) are deterministic and must run inside
 * the server's apply batch. Leader-time methods (promote, demote, renew, expired, dueCheckpoints)
 * read the injected clock and never touch the database. See docs at each method for when to call it.
 *
 * Wiring, in short: construct before MVCC and `recover(liveKeysWithLease)` once MVCC is open (and
 * again, with the new backend, after a database swap); in apply, LeaseGrant → grant, LeaseRevoke →
 * revoke + delete the returned keys in the same write, LeaseCheckpoint → checkpoint each, a put/delete
 * with or losing a lease → attach/detach; on becoming leader, after applying its term's empty entry →
 * promote(election timeout ms); on losing leadership → demote; a leader timer (etcd: 500 ms) proposes
 * revokes for expired(n) and, if enabled, one LeaseCheckpoint for dueCheckpoints(n).
 */
export class Lessor {
  #table: LeaseTable;
  #now: () => number;
  #minTtlSeconds: number;
  #checkpointIntervalMs: number;
  #checkpointPersist: boolean;
  #expiredRetryMs: number;
  #revokePerSecondMax: number;

  #leases = new Map<bigint, Lease>();
  /** key (latin1) → the lease holding it; invariant: lease.keys.has(k) ⇔ #keyLease.get(k) === lease.id. */
  #keyLease = new Map<string, bigint>();
  /** Leader only: every lease, by the time `expired()` should next look at it. */
  #expiries = new TimeQueue();
  /** Leader only: leases by when their next checkpoint is due. */
  #checkpoints = new TimeQueue();
  #primary = false;
  #extendMs = 0;
  /** `settled(id)` callers, woken by a revoke of id or any change of role. */
  #waiters = new Map<bigint, (() => void)[]>();

  constructor(backend: Backend, opts: LessorOptions) {
    if (!(Number.isSafeInteger(opts.minTtlSeconds) && opts.minTtlSeconds >= 1)) {
      throw new Error(`Lessor: minTtlSeconds must be a positive integer, got ${opts.minTtlSeconds}`);
    }
    this.#now = opts.now;
    this.#minTtlSeconds = opts.minTtlSeconds;
    this.#checkpointIntervalMs = opts.checkpointIntervalMs ?? 0;
    this.#checkpointPersist = opts.checkpointPersist === true;
    this.#expiredRetryMs = opts.expiredRetryMs ?? DEFAULT_EXPIRED_RETRY_MS;
    this.#revokePerSecondMax = opts.revokePerSecondMax ?? DEFAULT_REVOKE_PER_SECOND_MAX;
    if (!(this.#checkpointIntervalMs >= 0 && this.#expiredRetryMs > 0 && this.#revokePerSecondMax >= 1)) {
      throw new Error("Lessor: checkpointIntervalMs must be ≥ 0, expiredRetryMs > 0 and revokePerSecondMax ≥ 1");
    }
    this.#table = new LeaseTable(backend);
    this.#load();
  }

  get isPrimary(): boolean {
    return this.#primary;
  }

  get minTtlSeconds(): number {
    return this.#minTtlSeconds;
  }

  get size(): number {
    return this.#leases.size;
  }

  // ── apply time: deterministic, inside the server's backend batch ─────────────────────────────

  /**
   * Applies a LeaseGrant. A TTL below the minimum is raised to it; the granted TTL is in the result.
   * Throws leaseNotFound for id 0 (as etcd: the server picks an id when the client gave none),
   * leaseTTLTooLarge above MAX_LEASE_TTL_SECONDS, leaseExist for an id in use.
   */
  grant(id: bigint, ttl: number): LeaseInfo {
    if (!Number.isInteger(ttl)) throw new Error(`assertion failed: lease TTL ${ttl} is not an integer`);
    if (id === 0n) throw Errors.leaseNotFound;
    if (ttl > MAX_LEASE_TTL_SECONDS) throw Errors.leaseTTLTooLarge;
    if (this.#leases.has(id)) throw Errors.leaseExist;
    const l: Lease = { id, ttl: Math.max(ttl, this.#minTtlSeconds), remainingTtl: 0, storedRemainingTtl: 0, expiresAtMs: Infinity, keys: new Set() };
    this.#table.put(l); // first: if the database throws, memory is unchanged
    this.#leases.set(id, l);
    if (this.#primary) this.#start(l, 0);
    leaseGranted.inc();
    leaseTtlSeconds.observe(l.ttl);
    return info(l);
  }

  /**
   * Applies a LeaseRevoke: forgets the lease and returns its keys in byte order, which the caller
   * deletes in the same batch and revision (a later `detach` of them is a harmless no-op).
   * Throws leaseNotFound.
   */
  revoke(id: bigint): Uint8Array[] {
    const l = this.#leases.get(id);
    if (!l) throw Errors.leaseNotFound;
    this.#table.delete(id);
    this.#leases.delete(id);
    for (const k of l.keys) this.#keyLease.delete(k);
    this.#expiries.delete(id);
    this.#checkpoints.delete(id);
    this.#wake(id);
    leaseRevoked.inc();
    return [...l.keys].sort().map(decodeKey);
  }

  /**
   * A put gave key this lease (call after detaching it from its previous lease, or not: a key is held
   * by one lease at most, so attaching moves it). Throws leaseNotFound: the server checks `lookup`
   * before it applies a put with a lease, as etcd does.
   */
  attach(id: bigint, key: Uint8Array): void {
    const l = this.#leases.get(id);
    if (!l) throw Errors.leaseNotFound;
    const k = encodeKey(key);
    const held = this.#keyLease.get(k);
    if (held !== undefined && held !== id) this.#leases.get(held)?.keys.delete(k);
    l.keys.add(k);
    this.#keyLease.set(k, id);
  }

  /** A delete, or a put without this lease, took key away from lease id. False if it was not attached. */
  detach(id: bigint, key: Uint8Array): boolean {
    const l = this.#leases.get(id);
    if (!l) return false;
    const k = encodeKey(key);
    if (!l.keys.delete(k)) return false;
    if (this.#keyLease.get(k) === id) this.#keyLease.delete(k);
    return true;
  }

  /**
   * Applies one LeaseCheckpoint entry: records the remaining TTL (seconds; ≤ 0 clears it), which a
   * later `promote` starts the lease from instead of its full TTL. Unknown ids are ignored, as etcd.
   * Stored in the lease table with `checkpointPersist`; without it, only a clear is stored (when the
   * table holds a remainder from a time it was on), so a restart never resumes a stale remainder.
   */
  checkpoint(id: bigint, remainingTtl: number): void {
    if (!Number.isInteger(remainingTtl)) throw new Error(`assertion failed: remaining TTL ${remainingTtl} is not an integer`);
    const l = this.#leases.get(id);
    if (!l) return;
    const remaining = Math.max(0, remainingTtl);
    const store = this.#checkpointPersist ? remaining : 0;
    if (store !== l.storedRemainingTtl) {
      this.#table.put({ id, ttl: l.ttl, remainingTtl: store });
      l.storedRemainingTtl = store;
    }
    l.remainingTtl = remaining;
    if (this.#primary) this.#scheduleCheckpoint(l);
  }

  /**
   * Rebuilds the lessor from the database: at startup after MVCC is open, and after the database was
   * swapped (pass the new backend). `attachments` are the live keys that carry a lease, from MVCC.
   * Keys whose lease is unknown are counted in `orphans` (the server logs them). Roles are kept: a
   * primary restarts every countdown as its last `promote` did.
   */
  recover(attachments: Iterable<readonly [Uint8Array, bigint]>, opts: { backend?: Backend } = {}): { leases: number; keys: number; orphans: number } {
    if (opts.backend && opts.backend !== this.#table.backend) this.#table = new LeaseTable(opts.backend);
    this.#load();
    let keys = 0;
    let orphans = 0;
    for (const [key, id] of attachments) {
      if (id === 0n) continue;
      if (!this.#leases.has(id)) {
        orphans++;
        continue;
      }
      this.attach(id, key);
      keys++;
    }
    if (this.#primary) this.promote(this.#extendMs);
    return { leases: this.#leases.size, keys, orphans };
  }

  // ── leader time: in memory, from the injected clock ────────────────────────────────────────────

  /**
   * This member became leader and has applied every entry of earlier terms (etcd promotes when it
   * applies the empty entry its new term starts with). Every lease then expires `extendMs` (etcd: the
   * election timeout) after its checkpointed remaining TTL or else its full TTL, counted from now —
   * never earlier than it could have on the previous leader.
   */
  promote(extendMs: number): void {
    if (!(extendMs >= 0)) throw new Error(`assertion failed: promote extendMs ${extendMs} < 0`);
    this.#primary = true;
    this.#extendMs = extendMs;
    this.#expiries.clear();
    this.#checkpoints.clear();
    const now = this.#now();
    const order: { id: bigint; expiresAtMs: number }[] = [];
    for (const l of this.#leases.values()) {
      l.expiresAtMs = now + startTtl(l) * 1000 + extendMs;
      order.push({ id: l.id, expiresAtMs: l.expiresAtMs });
    }
    order.sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    spreadExpiries(order, this.#revokePerSecondMax);
    for (const e of order) {
      const l = this.#leases.get(e.id)!;
      l.expiresAtMs = e.expiresAtMs;
      this.#expiries.set(l.id, l.expiresAtMs);
      this.#scheduleCheckpoint(l);
    }
    this.#wakeAll();
  }

  /** This member is no longer leader: nothing expires here until the next `promote`. */
  demote(): void {
    this.#primary = false;
    for (const l of this.#leases.values()) l.expiresAtMs = Infinity;
    this.#expiries.clear();
    this.#checkpoints.clear();
    this.#wakeAll();
  }

  /**
   * A KeepAlive: the lease expires its full TTL from now; returns that TTL. When `clearCheckpoint`,
   * the lease carries a checkpointed remaining TTL that a later leader would start it from, so before
   * answering the server proposes checkpoint(id, 0) and waits for it to apply (as etcd does).
   * Throws NotPrimaryError (forward to the leader), leaseNotFound, or LeaseExpiredError.
   */
  renew(id: bigint): { ttl: number; clearCheckpoint: boolean } {
    if (!this.#primary) throw new NotPrimaryError();
    const l = this.#leases.get(id);
    if (!l) throw Errors.leaseNotFound;
    const now = this.#now();
    if (now >= l.expiresAtMs) throw new LeaseExpiredError(id);
    l.expiresAtMs = now + l.ttl * 1000;
    this.#expiries.set(id, l.expiresAtMs);
    this.#scheduleCheckpoint(l);
    leaseRenewed.inc();
    return { ttl: l.ttl, clearCheckpoint: l.remainingTtl > 0 };
  }

  /**
   * Leases past their expiry, earliest first, at most `limit` (the caller's revoke rate), for the
   * server to propose their revokes. A lease handed out is not handed out again for `expiredRetryMs`
   * unless renewed. Empty unless primary.
   */
  expired(limit: number): bigint[] {
    if (!(limit >= 1)) throw new Error(`assertion failed: expired limit ${limit} < 1`);
    const out: bigint[] = [];
    if (!this.#primary) return out;
    const now = this.#now();
    for (let seen = 0, n = this.#expiries.size; out.length < limit && seen < n; seen++) {
      const top = this.#expiries.peek();
      if (!top || top.time > now) break;
      const l = this.#leases.get(top.id);
      if (!l) throw new Error(`assertion failed: expiry queued for unknown lease ${top.id}`);
      if (l.expiresAtMs > now) {
        this.#expiries.set(l.id, l.expiresAtMs);
        continue;
      }
      this.#expiries.set(l.id, now + this.#expiredRetryMs);
      out.push(l.id);
    }
    return out;
  }

  /**
   * Checkpoints due (when enabled): each lease's remaining TTL in seconds, rounded up, for the server
   * to propose in one LeaseCheckpoint entry. Leases whose remaining time is not below their TTL are
   * skipped. Each is due again an interval later. Empty unless primary.
   */
  dueCheckpoints(limit: number): { id: bigint; remainingTtl: number }[] {
    if (!(limit >= 1)) throw new Error(`assertion failed: dueCheckpoints limit ${limit} < 1`);
    const out: { id: bigint; remainingTtl: number }[] = [];
    if (!this.#primary || this.#checkpointIntervalMs === 0) return out;
    const now = this.#now();
    for (let seen = 0, n = this.#checkpoints.size; out.length < limit && seen < n; seen++) {
      const top = this.#checkpoints.peek();
      if (!top || top.time > now) break;
      const l = this.#leases.get(top.id);
      if (!l) throw new Error(`assertion failed: checkpoint queued for unknown lease ${top.id}`);
      if (now >= l.expiresAtMs) {
        this.#checkpoints.delete(l.id); // its revoke is coming
        continue;
      }
      this.#checkpoints.set(l.id, now + this.#checkpointIntervalMs);
      const remainingTtl = Math.ceil((l.expiresAtMs - now) / 1000);
      if (remainingTtl < l.ttl) out.push({ id: l.id, remainingTtl });
    }
    return out;
  }

  /** Milliseconds until lease id expires here (negative: past due; Infinity unless primary). */
  remainingMs(id: bigint): number {
    const l = this.#leases.get(id);
    if (!l) throw Errors.leaseNotFound;
    return l.expiresAtMs - this.#now();
  }

  /** Resolves when lease id is revoked or this lessor is promoted, demoted or recovered. */
  settled(id: bigint): Promise<void> {
    if (!this.#leases.has(id) || !this.#primary) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#waiters.get(id);
      if (list) list.push(resolve);
      else this.#waiters.set(id, [resolve]);
    });
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────────

  lookup(id: bigint): LeaseInfo | undefined {
    const l = this.#leases.get(id);
    return l ? info(l) : undefined;
  }

  /** The lease holding key, or 0n (etcd's GetLease). */
  leaseOf(key: Uint8Array): bigint {
    // Asked for every applied change: with no key under a lease, spare the key's string copy.
    if (this.#keyLease.size === 0) return 0n;
    return this.#keyLease.get(encodeKey(key)) ?? 0n;
  }

  /**
   * LeaseTimeToLive. Throws leaseNotFound (etcd answers that with TTL -1, not an error). Only the
   * primary runs a countdown: a follower forwards this to the leader, as etcd; here it would report
   * the TTL the lease would restart from.
   */
  timeToLive(id: bigint): TimeToLive {
    const l = this.#leases.get(id);
    if (!l) throw Errors.leaseNotFound;
    const ttl = this.#primary ? Math.trunc((l.expiresAtMs - this.#now()) / 1000) + 0 : startTtl(l);
    return { id, grantedTtl: l.ttl, ttl, keys: [...l.keys].sort().map(decodeKey) };
  }

  /** Every lease id, soonest expiry first (then by id). */
  leases(): bigint[] {
    return [...this.#leases.values()]
      .sort((a, b) => (a.expiresAtMs === b.expiresAtMs ? 0 : a.expiresAtMs < b.expiresAtMs ? -1 : 1) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((l) => l.id);
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────

  /** Replaces every lease with the table's, without keys and without expiries. */
  #load(): void {
    this.#leases.clear();
    this.#keyLease.clear();
    this.#expiries.clear();
    this.#checkpoints.clear();
    for (const row of this.#table.all()) {
      // A member started with a longer election timeout raises old short leases, as etcd.
      const ttl = Math.max(row.ttl, this.#minTtlSeconds);
      this.#leases.set(row.id, { id: row.id, ttl, remainingTtl: row.remainingTtl, storedRemainingTtl: row.remainingTtl, expiresAtMs: Infinity, keys: new Set() });
    }
    this.#wakeAll();
  }

  /** Starts a primary's countdown for l from now. */
  #start(l: Lease, extendMs: number): void {
    l.expiresAtMs = this.#now() + startTtl(l) * 1000 + extendMs;
    this.#expiries.set(l.id, l.expiresAtMs);
    this.#scheduleCheckpoint(l);
  }

  #scheduleCheckpoint(l: Lease): void {
    if (this.#checkpointIntervalMs === 0) return;
    // A lease that lives less than one interval would be revoked or renewed before it is due.
    if (startTtl(l) * 1000 > this.#checkpointIntervalMs) this.#checkpoints.set(l.id, this.#now() + this.#checkpointIntervalMs);
    else this.#checkpoints.delete(l.id);
  }

  #wake(id: bigint): void {
    const list = this.#waiters.get(id);
    if (!list) return;
    this.#waiters.delete(id);
    for (const w of list) w();
  }

  #wakeAll(): void {
    const all = [...this.#waiters.values()];
    this.#waiters.clear();
    for (const list of all) for (const w of list) w();
  }
}

/** The TTL (seconds) a countdown starts from: the last checkpoint's remaining TTL, else the full TTL. */
function startTtl(l: Lease): number {
  return l.remainingTtl > 0 ? l.remainingTtl : l.ttl;
}

function info(l: Lease): LeaseInfo {
  return { id: l.id, ttl: l.ttl, remainingTtl: l.remainingTtl, expiresAtMs: l.expiresAtMs, keyCount: l.keys.size };
}

function encodeKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

function decodeKey(k: string): Uint8Array {
  return new Uint8Array(Buffer.from(k, "latin1"));
}
