// The watch checker on hand-built histories: a clean one passes, and each planted break of a
// guarantee is caught under its name (and, where it is unambiguous, under that name only).
import { describe, expect, test } from "bun:test";
import { type History, inRange, type KeyValue, type KvCall, type KvRequest, type KvResponse, type RequestOp, type ResponseOp, type WatchEvent, type WatchRequest, type WatchResponse, type WatchSession } from "../history.ts";
import { checkWatches, type WatchGuarantee, type WatchReport } from "./watch.ts";

// ---- A tiny store that turns writes into the events and calls a real run would record.

/** ["put", key, value, lease?] or ["del", key, end?] (end as RequestOp's). */
type Op = ["put", string, string, string?] | ["del", string, string?];

interface Run {
  /** revision → its events, each with the prevKv etcd would send. */
  events: Map<number, WatchEvent[]>;
  calls: KvCall[];
  head: number;
}

/** Each element of `writes` is one revision: one op is a put / delete call, more are a txn. */
function run(writes: Op[][]): Run {
  const state = new Map<string, KeyValue>();
  const events = new Map<number, WatchEvent[]>();
  const calls: KvCall[] = [];
  let rev = 1; // a fresh store is at revision 1 with no keys
  writes.forEach((ops, i) => {
    rev++;
    const evs: WatchEvent[] = [];
    const results: ResponseOp[] = [];
    for (const op of ops) {
      if (op[0] === "put") {
        const [, key, value, lease = "0"] = op;
        const prev = state.get(key);
        const kv: KeyValue = { key, value, createRevision: prev?.createRevision ?? rev, modRevision: rev, version: (prev?.version ?? 0) + 1, lease };
        state.set(key, kv);
        evs.push(prev ? { type: "put", kv, prevKv: prev } : { type: "put", kv });
        results.push({ kind: "put" });
      } else {
        const [, key, end = ""] = op;
        const keys = [...state.keys()].filter((k) => inRange(k, key, end)).sort();
        for (const k of keys) {
          evs.push({ type: "delete", kv: { key: k, value: "", createRevision: 0, modRevision: rev, version: 0, lease: "0" }, prevKv: state.get(k) });
          state.delete(k);
        }
        results.push({ kind: "delete", deleted: keys.length });
      }
    }
    // etcd bumps the revision only when something changed (a delete of nothing does not).
    if (evs.length === 0) rev--;
    else events.set(rev, evs);
    const reqs = ops.map(toRequest);
    const request: KvRequest = ops.length === 1 ? reqs[0] : { kind: "txn", compare: [], success: reqs, failure: [] };
    const response: KvResponse = ops.length === 1 ? results[0] : { kind: "txn", succeeded: true, results };
    calls.push({ client: i % 3, member: 0, request, call: i * 10, ret: i * 10 + 5, outcome: "ok", revision: rev, response });
  });
  return { events, calls, head: rev };
}

function toRequest(op: Op): RequestOp {
  return op[0] === "put" ? { kind: "put", key: op[1], value: op[2], lease: op[3] ?? "0" } : { kind: "delete", key: op[1], end: op[2] ?? "" };
}

/** When a revision's watch response arrives: just after its write returned. */
const timeOf = (rev: number) => (rev - 2) * 10 + 6;

/**
 * A session that behaves: created (header from-1), one response per revision in [from, to] with
 * the matching events, and a progress notification at `to` when asked.
 */
function watch(r: Run, req: Partial<WatchRequest>, from: number, to: number, opts: { progress?: boolean; client?: number } = {}): WatchSession {
  const request: WatchRequest = { key: "", end: "\0", startRevision: 0, prevKv: false, progressNotify: false, noPut: false, noDelete: false, ...req };
  const responses: WatchResponse[] = [resp(from - 1, [], { created: true, time: timeOf(from) - 5 })];
  for (let rev = from; rev <= to; rev++) {
    const evs = (r.events.get(rev) ?? [])
      .filter((e) => inRange(e.kv.key, request.key, request.end) && !(e.type === "put" ? request.noPut : request.noDelete))
      .map((e): WatchEvent => structuredClone(request.prevKv || !e.prevKv ? e : { type: e.type, kv: e.kv }));
    if (evs.length > 0) responses.push(resp(rev, evs));
  }
  if (opts.progress) responses.push(resp(to, []));
  return { client: opts.client ?? 9, member: 1, request, call: 0, responses, end: 1000, progressRequests: [] };
}

