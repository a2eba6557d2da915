import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../backend/backend.ts";
import { EtcdError, GrpcCode } from "../pkg/errors.ts";
import { seededRandom } from "../pkg/prng.ts";
import { LeaseExpiredError, Lessor, type LessorOptions, MAX_LEASE_TTL_SECONDS, NotPrimaryError } from "./lessor.ts";
import { minLeaseTtlSeconds } from "./min-ttl.ts";

let dirs: string[] = [];
let backends: Backend[] = [];
afterEach(() => {
  for (const b of backends) {
    try {
      b.close();
    } catch {}
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
  backends = [];
});

function dbPath(): string {
  const d = mkdtempSync(join(tmpdir(), "lessor-"));
  dirs.push(d);
  return join(d, "db");
}

function openBackend(path: string): Backend {
  const b = new Backend(path);
  backends.push(b);
  return b;
}

/** A lessor over a fresh database and a fake clock that only moves when the test says so. */
function setup(opts: Partial<LessorOptions> = {}) {
  const clock = { t: 0 };
  const path = dbPath();
  const backend = openBackend(path);
  const lessor = new Lessor(backend, { now: () => clock.t, minTtlSeconds: 2, ...opts });
  return { clock, path, backend, lessor };
}

const k = (s: string) => new TextEncoder().encode(s);
const str = (keys: Uint8Array[]) => keys.map((x) => [...x].join(","));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

function expectEtcdError(fn: () => unknown, code: GrpcCode, message: string): void {
  const err = thrown(fn);
  expect(err).toBeInstanceOf(EtcdError);
  expect((err as EtcdError).code).toBe(code);
  expect((err as EtcdError).message).toBe(message);
}

describe("apply-time operations", () => {
  test("grant, attach, detach and revoke round trip; revoke returns the keys in byte order", () => {
    const { lessor } = setup();
    const granted = lessor.grant(7n, 10);
    expect(granted).toEqual({ id: 7n, ttl: 10, remainingTtl: 0, expiresAtMs: Infinity, keyCount: 0 });
    const binHigh = new Uint8Array([0xff, 0x00]);
    const binLow = new Uint8Array([0x00]);
    for (const key of [k("b"), binHigh, k("a"), binLow, k("ab")]) lessor.attach(7n, key);
    expect(lessor.lookup(7n)?.keyCount).toBe(5);
    expect(lessor.leaseOf(k("a"))).toBe(7n);
    expect(lessor.leaseOf(new Uint8Array([0xff, 0x00]))).toBe(7n); // compared by bytes, not identity

    expect(lessor.detach(7n, k("ab"))).toBe(true);
    expect(lessor.detach(7n, k("ab"))).toBe(false);
    expect(lessor.detach(99n, k("a"))).toBe(false);
    expect(lessor.leaseOf(k("ab"))).toBe(0n);

    const keys = lessor.revoke(7n);
    expect(str(keys)).toEqual(str([binLow, k("a"), k("b"), binHigh]));
    expect(lessor.lookup(7n)).toBeUndefined();
    expect(lessor.leaseOf(k("a"))).toBe(0n);
    expect(lessor.leases()).toEqual([]);
    expect(lessor.detach(7n, k("a"))).toBe(false); // the caller's deletes after a revoke are harmless
  });

  test("attaching a key to another lease moves it", () => {
    const { lessor } = setup();
    lessor.grant(1n, 10);
    lessor.grant(2n, 10);
    lessor.attach(1n, k("x"));
    lessor.attach(2n, k("x"));
    expect(lessor.leaseOf(k("x"))).toBe(2n);
    expect(lessor.lookup(1n)?.keyCount).toBe(0);
    expect(str(lessor.revoke(1n))).toEqual([]);
    expect(str(lessor.revoke(2n))).toEqual(str([k("x")]));
  });

  test("a TTL below the minimum is raised to it; etcd's maximum is accepted", () => {
    const { lessor } = setup({ minTtlSeconds: 5 });
    expect(lessor.grant(1n, 1).ttl).toBe(5);
    expect(lessor.grant(2n, 0).ttl).toBe(5);
    expect(lessor.grant(3n, -3).ttl).toBe(5);
    expect(lessor.grant(4n, 6).ttl).toBe(6);
    expect(lessor.grant(5n, MAX_LEASE_TTL_SECONDS).ttl).toBe(9_000_000_000);
    expect(lessor.grant(-6n, 60).id).toBe(-6n); // ids are any non-zero int64
    expect(lessor.leases().sort()).toEqual([-6n, 1n, 2n, 3n, 4n, 5n]);
  });

  test("errors carry etcd's texts and gRPC codes", () => {
    const { lessor } = setup();
    lessor.grant(1n, 10);
    expectEtcdError(() => lessor.grant(2n, MAX_LEASE_TTL_SECONDS + 1), GrpcCode.OutOfRange, "etcdserver: too large lease TTL");
    expectEtcdError(() => lessor.grant(1n, 10), GrpcCode.FailedPrecondition, "etcdserver: lease already exists");
    expectEtcdError(() => lessor.grant(0n, 10), GrpcCode.NotFound, "etcdserver: requested lease not found");
    expectEtcdError(() => lessor.revoke(2n), GrpcCode.NotFound, "etcdserver: requested lease not found");
    expectEtcdError(() => lessor.attach(2n, k("a")), GrpcCode.NotFound, "etcdserver: requested lease not found");
    expectEtcdError(() => lessor.timeToLive(2n), GrpcCode.NotFound, "etcdserver: requested lease not found");
    expectEtcdError(() => lessor.remainingMs(2n), GrpcCode.NotFound, "etcdserver: requested lease not found");
    lessor.promote(0);
    expectEtcdError(() => lessor.renew(2n), GrpcCode.NotFound, "etcdserver: requested lease not found");
    expect(lessor.lookup(2n)).toBeUndefined(); // nothing was half-granted
  });
});

describe("persistence", () => {
  test("leases and checkpoints survive a new Lessor on the same database file; keys come from recover", () => {
    const path = dbPath();
    const b1 = openBackend(path);
    const l1 = new Lessor(b1, { now: () => 0, minTtlSeconds: 2, checkpointPersist: true });
    l1.grant(1n, 10);
    l1.grant(2n, 20);
    l1.grant(3n, 30);
    l1.checkpoint(2n, 7);
    l1.revoke(3n);
    l1.attach(1n, k("a"));
    b1.close();

    const b2 = openBackend(path);
    const l2 = new Lessor(b2, { now: () => 0, minTtlSeconds: 2 });
    expect(l2.leases()).toEqual([1n, 2n]);
    expect(l2.lookup(1n)).toEqual({ id: 1n, ttl: 10, remainingTtl: 0, expiresAtMs: Infinity, keyCount: 0 });
    expect(l2.lookup(2n)?.remainingTtl).toBe(7);
    const summary = l2.recover([
      [k("a"), 1n],
      [k("b"), 1n],
      [k("c"), 3n], // its lease was revoked: an orphan
      [k("d"), 0n], // no lease
    ]);
    expect(summary).toEqual({ leases: 2, keys: 2, orphans: 1 });
    expect(str(l2.timeToLive(1n).keys)).toEqual(str([k("a"), k("b")]));
  });

  test("a lease write commits or rolls back with the caller's batch", () => {
    const path = dbPath();
    const b1 = openBackend(path);
    const l1 = new Lessor(b1, { now: () => 0, minTtlSeconds: 2 });
    b1.batch(() => {
      l1.grant(1n, 10);
      b1.setMeta("consistent_index", 5n);
    });
    expect(() =>
      b1.batch(() => {
        l1.grant(2n, 10);
        b1.setMeta("consistent_index", 6n);
        throw new Error("apply failed");
      }),
    ).toThrow("apply failed");
    b1.close();

    const b2 = openBackend(path);
    expect(b2.getMeta("consistent_index")).toBe(5n);
    expect(new Lessor(b2, { now: () => 0, minTtlSeconds: 2 }).leases()).toEqual([1n]);
  });

  test("reloaded leases are raised to a larger minimum; recover can switch to a swapped-in database", () => {
    const pathA = dbPath();
    const a = openBackend(pathA);
    new Lessor(a, { now: () => 0, minTtlSeconds: 2 }).grant(1n, 3);
    const other = openBackend(dbPath());
    new Lessor(other, { now: () => 0, minTtlSeconds: 2 }).grant(9n, 40);

    const l = new Lessor(a, { now: () => 0, minTtlSeconds: 5 });
    expect(l.lookup(1n)?.ttl).toBe(5);
    expect(l.recover([[k("z"), 9n]], { backend: other })).toEqual({ leases: 1, keys: 1, orphans: 0 });
    expect(l.leases()).toEqual([9n]);
    l.grant(10n, 10); // writes go to the new database
    expect(new Lessor(other, { now: () => 0, minTtlSeconds: 2 }).leases()).toEqual([9n, 10n]);
    expect(new Lessor(a, { now: () => 0, minTtlSeconds: 2 }).leases()).toEqual([1n]);
  });
});

describe("leader-time expiry with a fake clock", () => {
  test("a follower never expires anything and refuses renews", () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 2);
    clock.t = 1e9;
    expect(lessor.isPrimary).toBe(false);
    expect(lessor.expired(10)).toEqual([]);
    expect(lessor.remainingMs(1n)).toBe(Infinity);
    expect(thrown(() => lessor.renew(1n))).toBeInstanceOf(NotPrimaryError);
  });

  test("expired leases come out earliest first, within the limit, each once until the retry interval", () => {
    const { lessor, clock } = setup({ expiredRetryMs: 60_000 });
    lessor.promote(0);
    lessor.grant(1n, 10);
    lessor.grant(2n, 5);
    clock.t = 1000;
    lessor.grant(3n, 5); // expires at 6000
    lessor.grant(4n, 3); // expires at 4000
    clock.t = 3999;
    expect(lessor.expired(10)).toEqual([]);
    clock.t = 4000;
    expect(lessor.expired(10)).toEqual([4n]);
    expect(lessor.expired(10)).toEqual([]);
    clock.t = 20_000;
    expect(lessor.expired(2)).toEqual([2n, 3n]);
    expect(lessor.expired(2)).toEqual([1n]);
    expect(lessor.expired(2)).toEqual([]);
    clock.t = 64_000; // 4's revoke did not happen: it comes out again
    expect(lessor.expired(10)).toEqual([4n]);
    clock.t = 80_000; // ties come out in id order
    expect(lessor.expired(10)).toEqual([1n, 2n, 3n]);
    lessor.revoke(2n);
    clock.t = 1e6;
    expect(lessor.expired(10)).toEqual([4n, 1n, 3n]);
  });

  test("renew restarts the full TTL and takes the lease out of the expired queue", () => {
    const { lessor, clock } = setup({ expiredRetryMs: 60_000 });
    lessor.promote(0);
    lessor.grant(1n, 5);
    lessor.grant(2n, 6);
    clock.t = 4000;
    expect(lessor.renew(1n)).toEqual({ ttl: 5, clearCheckpoint: false });
    expect(lessor.remainingMs(1n)).toBe(5000);
    clock.t = 6000;
    expect(lessor.expired(10)).toEqual([2n]);
    clock.t = 8999;
    expect(lessor.expired(10)).toEqual([]);
    clock.t = 9000;
    expect(lessor.expired(10)).toEqual([1n]);
  });

  test("renewing an expired lease waits for its revoke or a change of role", async () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 5);
    lessor.grant(2n, 5);
    clock.t = 5000;
    const err = thrown(() => lessor.renew(1n));
    expect(err).toBeInstanceOf(LeaseExpiredError);
    expect((err as LeaseExpiredError).id).toBe(1n);

    const order: string[] = [];
    const a = lessor.settled(1n).then(() => order.push("1 settled"));
    const b = lessor.settled(2n).then(() => order.push("2 settled"));
    await Promise.resolve();
    expect(order).toEqual([]);
    lessor.revoke(1n);
    await a;
    expect(order).toEqual(["1 settled"]);
    expect(thrown(() => lessor.renew(1n))).toBe(thrown(() => lessor.revoke(1n))); // leaseNotFound
    lessor.demote();
    await b;
    expect(order).toEqual(["1 settled", "2 settled"]);
    expect(thrown(() => lessor.renew(2n))).toBeInstanceOf(NotPrimaryError);
    await lessor.settled(2n); // not primary: nothing to wait for
  });

  test("grants on the leader start their countdown, grants on a follower do not; demote stops all", () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 10);
    lessor.promote(500);
    expect(lessor.remainingMs(1n)).toBe(10_500);
    clock.t = 2000;
    lessor.grant(2n, 3);
    expect(lessor.lookup(2n)?.expiresAtMs).toBe(5000);
    expect(lessor.leases()).toEqual([2n, 1n]); // soonest expiry first
    lessor.demote();
    expect(lessor.lookup(1n)?.expiresAtMs).toBe(Infinity);
    clock.t = 1e9;
    expect(lessor.expired(10)).toEqual([]);
    lessor.grant(3n, 2);
    expect(lessor.remainingMs(3n)).toBe(Infinity);
  });

  test("a lease never expires early after a leader change, a restart, or a database swap", () => {
    const path = dbPath();
    const clock = { t: 0 };
    const b1 = openBackend(path);
    const oldLeader = new Lessor(b1, { now: () => clock.t, minTtlSeconds: 2 });
    oldLeader.promote(1000);
    oldLeader.grant(1n, 10);
    clock.t = 9000; // the old leader would expire it at 11000; it crashes instead
    b1.close();

    const newLeader = new Lessor(openBackend(path), { now: () => clock.t, minTtlSeconds: 2 });
    clock.t = 9500;
    newLeader.promote(1000); // the election timeout
    expect(newLeader.remainingMs(1n)).toBe(11_000);
    clock.t = 20_499;
    expect(newLeader.expired(10)).toEqual([]);
    newLeader.recover([]); // a database swap on the leader restarts countdowns as promote did
    expect(newLeader.remainingMs(1n)).toBe(11_000);
    clock.t = 31_498;
    expect(newLeader.expired(10)).toEqual([]);
    clock.t = 31_499;
    expect(newLeader.expired(10)).toEqual([1n]);
  });

  test("with many leases promote spreads expiries to the revoke rate and never moves one earlier", () => {
    const random = seededRandom(42);
    const { lessor, clock } = setup({ revokePerSecondMax: 20 });
    const startTtl = new Map<bigint, number>();
    for (let id = 1n; id <= 200n; id++) {
      const ttl = 2 + Math.floor(random() * 4);
      lessor.grant(id, ttl);
      startTtl.set(id, ttl);
      if (random() < 0.3) {
        const remaining = 1 + Math.floor(random() * ttl);
        lessor.checkpoint(id, remaining);
        startTtl.set(id, remaining);
      }
    }
    clock.t = 12_345;
    lessor.promote(1000);
    const expiries: number[] = [];
    let moved = 0;
    for (const [id, ttl] of startTtl) {
      const due = clock.t + ttl * 1000 + 1000;
      const at = lessor.lookup(id)!.expiresAtMs;
      expect(at).toBeGreaterThanOrEqual(due);
      if (at > due) moved++;
      expiries.push(at);
    }
    expect(moved).toBeGreaterThan(0);
    // At most 15 (3/4 of 20) per window of its own, so at most 30 in any sliding second.
    expiries.sort((a, b) => a - b);
    for (let i = 0; i + 30 < expiries.length; i++) expect(expiries[i + 30] - expiries[i]).toBeGreaterThanOrEqual(1000);
    clock.t = Math.max(...expiries);
    expect(lessor.expired(1000).length).toBe(200);
  });

  test("with fewer leases than the revoke rate promote leaves expiries alone", () => {
    const { lessor, clock } = setup({ revokePerSecondMax: 20 });
    for (let id = 1n; id <= 19n; id++) lessor.grant(id, 5);
    clock.t = 100;
    lessor.promote(0);
    for (let id = 1n; id <= 19n; id++) expect(lessor.lookup(id)?.expiresAtMs).toBe(5100);
  });
});

