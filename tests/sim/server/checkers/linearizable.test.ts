import { describe, expect, test } from "bun:test";
import { HistoryBuilder, kv, resultOf } from "./history-builder.ts";
import type { RangeOp } from "./apply.ts";
import { checkLinearizable } from "./linearizable.ts";
import { buildModel } from "./model.ts";

/** A little of everything, right by construction. */
function mixed(): HistoryBuilder {
  const b = new HistoryBuilder();
  b.put("a", "a1"); // rev 2
  b.put("b", "b1", { prevKv: true }); // 3
  b.put("a", "a2", { prevKv: true }); // 4
  b.range("a", "c");
  b.range("", "\0", { serializable: true, member: 2n });
  b.txn([{ key: "a", target: "value", op: "=", value: "a2" }], [{ kind: "put", key: "c", value: "c1" }, { kind: "range", key: "a", serializable: false }], []); // 5
  b.txn([{ key: "zz", target: "create", op: ">", value: 0n }], [], [{ kind: "range", key: "a", end: "\0", serializable: false }]); // read-only
  b.del("a", "c", { prevKv: true }); // 6: a and b
  b.del("nothing"); // deletes nothing: no revision
  b.range("a", "\0");
  b.range("c", undefined, { revision: 4n }); // c did not exist yet at 4
  b.range("a", undefined, { revision: 4n });
  // A txn inside a txn: the inner one's compares see the outer one's state.
  b.txn([], [{ kind: "txn", compare: [{ key: "c", target: "value", op: "=", value: "c1" }], success: [{ kind: "put", key: "d", value: "d1" }], failure: [] }], []); // 7
  return b;
}

