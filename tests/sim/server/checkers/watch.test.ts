import { describe, expect, test } from "bun:test";
import type { WatchRecord } from "../history.ts";
import { HistoryBuilder, kv } from "./history-builder.ts";
import { buildModel } from "./model.ts";
import { checkWatches, watchAtomic, watchBookmarkable, watchFilters, watchIsCreate, watchOrdered, watchPrevKv, watchReliable, watchResumable, watchUnique } from "./watch.ts";

/** Writes to a few keys (a txn touching two), with watches of every kind collecting them. */
function watched(): { b: HistoryBuilder; all: WatchRecord; prefix: WatchRecord; noput: WatchRecord; late: WatchRecord } {
  const b = new HistoryBuilder();
  const all = b.watch({ key: "a", end: "\0", prevKv: true });
  const prefix = b.watch({ key: "k/", end: "k0" });
  const noput = b.watch({ key: "a", end: "\0", filters: ["noput"], prevKv: true });
  b.put("a", "a1"); // 2
  b.put("k/1", "k1"); // 3
  b.txn([], [{ kind: "put", key: "a", value: "a2" }, { kind: "put", key: "k/2", value: "k2" }], []); // 4
  b.del("k/1"); // 5
  b.deliver(all, { perRevision: true });
  b.progress(prefix);
  b.deliver(noput);
  const late = b.watch({ key: "a", end: "\0", startRevision: 3n, prevKv: true }); // replays 3..5
  b.put("k/3", "k3"); // 6
  b.progress(all);
  b.deliver(late);
  b.progress(noput);
  return { b, all, prefix, noput, late };
}