function resp(revision: number, events: WatchEvent[], extra: Partial<WatchResponse> = {}): WatchResponse {
  return { time: timeOf(revision), revision, created: false, canceled: false, compactRevision: 0, fragment: false, events, ...extra };
}

// ---- The clean history every test starts from.

const WRITES: Op[][] = [
  [["put", "a", "1"]], // 2
  [["put", "b", "1"]], // 3
  [["put", "a", "2"], ["del", "b"]], // 4: a txn of two events
  [["put", "c", "1", "7"]], // 5: c on lease 7
  [["del", "a", "z"]], // 6: deletes a and c
  [["put", "a", "3"]], // 7: a created again
];

function clean(): History & { run: Run } {
  const r = run(WRITES);
  const s4 = watch(r, {}, 4, 7);
  // s4 gets revision 4 in two fragments, which is legal.
  const i = s4.responses.findIndex((x) => x.revision === 4 && x.events.length > 0);
  const [first, second] = [s4.responses[i].events.slice(0, 1), s4.responses[i].events.slice(1)];
  s4.responses.splice(i, 1, resp(4, first, { fragment: true }), resp(4, second));
  const calls: KvCall[] = [
    ...r.calls,
    { client: 1, member: 0, request: { kind: "leaseRevoke", id: "7" }, call: 60, ret: 62, outcome: "ok", revision: 7, response: { kind: "leaseRevoke" } },
    { client: 1, member: 0, request: { kind: "put", key: "x", value: "lost", lease: "0" }, call: 61, ret: 63, outcome: "failed", error: "etcdserver: request is too large" },
    { client: 2, member: 0, request: { kind: "put", key: "y", value: "maybe", lease: "0" }, call: 61, ret: 90, outcome: "unknown", error: "deadline exceeded" },
    { client: 2, member: 0, request: { kind: "range", key: "a", end: "", revision: 0, limit: 0, serializable: false }, call: 62, ret: 63, outcome: "ok", revision: 7, response: { kind: "range", kvs: [], count: 0, more: false } },
  ];
  return {
    seed: 1,
    run: r,
    calls,
    watches: [
      watch(r, { startRevision: 1, prevKv: true }, 1, 7, { progress: true }), // 0: every key from 1
      watch(r, { key: "a", end: "", noDelete: true }, 2, 7, { progress: true }), // 1: one key, puts only, from now
      watch(r, { key: "b", end: "d", startRevision: 3, prevKv: true }, 3, 7, { progress: true }), // 2: a range from 3
      watch(r, {}, 5, 7), // 3: every key from now (created at 4)
      s4, // 4: every key from now, fragmented
    ],
  };
}

function found(rep: WatchReport): Set<WatchGuarantee> {
  return new Set(rep.violations.map((v) => v.guarantee));
}

/** Exactly these guarantees are reported broken (details printed when not). */
function expectBroken(h: Pick<History, "watches" | "calls">, want: WatchGuarantee[], session?: number): WatchReport {
  const rep = checkWatches(h);
  const got = [...found(rep)].sort();
  if (got.join() !== [...want].sort().join()) console.log(rep.violations);
  expect(got).toEqual([...want].sort());
  if (session !== undefined) expect(rep.violations.every((v) => v.session === session)).toBe(true);
  return rep;
}

/** The response of session s carrying revision rev's events. */
function at(h: History, s: number, rev: number): WatchResponse {
  const r = h.watches[s].responses.find((x) => x.revision === rev && x.events.length > 0);
  if (!r) throw new Error(`session ${s} has no response at revision ${rev}`);
  return r;
}

function drop(h: History, s: number, rev: number): void {
  const w = h.watches[s];
  w.responses = w.responses.filter((x) => !(x.revision === rev && x.events.length > 0));
}

// ---- Tests.

