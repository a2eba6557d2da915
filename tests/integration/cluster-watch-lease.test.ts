// Watches and leases on a three-member cluster across a leader kill, in process on the fake clock
// (fake-cluster.ts). Moved from tests/e2e/cluster.test.ts ("watch and lease on a cluster"), which was
// flaky under load: it waited in real time for an election, a 6 s lease and etcdctl's watch output.
// Here the same story runs in fake time, so its timing assertions are exact and it replays the same
// way every time. etcdctl's watch and lease output stays covered by tests/e2e/watch-lease.test.ts.
import { afterEach, describe, expect, test } from "bun:test";
import { EventType } from "../../src/mvcc/event.ts";
import type { WatchStream } from "../../src/mvcc/watch/watch-hub.ts";
import { Errors } from "../../src/pkg/errors.ts";
import { dec, enc, FakeCluster } from "./fake-cluster.ts";

let c: FakeCluster | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
});

/** The end of a prefix range ("w/" → "w0"), as etcdctl's --prefix. */
const prefixEnd = (p: string) => enc(p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1));

/** A watcher on one member's hub, collecting `PUT key value` / `DELETE key` lines as the gRPC layer would send them. */
function watchLines(stream: WatchStream, prefix: string): { lines: string[]; revisions: bigint[] } {
  const out = { lines: [] as string[], revisions: [] as bigint[] };
  stream.watch({ key: enc(prefix), end: prefixEnd(prefix) });
  stream.onReady = () => {
    for (let b = stream.take(); b; b = stream.take()) {
      for (const ev of b.events) {
        out.lines.push(ev.type === EventType.PUT ? `PUT ${dec(ev.kv.key)} ${dec(ev.kv.value)}` : `DELETE ${dec(ev.kv.key)}`);
        out.revisions.push(ev.kv.modRevision);
      }
    }
  };
  return out;
}

