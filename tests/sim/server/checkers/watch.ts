// etcd's watch guarantees (https://etcd.io/docs/v3.6/learning/api_guarantees/#watch-apis), one
// function each. The ones about content (Reliable, Resumable, PrevKV, IsCreate) compare events with
// the replay; where the replay does not know a key (an unplaced indeterminate write), they accept.
import type { History, KvValue, Verdict, WatchRecord } from "../history.ts";
import { entryDiff, type Change } from "./apply.ts";
import { fmtKey, fmtKv, fmtRange, inRange } from "./keys.ts";
import { buildModel, type Model } from "./model.ts";

type Event = WatchRecord["responses"][number]["events"][number];

export function checkWatches(h: History, model: Model = buildModel(h)): Verdict {
  return [
    ...watchFilters(h),
    ...watchOrdered(h),
    ...watchUnique(h),
    ...watchAtomic(h),
    ...watchBookmarkable(h),
    ...watchReliable(h, model),
    ...watchResumable(h, model),
    ...watchPrevKv(h, model),
    ...watchIsCreate(h, model),
  ];
}

const rev = (ev: Event) => ev.kv.modRevision;
const fmtEvent = (ev: Event) => `${ev.type} ${ev.type === "PUT" ? fmtKv(ev.kv) : `${fmtKey(ev.kv.key)}@${ev.kv.modRevision}`}`;

/** A watch's events in arrival order, as one array. */
function events(w: WatchRecord): Event[] {
  const out: Event[] = [];
  for (const resp of w.responses) for (const ev of resp.events) out.push(ev);
  return out;
}

/** Filters honoured: events only for the watched range, and none of a filtered-out type. */
export function watchFilters(h: History): Verdict {
  const out: Verdict = [];
  for (const w of h.watches) {
    for (const ev of events(w)) {
      if (!inRange(ev.kv.key, w.key, w.end)) out.push(`Filters: watch ${w.id} on ${fmtRange(w.key, w.end)} got ${fmtEvent(ev)}`);
      else if ((ev.type === "PUT" && w.filters.includes("noput")) || (ev.type === "DELETE" && w.filters.includes("nodelete"))) {
        out.push(`Filters: watch ${w.id} (${w.filters.join(", ")}) got ${fmtEvent(ev)}`);
      }
    }
  }
  return out;
}

/** Ordered: an event's revision never precedes one already delivered on the same watch. */
export function watchOrdered(h: History): Verdict {
  const out: Verdict = [];
  for (const w of h.watches) {
    let last = 0n;
    for (const ev of events(w)) {
      if (rev(ev) < last) out.push(`Ordered: watch ${w.id} got ${fmtEvent(ev)} after rev ${last}`);
      else last = rev(ev);
    }
  }
  return out;
}

/** Unique: no event (revision and key) is delivered twice on one watch. */
export function watchUnique(h: History): Verdict {
  const out: Verdict = [];
  for (const w of h.watches) {
    const seen = new Map<number, string[]>(); // number keys: a Map hashes them far faster than bigints
    for (const ev of events(w)) {
      const r = Number(rev(ev));
      const keys = seen.get(r);
      if (!keys) seen.set(r, [ev.kv.key]);
      else if (keys.includes(ev.kv.key)) out.push(`Unique: watch ${w.id} got ${fmtEvent(ev)} twice`);
      else keys.push(ev.kv.key);
    }
  }
  return out;
}

/** Atomic: all events of one revision arrive in one response — a revision never spans two. */
export function watchAtomic(h: History): Verdict {
  const out: Verdict = [];
  for (const w of h.watches) {
    let last: bigint | undefined;
    for (const resp of w.responses) {
      if (resp.events.length === 0) continue;
      const first = rev(resp.events[0]);
      if (first === last) out.push(`Atomic: watch ${w.id} split rev ${first} across responses`);
      last = rev(resp.events[resp.events.length - 1]);
    }
  }
  return out;
}