describe("linearizable", () => {
  test("a history right by construction passes", () => {
    const b = mixed();
    expect(b.rev).toBe(7n);
    expect(checkLinearizable(b.build())).toEqual([]);
  });

  test("a stale linearizable read is caught at its header revision", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    b.put("a", "a2");
    const r = b.range("a");
    resultOf(r, "range").kvs = [kv("a", "a1", 2n)];
    expect(checkLinearizable(b.build())).toEqual([`op 3 range a @3: got a=a1@2, expected a=a2@3`]);
  });

  test("a read with a wrong count, a missing key or one outside its range is caught", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    b.put("b", "b1");
    b.put("z", "z1");
    const r1 = b.range("a", "c");
    resultOf(r1, "range").count = 3;
    const r2 = b.range("a", "c");
    resultOf(r2, "range").kvs.pop();
    resultOf(r2, "range").count = 1;
    const r3 = b.range("a", "c");
    resultOf(r3, "range").kvs.push(kv("z", "z1", 4n));
    resultOf(r3, "range").count = 3;
    expect(checkLinearizable(b.build())).toEqual([
      `op 4 range [a, c) @4: count 3, expected 2`,
      `op 4 range [a, c) @4: 2 kvs for count 3`,
      `op 5 range [a, c) @4: count 1, expected 2`,
      `op 5 range [a, c) @4: got b absent, expected b=b1@3`,
      `op 6 range [a, c) @4: count 3, expected 2`,
      `op 6 range [a, c) @4: returned z=z1@4, outside the range`,
    ]);
  });

  test("a put's prevKv, a delete's count and prevKvs and a txn's branch must match the replay", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    const p = b.put("a", "a2", { prevKv: true });
    resultOf(p, "put").prevKv = undefined;
    b.put("b", "b1");
    const d = b.del("a", "c", { prevKv: true });
    resultOf(d, "delete").deleted = 1;
    resultOf(d, "delete").prevKvs = [kv("a", "a2", 3n, { create: 2n, version: 2n })];
    // Both branches only read, so the txn takes no revision whichever branch it reports.
    const t = b.txn([{ key: "b", target: "version", op: "=", value: 0n }], [{ kind: "range", key: "b", serializable: false }], [{ kind: "range", key: "b", serializable: false }]);
    resultOf(t, "txn").succeeded = false;
    expect(checkLinearizable(b.build())).toEqual([
      `op 2 put a: prevKv a absent, expected a=a1@2`,
      `op 4 delete [a, c) @5: deleted 1, expected 2`,
      `op 4 delete [a, c) @5 prevKvs: got b absent, expected b=b1@4`,
      `op 5 txn @5: succeeded=false, but its compares are true`,
    ]);
  });

  test("a range with a limit returns the first keys, and its count still counts them all", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    b.put("b", "b1");
    b.put("c", "c1");
    const r = b.range("a", "\0");
    (r.op as RangeOp).limit = 2;
    resultOf(r, "range").kvs.pop();
    expect(checkLinearizable(b.build())).toEqual([]);
    resultOf(r, "range").kvs.shift();
    resultOf(r, "range").kvs.push(kv("c", "c1", 4n));
    expect(checkLinearizable(b.build())).toEqual([`op 4 range [a, ∞) @4: got a absent, expected a=a1@2`]);
  });

  test("metadata (create revision, version, lease) of a read is checked, not only the value", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    b.put("a", "a2");
    const r = b.range("a");
    resultOf(r, "range").kvs[0] = { ...resultOf(r, "range").kvs[0], version: 1n };
    expect(checkLinearizable(b.build())).toEqual([`op 3 range a @3: got a=a2@3 (create 2, version 1, lease 0), expected a=a2@3 (create 2, version 2, lease 0)`]);
  });

  test("an operation that starts after another's acknowledgement never sees an older revision", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    b.put("b", "b1");
    const r = b.range("a");
    // The read claims the state at rev 2: right for rev 2, but rev 3 was acknowledged before it began.
    resultOf(r, "range").revision = 2n;
    expect(checkLinearizable(b.build())).toEqual([`op 3 read rev 2, older than rev 3 acknowledged (op 2) before it started`]);
  });

  test("a write acknowledged after a later-starting write took a lower revision is caught", () => {
    const b = new HistoryBuilder();
    const first = b.put("a", "a1"); // rev 2
    const second = b.put("b", "b1"); // rev 3
    // Re-time them: the rev 3 write finished before the rev 2 write began.
    [first.startMs, first.endMs, second.startMs, second.endMs] = [10, 11, 0, 1];
    expect(checkLinearizable(b.build())).toEqual([`op 1 (rev 2) started after op 2 was acknowledged at rev 3`]);
  });

  test("serializable reads may be stale, but not older than what the client saw on that member", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    b.put("a", "a2");
    b.range("a", undefined, { serializable: true, member: 2n, client: 2, staleAt: 2n }); // stale: fine
    b.range("a", undefined, { serializable: true, member: 2n, client: 2 }); // rev 3
    expect(checkLinearizable(b.build())).toEqual([]);
    b.range("a", undefined, { serializable: true, member: 2n, client: 2, staleAt: 2n }); // back in time
    b.range("a", undefined, { serializable: true, member: 3n, client: 2, staleAt: 2n }); // another member: fine
    expect(checkLinearizable(b.build())).toEqual([`op 5 (serializable) read rev 2 on member 2, older than rev 3 its client saw there (op 4)`]);
  });

  test("a read at an explicit revision sees that revision; a compacted one must be refused", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    b.put("a", "a2");
    b.compact(3n);
    const refused = b.range("a", undefined, { revision: 2n });
    expect(refused.outcome?.type).toBe("error");
    const old = b.range("a", undefined, { revision: 3n });
    expect(checkLinearizable(b.build())).toEqual([]);
    resultOf(old, "range").kvs = [kv("a", "a1", 2n)];
    refused.outcome = { type: "ok", result: { kind: "range", revision: 3n, kvs: [kv("a", "a1", 2n)], count: 1 } };
    expect(checkLinearizable(b.build())).toEqual([`op 5 range a @3: got a=a1@2, expected a=a2@3`, `op 4 read rev 2, compacted by op 3 (rev 3) before it started`]);
  });
});