describe("watch", () => {
  test("watches that deliver every write once, in order, pass every guarantee", () => {
    const { b, all, noput, late } = watched();
    expect(all.responses.filter((r) => r.events.length).length).toBe(5);
    expect(noput.responses[1].events.map((e) => e.type)).toEqual(["DELETE"]);
    expect(late.responses[0].events[0].kv.modRevision).toBe(3n);
    expect(checkWatches(b.build())).toEqual([]);
  });

  test("Ordered: an event older than one already delivered is caught", () => {
    const { b, all } = watched();
    [all.responses[1], all.responses[2]] = [all.responses[2], all.responses[1]];
    expect(watchOrdered(b.build())).toEqual([`Ordered: watch 1 got PUT a=a1@2 after rev 3`]);
  });

  test("Unique: an event delivered twice is caught", () => {
    const { b, all } = watched();
    all.responses.push({ ...all.responses[2] });
    expect(watchUnique(b.build())).toEqual([`Unique: watch 1 got PUT k/1=k1@3 twice`]);
  });

  test("Atomic: a revision split across two responses is caught", () => {
    const { b, all } = watched();
    const txn = all.responses.findIndex((r) => r.events.length === 2);
    const [first, second] = all.responses[txn].events;
    all.responses.splice(txn, 1, { ...all.responses[txn], events: [first] }, { ...all.responses[txn], events: [second] });
    expect(watchAtomic(b.build())).toEqual([`Atomic: watch 1 split rev 4 across responses`]);
  });

  test("Reliable: a dropped event, or an invented one, is caught", () => {
    const { b, prefix } = watched();
    const h = b.build();
    const events = prefix.responses.find((r) => r.events.length)!.events;
    const dropped = events.splice(1, 1)[0];
    expect(watchReliable(h, buildModel(h))).toEqual([`Reliable: watch 2 missed PUT k/2=k2@4`]);
    events.splice(1, 0, dropped, { type: "PUT", kv: kv("k/9", "k2", 4n) });
    expect(watchReliable(h, buildModel(h))).toEqual([`Reliable: watch 2 got PUT k/9=k2@4, which no write made`]);
  });

  test("Reliable: an event whose value differs from the write at its revision is caught", () => {
    const { b, all } = watched();
    const h = b.build();
    const ev = all.responses.find((r) => r.events.some((e) => e.kv.key === "k/2"))!.events.find((e) => e.kv.key === "k/2")!;
    ev.kv = { ...ev.kv, version: 2n };
    expect(watchReliable(h, buildModel(h))).toEqual([`Reliable: watch 1 at rev 4: got k/2=k2@4 (create 4, version 2, lease 0), expected k/2=k2@4 (create 4, version 1, lease 0)`]);
  });

  test("Reliable: a watch from the compaction revision still gets the delete made at that revision", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    b.del("a"); // 3
    b.put("b", "b1"); // 4
    b.compact(3n);
    const w = b.watch({ key: "a", end: "\0", startRevision: 3n });
    b.deliver(w);
    expect(checkWatches(b.build())).toEqual([]);
    w.responses[0].events.shift(); // the tombstone at 3 went with the compaction (etcd before #18274)
    const h = b.build();
    expect(watchReliable(h, buildModel(h))).toEqual([`Reliable: watch 1 missed DELETE a@3 (a tombstone at compaction rev 3: etcd keeps it for watches)`]);
  });

  test("Resumable: a resumed watch that skips the next write is caught", () => {
    const b = new HistoryBuilder();
    const first = b.watch({ key: "a", end: "\0" });
    b.put("a", "a1"); // 2
    b.put("b", "b1"); // 3
    b.deliver(first);
    first.ended = { reason: "member-down" };
    b.put("c", "c1"); // 4
    b.put("d", "d1"); // 5
    const resumed = b.watch({ key: "a", end: "\0", startRevision: 4n, member: 2n });
    b.deliver(resumed);
    expect(checkWatches(b.build())).toEqual([]);
    resumed.responses[0].events.shift(); // c1 at 4 never arrives
    const h = b.build();
    expect(watchResumable(h, buildModel(h))).toEqual([`Resumable: watch 2 (resuming watch 1 at rev 4) began with PUT d=d1@5, expected PUT c@4`]);
  });

  test("Resumable: a resumed watch that disagrees with the original where both cover is caught", () => {
    const b = new HistoryBuilder();
    const first = b.watch({ key: "a", end: "\0" });
    b.put("a", "a1"); // 2
    b.put("b", "b1"); // 3
    b.deliver(first);
    const resumed = b.watch({ key: "a", end: "\0", startRevision: 3n }); // the original still runs
    b.deliver(resumed);
    b.put("c", "c1"); // 4
    b.deliver(first);
    b.deliver(resumed);
    expect(checkWatches(b.build())).toEqual([]);
    resumed.responses[1].events = [{ type: "PUT", kv: kv("c", "other", 4n) }];
    const h = b.build();
    expect(watchResumable(h, buildModel(h))).toEqual([`Resumable: watch 2 (resuming watch 1 at rev 3) got PUT c=other@4 where watch 1 got PUT c=c1@4`]);
  });

  test("Resumable: a watch canceled as compacted though its next revision was still there is caught", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    b.put("a", "a2"); // 3
    b.compact(3n);
    const w = b.watch({ key: "a", startRevision: 3n });
    w.ended = { reason: "compacted", compactRevision: 3n };
    const ok = b.watch({ key: "a", startRevision: 2n });
    ok.ended = { reason: "compacted", compactRevision: 3n };
    const h = b.build();
    expect(watchResumable(h, buildModel(h))).toEqual([`Resumable: watch 1 was canceled as compacted at rev 3, but its next rev 3 is still there`]);
  });

  test("Bookmarkable: an event at or below a progress notification's revision is caught", () => {
    const { b, prefix } = watched();
    const ev = prefix.responses[1].events.pop()!; // k/1 deleted at 5, moved after the progress at 5
    prefix.responses.splice(3, 0, { atMs: 0, revision: 6n, progress: false, events: [ev] });
    expect(watchBookmarkable(b.build())).toEqual([`Bookmarkable: watch 2 got DELETE k/1@5 after a progress notification at rev 5`]);
  });

  test("Bookmarkable: a progress notification that goes back is caught", () => {
    const { b, noput } = watched();
    noput.responses.push({ atMs: 0, revision: 4n, progress: true, events: [] });
    expect(watchBookmarkable(b.build())).toEqual([`Bookmarkable: watch 3 progress went back from rev 6 to 4`]);
  });

  test("PrevKV: a wrong prevKv is caught; a missing one only where no compaction can explain it", () => {
    const { b, all } = watched();
    const ev = all.responses.flatMap((r) => r.events).find((e) => e.kv.key === "a" && e.kv.modRevision === 4n)!;
    const h = b.build();
    ev.prevKv = kv("a", "a0", 2n);
    expect(watchPrevKv(h, buildModel(h))).toEqual([`PrevKV: watch 1 PUT a=a2@4: prevKv a=a0@2, expected a=a1@2`]);
    ev.prevKv = undefined;
    expect(watchPrevKv(h, buildModel(h))).toEqual([`PrevKV: watch 1 PUT a=a2@4: prevKv missing, expected a=a1@2`]);
    b.compact(4n);
    expect(watchPrevKv(b.build(), buildModel(b.build()))).toEqual([]);
  });

  test("IsCreate: a PUT marked as a create on a key that existed is caught", () => {
    const { b, all } = watched();
    const ev = all.responses.flatMap((r) => r.events).find((e) => e.kv.key === "a" && e.kv.modRevision === 4n)!;
    ev.kv = { ...ev.kv, createRevision: 4n, version: 1n };
    const h = b.build();
    expect(watchIsCreate(h, buildModel(h))).toEqual([`IsCreate: watch 1 PUT a=a2@4 is a create, but a existed at rev 3`]);
    ev.kv = { ...ev.kv, createRevision: 4n, version: 2n };
    expect(watchIsCreate(h, buildModel(h))).toEqual([`IsCreate: watch 1 PUT a=a2@4 has create rev 4 with version 2`]);
  });

  test("Filters: an event of a filtered type, or outside the range, is caught", () => {
    const { b, noput, prefix } = watched();
    noput.responses.push({ atMs: 0, revision: 6n, progress: false, events: [{ type: "PUT", kv: kv("k/3", "k3", 6n) }] });
    prefix.responses.push({ atMs: 0, revision: 6n, progress: false, events: [{ type: "PUT", kv: kv("a", "a2", 4n, { create: 2n, version: 2n }) }] });
    expect(watchFilters(b.build())).toEqual([`Filters: watch 2 on [k/, k0) got PUT a=a2@4`, `Filters: watch 3 (noput) got PUT k/3=k3@6`]);
  });

  test("Reliable: a watch from now that misses the first write after its creation is caught", () => {
    const b = new HistoryBuilder();
    b.put("a", "a1"); // 2
    const w = b.watch({ key: "a", created: false }); // created at rev 2, no created response recorded
    b.put("a", "a2"); // 3
    b.put("a", "a3"); // 4
    b.deliver(w);
    w.responses[0].events.shift(); // a2 never arrives
    const h = b.build();
    expect(watchReliable(h, buildModel(h))).toEqual([`Reliable: watch 1 missed PUT a=a2@3`]);
    w.createdRevision = undefined; // nothing then says where the watch began: its first event does
    expect(watchReliable(h, buildModel(h))).toEqual([]);
  });

  test("events at revisions an unplaced indeterminate write may have made are accepted", () => {
    const b = new HistoryBuilder();
    const w = b.watch({ key: "a", end: "\0" });
    b.put("a", "a1"); // 2
    b.del("a", undefined, { outcome: "indeterminate" }); // 3: never acknowledged, nobody read a value from it
    b.put("b", "b1"); // 4
    b.deliver(w);
    const h = b.build();
    expect(checkWatches(h, buildModel(h))).toEqual([]);
    w.responses[1].events.splice(1, 1); // without the DELETE at 3, still nothing provably wrong
    expect(checkWatches(h, buildModel(h))).toEqual([]);
  });
});
