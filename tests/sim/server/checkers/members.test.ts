import { describe, expect, test } from "bun:test";
import { HistoryBuilder, kv, resultOf } from "./history-builder.ts";
import { checkMembers } from "./members.ts";
import { buildModel } from "./model.ts";

/** A lease granted at 0 with ttl 5 s, kept alive at 3 s, and expiring at 9 s with its two keys. */
function leased(): { b: HistoryBuilder; lease: bigint } {
  const b = new HistoryBuilder();
  const lease = b.grant(5);
  b.put("a", "a1", { lease }); // 2
  b.put("b", "b1", { lease }); // 3
  b.put("c", "c1"); // 4
  b.tick(3000);
  b.keepAlive(lease);
  b.tick(6000);
  b.expire(lease); // 5: a and b deleted
  b.range("a", "\0");
  b.snapshot(1n);
  b.snapshot(2n);
  return { b, lease };
}

describe("members", () => {
  test("equal members and a lease that expires on time with its keys pass", () => {
    const { b } = leased();
    expect(b.leaseExpiries[0].expiredRevision).toBe(5n);
    expect(checkMembers(b.build())).toEqual([]);
  });

  test("members at the same revision with different hashes are caught; different revisions are not compared", () => {
    const { b } = leased();
    b.members[1].hash ^= 1;
    const h = b.build();
    expect(checkMembers(h)).toEqual([`members 1 and 2 differ at rev 5 (hash ${b.members[0].hash} vs ${b.members[1].hash})`]);
    b.members[1].revision = 4n;
    expect(checkMembers(h)).toEqual([]);
  });

  test("a lease that expires before its TTL ran out since the last keep-alive is caught (one election timeout of slack)", () => {
    const { b, lease } = leased();
    const e = b.leaseExpiries[0];
    e.expiredAtMs = e.lastKeepAliveMs + 4500; // 0.5 s early: inside the slack
    expect(checkMembers(b.build())).toEqual([]);
    const kept = e.lastKeepAliveMs;
    e.expiredAtMs = kept + 3000;
    expect(checkMembers(b.build())).toEqual([`lease ${lease} expired at ${kept + 3000}ms, before ${kept + 5000}ms (kept alive at ${kept}ms, ttl 5s, slack 1000ms)`]);
    expect(checkMembers(b.build(), undefined, { electionTimeoutMs: 2500 })).toEqual([]);
  });

  test("a keep-alive that found the lease gone (TTL 0) did not renew it", () => {
    const { b, lease } = leased();
    const e = b.leaseExpiries[0];
    const late = b.keepAlive(lease, { start: e.expiredAtMs - 10, end: e.expiredAtMs + 5 });
    expect(late.outcome?.type).toBe("error"); // the builder refuses it; etcd answers TTL 0
    late.outcome = { type: "ok", result: { kind: "leaseKeepAlive", revision: 5n, ttlSeconds: 0 } };
    expect(checkMembers(b.build())).toEqual([]);
    late.outcome = { type: "ok", result: { kind: "leaseKeepAlive", revision: 5n, ttlSeconds: 5 } };
    expect(checkMembers(b.build())[0]).toMatch(new RegExp(`^lease ${lease} expired at \\d+ms, before \\d+ms \\(kept alive at ${e.expiredAtMs - 10}ms`));
  });

  test("a lease that ends twice (expires twice, or is revoked and expires) is caught", () => {
    const { b, lease } = leased();
    b.leaseExpiries.push({ ...b.leaseExpiries[0], expiredAtMs: 20000 });
    expect(checkMembers(b.build())).toEqual([`lease ${lease} ended twice: lease ${lease} expiry (rev 5), lease ${lease} expiry (rev 5)`]);
    b.leaseExpiries.pop();
    b.revoke(lease); // the builder answers OK: as a buggy server would
    expect(checkMembers(b.build())).toEqual([`lease ${lease} ended twice: op 7 (rev 5), lease ${lease} expiry (rev 5)`]);
  });

  test("a keep-alive answered after the lease ended is caught", () => {
    const { b, lease } = leased();
    b.tick(1000);
    b.op({ kind: "leaseKeepAlive", leaseId: lease }, {});
    const ka = b.operations[b.operations.length - 1];
    expect(ka.outcome?.type).toBe("error"); // the builder refuses it, as etcd does
    ka.outcome = { type: "ok", result: { kind: "leaseKeepAlive", revision: 5n, ttlSeconds: 5 } };
    expect(checkMembers(b.build())).toEqual([`op ${ka.id} kept lease ${lease} alive (ttl 5s) after lease ${lease} expiry at ${b.leaseExpiries[0].expiredAtMs}ms`]);
  });

  test("a key still attached at the revision its lease ended, or read after, is caught", () => {
    const { b, lease } = leased();
    // The expiry is recorded at rev 4, which the put of c wrote: a and b were not deleted then.
    b.leaseExpiries[0].expiredRevision = 4n;
    const h = b.build();
    const v = checkMembers(h, buildModel(h));
    expect(v).toContain(`lease ${lease} expiry ended lease ${lease} at rev 4, but a=a1@2 stayed attached`);
    expect(v).toContain(`lease ${lease} expiry ended lease ${lease} at rev 4, but b=b1@3 stayed attached`);
  });

  test("a read that shows a lease's key after the lease ended is caught", () => {
    const { b, lease } = leased();
    const r = b.operations[b.operations.length - 1];
    const res = resultOf(r, "range");
    res.kvs.unshift(kv("a", "a1", 2n, { lease }));
    res.count = 2;
    expect(checkMembers(b.build())).toEqual([`op ${r.id} saw a=a1@2 on lease ${lease} at rev 5, after lease ${lease} expiry ended it at rev 5`]);
  });

  test("a write that attaches a key to a lease after it ended is caught", () => {
    const { b, lease } = leased();
    const p = b.put("d", "d1", { lease }); // the builder does not refuse it: a server bug
    expect(checkMembers(b.build())).toEqual([`op ${p.id} attached d to lease ${lease} at rev 6, after lease ${lease} expiry ended it at rev 5`]);
  });

  test("a txn that reads a leased key and deletes it, then a revoke that finds the lease empty at that revision, is fine (sim seed 216)", () => {
    const b = new HistoryBuilder();
    const lease = b.grant(5);
    b.put("k", "v1", { lease }); // 2
    // The txn reads k (still attached) and deletes it at rev 3; the revoke then deletes nothing and
    // answers at rev 3 too: the txn's read was as of the revision before its own write.
    b.txn([], [{ kind: "range", key: "k", serializable: false }, { kind: "delete", key: "k" }], []);
    b.revoke(lease);
    expect(checkMembers(b.build())).toEqual([]);
  });
});