/** Bookmarkable: after a progress notification at R, no event at or below R; notifications never go back. */
export function watchBookmarkable(h: History): Verdict {
  const out: Verdict = [];
  for (const w of h.watches) {
    let progress: bigint | undefined;
    let lastEvent = 0n;
    for (const resp of w.responses) {
      for (const ev of resp.events) {
        if (progress !== undefined && rev(ev) <= progress) out.push(`Bookmarkable: watch ${w.id} got ${fmtEvent(ev)} after a progress notification at rev ${progress}`);
        if (rev(ev) > lastEvent) lastEvent = rev(ev);
      }
      if (!resp.progress) continue;
      if (progress !== undefined && resp.revision < progress) out.push(`Bookmarkable: watch ${w.id} progress went back from rev ${progress} to ${resp.revision}`);
      else if (resp.revision < lastEvent) out.push(`Bookmarkable: watch ${w.id} progress at rev ${resp.revision} after an event at rev ${lastEvent}`);
      if (progress === undefined || resp.revision > progress) progress = resp.revision;
    }
  }
  return out;
}

/**
 * The revisions a watch vouches for: from its start revision (or, watching "from now", the revision
 * after the one it was created at — else after its first empty response's, else its first event) to
 * its last event or progress notification.
 */
export function watchWindow(w: WatchRecord): { first: bigint; last: bigint } | undefined {
  let first: bigint | undefined = w.startRevision > 0n ? w.startRevision : w.createdRevision !== undefined ? w.createdRevision + 1n : undefined;
  if (first === undefined && w.responses.length > 0) {
    const r0 = w.responses[0];
    first = r0.events.length === 0 ? r0.revision + 1n : rev(r0.events[0]);
  }
  let last: bigint | undefined;
  for (const resp of w.responses) {
    for (const ev of resp.events) if (last === undefined || rev(ev) > last) last = rev(ev);
    if (resp.progress && (last === undefined || resp.revision > last)) last = resp.revision;
  }
  if (first === undefined || last === undefined || last < first) return undefined;
  return { first, last };
}

/** Whether a replayed change is one the watch must deliver, may deliver, or must not. */
function owed(w: WatchRecord, c: Change): "yes" | "maybe" | "no" {
  if (!inRange(c.key, w.key, w.end)) return "no";
  if (c.type === "UNKNOWN") return "maybe";
  if ((c.type === "PUT" && w.filters.includes("noput")) || (c.type === "DELETE" && w.filters.includes("nodelete"))) return "no";
  return c.maybe ? "maybe" : "yes";
}

/** How an event differs from the replayed change, or undefined when it matches. */
function eventDiff(c: Change, ev: Event): string | undefined {
  if (c.type === "UNKNOWN") return undefined;
  if (c.type !== ev.type) return `got ${fmtEvent(ev)}, expected a ${c.type}`;
  if (c.type === "DELETE") return undefined;
  const d = entryDiff({ kv: c.kv, unsure: c.meta ? "meta" : undefined }, ev.kv, c.key);
  return d ? `got ${d}` : undefined;
}

/**
 * Reliable: within its window, a watch delivers exactly the replayed writes to its range (after its
 * filters) — no write missing, none invented, each with the value the replay gave it.
 */
export function watchReliable(h: History, model: Model): Verdict {
  const out: Verdict = [];
  const byRev = changesByNumber(model);
  // Watches of one range and filters owe the same changes: find them once per kind of watch.
  const owedBySig = new Map<string, Owed[]>();
  for (const w of h.watches) {
    const win = watchWindow(w);
    if (!win) continue;
    const key = `${w.key}\0${w.end ?? ""}\0${w.filters.join(",")}`;
    let all = owedBySig.get(key);
    if (!all) owedBySig.set(key, (all = owedChanges(w, byRev)));
    const from = Number(win.first);
    const to = Math.min(Number(win.last), Number(model.maxRevision));
    // Both sides sorted by (revision, key), then merged.
    const want = all.slice(lowerRev(all, from), lowerRev(all, to + 1));
    const got: { r: number; ev: Event }[] = [];
    for (const ev of events(w)) {
      if (rev(ev) < win.first) out.push(`Reliable: watch ${w.id} starting at rev ${win.first} got ${fmtEvent(ev)}`);
      else got.push({ r: Number(rev(ev)), ev });
    }
    got.sort((a, b) => a.r - b.r || (a.ev.kv.key < b.ev.kv.key ? -1 : a.ev.kv.key > b.ev.kv.key ? 1 : 0));
    let i = 0;
    let j = 0;
    while (i < got.length || j < want.length) {
      const g = got[i];
      const x = want[j];
      const order = !g ? 1 : !x ? -1 : g.r - x.r || (g.ev.kv.key < x.c.key ? -1 : g.ev.kv.key > x.c.key ? 1 : 0);
      if (order < 0) {
        out.push(`Reliable: watch ${w.id} got ${fmtEvent(g.ev)}, which no write made`);
        i++;
      } else if (order > 0) {
        if (x.need === "yes") out.push(`Reliable: watch ${w.id} missed ${fmtChange(x.c, x.r, model)}`);
        j++;
      } else {
        const d = eventDiff(x.c, g.ev);
        if (d) out.push(`Reliable: watch ${w.id} at rev ${x.r}: ${d}`);
        i++;
        j++;
      }
    }
  }
  return out;
}