describe("leases", () => {
  test("a revoke deletes its keys at its revision; a read that still shows one is caught", () => {
    const b = new HistoryBuilder();
    const lease = b.grant(10);
    b.put("a", "a1", { lease }); // 2
    b.put("b", "b1"); // 3
    const revoke = b.revoke(lease); // 4
    expect(resultOf(revoke, "leaseRevoke").revision).toBe(4n);
    const r = b.range("a", "\0");
    expect(checkLinearizable(b.build())).toEqual([]);
    resultOf(r, "range").kvs.unshift(kv("a", "a1", 2n, { lease }));
    resultOf(r, "range").count = 2;
    expect(checkLinearizable(b.build())).toEqual([`op 5 range [a, ∞) @4: count 2, expected 1`, `op 5 range [a, ∞) @4: got a=a1@2, expected a absent`]);
  });

  test("a revoke that was never acknowledged can explain the revision its deletes took", () => {
    const b = new HistoryBuilder();
    const lease = b.grant(10);
    b.put("a", "a1", { lease }); // 2
    b.revoke(lease, { outcome: "indeterminate" }); // 3
    b.range("a");
    expect(checkLinearizable(b.build())).toEqual([]);
  });
  test("a lease end at a revision an indeterminate write may have taken leaves that revision unknown", () => {
    const b = new HistoryBuilder();
    const lease = b.grant(10);
    b.put("a", "a1", { lease }); // 2
    b.put("b", "b1"); // 3
    const d = b.del("a", "c", { outcome: "indeterminate", apply: false });
    b.applyLate(d); // 4: deletes a and b; nobody reads a value from it
    const revoke = b.revoke(lease); // finds nothing left: answers with rev 4
    expect(resultOf(revoke, "leaseRevoke").revision).toBe(4n);
    b.range("a", "c"); // empty
    expect(checkLinearizable(b.build())).toEqual([]);
    // Without the delete in the history, the revoke wrote rev 4 and deleted only a: b must remain.
    const h = b.build();
    h.operations = h.operations.filter((op) => op !== d);
    expect(checkLinearizable(h)).toEqual([`op 6 range [a, c) @4: count 0, expected 1`, `op 6 range [a, c) @4: got b absent, expected b=b1@3`]);
  });

  test("a lease with no recorded end may have expired at a revision the history does not record", () => {
    const b = new HistoryBuilder();
    const lease = b.grant(1);
    b.put("a", "a1", { lease }); // 2
    b.expire(lease); // 3: deletes a…
    b.leaseExpiries.pop(); // …but the simulation did not attribute it (a revoke of it was in flight)
    const revoke = b.revoke(lease, { outcome: "error" });
    revoke.outcome = { type: "error", message: "etcdserver: requested lease not found" };
    b.range("a");
    expect(checkLinearizable(b.build())).toEqual([]);
    // Without any sign of it either: the simulation can miss an expiry (a crash or a leader change
    // around it, seed 16588 of the soak), and any lease may expire once its TTL has run out.
    revoke.outcome = { type: "error", message: "etcdserver: too many requests" };
    expect(checkLinearizable(b.build())).toEqual([]);
    // A history without leases has nothing to explain that revision with.
    const c = new HistoryBuilder();
    c.put("a", "a1"); // 2
    c.put("b", "b1"); // 3
    const read = c.range("a");
    read.outcome = { type: "ok", result: { kind: "range", revision: 4n, kvs: [], count: 0 } };
    expect(checkLinearizable(c.build())[0]).toBe("rev 4 (seen by op 3) is beyond any revision the history's writes can reach (3)");
  });
});