describe("a clean history", () => {
  test("passes every guarantee, with the truth window where the whole-keyspace sessions vouched", () => {
    const h = clean();
    const rep = expectBroken(h, []);
    expect(rep.truth).toEqual({ fromRevision: 1, toRevision: 7, events: 8, windows: [[1, 7]] });
    expect(rep.sessions).toBe(5);
    expect(rep.events).toBe(8 + 3 + 4 + 4 + 6);
  });

  test("a window that starts late still checks what it can; no whole-keyspace session leaves no window", () => {
    const h = clean();
    h.watches = [h.watches[3], h.watches[1]];
    expect(expectBroken(h, []).truth).toEqual({ fromRevision: 5, toRevision: 7, events: 4, windows: [[5, 7]] });
    h.watches = [h.watches[1]];
    expect(expectBroken(h, []).truth).toEqual({ fromRevision: 0, toRevision: 0, events: 0, windows: [] });
  });

  test("a watch from now may deliver a write made between its registration and its created header", () => {
    const h = clean();
    h.watches[3].responses[0].revision = 5; // the header was read after the write at 5
    expectBroken(h, []);
  });

  test("an unfinished fragment run at a session's end is not a message", () => {
    const h = clean();
    h.watches[3].responses.push(resp(8, [{ type: "put", kv: { key: "q", value: "1", createRevision: 8, modRevision: 8, version: 1, lease: "0" } }], { fragment: true }));
    expectBroken(h, []);
  });

  test("a legal compaction: start revision below the compact revision, canceled, nothing after", () => {
    const h = clean();
    const w = watch(h.run, { startRevision: 2 }, 2, 1);
    w.responses.push(resp(7, [], { canceled: true, compactRevision: 5 }));
    h.watches.push(w);
    expectBroken(h, []);
  });
});