describe("checkpoints", () => {
  test("an applied checkpoint is stored (persist on) and a later promote starts from it; 0 clears it", () => {
    const { lessor, clock, backend, path } = setup({ checkpointPersist: true });
    lessor.grant(1n, 100);
    lessor.checkpoint(1n, 30);
    lessor.checkpoint(99n, 5); // unknown: ignored, as etcd
    expect(lessor.lookup(1n)?.remainingTtl).toBe(30);
    expect(lessor.lookup(99n)).toBeUndefined();
    clock.t = 1000;
    lessor.promote(500);
    expect(lessor.remainingMs(1n)).toBe(30_500);
    expect(lessor.timeToLive(1n)).toEqual({ id: 1n, grantedTtl: 100, ttl: 30, keys: [] });

    // A renew restarts the full TTL, and asks the server to clear the stored remainder through Raft.
    expect(lessor.renew(1n)).toEqual({ ttl: 100, clearCheckpoint: true });
    expect(lessor.remainingMs(1n)).toBe(100_000);
    lessor.checkpoint(1n, 0);
    expect(lessor.renew(1n)).toEqual({ ttl: 100, clearCheckpoint: false });
    lessor.checkpoint(1n, 40);
    backend.close();
    const again = new Lessor(openBackend(path), { now: () => clock.t, minTtlSeconds: 2, checkpointPersist: true });
    expect(again.lookup(1n)?.remainingTtl).toBe(40);
    again.checkpoint(1n, -1); // clears
    again.promote(0);
    expect(again.remainingMs(1n)).toBe(100_000);
  });

  test("without persistence (etcd 3.5's default) a checkpoint serves a new leader but not a restart", () => {
    const { lessor, clock, backend, path } = setup();
    lessor.grant(1n, 100);
    lessor.checkpoint(1n, 30);
    clock.t = 1000;
    lessor.promote(0); // a new leader, same process: starts from the checkpoint
    expect(lessor.remainingMs(1n)).toBe(30_000);
    backend.close();
    const restarted = new Lessor(openBackend(path), { now: () => clock.t, minTtlSeconds: 2 });
    expect(restarted.lookup(1n)?.remainingTtl).toBe(0);
    restarted.promote(0);
    expect(restarted.remainingMs(1n)).toBe(100_000);
  });

  test("turning persistence off later: the next checkpoint clears the stored remainder, so a restart never resumes a stale one", () => {
    const { lessor, backend, path } = setup({ checkpointPersist: true });
    lessor.grant(1n, 100);
    lessor.checkpoint(1n, 30);
    backend.close();
    const b2 = openBackend(path);
    const off = new Lessor(b2, { now: () => 0, minTtlSeconds: 2 });
    expect(off.lookup(1n)?.remainingTtl).toBe(30); // what etcd does too: the stored value is read
    off.checkpoint(1n, 20); // in memory only: the table now holds 0, never an older remainder than memory
    expect(off.lookup(1n)?.remainingTtl).toBe(20);
    b2.close();
    const b3 = openBackend(path);
    expect(new Lessor(b3, { now: () => 0, minTtlSeconds: 2 }).lookup(1n)?.remainingTtl).toBe(0);
  });

  test("the leader schedules checkpoints every interval for leases that outlive it", () => {
    const { lessor, clock } = setup({ checkpointIntervalMs: 10_000 });
    lessor.promote(0);
    lessor.grant(1n, 100);
    lessor.grant(2n, 8); // shorter than the interval: never checkpointed
    lessor.grant(3n, 30);
    clock.t = 9999;
    expect(lessor.dueCheckpoints(10)).toEqual([]);
    clock.t = 10_000;
    expect(lessor.dueCheckpoints(10)).toEqual([
      { id: 1n, remainingTtl: 90 },
      { id: 3n, remainingTtl: 20 },
    ]);
    expect(lessor.dueCheckpoints(10)).toEqual([]);
    lessor.checkpoint(1n, 90); // applied: the next one is an interval later
    lessor.revoke(3n);
    clock.t = 19_999;
    expect(lessor.dueCheckpoints(10)).toEqual([]);
    clock.t = 20_500;
    expect(lessor.dueCheckpoints(10)).toEqual([{ id: 1n, remainingTtl: 80 }]); // 79.5 s rounds up
    lessor.demote();
    clock.t = 1e9;
    expect(lessor.dueCheckpoints(10)).toEqual([]);
  });

  test("no checkpoints are scheduled when the interval is off", () => {
    const { lessor, clock } = setup();
    lessor.promote(0);
    lessor.grant(1n, 1000);
    clock.t = 500_000;
    expect(lessor.dueCheckpoints(10)).toEqual([]);
  });
});

