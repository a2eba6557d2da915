import { describe, expect, test } from "bun:test";
import { CompactionSchedule, REVISION_MODE_INTERVAL_MS, startAutoCompaction } from "./auto-compactor.ts";

/**
 * Drives a schedule tick by tick (as startAutoCompaction does) with a revision that grows by
 * `perTick`; returns the compactions. Calls on the same schedule continue where the last one ended.
 */
const clocks = new WeakMap<CompactionSchedule, { now: number; rev: bigint }>();
function run(schedule: CompactionSchedule, ticks: number, perTick: bigint, leader = () => true): { at: number; rev: bigint }[] {
  let state = clocks.get(schedule);
  if (!state) {
    state = { now: 0, rev: 1n };
    clocks.set(schedule, state);
    schedule.sample(state.rev);
  }
  let { now, rev } = state;
  const out: { at: number; rev: bigint }[] = [];
  for (let i = 0; i < ticks; i++) {
    now += schedule.tickMs;
    rev += perTick;
    const due = schedule.due(now, rev, leader());
    schedule.sample(rev);
    if (due !== null) {
      out.push({ at: now, rev: due });
      schedule.done(now, due);
    }
  }
  Object.assign(state, { now, rev });
  return out;
}

describe("periodic mode follows etcd's schedule", () => {
  test("retention 10 s: samples every 1 s, first compaction after 10 s, then every 10 s, to the revision of 11 s before", () => {
    const s = new CompactionSchedule({ mode: "periodic", periodMs: 10_000 }, 0);
    expect(s.tickMs).toBe(1000);
    const got = run(s, 35, 10n);
    expect(got.map((c) => c.at)).toEqual([10_000, 20_000, 30_000]);
    // At 10 s the oldest sample is the one from the start (rev 1); later the one a period and a
    // sample interval before (etcd samples before each wait, so the newest is one tick old).
    expect(got.map((c) => c.rev)).toEqual([1n, 91n, 191n]);
  });

  test("retention 5 h: samples every 6 minutes, first after 5 h, then hourly, always keeping 5 h of history", () => {
    const s = new CompactionSchedule({ mode: "periodic", periodMs: 5 * 3_600_000 }, 0);
    expect(s.tickMs).toBe(360_000);
    const got = run(s, 80, 1n); // 8 hours, one revision per tick
    expect(got.map((c) => c.at / 3_600_000)).toEqual([5, 6, 7, 8]);
    // Ticks of history kept at each compaction: 5 h (50 ticks) the first time, then 5 h and a tick.
    expect(got.map((c) => c.at / s.tickMs + 1 - Number(c.rev))).toEqual([50, 51, 51, 51]);
  });

  test("a follower samples but never compacts; on becoming leader it compacts to what it sampled", () => {
    let leader = false;
    const s = new CompactionSchedule({ mode: "periodic", periodMs: 10_000 }, 0);
    expect(run(s, 15, 10n, () => leader)).toEqual([]);
    leader = true;
    const later = run(s, 1, 10n, () => leader);
    expect(later).toHaveLength(1);
  });
});

describe("revision mode", () => {
  test("every 5 minutes to current - N, skipping when not positive or unchanged", () => {
    const s = new CompactionSchedule({ mode: "revision", revisions: 100 }, 0);
    expect(s.tickMs).toBe(REVISION_MODE_INTERVAL_MS);
    expect(s.due(1, 50n, true)).toBeNull();
    expect(s.due(2, 150n, true)).toBe(50n);
    s.done(2, 50n);
    expect(s.due(3, 150n, true)).toBeNull();
    expect(s.due(4, 151n, true)).toBe(51n);
    expect(s.due(5, 151n, false)).toBeNull();
  });
});

test("the driver compacts through its target and treats 'already compacted' as done", async () => {
  const calls: bigint[] = [];
  let rev = 10n;
  const logs: string[] = [];
  const stop = startAutoCompaction(
    { mode: "periodic", periodMs: 200 },
    {
      currentRevision: () => rev++,
      isLeader: () => true,
      async compact(r) {
        calls.push(r);
        if (calls.length === 1) throw new Error("etcdserver: mvcc: required revision has been compacted");
      },
    },
    (_level, msg) => logs.push(msg),
  );
  await Bun.sleep(700);
  stop();
  expect(calls.length).toBeGreaterThanOrEqual(2);
  expect(logs.some((l) => l.startsWith("failed"))).toBe(false);
  expect(logs).toContain("completed auto periodic compaction");
});

test("retention 0 turns it off", () => {
  const stop = startAutoCompaction({ mode: "revision", revisions: 0 }, { currentRevision: () => 1n, isLeader: () => true, compact: async () => {} }, () => {
    throw new Error("should not log");
  });
  stop();
});
