// Every check of a recorded history, in one call: the watch guarantees (watch.ts), then the KV calls
// against the event history the whole-keyspace watchers saw (kv.ts).
import type { History, WatchEvent } from "../history.ts";
import { checkKv } from "./kv.ts";
import { showCall } from "./kv-show.ts";
import { checkWatches } from "./watch.ts";

export interface Violation {
  /** Which checker found it: kv, watch, convergence (HashKV, alarms) or run (the harness itself). */
  checker: string;
  kind: string;
  detail: string;
  /** The KV call at fault and the revision concerned, when the checker names them (for an excerpt). */
  call?: number;
  revision?: number;
}

/**
 * A minimal excerpt of the history around a violation: the call it names and the calls that ran at
 * the same time or reported a revision next to the one concerned, in the order they were sent.
 */
export function excerpt(h: Pick<History, "calls">, v: Violation, max = 12): string[] {
  const c = v.call !== undefined ? h.calls[v.call] : undefined;
  const r = v.revision;
  if (!c && r === undefined) return [];
  const near = h.calls
    .map((x, i) => ({ x, i }))
    .filter(({ x, i }) => i === v.call || (c && x.call <= c.ret && x.ret >= c.call) || (r !== undefined && x.revision !== undefined && Math.abs(x.revision - r) <= 1))
    .sort((a, b) => a.x.call - b.x.call);
  // Keep the named call, and as many of its neighbours in time as fit around it.
  const at = Math.max(0, near.findIndex(({ i }) => i === v.call));
  const from = Math.max(0, Math.min(at - Math.floor(max / 2), near.length - max));
  return near.slice(from, from + max).map(({ i }) => (i === v.call ? "→ " : "  ") + showCall(h.calls, i));
}

/** The events at each revision as the unfiltered whole-keyspace sessions delivered them. */
export function truthEvents(h: Pick<History, "watches">): Map<number, WatchEvent[]> {
  const byRev = new Map<number, Map<string, WatchEvent>>();
  for (const s of h.watches) {
    const r = s.request;
    if (r.key !== "\0" || r.end !== "\0" || r.noPut || r.noDelete) continue;
    for (const res of s.responses) {
      for (const ev of res.events) {
        let at = byRev.get(ev.kv.modRevision);
        if (!at) byRev.set(ev.kv.modRevision, (at = new Map()));
        // Keep one copy per key, without prevKv (sessions differ in asking for it).
        if (!at.has(ev.kv.key)) at.set(ev.kv.key, { type: ev.type, kv: ev.kv });
      }
    }
  }
  return new Map([...byRev].map(([rev, evs]) => [rev, [...evs.values()]]));
}

export function checkHistory(h: History, log: (msg: string) => void): Violation[] {
  const out: Violation[] = [];
  const w = checkWatches(h);
  for (const v of w.violations) out.push({ checker: "watch", kind: v.guarantee, detail: v.detail });
  // The KV check needs a truth that starts at the beginning: the window from revision 1 (or 2).
  const first = w.truth.windows.find(([from]) => from <= 2);
  if (!first) {
    out.push({ checker: "kv", kind: "truth", detail: `no whole-keyspace watch covered the history from revision 1 (windows ${JSON.stringify(w.truth.windows)})` });
    return out;
  }
  const kv = checkKv(h.calls, { events: truthEvents(h), toRevision: first[1] });
  for (const v of kv.violations) out.push({ checker: "kv", kind: v.kind, detail: v.detail, call: v.call, revision: v.revision });
  log(
    `checked: ${w.sessions} watch sessions, ${w.events} events, truth revisions ${first[0]}–${first[1]}; ` +
      `${kv.checked} KV calls checked, ${kv.unchecked} beyond the truth, ${kv.byUnknown} revisions made by calls of unknown outcome, ` +
      `${kv.expired} by leases running out; ${out.length} violation(s)`,
  );
  return out;
}
