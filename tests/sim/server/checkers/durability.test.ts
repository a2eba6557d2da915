import { describe, expect, test } from "bun:test";
import { checkDurability } from "./durability.ts";
import { HistoryBuilder, kv, resultOf } from "./history-builder.ts";

function twoMembers(): HistoryBuilder {
  const b = new HistoryBuilder();
  b.put("a", "a1"); // 2
  b.put("a", "a2", { member: 2n }); // 3
  b.put("b", "b1"); // 4
  b.del("b"); // 5
  b.put("c", "c1", { outcome: "indeterminate", apply: false }); // never happened
  b.range("a", "\0", { member: 1n });
  b.range("a", "\0", { member: 2n, serializable: true });
  b.snapshot(1n);
  b.snapshot(2n);
  return b;
}

describe("durability", () => {
  test("writes that survive, each at one revision, pass", () => {
    expect(checkDurability(twoMembers().build())).toEqual([]);
  });

  test("two writes that claim one revision are caught", () => {
    const b = twoMembers();
    resultOf(b.operations[2], "put").revision = 3n; // b1 claims a2's revision
    expect(checkDurability(b.build())).toContain(`ops 2 and 3 both wrote rev 3`);
  });

  test("a write applied twice (its value at two revisions) is caught", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    b.put("b", "b1"); // 3
    b.range("a");
    const r = b.range("a");
    // As if a crash replayed the put: the same value again, at a new revision.
    resultOf(r, "range").kvs = [kv("a", "a1", 4n, { create: 2n, version: 2n })];
    resultOf(r, "range").revision = 4n;
    expect(checkDurability(b.build())).toEqual([`op 1's value a1 seen at revs 2, 4 (applied more than once)`]);
  });

  test("a value that carries another revision than the one acknowledged is caught", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    const p = b.put("b", "b1"); // 3
    b.range("b");
    resultOf(p, "put").revision = 4n;
    expect(checkDurability(b.build())).toContain(`op 2 was acknowledged at rev 4, but op 3 saw its value as b=b1@3`);
  });

  test("an acknowledged write missing from a member's last read is lost", () => {
    const b = twoMembers();
    // Member 2's last read still shows a1: its copy lost the acknowledged a2.
    const last = b.operations[6];
    resultOf(last, "range").kvs[0] = kv("a", "a1", 2n);
    expect(checkDurability(b.build())).toEqual([`acknowledged op 2 (a @rev 3) lost: op 7's last read on member 2 at rev 5 shows a=a1@2`]);
  });

  test("an acknowledged delete undone by a crash is lost", () => {
    const b = twoMembers();
    const last = b.operations[5];
    const res = resultOf(last, "range");
    res.kvs.push(kv("b", "b1", 4n));
    res.count = 2;
    expect(checkDurability(b.build())).toEqual([`acknowledged op 4 (b @rev 5) lost: op 6's last read on member 1 at rev 5 shows b=b1@4`]);
  });

  test("a key deleted by a later indeterminate write is not lost", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    b.del("a", undefined, { outcome: "indeterminate" }); // 3, never acknowledged
    b.range("a");
    b.snapshot(1n);
    expect(checkDurability(b.build())).toEqual([]);
  });

  test("members that never reach an acknowledged revision lost it", () => {
    const b = twoMembers();
    b.members[0].revision = 4n;
    b.members[1].revision = 4n;
    expect(checkDurability(b.build())).toEqual([`no member reached rev 5 of acknowledged op 4 (highest member rev 4)`]);
  });
});