describe("watch and lease on a cluster", () => {
  test("a watch on a follower sees every write once, across a leader kill; a lease kept through followers outlives the leader change, then expires on the new leader", async () => {
    c = await FakeCluster.start({ members: 3 });
    const leader = c.leader();
    const [f1, f2] = c.followers();

    // A lease granted and kept alive through followers: they forward to the leader's lessor.
    const granted = (await c.run(c.server(f1).leases.grant({ TTL: 6n }))) as { ID: bigint; TTL: bigint };
    expect(granted.TTL).toBe(6n);
    const id = granted.ID;
    await c.put(f2, "svc/one", "up", { lease: id });
    expect(await c.run(c.server(f2).leases.renew(id))).toBe(6);
    const ttl = await c.run(c.server(f1).leases.timeToLive(id, true));
    expect({ granted: ttl.grantedTTL, keys: ttl.keys.map(dec) }).toEqual({ granted: 6n, keys: ["svc/one"] });
    expect(ttl.TTL === 5n || ttl.TTL === 6n).toBe(true);

    // A watch on a follower; writes come through the other follower.
    const w = watchLines(c.server(f1).watchHub.newStream(), "w/");
    for (let i = 0; i < 5; i++) await c.put(f2, `w/${i}`, `before-${i}`);
    c.kill(leader);
    // Writes go on once a new leader is elected (a client retries on "no leader", as etcdctl users do).
    const next = await c.awaitLeader(3_000);
    expect([f1, f2]).toContain(next);
    for (let i = 5; i < 10; i++) await c.put(f2, `w/${i}`, `after-${i}`);
    await c.until("the watcher has all ten events", () => w.lines.length >= 10);
    await c.advance(500); // and nothing more comes: no event twice
    expect(w.lines).toEqual(Array.from({ length: 10 }, (_, i) => `PUT w/${i} ${i < 5 ? "before" : "after"}-${i}`));
    expect([...w.revisions].sort((a, b) => (a < b ? -1 : 1))).toEqual(w.revisions);

    // The lease survived the change of leader (the new one restarted its clock, extended), and the key with it.
    expect(await c.get(f1, "svc/one")).toBe("up");
    expect(await c.run(c.server(f1).leases.renew(id))).toBe(6);
    const keptAt = c.now();
    const after = await c.run(c.server(f2).leases.timeToLive(id, false));
    expect({ granted: after.grantedTTL, ok: after.TTL === 5n || after.TTL === 6n }).toEqual({ granted: 6n, ok: true });

    // Left alone, it expires on the new leader — not before its 6 s — and the key goes on every member.
    const gone = () => c!.live().every((i) => c!.server(i).leaseIds().every((x) => x !== id));
    await c.until("5.5 s after the last keep-alive", () => c!.now() >= keptAt + 5_500);
    expect(await c.get(f1, "svc/one", { serializable: true })).toBe("up");
    await c.until("the lease expires everywhere", gone, 3_000);
    for (const i of c.live()) expect(await c.get(i, "svc/one", { serializable: true })).toBeNull();
    expect(await c.run(c.server(f2).leases.renew(id))).toBe(0); // a keep-alive of an expired lease answers TTL 0
    expect((await c.run(c.server(f1).leases.timeToLive(id, false))).TTL).toBe(-1n);
    // The expiry deleted svc/one only: the w/ watcher saw nothing of it.
    expect(w.lines).toHaveLength(10);
  });

  test("a watch created on a follower from an old revision replays history it holds, then goes live; a compacted one is refused", async () => {
    c = await FakeCluster.start({ members: 3 });
    const [f1, f2] = c.followers();
    const first = await c.put(f2, "hist/a", "1");
    await c.put(f2, "hist/b", "2");
    await c.run(c.server(f2).deleteRange({ key: enc("hist/a") }));
    const stream = c.server(f1).watchHub.newStream();
    const seen: string[] = [];
    stream.watch({ key: enc("hist/"), end: prefixEnd("hist/"), startRevision: first });
    stream.onReady = () => {
      for (let b = stream.take(); b; b = stream.take()) for (const ev of b.events) seen.push(`${ev.type === EventType.PUT ? "PUT" : "DELETE"} ${dec(ev.kv.key)}@${ev.kv.modRevision}`);
    };
    await c.until("the replayed history", () => seen.length >= 3);
    expect(seen).toEqual([`PUT hist/a@${first}`, `PUT hist/b@${first + 1n}`, `DELETE hist/a@${first + 2n}`]);
    const live = await c.put(f2, "hist/c", "3");
    await c.until("a live event after the replay", () => seen.length >= 4);
    expect(seen[3]).toBe(`PUT hist/c@${live}`);

    // After a compaction, a watch from before it is cancelled with the compact revision.
    await c.run(c.server(f2).compact({ revision: live }));
    await c.until("the follower applied the compaction", () => c!.server(f1).status().raftAppliedIndex >= c!.server(f2).status().raftAppliedIndex);
    const late = c.server(f1).watchHub.newStream();
    let cancelled: bigint | null = null;
    late.onReady = () => {
      for (let b = late.take(); b; b = late.take()) if (b.compactRevision !== 0n) cancelled = b.compactRevision;
    };
    late.watch({ key: enc("hist/"), end: prefixEnd("hist/"), startRevision: first });
    await c.until("the compacted watch is cancelled", () => cancelled !== null);
    expect(cancelled as bigint | null).toBe(live);
  });

  test("leases granted before a leader kill keep their ids; a revoke through a follower afterwards deletes the keys on every member", async () => {
    c = await FakeCluster.start({ members: 3 });
    const leader = c.leader();
    const [f1, f2] = c.followers();
    const { ID: id } = (await c.run(c.server(f1).leases.grant({ TTL: 60n }))) as { ID: bigint };
    await c.put(f1, "leased/a", "1", { lease: id });
    await c.put(f1, "leased/b", "2", { lease: id });
    c.kill(leader);
    await c.awaitLeader(3_000);
    await c.run(c.server(f2).leaseRevoke(id));
    for (const i of c.live()) {
      expect(await c.get(i, "leased/a")).toBeNull();
      expect(await c.get(i, "leased/b")).toBeNull();
    }
    const again = await c.run(c.server(f1).leaseRevoke(id).then(() => "revoked", (e: Error) => e.message));
    expect(again).toBe(Errors.leaseNotFound.message);
    // The killed leader, back, applies the revoke from the log it missed.
    await c.restart(leader);
    await c.until("the old leader caught up", () => c!.server(leader).leaseIds().length === 0 && c!.server(leader).status().raftAppliedIndex >= c!.server(f1).status().raftIndex);
    expect(await c.get(leader, "leased/a", { serializable: true })).toBeNull();
  });
});