describe("planted violations", () => {
  test("reliable: a revision missing in the middle of a session", () => {
    const h = clean();
    drop(h, 2, 5);
    const rep = expectBroken(h, ["reliable"], 2);
    expect(rep.violations[0].detail).toContain(`missed put "c"="1"@5`);
  });

  test("reliable: a revision no session saw inside the window, with the acknowledged write lost", () => {
    const h = clean();
    for (let s = 0; s < h.watches.length; s++) drop(h, s, 7);
    h.watches[3].responses.push(resp(7, [])); // s3 still vouches for 7
    const rep = expectBroken(h, ["reliable", "acknowledged"]);
    expect(rep.violations.some((v) => v.guarantee === "reliable" && v.session === undefined && v.detail.includes("revision 7 has no event"))).toBe(true);
    expect(rep.violations.some((v) => v.guarantee === "acknowledged" && v.detail.includes(`no put of "a"`))).toBe(true);
  });

  test("resumable: a watch from revision 3 that starts at 4", () => {
    const h = clean();
    drop(h, 2, 3);
    expectBroken(h, ["resumable"], 2);
  });

  test("resumable: a watch from revision 4 that delivers revision 3", () => {
    const h = clean();
    h.watches[2].request.startRevision = 4;
    expectBroken(h, ["resumable"], 2);
  });

  test("unique: an event delivered twice", () => {
    const h = clean();
    const r = at(h, 0, 3);
    r.events = [...r.events, r.events[0]];
    expectBroken(h, ["unique"], 0);
  });

  test("ordered: revisions going back", () => {
    const h = clean();
    const rs = h.watches[0].responses;
    const i = rs.indexOf(at(h, 0, 3));
    [rs[i], rs[i + 1]] = [rs[i + 1], rs[i]];
    expectBroken(h, ["ordered"], 0);
  });

  test("ordered: one revision's events in two different orders", () => {
    const h = clean();
    at(h, 0, 4).events.reverse(); // session 0 gives truth its order; session 4 then disagrees
    const rep = expectBroken(h, ["ordered"], 4);
    expect(rep.violations[0].detail).toContain(`at revision 4, "b" came after "a", but session 0's order is "b", "a"`);
  });

  test("atomic: a revision split over two responses without the fragment flag", () => {
    const h = clean();
    h.watches[4].responses.find((x) => x.fragment)!.fragment = false;
    expectBroken(h, ["atomic"], 4);
  });

  test("atomic: a revision delivered in part", () => {
    const h = clean();
    at(h, 3, 6).events.pop(); // delete of "c" at 6
    const rep = expectBroken(h, ["atomic"], 3);
    expect(rep.violations[0].detail).toContain(`revision 6 came without delete "c"@6`);
  });

  test("bookmarkable: an event at or below an earlier progress notification", () => {
    const h = clean();
    const rs = h.watches[1].responses;
    rs.splice(rs.indexOf(at(h, 1, 2)) + 1, 0, resp(5, []));
    expectBroken(h, ["bookmarkable"], 1);
  });

  test("bookmarkable: an event newer than its response's header, and a progress notification behind an event", () => {
    const h = clean();
    at(h, 0, 3).revision = 2;
    expectBroken(h, ["bookmarkable"], 0);
    const g = clean();
    g.watches[1].responses.push(resp(6, []));
    expectBroken(g, ["bookmarkable"], 1);
  });

  test("prevkv: a wrong previous value", () => {
    const h = clean();
    at(h, 0, 4).events[0].prevKv = { ...at(h, 0, 4).events[0].prevKv!, value: "x" };
    const rep = expectBroken(h, ["prevkv"], 0);
    expect(rep.violations[0].detail).toContain(`expected "a"="1" modRevision 2`);
  });

  test("prevkv: missing without compaction is caught, missing after a compaction past it is allowed", () => {
    const h = clean();
    delete at(h, 0, 6).events[1].prevKv;
    expectBroken(h, ["prevkv"], 0);
    h.calls.push({ client: 1, member: 0, request: { kind: "compact", revision: 6 }, call: timeOf(6) - 1, ret: timeOf(6) + 50, outcome: "unknown" });
    expectBroken(h, []);
  });

  test("prevkv: on a create, and on a watch that did not ask", () => {
    const h = clean();
    const a = at(h, 0, 7).events[0];
    a.prevKv = { ...a.kv, value: "old", modRevision: 6, createRevision: 6 };
    expectBroken(h, ["prevkv"], 0);
    const g = clean();
    at(g, 3, 6).events[0].prevKv = at(g, 0, 6).events[0].prevKv;
    expectBroken(g, ["prevkv"], 3);
  });

  test("iscreate: an update claiming to be a create, and a create claiming to be an update", () => {
    const h = clean();
    h.watches = [h.watches[0]]; // only one session reports it, so nothing to disagree with
    const e = at(h, 0, 4).events[0];
    e.kv = { ...e.kv, createRevision: 4, version: 1 };
    delete e.prevKv;
    // Truth holds the bad event, so the prevKv of the delete at 6 (right in reality) differs from it.
    expectBroken(h, ["iscreate", "prevkv"], 0);
    const g = clean();
    g.watches = [g.watches[0]];
    const c = at(g, 0, 7).events[0];
    c.kv = { ...c.kv, createRevision: 2, version: 3 };
    expectBroken(g, ["iscreate"], 0);
  });

  test("iscreate: versions must count up from the key's state, and delete events carry no value", () => {
    const h = clean();
    h.watches = [h.watches[0]];
    at(h, 0, 4).events[0].kv.version = 3;
    at(h, 0, 4).events[0].prevKv!.version = 2; // self-consistent, but truth says "a" was at version 1
    expectBroken(h, ["iscreate", "prevkv"], 0);
    const g = clean();
    g.watches = [g.watches[0]];
    at(g, 0, 6).events[0].kv.value = "gone";
    expectBroken(g, ["iscreate"], 0);
  });

  test("filter: a delete on a noDelete watch, and a key outside the range", () => {
    const h = clean();
    const rs = h.watches[1].responses;
    rs.splice(rs.indexOf(at(h, 1, 7)), 0, resp(6, [{ type: "delete", kv: at(h, 0, 6).events[0].kv }]));
    expectBroken(h, ["filter"], 1);
    const g = clean();
    g.watches[2].responses.splice(-1, 0, resp(7, [{ type: "put", kv: at(g, 0, 7).events[0].kv }]));
    expectBroken(g, ["filter"], 2);
  });

  test("consistent: two sessions disagree about one revision", () => {
    const h = clean();
    at(h, 2, 5).events[0].kv.value = "X";
    const rep = expectBroken(h, ["consistent"], 2);
    expect(rep.violations[0].detail).toContain(`at revision 5 got put "c"="X"@5`);
  });

  test("acknowledged: a put acknowledged at a revision whose events do not hold it", () => {
    const h = clean();
    h.calls.push({ client: 2, member: 0, request: { kind: "put", key: "z", value: "9", lease: "0" }, call: 30, ret: 35, outcome: "ok", revision: 5, response: { kind: "put" } });
    const rep = expectBroken(h, ["acknowledged"]);
    expect(rep.violations.map((v) => v.detail).join("\n")).toContain(`no put of "z"`);
  });

  test("acknowledged: a delete that reports more keys deleted than events", () => {
    const h = clean();
    const del = h.calls.find((c) => c.revision === 6)!;
    del.response = { kind: "delete", deleted: 3 };
    expectBroken(h, ["acknowledged"]);
  });

  test("acknowledged: a lease revoke that left a key on the lease", () => {
    const h = clean();
    h.calls.find((c) => c.request.kind === "leaseRevoke")!.revision = 5;
    const rep = expectBroken(h, ["acknowledged"]);
    expect(rep.violations[0].detail).toContain(`key "c" still holds the lease`);
  });

  test("compaction: compacted although it needed nothing below the compact revision; not canceled; events after cancel", () => {
    const h = clean();
    h.watches[2].responses.push(resp(7, [], { canceled: true, compactRevision: 3 }));
    expectBroken(h, ["compaction"], 2);
    const g = clean();
    g.watches[2].request.startRevision = 3;
    g.watches[2].responses.splice(1, 0, resp(3, [], { compactRevision: 5 }));
    expectBroken(g, ["compaction"], 2);
    const k = clean();
    k.watches[3].responses.splice(1, 0, resp(4, [], { canceled: true }));
    expectBroken(k, ["canceled"], 3);
  });

  test("details are capped per session and guarantee, with a count of the rest", () => {
    const h = clean();
    const r = at(h, 0, 3);
    r.events = Array.from({ length: 12 }, () => r.events[0]);
    const rep = expectBroken(h, ["unique"], 0);
    expect(rep.violations).toHaveLength(6);
    expect(rep.violations[5].detail).toBe("… and 6 more unique violations in session 0");
  });
});

