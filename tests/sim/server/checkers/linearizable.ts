// Linearizability of the KV API, judged with etcd's revisions: the writes' revision order is the
// linearization, so no search is needed. The replay (model.ts) checks every acknowledged result
// against the store at its revision; this adds what the results alone cannot show: values that no
// write (or only a refused write) produced, real-time order, and reads of compacted revisions.
import type { History, Operation, Verdict } from "../history.ts";
import { resultWrites, valuesWritten } from "./apply.ts";
import { fmtKey, fmtKv } from "./keys.ts";
import { buildModel, type Model } from "./model.ts";
import { RealTime, seenRevision } from "./realtime.ts";

export function checkLinearizable(h: History, model: Model = buildModel(h)): Verdict {
  return [...model.issues, ...checkValues(h, model), ...checkRealTime(h, model), ...checkCompacted(h)];
}

/** Every value read was written by an operation that may have taken effect, under its own key. */
function checkValues(h: History, model: Model): Verdict {
  const out: Verdict = [];
  const byId = new Map(h.operations.map((op) => [op.id, op]));
  for (const [value, list] of model.seen) {
    const first = list[0];
    const w = model.written.get(value);
    if (!w) {
      out.push(`${first.where} saw ${fmtKv(first.kv)}, a value no operation wrote`);
      continue;
    }
    if (w.writers.length > 1) out.push(`value ${fmtKey(value)} is written by ops ${w.writers.join(", ")}; the checkers need unique values`);
    if (w.writers.every((id) => byId.get(id)?.outcome?.type === "error")) {
      out.push(`refused op ${w.op.id}'s value ${fmtKv(first.kv)} was seen by ${first.where}`);
    } else if (w.op.outcome?.type === "ok" && !valuesWritten(w.op.op, w.op.outcome.result).has(value)) {
      out.push(`${first.where} saw ${fmtKv(first.kv)}, from the txn branch op ${w.op.id} did not take`);
    }
    const elsewhere = list.find((s) => s.kv.key !== w.key);
    if (elsewhere) out.push(`${elsewhere.where} saw op ${w.op.id}'s value under key ${fmtKey(elsewhere.kv.key)}; it wrote ${fmtKey(w.key)}`);
  }
  return out;
}

/** The revision a write took effect at, if it did. */
function writeRevision(op: Operation, model: Model): bigint | undefined {
  const placed = model.placed.get(op.id);
  if (placed !== undefined) return placed;
  if (op.outcome?.type === "ok" && resultWrites(op.op, op.outcome.result)) return op.outcome.result.revision;
  return undefined;
}

/**
 * An operation that started after another was acknowledged sees at least that one's revision: a
 * write takes a later revision, a linearizable read reads at least that revision. Serializable reads
 * may be stale, but never older than what their client already saw on the same member.
 */
function checkRealTime(h: History, model: Model): Verdict {
  const out: Verdict = [];
  const sessions = new Map<string, Operation[]>();
  for (const op of h.operations) {
    const key = `${op.client}/${op.member}`;
    const list = sessions.get(key);
    if (list) list.push(op);
    else sessions.set(key, [op]);
  }
  const sessionTime = new Map<string, RealTime>();
  for (const [key, ops] of sessions) sessionTime.set(key, new RealTime(ops));

  for (const op of h.operations) {
    const k = op.op.kind;
    if (k !== "put" && k !== "delete" && k !== "txn" && k !== "range") continue;
    const wrote = writeRevision(op, model);
    const serializable = k === "range" && op.op.kind === "range" && op.op.serializable;
    if (wrote !== undefined) {
      const prior = model.realtime.before(op.startMs);
      if (prior && wrote <= prior.revision) out.push(`op ${op.id} (rev ${wrote}) started after op ${prior.op} was acknowledged at rev ${prior.revision}`);
      continue;
    }
    const read = seenRevision(op);
    if (read === undefined) continue;
    if (!serializable) {
      const prior = model.realtime.before(op.startMs);
      if (prior && read < prior.revision) out.push(`op ${op.id} read rev ${read}, older than rev ${prior.revision} acknowledged (op ${prior.op}) before it started`);
    } else {
      const prior = sessionTime.get(`${op.client}/${op.member}`)!.before(op.startMs);
      if (prior && read < prior.revision) {
        out.push(`op ${op.id} (serializable) read rev ${read} on member ${op.member.toString(16)}, older than rev ${prior.revision} its client saw there (op ${prior.op})`);
      }
    }
  }
  return out;
}

/**
 * A linearizable read at a revision below a finished compaction must be refused ("required revision
 * has been compacted"): the member serving it has applied the compaction. A serializable read may be
 * served by a member that has not applied it yet, so it is not judged.
 */
function checkCompacted(h: History): Verdict {
  const compactions = h.operations
    .filter((op) => op.op.kind === "compact" && op.outcome?.type === "ok" && op.endMs !== undefined)
    .map((op) => ({ endMs: op.endMs!, revision: (op.op as { revision: bigint }).revision, id: op.id }))
    .sort((a, b) => a.endMs - b.endMs);
  if (compactions.length === 0) return [];
  const out: Verdict = [];
  for (const op of h.operations) {
    if (op.op.kind !== "range" || op.op.serializable || op.outcome?.type !== "ok") continue;
    const rq = op.op.revision;
    if (rq === undefined || rq <= 0n) continue;
    let best: (typeof compactions)[number] | undefined;
    for (const c of compactions) {
      if (c.endMs >= op.startMs) break;
      if (!best || c.revision > best.revision) best = c;
    }
    if (best && rq < best.revision) out.push(`op ${op.id} read rev ${rq}, compacted by op ${best.id} (rev ${best.revision}) before it started`);
  }
  return out;
}