interface Owed {
  r: number;
  c: Change;
  need: "yes" | "maybe";
}

/** Every replayed change a watch of this range and filters must (or may) deliver, by (revision, key). */
function owedChanges(w: WatchRecord, byRev: Change[][]): Owed[] {
  const out: Owed[] = [];
  byRev.forEach((cs, r) => {
    const here: Owed[] = [];
    for (const c of cs) {
      const need = owed(w, c);
      if (need !== "no") here.push({ r, c, need });
    }
    here.sort((a, b) => (a.c.key < b.c.key ? -1 : a.c.key > b.c.key ? 1 : 0));
    out.push(...here);
  });
  return out;
}

/** The first index whose revision is ≥ r. */
function lowerRev(list: Owed[], r: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].r < r) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function fmtChange(c: Change, r: number, model: Model): string {
  const what = `${c.type} ${c.kv ? fmtKv(c.kv) : `${fmtKey(c.key)}@${r}`}`;
  // etcd keeps a tombstone at the compaction revision so that a watch from there sees it (etcd-io/etcd#18274).
  if (c.type === "DELETE" && model.compactRevisions.has(BigInt(r))) return `${what} (a tombstone at compaction rev ${r}: etcd keeps it for watches)`;
  return what;
}

/** The replay's changes in an array indexed by revision (revisions are dense and small). */
function changesByNumber(model: Model): Change[][] {
  const byRev: Change[][] = [];
  for (const [r, cs] of model.changes) byRev[Number(r)] = cs;
  return byRev;
}

/**
 * Resumable: a watch opened at (a revision an earlier watch of the same range delivered) + 1 carries
 * on exactly: where both cover the same revisions they deliver the same events, and its first event
 * is the first write to the range at or after its start.
 */
export function watchResumable(h: History, model: Model): Verdict {
  const out: Verdict = [];
  const sig = (w: WatchRecord) => `${w.key}\0${w.end ?? ""}\0${[...w.filters].sort().join(",")}`;
  // Which watch could each one resume: one of the same range and filters with an event at start - 1.
  const wanted = new Map<string, Set<number>>();
  for (const b of h.watches) {
    if (b.startRevision <= 0n) continue;
    const set = wanted.get(sig(b));
    if (set) set.add(Number(b.startRevision - 1n));
    else wanted.set(sig(b), new Set([Number(b.startRevision - 1n)]));
  }
  const holders = new Map<string, WatchRecord>();
  for (const w of h.watches) {
    const need = wanted.get(sig(w));
    if (!need) continue;
    for (const ev of events(w)) {
      const at = `${sig(w)}\0${Number(rev(ev))}`;
      if (need.has(Number(rev(ev))) && !holders.has(at)) holders.set(at, w);
    }
  }
  for (const b of h.watches) {
    if (b.ended?.reason === "compacted" && b.ended.compactRevision !== undefined) {
      const evs = events(b);
      const next = evs.length ? rev(evs[evs.length - 1]) + 1n : b.startRevision;
      if (next > 0n && next >= b.ended.compactRevision) {
        out.push(`Resumable: watch ${b.id} was canceled as compacted at rev ${b.ended.compactRevision}, but its next rev ${next} is still there`);
      }
    }
    if (b.startRevision <= 0n) continue;
    const start = b.startRevision;
    const original = holders.get(`${sig(b)}\0${Number(start - 1n)}`);
    if (!original || original === b) continue;
    const bWin = watchWindow(b);
    const aWin = watchWindow(original);
    if (!bWin || !aWin) continue;
    const to = bWin.last < aWin.last ? bWin.last : aWin.last;
    const slice = (w: WatchRecord) => events(w).filter((ev) => rev(ev) >= start && rev(ev) <= to);
    const fromA = slice(original);
    const fromB = slice(b);
    let i = 0;
    while (i < fromA.length && i < fromB.length && sameEvent(fromA[i], fromB[i])) i++;
    if (i < fromA.length || i < fromB.length) {
      const say = (ev: Event | undefined) => (ev ? fmtEvent(ev) : "nothing");
      out.push(`Resumable: watch ${b.id} (resuming watch ${original.id} at rev ${start}) got ${say(fromB[i])} where watch ${original.id} got ${say(fromA[i])}`);
    }
    const first = fromB[0] ?? events(b)[0];
    const want = firstOwed(b, start, bWin.last, model);
    // Within one revision (a txn, a lease revoke) the order of events is the server's: any owed key of it may come first.
    if (first && want && want.key !== undefined && (rev(first) !== want.rev || !want.keys.has(first.kv.key))) {
      out.push(`Resumable: watch ${b.id} (resuming watch ${original.id} at rev ${start}) began with ${fmtEvent(first)}, expected ${want.type} ${fmtKey(want.key)}@${want.rev}`);
    }
  }
  return out;
}