describe("reads", () => {
  test("timeToLive truncates the remaining seconds as etcd", () => {
    const { lessor, clock } = setup();
    lessor.grant(1n, 10);
    lessor.attach(1n, k("b"));
    lessor.attach(1n, k("a"));
    expect(lessor.timeToLive(1n).ttl).toBe(10); // a follower reports what a countdown would start from
    lessor.promote(0);
    clock.t = 1;
    expect(lessor.timeToLive(1n)).toEqual({ id: 1n, grantedTtl: 10, ttl: 9, keys: [k("a"), k("b")] });
    clock.t = 9999;
    expect(lessor.timeToLive(1n).ttl).toBe(0);
    clock.t = 10_500;
    expect(Object.is(lessor.timeToLive(1n).ttl, 0)).toBe(true); // not -0
    clock.t = 11_500;
    expect(lessor.timeToLive(1n).ttl).toBe(-1); // expired, revoke pending
  });

  test("the minimum TTL follows etcd's ceil(⌊3 × electionTicks / 2⌋ × heartbeat)", () => {
    expect(minLeaseTtlSeconds(10, 100)).toBe(2); // defaults: 1.5 s → 2
    expect(minLeaseTtlSeconds(5, 100)).toBe(1); // 7 ticks: 0.7 s → 1
    expect(minLeaseTtlSeconds(11, 100)).toBe(2); // 16 ticks: 1.6 s → 2
    expect(minLeaseTtlSeconds(10, 500)).toBe(8); // 7.5 s → 8
    expect(minLeaseTtlSeconds(20, 300)).toBe(9); // exactly 9 s
    expect(() => minLeaseTtlSeconds(0, 100)).toThrow("assertion failed");
  });
});