describe("indeterminate and refused writes", () => {
  test("an indeterminate put that shows up later is placed at the revision its value carries", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    const lost = b.put("a", "late", { outcome: "indeterminate", apply: false });
    b.put("b", "b1"); // rev 3
    b.applyLate(lost); // rev 4
    b.range("a", "\0");
    expect(checkLinearizable(b.build())).toEqual([]);
    expect(buildModel(b.build()).placed.get(lost.id)).toBe(4n);
  });

  test("an indeterminate put that never shows up is dropped", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    const never = b.put("a", "never", { outcome: "indeterminate", apply: false });
    b.put("a", "pending", { outcome: "pending", apply: false });
    b.range("a");
    expect(checkLinearizable(b.build())).toEqual([]);
    expect(buildModel(b.build()).placed.has(never.id)).toBe(false);
  });

  test("an indeterminate write applied but never read explains its revision; without it the revision is unexplained", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    const unseen = b.del("a", undefined, { outcome: "indeterminate" }); // 3, never acknowledged
    b.put("b", "b1"); // 4
    b.range("a", "\0"); // a absent: only the indeterminate delete explains that
    expect(checkLinearizable(b.build())).toEqual([]);
    const h = b.build();
    h.operations = h.operations.filter((op) => op !== unseen);
    // Nothing can have made `a` unknown, so the read that misses it is wrong too.
    expect(checkLinearizable(h)).toEqual([
      `rev 3 was written, but no operation can explain it (1 unexplained revisions, 0 indeterminate writes)`,
      `op 4 range [a, ∞) @4: count 1, expected 2`,
      `op 4 range [a, ∞) @4: got a absent, expected a=a1@2`,
    ]);
  });

  test("a key an unplaced write made unknown is checked again after the next acknowledged write to it", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    b.put("a", "unread", { outcome: "indeterminate" }); // 3: applied, never read
    const unknown = b.range("a");
    resultOf(unknown, "range").kvs = []; // a may be anything at 3: not provably wrong
    resultOf(unknown, "range").count = 0;
    b.put("a", "a4"); // 4
    const known = b.range("a");
    expect(checkLinearizable(b.build())).toEqual([]);
    resultOf(known, "range").kvs = [];
    resultOf(known, "range").count = 0;
    expect(checkLinearizable(b.build())).toEqual([`op 5 range a @4: count 0, expected 1`, `op 5 range a @4: got a absent, expected a=a4@4`]);
  });

  test("an indeterminate write cannot explain a revision taken before it started", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    b.put("b", "b1"); // 3
    b.range("a", "\0"); // acknowledges rev 3
    b.put("c", "c1", { outcome: "indeterminate", apply: false });
    const h = b.build();
    // Rev 3's writer vanished from the history; the later indeterminate put cannot have written it.
    h.operations = h.operations.filter((op) => op.id !== 2);
    expect(checkLinearizable(h)[0]).toBe(`rev 3 was written, but no operation can explain it (1 unexplained revisions, 0 indeterminate writes)`);
  });

  test("a refused write must never be visible", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    const refused = b.put("a", "refused", { outcome: "indeterminate" }); // it did take effect…
    b.range("a");
    expect(checkLinearizable(b.build())).toEqual([]);
    refused.outcome = { type: "error", message: "etcdserver: too many requests" }; // …but the server said it did not
    expect(checkLinearizable(b.build())).toContain(`refused op 2's value a=refused@3 was seen by op 3`);
  });

  test("a value nobody wrote, or one read under another key, is caught", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    b.put("b", "b1");
    const r = b.range("a", "c");
    resultOf(r, "range").kvs[1] = kv("b", "ghost", 3n);
    const r2 = b.range("a", "c");
    resultOf(r2, "range").kvs[1] = kv("b", "a1", 3n);
    const v = checkLinearizable(b.build());
    expect(v).toContain(`op 3 saw b=ghost@3, a value no operation wrote`);
    expect(v).toContain(`op 4 saw op 1's value under key b; it wrote a`);
  });

  test("an indeterminate txn is placed by its value, and its compares must allow the branch taken", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    const t = b.txn([{ key: "a", target: "value", op: "=", value: "a1" }], [{ kind: "put", key: "x", value: "x-then" }], [{ kind: "put", key: "x", value: "x-else" }], {
      outcome: "indeterminate",
    }); // 3, then-branch
    const r = b.range("x");
    expect(checkLinearizable(b.build())).toEqual([]);
    // Claim the else branch's value was read instead: the compares (a = a1 held) rule that out.
    resultOf(r, "range").kvs = [kv("x", "x-else", 3n)];
    expect(t.outcome?.type).toBe("indeterminate");
    expect(checkLinearizable(b.build())).toEqual([
      `op 2 txn @3: its failure branch's value was read, but its compares are true`,
      `op 3 range x @3: got x=x-else@3, expected x=x-then@3`,
    ]);
  });

  test("an acknowledged txn's untaken branch must not be visible", () => {
    const b = new HistoryBuilder();
    b.txn([{ key: "a", target: "version", op: ">", value: 0n }], [{ kind: "put", key: "x", value: "x-then" }], [{ kind: "put", key: "x", value: "x-else" }]); // else, rev 2
    const r = b.range("x");
    resultOf(r, "range").kvs = [kv("x", "x-then", 2n)];
    expect(checkLinearizable(b.build())).toContain(`op 2 saw x=x-then@2, from the txn branch op 1 did not take`);
  });
});
