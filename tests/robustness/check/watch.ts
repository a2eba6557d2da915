// Checks etcd's watch guarantees (etcd.io/docs/v3.6/learning/api_guarantees/#watch-apis) over a
// recorded history. Pure: plain data in, plain data out, no I/O and no clock.
//
// There is no model of the store here. The reference ("truth") is the union of what every session
// received: revision → its events. Sessions must agree where they overlap (consistent), and truth
// is trusted to be complete only over the revisions that unfiltered whole-keyspace sessions vouched
// for (the window): a session vouches for every revision from the one it starts at up to its last
// event or later progress notification. Inside the window every session's events are compared with
// truth (prevKv, IsCreate, and nothing missing: a revision delivered in part is "atomic", events
// skipped before a resumed watch's first event "resumable", any other hole "reliable"), and every
// acknowledged write must be found in truth at its revision (no acknowledged write lost).
import { type History, inRange, type KeyValue, type KvCall, type RequestOp, type WatchEvent, type WatchRequest, type WatchResponse, type WatchSession } from "../history.ts";

export type WatchGuarantee =
  | "ordered" // revisions never go back in a session; a revision's events keep one order
  | "unique" // no (revision, key) twice in a session
  | "atomic" // a revision's events come in one response (fragments joined)
  | "reliable" // no event missing between the first and the last revision a session vouches for
  | "resumable" // a watch from revision S starts exactly at S
  | "bookmarkable" // nothing at or below a progress notification's revision after it
  | "prevkv" // prev_kv is the key's value just before the event
  | "iscreate" // createRevision / version tell creates from updates; delete events carry only key and revision
  | "filter" // range, noPut and noDelete respected
  | "consistent" // sessions agree on what happened at a revision
  | "acknowledged" // an acknowledged write is in truth at its revision, and made all of that revision
  | "compaction" // a compacted response only for a watch that needed compacted revisions
  | "canceled"; // a canceled watch sends nothing more

export interface WatchViolation {
  guarantee: WatchGuarantee;
  /** Index in `watches`; absent for findings about truth or the KV calls. */
  session?: number;
  detail: string;
}

export interface WatchReport {
  /** At most DETAILS_MAX per (guarantee, session), then one line counting the rest. */
  violations: WatchViolation[];
  sessions: number;
  /** Events received, over every session. */
  events: number;
  truth: {
    /** The largest window (0, 0 when no whole-keyspace session vouched for anything). */
    fromRevision: number;
    toRevision: number;
    /** Truth events inside the windows. */
    events: number;
    /** Every window, ascending, disjoint and not adjacent. */
    windows: [number, number][];
  };
}

/** How many details to keep per (guarantee, session); one summary line counts the rest. */
const DETAILS_MAX = 5;
/** The same for findings with no session (truth gaps, KV calls). */
const DETAILS_MAX_GLOBAL = 20;

export function checkWatches(h: Pick<History, "watches" | "calls">): WatchReport {
  const out = new Findings();
  const views = h.watches.map((s, i) => viewSession(s, i, out));
  const truth = buildTruth(views, out);
  const windows = coverage(views);
  const compactions = compactionIndex(h.calls);
  const inWindow = windowLookup(windows);

  const vouchers = (rev: number) => views.filter((v) => v.full && v.first <= rev && rev <= v.last).map((v) => v.index);
  const truthEvents = replay(truth, windows, revokesByRevision(h.calls), vouchers, out);
  for (const v of views) checkAgainstTruth(v, truth, windows, compactions, out);
  checkAcknowledged(h.calls, truth, inWindow, out);

  const largest = windows.reduce<[number, number]>((a, w) => (w[1] - w[0] > a[1] - a[0] ? w : a), windows[0] ?? [0, 0]);
  return {
    violations: out.done(),
    sessions: views.length,
    events: views.reduce((n, v) => n + v.received, 0),
    truth: { fromRevision: largest[0], toRevision: largest[1], events: truthEvents, windows },
  };
}

