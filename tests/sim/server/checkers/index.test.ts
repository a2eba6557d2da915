import { describe, expect, test } from "bun:test";
import type { History } from "../history.ts";
import { HistoryBuilder, resultOf } from "./history-builder.ts";
import { checkHistory } from "./index.ts";
import { randomHistory } from "./random-history.ts";

const runs = new Map<number, History>();

/** A full-size run: what a simulation produces, right by construction (a fresh copy to tamper with). */
function bigRun(seed: number): History {
  let h = runs.get(seed);
  if (!h) runs.set(seed, (h = randomHistory({ seed, operations: 5000, watches: 100 }).history));
  return structuredClone(h);
}

describe("checkHistory", () => {
  test("prefixes each violation with its checker and keeps a few per checker", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1");
    for (let i = 0; i < 15; i++) {
      const res = resultOf(b.range("a"), "range");
      res.kvs = [];
      res.count = 0;
    }
    b.snapshot(1n);
    b.snapshot(2n, { hash: 1 });
    const v = checkHistory(b.build());
    expect(v.filter((m) => m.startsWith("linearizable: op ")).length).toBe(10);
    expect(v).toContain("linearizable: … and 20 more"); // each bad read: a wrong count and a missing key
    expect(v.filter((m) => m.startsWith("durability: ")).length).toBeGreaterThan(0);
    expect(v.at(-1)).toMatch(/^members: members 1 and 2 differ at rev 2/);
    expect(checkHistory(b.build(), { maxPerChecker: 100 }).filter((m) => m.startsWith("linearizable: ")).length).toBe(30);
  });

  test("full-size random runs (5,000 operations, 100 watches) pass, and their size is real", () => {
    for (const seed of [1, 2, 3]) {
      const h = bigRun(seed);
      expect(h.operations.length).toBeGreaterThanOrEqual(5000);
      expect(h.watches.length).toBe(100);
      const events = h.watches.reduce((n, w) => n + w.responses.reduce((m, r) => m + r.events.length, 0), 0);
      expect(events).toBeGreaterThan(20_000);
      expect(h.leaseExpiries.length).toBeGreaterThan(0);
      expect(h.operations.filter((op) => op.outcome?.type === "indeterminate" || !op.outcome).length).toBeGreaterThan(50);
      expect(h.watches.filter((w) => w.ended?.reason === "member-down").length).toBeGreaterThan(0);
      const started = performance.now();
      const cpu0 = process.cpuUsage();
      const verdict = checkHistory(h);
      const cpu = process.cpuUsage(cpu0);
      const ms = performance.now() - started;
      expect(verdict).toEqual([]);
      // Reported, not asserted: wall time on a shared machine is no test of correctness.
      console.log(`seed ${seed}: ${h.operations.length} ops, ${h.watches.length} watches, ${events} events checked in ${ms.toFixed(0)} ms (cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms)`);
    }
  }, 60_000);
});

describe("planted faults in a full-size run are caught", () => {
  test("a read that misses the latest write", () => {
    const h = bigRun(1);
    const read = h.operations
      .filter((op) => op.op.kind === "range" && !op.op.serializable && op.outcome?.type === "ok" && op.outcome.result.kind === "range" && op.outcome.result.kvs.length === 1)
      .at(-1)!;
    const res = resultOf(read, "range");
    res.kvs = [];
    res.count = 0;
    expect(checkHistory(h).some((m) => m.startsWith(`linearizable: op ${read.id} range`))).toBe(true);
  });

  test("a watch that drops an event", () => {
    const h = bigRun(2);
    const w = h.watches.find((w) => w.responses.some((r) => r.events.length > 2))!;
    const resp = w.responses.find((r) => r.events.length > 2)!;
    const ev = resp.events.splice(1, 1)[0];
    // Dropping one event of a revision shared with others also splits nothing; dropping any is a gap.
    const v = checkHistory(h);
    expect(v.some((m) => m.startsWith(`watch: Reliable: watch ${w.id} missed ${ev.type}`))).toBe(true);
  });

  test("an acknowledged write that a crash lost", () => {
    const h = bigRun(3);
    // The last final read: make it show the key as it was before its latest acknowledged put.
    const final = h.operations[h.operations.length - 1];
    const res = resultOf(final, "range");
    const victim = res.kvs.findIndex((kv) => kv.version > 1n);
    const kv = res.kvs[victim];
    res.kvs[victim] = { ...kv, modRevision: kv.modRevision - 1n };
    expect(checkHistory(h).some((m) => m.startsWith(`durability: acknowledged op`) && m.includes(`lost: op ${final.id}'s last read`))).toBe(true);
  });

  test("members that diverge", () => {
    const h = bigRun(1);
    h.members[2].hash ^= 0x5a5a;
    expect(checkHistory(h)).toEqual([expect.stringMatching(/^members: members 1 and 3 differ at rev \d+/)]);
  });
});