function sameEvent(a: Event, b: Event): boolean {
  return a.type === b.type && a.kv.key === b.kv.key && a.kv.modRevision === b.kv.modRevision && a.kv.value === b.kv.value;
}

/** The first change a watch owes at or after `from`; undefined key when an unknown write comes first. */
function firstOwed(w: WatchRecord, from: bigint, to: bigint, model: Model): { rev: bigint; key?: string; type?: string; keys: Set<string> } | undefined {
  for (let r = from; r <= to && r <= model.maxRevision; r++) {
    let first: { rev: bigint; key?: string; type?: string; keys: Set<string> } | undefined;
    for (const c of model.changes.get(r) ?? []) {
      const need = owed(w, c);
      if (need === "maybe") return { rev: r, keys: new Set() };
      if (need === "yes") {
        first ??= { rev: r, key: c.key, type: c.type, keys: new Set() };
        first.keys.add(c.key);
      }
    }
    if (first) return first;
  }
  return undefined;
}

/**
 * PrevKV correct: a requested prevKv is the key's value just before the event's revision. It may
 * be missing only when a compaction may have removed that revision.
 */
export function watchPrevKv(h: History, model: Model): Verdict {
  const out: Verdict = [];
  for (const w of h.watches) {
    for (const ev of events(w)) {
      if (!w.prevKv) {
        if (ev.prevKv) out.push(`PrevKV: watch ${w.id} did not ask for prevKv, got one on ${fmtEvent(ev)}`);
        continue;
      }
      const before = model.at(ev.kv.key, rev(ev) - 1n);
      if (ev.prevKv) {
        const d = entryDiff(before, ev.prevKv, ev.kv.key);
        if (d) out.push(`PrevKV: watch ${w.id} ${fmtEvent(ev)}: prevKv ${d}`);
      } else if (before.kv && before.unsure !== "all" && rev(ev) - 1n >= model.maxCompactRevision) {
        out.push(`PrevKV: watch ${w.id} ${fmtEvent(ev)}: prevKv missing, expected ${fmtKv(before.kv)}`);
      }
    }
  }
  return out;
}

/** IsCreate correct: a PUT is a create (create revision = mod revision, version 1) iff the key did not exist. */
export function watchIsCreate(h: History, model: Model): Verdict {
  const out: Verdict = [];
  for (const w of h.watches) {
    for (const ev of events(w)) {
      if (ev.type !== "PUT") continue;
      const kv: KvValue = ev.kv;
      const isCreate = kv.createRevision === kv.modRevision;
      if (isCreate !== (kv.version === 1n)) {
        out.push(`IsCreate: watch ${w.id} ${fmtEvent(ev)} has create rev ${kv.createRevision} with version ${kv.version}`);
        continue;
      }
      const before = model.at(kv.key, kv.modRevision - 1n);
      if (before.unsure === "all") continue;
      if (isCreate === (before.kv !== undefined)) {
        out.push(`IsCreate: watch ${w.id} ${fmtEvent(ev)} is ${isCreate ? "" : "not "}a create, but ${fmtKey(kv.key)} ${before.kv ? "existed" : "did not exist"} at rev ${kv.modRevision - 1n}`);
      }
    }
  }
  return out;
}
