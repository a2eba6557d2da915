// The whole-server simulation's in-memory twins behave like what they stand for: the fake clock fires
// nothing by itself, the memory WAL keeps only what was fsynced (plus a torn tail the real reader
// repairs), and an abandoned database keeps only what was committed, as after kill -9.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend, COMMIT_INTERVAL_MS } from "../../../src/backend/backend.ts";
import type { WalRecord } from "../../../src/wal/record.ts";
import { FakeClock } from "./fake-clock.ts";
import { MemoryWalDisk } from "./memory-wal.ts";

const rec = (index: number, bytes = 40): WalRecord => ({ type: 1, index: BigInt(index), data: new Uint8Array(bytes).fill(index & 0xff) });
const indexes = (rs: WalRecord[]) => rs.map((r) => Number(r.index));
/** A random source that answers the given values in turn. */
const scripted = (...xs: number[]) => () => xs.shift() ?? 0;

describe("FakeClock", () => {
  test("timers fire only when the simulation fires them, in time order, ties in the order set", () => {
    const clock = new FakeClock(1000);
    const seen: string[] = [];
    clock.after(5, () => seen.push("b"));
    clock.after(2, () => seen.push("a"));
    clock.after(5, () => seen.push("c"));
    expect(seen).toEqual([]);
    while (clock.fireNext()) {}
    expect(seen).toEqual(["a", "b", "c"]);
    expect(clock.now()).toBe(1005);
  });

  test("now() is whole milliseconds while timers keep their fractions", () => {
    const clock = new FakeClock(0);
    clock.after(0.4, () => {});
    clock.after(0.7, () => {});
    clock.fireNext();
    expect(clock.now()).toBe(0);
    clock.fireNext();
    expect(clock.nextAt()).toBeUndefined();
    clock.advanceTo(2.5);
    expect(clock.now()).toBe(2);
  });

  test("a scope's timers (a member's) all stop when it is cancelled; others go on", () => {
    const clock = new FakeClock(0);
    const member = clock.scope();
    let ticks = 0;
    let other = 0;
    member.every(10, () => ticks++);
    member.after(45, () => (ticks += 100));
    clock.every(10, () => other++);
    while (clock.fireNext(30)) {}
    expect(ticks).toBe(3);
    member.cancelAll();
    member.after(1, () => ticks++); // a dead member sets no new timers
    while (clock.fireNext(100)) {}
    expect(ticks).toBe(3);
    expect(other).toBe(10);
  });
});

describe("MemoryWalDisk", () => {
  test("an append resolves only once synced; a crash keeps what was synced and nothing after", async () => {
    const disk = new MemoryWalDisk(4096);
    let pending = 0;
    const { wal, records } = disk.open({}, () => pending++);
    expect(records).toEqual([]);
    let done = false;
    const first = wal.append([rec(1), rec(2)]).then(() => (done = true));
    expect(pending).toBe(1);
    await Promise.resolve();
    expect(done).toBe(false);
    wal.sync()!.ack();
    await first;
    wal.append([rec(3)]).catch(() => {});
    disk.crash(scripted(), 0); // no torn tail
    const reopened = disk.open({}, () => {});
    expect(indexes(reopened.records)).toEqual([1, 2]);
    expect(reopened.repaired).toBeNull();
  });

  test("a torn prefix of the unsynced tail is cut at the last whole record by the real segment reader", () => {
    const disk = new MemoryWalDisk(4096);
    const { wal } = disk.open({}, () => {});
    void wal.append([rec(1)]);
    wal.sync()!.ack();
    wal.append([rec(2), rec(3)]).catch(() => {});
    // Torn (first draw below the chance) and cut 60% into the 112 unsynced bytes: record 2 whole, 3 partial.
    disk.crash(scripted(0, 0.6), 1);
    const logs: string[] = [];
    const reopened = disk.open({ log: (_l, m) => logs.push(m) }, () => {});
    expect(indexes(reopened.records)).toEqual([1, 2]);
    expect(reopened.repaired).not.toBeNull();
    expect(logs.join()).toContain("torn tail");
  });

  test("synced but not acknowledged (a crash at wal-after-sync) is durable; a failed fsync is not", async () => {
    const disk = new MemoryWalDisk(4096);
    const { wal } = disk.open({}, () => {});
    const a = wal.append([rec(1)]);
    wal.sync()!.fail(new Error("crash"));
    await expect(a).rejects.toThrow("crash");
    await expect(wal.append([rec(2)])).rejects.toThrow("earlier fsync failed");
    disk.crash(scripted(), 0);
    const b = disk.open({}, () => {});
    expect(indexes(b.records)).toEqual([1]);
    const c = b.wal.append([rec(2)]);
    b.wal.failPending(new Error("power"));
    await expect(c).rejects.toThrow("power");
    disk.crash(scripted(), 0);
    expect(indexes(disk.open({}, () => {}).records)).toEqual([1]);
  });

  test("segments roll with the preamble first, purge as Wal.purge does, and reopen across segments", async () => {
    const disk = new MemoryWalDisk(1024);
    const { wal } = disk.open({}, () => {});
    wal.segmentPreamble = () => [{ type: 3, data: new Uint8Array([9]) }];
    for (let i = 1; i <= 40; i++) {
      const p = wal.append([rec(i, 100)]);
      wal.sync()!.ack();
      await p;
    }
    expect(disk.segments.length).toBeGreaterThan(3);
    const firstOfThird = Number(disk.segments[2].id.firstIndex);
    expect(await wal.purge(BigInt(firstOfThird), { maxSegments: 1 })).toHaveLength(2);
    disk.crash(scripted(), 0);
    const reopened = disk.open({}, () => {});
    const ix = reopened.records.filter((r) => r.type === 1);
    expect(Number(ix[0].index)).toBe(firstOfThird);
    expect(Number(ix.at(-1)!.index)).toBe(40);
    // The first two are gone; every one left was started by a roll, so it opens with the preamble.
    expect(reopened.records.filter((r) => r.type === 3).length).toBe(disk.segments.length);
  });
});

describe("Backend.abandon", () => {
  test("keeps what was committed and rolls back the open transaction, as kill -9 does", () => {
    const dir = mkdtempSync(join(tmpdir(), "backend-abandon-"));
    try {
      const clock = new FakeClock(0);
      const path = join(dir, "db");
      const b = new Backend(path, { clock });
      b.batch(() => b.setMeta("a", 1n));
      expect(clock.nextAt()).toBe(COMMIT_INTERVAL_MS); // the periodic commit waits for the (fake) clock
      while (clock.fireNext()) {}
      b.batch(() => b.setMeta("b", 2n));
      b.abandon();
      expect(b.closed).toBe(true);
      const again = new Backend(path);
      expect(again.getMeta("a")).toBe(1n);
      expect(again.getMeta("b")).toBeUndefined();
      again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