// ---------------------------------------------------------------------------------------------
// Findings, capped so one broken session cannot bury the others.

class Findings {
  readonly #list: WatchViolation[] = [];
  readonly #counts = new Map<string, { guarantee: WatchGuarantee; session?: number; n: number }>();

  add(guarantee: WatchGuarantee, session: number | undefined, detail: string): void {
    const k = `${guarantee}/${session ?? ""}`;
    const c = this.#counts.get(k) ?? { guarantee, session, n: 0 };
    c.n++;
    this.#counts.set(k, c);
    if (c.n <= (session === undefined ? DETAILS_MAX_GLOBAL : DETAILS_MAX)) this.#list.push(violation(guarantee, session, detail));
  }

  done(): WatchViolation[] {
    const out = [...this.#list];
    for (const c of this.#counts.values()) {
      const max = c.session === undefined ? DETAILS_MAX_GLOBAL : DETAILS_MAX;
      if (c.n > max) out.push(violation(c.guarantee, c.session, `… and ${c.n - max} more ${c.guarantee} violations${c.session === undefined ? "" : ` in session ${c.session}`}`));
    }
    return out;
  }
}

function violation(guarantee: WatchGuarantee, session: number | undefined, detail: string): WatchViolation {
  return session === undefined ? { guarantee, detail } : { guarantee, session, detail };
}

// ---------------------------------------------------------------------------------------------
// One session on its own: fragments joined, then everything checkable without truth.

/** A response as the client sees it: fragments joined into one. */
interface Message {
  /** Index of its first response in the session. */
  at: number;
  time: number;
  revision: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  events: WatchEvent[];
}

interface Received {
  ev: WatchEvent;
  /** When its message arrived (a prevKv may be missing once compaction passed it). */
  time: number;
}

interface View {
  index: number;
  s: WatchSession;
  /** Unfiltered and over every key: its events are every event. */
  full: boolean;
  name: string;
  /** revision → key → the session's event, in arrival order, duplicates dropped. */
  byRev: Map<number, Map<string, Received>>;
  /** The first revision it must deliver from (0 = none known). */
  first: number;
  /** The last revision it vouches for: its last event's, or a later progress notification's (0 = none). */
  last: number;
  firstEventRev: number;
  received: number;
}

function viewSession(s: WatchSession, index: number, out: Findings): View {
  const req = s.request;
  const name = describeSession(s, index);
  const messages = joinFragments(s.responses);
  let firstEventRev = 0;
  for (const m of messages) if (m.events.length > 0) { firstEventRev = m.events[0].kv.modRevision; break; }
  const first = firstRevision(req, messages, firstEventRev);

  const byRev = new Map<number, Map<string, Received>>();
  let lastEventRev = 0;
  let lastProgress = 0;
  let canceledAt = -1;
  let received = 0;
  for (const m of messages) {
    if (canceledAt >= 0) out.add("canceled", index, `${name}: response ${m.at} came after response ${canceledAt} canceled the watch`);
    if (m.compactRevision > 0) {
      if (!m.canceled) out.add("compaction", index, `${name}: response ${m.at} has compactRevision ${m.compactRevision} but does not cancel the watch`);
      const next = Math.max(first, lastEventRev + 1, lastProgress + 1);
      if (next >= m.compactRevision) {
        out.add("compaction", index, `${name}: response ${m.at} says revision ${m.compactRevision} is compacted, but the watch needed only revisions from ${next} on, which compaction at ${m.compactRevision} keeps`);
      }
    }
    if (m.canceled && canceledAt < 0) canceledAt = m.at;
    if (isProgress(m)) {
      if (m.revision < lastProgress) out.add("bookmarkable", index, `${name}: progress notification at ${m.revision} (response ${m.at}) after one at ${lastProgress}`);
      if (m.revision < lastEventRev) out.add("bookmarkable", index, `${name}: progress notification at ${m.revision} (response ${m.at}) after an event at ${lastEventRev}`);
      lastProgress = Math.max(lastProgress, m.revision);
    }
    for (let i = 0; i < m.events.length; i++) {
      const ev = m.events[i];
      const rev = ev.kv.modRevision;
      received++;
      const where = lazyText(() => `${name}: ${describeEvent(ev)} (response ${m.at})`);
      if (!inRange(ev.kv.key, req.key, req.end)) out.add("filter", index, `${where} is outside the watched range`);
      if (req.noPut && ev.type === "put") out.add("filter", index, `${where} is a put on a noPut watch`);
      if (req.noDelete && ev.type === "delete") out.add("filter", index, `${where} is a delete on a noDelete watch`);
      if (!req.prevKv && ev.prevKv) out.add("prevkv", index, `${where} carries a prevKv the watch did not ask for`);
      if (rev > m.revision) out.add("bookmarkable", index, `${where} is newer than its response's header revision ${m.revision}`);
      if (rev <= lastProgress) out.add("bookmarkable", index, `${where} came after a progress notification at ${lastProgress}`);
      if (req.startRevision > 0 && rev < req.startRevision) out.add("resumable", index, `${where} is before the start revision ${req.startRevision}`);
      if (rev < lastEventRev) out.add("ordered", index, `${where} came after an event at revision ${lastEventRev}`);
      else if (i === 0 && rev === lastEventRev) out.add("atomic", index, `${where}: revision ${rev} continues from the previous response without a fragment flag`);
      lastEventRev = Math.max(lastEventRev, rev);
      let atRev = byRev.get(rev);
      if (!atRev) byRev.set(rev, (atRev = new Map()));
      if (atRev.has(ev.kv.key)) {
        out.add("unique", index, `${where} was already delivered`);
        continue;
      }
      atRev.set(ev.kv.key, { ev, time: m.time });
    }
  }
  const last = Math.max(lastEventRev, lastProgress);
  const full = req.end === "\0" && (req.key === "" || req.key === "\0") && !req.noPut && !req.noDelete;
  return { index, s, full, name, byRev, first, last, firstEventRev, received };
}

/**
 * Joins fragment runs into messages. An unfinished run at the end (the stream broke mid-message)
 * is dropped: a client never hands a partial message to its user.
 */
function joinFragments(responses: WatchResponse[]): Message[] {
  const out: Message[] = [];
  let start = 0;
  for (let i = 0; i < responses.length; i++) {
    const r = responses[i];
    if (r.fragment) continue;
    const run = responses.slice(start, i + 1);
    out.push({
      at: start,
      time: r.time,
      revision: r.revision,
      created: run.some((p) => p.created),
      canceled: run.some((p) => p.canceled),
      compactRevision: Math.max(...run.map((p) => p.compactRevision)),
      events: run.length === 1 ? r.events : run.flatMap((p) => p.events),
    });
    start = i + 1;
  }
  return out;
}

/** A detail's prefix built only when a finding uses it: most events break nothing. */
function lazyText(f: () => string): { toString(): string } {
  return { toString: f };
}

function isProgress(m: Message): boolean {
  return m.events.length === 0 && !m.created && !m.canceled && m.compactRevision === 0 && m.revision !== 0;
}

/**
 * The first revision a session must deliver from: its start revision, or for a watch from "now"
 * the revision after its created response's header. etcd reads that header after registering the
 * watcher, so a write in between can be delivered although it is not after the header: an earlier
 * first event moves the start back to it.
 */
function firstRevision(req: WatchRequest, messages: Message[], firstEventRev: number): number {
  if (req.startRevision > 0) return req.startRevision;
  const created = messages.find((m) => m.created && !m.canceled);
  const afterCreated = created ? created.revision + 1 : 0;
  if (afterCreated === 0 || firstEventRev === 0) return afterCreated || firstEventRev;
  return Math.min(afterCreated, firstEventRev);
}

// ---------------------------------------------------------------------------------------------
// Truth: the union of every session's events, with the sessions' agreement checked.

interface TruthEvent {
  ev: WatchEvent;
  /** The session that reported it first. */
  session: number;
  /** The key's state just before: a KeyValue, null = absent, undefined = unknown (outside a window). */
  before?: KeyValue | null;
}

interface TruthRevision {
  byKey: Map<string, TruthEvent>;
  /** Keys in etcd's order for the revision: the longest list any session delivered, then the rest. */
  order: string[];
  /** key → index in order. */
  pos: Map<string, number>;
  /** The session whose list gave the order. */
  orderFrom: number;
}

interface Truth {
  revs: Map<number, TruthRevision>;
  /** Revisions with events, ascending. */
  sorted: number[];
  /** key → the revisions with an event on it, ascending. */
  byKey: Map<string, number[]>;
  /** Every key with an event, ascending. */
  keys: string[];
}

function buildTruth(views: View[], out: Findings): Truth {
  const revs = new Map<number, TruthRevision>();
  for (const v of views) {
    for (const [rev, list] of v.byRev) {
      let t = revs.get(rev);
      if (!t) revs.set(rev, (t = { byKey: new Map(), order: [], pos: new Map(), orderFrom: v.index }));
      for (const { ev } of list.values()) {
        const known = t.byKey.get(ev.kv.key);
        if (!known) t.byKey.set(ev.kv.key, { ev, session: v.index });
        else if (!sameEvent(known.ev, ev)) {
          out.add("consistent", v.index, `${v.name}: at revision ${rev} got ${describeEvent(ev, true)}, session ${known.session} got ${describeEvent(known.ev, true)}`);
        }
      }
      if (list.size > t.order.length) {
        t.order = [...list.keys()];
        t.orderFrom = v.index;
      }
    }
  }
  const byKey = new Map<string, number[]>();
  const sorted = [...revs.keys()].sort((a, b) => a - b);
  for (const rev of sorted) {
    const t = revs.get(rev)!;
    const inOrder = new Set(t.order);
    for (const k of t.byKey.keys()) if (!inOrder.has(k)) t.order.push(k);
    t.order.forEach((k, i) => {
      t.pos.set(k, i);
      let l = byKey.get(k);
      if (!l) byKey.set(k, (l = []));
      l.push(rev);
    });
  }
  return { revs, sorted, byKey, keys: [...byKey.keys()].sort() };
}

function sameEvent(a: WatchEvent, b: WatchEvent): boolean {
  return a.type === b.type && sameKv(a.kv, b.kv);
}

function sameKv(a: KeyValue, b: KeyValue): boolean {
  return a.key === b.key && a.value === b.value && a.createRevision === b.createRevision && a.modRevision === b.modRevision && a.version === b.version && a.lease === b.lease;
}

/** The windows: revisions some whole-keyspace session vouched for, merged where they touch. */
function coverage(views: View[]): [number, number][] {
  const spans = views.filter((v) => v.full && v.first > 0 && v.last >= v.first).map((v): [number, number] => [v.first, v.last]);
  spans.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [a, b] of spans) {
    const top = out[out.length - 1];
    if (top && a <= top[1] + 1) top[1] = Math.max(top[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** The window holding a revision, if any (binary search). */
function windowLookup(windows: [number, number][]): (rev: number) => [number, number] | undefined {
  return (rev) => {
    let lo = 0;
    let hi = windows.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = windows[mid];
      if (rev < a) hi = mid - 1;
      else if (rev > b) lo = mid + 1;
      else return windows[mid];
    }
    return undefined;
  };
}

/** Index of the first element ≥ x in an ascending array. */
function lowerBound<T extends number | string>(a: T[], x: T): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Walks each window in revision order, keeping every key's state: records each truth event's
 * `before`, reports revisions without events (etcd bumps the revision only for a write with at
 * least one event, and a fresh store starts at revision 1 with none), and checks that no key
 * still holds a lease at the revision its revoke was acknowledged. A window starting at revision
 * 1 or 2 knows every key; a later one knows only the keys it saw change. Returns the events inside.
 */
function replay(truth: Truth, windows: [number, number][], revokes: Revoke[], vouchers: (rev: number) => number[], out: Findings): number {
  let events = 0;
  let r = 0;
  for (const [from, to] of windows) {
    const complete = from <= 2;
    const state = new Map<string, KeyValue | null>();
    const leases = new Map<string, Set<string>>();
    while (r < revokes.length && revokes[r].revision < from) r++;
    const revokesUpTo = (rev: number) => {
      for (; r < revokes.length && revokes[r].revision <= rev; r++) {
        const { call, revision } = revokes[r];
        const held = leases.get(call.request.kind === "leaseRevoke" ? call.request.id : "");
        if (held && held.size > 0) {
          const k = held.values().next().value as string;
          out.add("acknowledged", undefined, `${describeCall(call)} acknowledged at revision ${revision}, but key ${q(k)} still holds the lease at that revision (put at ${state.get(k)?.modRevision})`);
        }
      }
    };
    let expect = Math.max(from, 2);
    for (let i = lowerBound(truth.sorted, from); i < truth.sorted.length && truth.sorted[i] <= to; i++) {
      const rev = truth.sorted[i];
      revokesUpTo(rev - 1);
      if (rev > expect) reportGap(expect, rev - 1);
      expect = rev + 1;
      const t = truth.revs.get(rev)!;
      for (const key of t.order) {
        const te = t.byKey.get(key)!;
        te.before = state.has(key) ? state.get(key)! : complete ? null : undefined;
        const old = state.get(key);
        if (old && old.lease !== "0") leases.get(old.lease)?.delete(key);
        if (te.ev.type === "put") {
          state.set(key, te.ev.kv);
          if (te.ev.kv.lease !== "0") {
            let s = leases.get(te.ev.kv.lease);
            if (!s) leases.set(te.ev.kv.lease, (s = new Set()));
            s.add(key);
          }
        } else state.set(key, null);
        events++;
      }
      revokesUpTo(rev);
    }
    if (to >= expect) reportGap(expect, to);
    revokesUpTo(to);
  }
  return events;

  function reportGap(a: number, b: number): void {
    const span = a === b ? `revision ${a} has` : `revisions ${a}..${b} have`;
    const by = vouchers(a);
    const sessions = `${by.slice(0, 5).join(", ")}${by.length > 5 ? ", …" : ""}`;
    out.add("reliable", undefined, `${span} no event in any session, though whole-keyspace session(s) ${sessions} vouched for ${a} (every revision after 1 is a write with events)`);
  }
}

// ---------------------------------------------------------------------------------------------
// One session against truth.

function checkAgainstTruth(v: View, truth: Truth, windows: [number, number][], compactedAt: (time: number) => number, out: Findings): void {
  const req = v.s.request;
  for (const [rev, got] of v.byRev) {
    const t = truth.revs.get(rev)!;
    let lastPos = -1;
    for (const { ev, time } of got.values()) {
      const pos = t.pos.get(ev.kv.key)!;
      if (pos < lastPos) out.add("ordered", v.index, `${v.name}: at revision ${rev}, ${q(ev.kv.key)} came after ${q(t.order[lastPos])}, but session ${t.orderFrom}'s order is ${t.order.map(q).join(", ")}`);
      lastPos = Math.max(lastPos, pos);
      // Set by replay inside a window only; outside, the key's previous state is unknown.
      checkEvent(v, ev, t.byKey.get(ev.kv.key)!.before, time, compactedAt, out);
    }
  }

  // Reliable / atomic / resumable: every matching truth event in [first, last] inside a window,
  // walked key by key so a narrow watch costs only its keys' events.
  const spans = windows.map(([a, b]): [number, number] => [Math.max(a, v.first), Math.min(b, v.last)]).filter(([a, b]) => v.first > 0 && a <= b);
  if (spans.length === 0) return;
  const lo = req.end === "" ? 0 : lowerBound(truth.keys, req.key);
  const hi = req.end === "" ? 0 : req.end === "\0" ? truth.keys.length : lowerBound(truth.keys, req.end);
  const keys = req.end === "" ? [req.key] : truth.keys.slice(lo, Math.max(lo, hi));
  const missing = new Map<number, WatchEvent[]>();
  for (const key of keys) {
    const revs = truth.byKey.get(key) ?? [];
    for (const [a, b] of spans) {
      for (let i = lowerBound(revs, a); i < revs.length && revs[i] <= b; i++) {
        const rev = revs[i];
        const ev = truth.revs.get(rev)!.byKey.get(key)!.ev;
        if (!matches(req, ev) || v.byRev.get(rev)?.has(key)) continue;
        let l = missing.get(rev);
        if (!l) missing.set(rev, (l = []));
        l.push(ev);
      }
    }
  }
  for (const rev of [...missing.keys()].sort((x, y) => x - y)) {
    const pos = truth.revs.get(rev)!.pos;
    const what = missing.get(rev)!.sort((x, y) => pos.get(x.kv.key)! - pos.get(y.kv.key)!).map((e) => describeEvent(e)).join(", ");
    const span = `it vouches for ${v.first}..${v.last}`;
    if (v.byRev.has(rev)) out.add("atomic", v.index, `${v.name}: revision ${rev} came without ${what} (${span})`);
    else if (req.startRevision > 0 && (v.firstEventRev === 0 || rev < v.firstEventRev)) {
      out.add("resumable", v.index, `${v.name}: started at ${req.startRevision} but skipped ${what} (${span})`);
    } else out.add("reliable", v.index, `${v.name}: missed ${what} (${span})`);
  }
}

function matches(req: WatchRequest, ev: WatchEvent): boolean {
  if (ev.type === "put" ? req.noPut : req.noDelete) return false;
  return inRange(ev.kv.key, req.key, req.end);
}

/**
 * IsCreate and PrevKV of one received event. `before` is truth's state of the key just before the
 * event (undefined when unknown); without it only what the event says about itself is checked.
 */
function checkEvent(v: View, ev: WatchEvent, before: KeyValue | null | undefined, time: number, compactedAt: (time: number) => number, out: Findings): void {
  const kv = ev.kv;
  const rev = kv.modRevision;
  const where = lazyText(() => `${v.name}: ${describeEvent(ev, true)}`);
  if (ev.type === "put") {
    const create = kv.createRevision === rev;
    if (create !== (kv.version === 1)) out.add("iscreate", v.index, `${where}: createRevision = modRevision must go with version 1`);
    else if (kv.createRevision < 1 || kv.createRevision > rev || kv.version < 1) out.add("iscreate", v.index, `${where}: impossible createRevision or version`);
    else if (before === null && !create) out.add("iscreate", v.index, `${where}: the key did not exist before, so this must be a create (createRevision ${rev}, version 1)`);
    else if (before && (kv.createRevision !== before.createRevision || kv.version !== before.version + 1)) {
      out.add("iscreate", v.index, `${where}: the key existed (${describeKv(before)}), so expected createRevision ${before.createRevision} and version ${before.version + 1}`);
    }
  } else {
    if (kv.value !== "" || kv.createRevision !== 0 || kv.version !== 0) out.add("iscreate", v.index, `${where}: a delete event carries only the key and its revision`);
    if (before === null) out.add("consistent", v.index, `${where}: the key did not exist before revision ${rev}`);
  }

  if (!v.s.request.prevKv) return;
  const p = ev.prevKv;
  if (ev.type === "put" && kv.version === 1) {
    if (p) out.add("prevkv", v.index, `${where}: a create has no previous value, got prevKv ${describeKv(p)}`);
  } else if (before === undefined) {
    if (!p) return;
    const bad =
      p.key !== kv.key || p.modRevision >= rev || p.version < 1 || p.createRevision > p.modRevision ||
      (ev.type === "put" && (p.version !== kv.version - 1 || p.createRevision !== kv.createRevision));
    if (bad) out.add("prevkv", v.index, `${where}: prevKv ${describeKv(p)} cannot be the key's state before it`);
  } else if (before === null) {
    if (p) out.add("prevkv", v.index, `${where}: the key did not exist before, got prevKv ${describeKv(p)}`);
  } else if (!p) {
    // etcd reads prev_kv at revision-1 and sends none once compaction passed it.
    if (compactedAt(time) < rev) out.add("prevkv", v.index, `${where}: missing prevKv, expected ${describeKv(before)}`);
  } else if (!sameKv(p, before)) out.add("prevkv", v.index, `${where}: prevKv ${describeKv(p)}, expected ${describeKv(before)}`);
}

/** time → the highest revision a compaction (not known to have failed) requested before it. */
function compactionIndex(calls: KvCall[]): (time: number) => number {
  const cs = calls
    .filter((c) => c.request.kind === "compact" && c.outcome !== "failed")
    .map((c) => ({ call: c.call, rev: c.request.kind === "compact" ? c.request.revision : 0 }))
    .sort((a, b) => a.call - b.call);
  const times = cs.map((c) => c.call);
  const maxRev: number[] = [];
  cs.forEach((c, i) => maxRev.push(Math.max(c.rev, i > 0 ? maxRev[i - 1] : 0)));
  return (time) => {
    const i = lowerBound(times, time); // compactions sent strictly before `time`
    return i === 0 ? 0 : maxRev[i - 1];
  };
}

// ---------------------------------------------------------------------------------------------
// Acknowledged writes against truth.

interface Revoke {
  call: KvCall;
  revision: number;
}

function revokesByRevision(calls: KvCall[]): Revoke[] {
  return calls
    .filter((c) => c.request.kind === "leaseRevoke" && c.outcome === "ok" && c.revision !== undefined)
    .map((c) => ({ call: c, revision: c.revision! }))
    .sort((a, b) => a.revision - b.revision);
}

interface Writes {
  puts: Extract<RequestOp, { kind: "put" }>[];
  deletes: { op: Extract<RequestOp, { kind: "delete" }>; deleted: number }[];
}

/** What an ok call wrote, from its request and response; null when it wrote nothing. */
function writesOf(c: KvCall): Writes | null {
  const req = c.request;
  const resp = c.response;
  const w: Writes = { puts: [], deletes: [] };
  const add = (op: RequestOp, deleted: number) => {
    if (op.kind === "put") w.puts.push(op);
    else if (op.kind === "delete" && deleted > 0) w.deletes.push({ op, deleted });
  };
  if (req.kind === "put") add(req, 0);
  else if (req.kind === "delete") add(req, resp?.kind === "delete" ? resp.deleted : 0);
  else if (req.kind === "txn" && resp?.kind === "txn") {
    const ops = resp.succeeded ? req.success : req.failure;
    ops.forEach((op, i) => {
      const r = resp.results[i];
      add(op, r?.kind === "delete" ? r.deleted : 0);
    });
  } else return null;
  return w.puts.length + w.deletes.length > 0 ? w : null;
}

function checkAcknowledged(calls: KvCall[], truth: Truth, inWindow: (rev: number) => [number, number] | undefined, out: Findings): void {
  const claimed = new Map<number, KvCall>();
  for (const c of calls) {
    if (c.outcome !== "ok" || c.revision === undefined) continue;
    const w = writesOf(c);
    if (!w) continue;
    const rev = c.revision;
    const other = claimed.get(rev);
    if (other) out.add("acknowledged", undefined, `${describeCall(c)} and ${describeCall(other)} were both acknowledged as the write at revision ${rev}`);
    claimed.set(rev, c);
    if (!inWindow(rev)) continue;

    const t = truth.revs.get(rev);
    const seen = t ? t.order.map((k) => describeEvent(t.byKey.get(k)!.ev)).join(", ") : "nothing";
    let found = false;
    const lost = (what: string) => {
      found = true;
      out.add("acknowledged", undefined, `${describeCall(c)} acknowledged at revision ${rev}: ${what}; the watchers saw ${seen} there`);
    };
    for (const p of w.puts) {
      const e = t?.byKey.get(p.key)?.ev;
      if (!e || e.type !== "put") lost(`no put of ${q(p.key)}`);
      else if (e.kv.value !== p.value || e.kv.lease !== p.lease) lost(`put ${q(p.key)} = ${q(p.value)} lease ${p.lease}, but the event has ${q(e.kv.value)} lease ${e.kv.lease}`);
    }
    const deletes = t ? t.order.map((k) => t.byKey.get(k)!.ev).filter((e) => e.type === "delete") : [];
    const deleted = w.deletes.reduce((n, d) => n + d.deleted, 0);
    if (deletes.length !== deleted) lost(`${deleted} key(s) deleted, but ${deletes.length} delete event(s)`);
    for (const e of deletes) if (!w.deletes.some((d) => inRange(e.kv.key, d.op.key, d.op.end))) lost(`delete of ${q(e.kv.key)} is outside every deleted range`);
    const total = t ? t.byKey.size : 0;
    if (!found && total !== w.puts.length + deleted) lost(`it made ${w.puts.length + deleted} event(s) but revision ${rev} has ${total}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Text for humans.

const VALUE_MAX = 32;

function q(s: string): string {
  return JSON.stringify(s.length > VALUE_MAX ? `${s.slice(0, VALUE_MAX)}…` : s);
}

function describeEvent(ev: WatchEvent, full = false): string {
  const kv = ev.kv;
  if (ev.type === "delete") return `delete ${q(kv.key)}@${kv.modRevision}${full && (kv.value || kv.createRevision || kv.version) ? ` (value ${q(kv.value)}, createRevision ${kv.createRevision}, version ${kv.version})` : ""}`;
  return `put ${q(kv.key)}=${q(kv.value)}@${kv.modRevision}${full ? ` (createRevision ${kv.createRevision}, version ${kv.version}, lease ${kv.lease})` : ""}`;
}

function describeKv(kv: KeyValue): string {
  return `${q(kv.key)}=${q(kv.value)} modRevision ${kv.modRevision} createRevision ${kv.createRevision} version ${kv.version} lease ${kv.lease}`;
}

function describeRange(key: string, end: string): string {
  if (end === "") return `key ${q(key)}`;
  if (end === "\0") return key === "" || key === "\0" ? "every key" : `keys ≥ ${q(key)}`;
  return `keys [${q(key)}, ${q(end)})`;
}

function describeSession(s: WatchSession, i: number): string {
  const r = s.request;
  const opts = [r.noPut && "noPut", r.noDelete && "noDelete", r.prevKv && "prevKv"].filter(Boolean).join(" ");
  return `session ${i} (client ${s.client} on member ${s.member}, ${describeRange(r.key, r.end)}${opts ? ` ${opts}` : ""} from ${r.startRevision || "now"})`;
}

function describeCall(c: KvCall): string {
  const r = c.request;
  let what: string;
  if (r.kind === "put") what = `put ${q(r.key)}=${q(r.value)}`;
  else if (r.kind === "delete") what = `delete ${describeRange(r.key, r.end)}`;
  else if (r.kind === "txn") what = `txn (${c.response?.kind === "txn" && !c.response.succeeded ? "failure" : "success"} branch)`;
  else if (r.kind === "leaseRevoke") what = `revoke of lease ${r.id}`;
  else what = r.kind;
  return `client ${c.client}'s ${what} (member ${c.member}, at ${c.call}ms)`;
}