describe("scale", () => {
  // About 240k delivered events: several times a real run's. The bound is loose for a shared machine.
  test("10k revisions, 200 sessions in a few seconds", () => {
    const keys = Array.from({ length: 100 }, (_, i) => `k${String(i).padStart(3, "0")}`);
    const writes: Op[][] = [];
    let x = 12345;
    const rnd = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x % n);
    for (let i = 0; i < 10000; i++) {
      const k = keys[rnd(keys.length)];
      if (i % 10 === 9) writes.push([["del", k.slice(0, 3), `${k.slice(0, 3)}\x7f`]]);
      else if (i % 7 === 0) writes.push([["put", k, `v${i}`], ["put", keys[(keys.indexOf(k) + 1) % keys.length], `w${i}`]]);
      else writes.push([["put", k, `v${i}`]]);
    }
    const r = run(writes);
    const watches: WatchSession[] = [];
    for (let s = 0; s < 200; s++) {
      if (s % 20 === 0) watches.push(watch(r, { startRevision: 1, prevKv: true }, 1, r.head, { progress: true }));
      else if (s % 2 === 0) watches.push(watch(r, { key: keys[s % keys.length], end: "", prevKv: true }, 2 + s * 50, r.head, { progress: true }));
      else watches.push(watch(r, { key: "k01", end: "k02", startRevision: 100 + s }, 100 + s, r.head, { progress: true }));
    }
    const t0 = performance.now();
    const rep = checkWatches({ watches, calls: r.calls });
    const ms = performance.now() - t0;
    if (rep.violations.length) console.log(rep.violations.slice(0, 5));
    expect(rep.violations).toEqual([]);
    expect(rep.truth.windows).toEqual([[1, r.head]]);
    console.log(`checked ${rep.events} events in ${rep.sessions} sessions (${rep.truth.events} truth events) in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(10000);
  }, 60000);
});
