// Durability across crashes: an acknowledged write keeps the revision it was given, is applied once,
// and is never lost — every member's last read of a key shows it or something written after it, and
// some member reaches its revision.
import type { History, KvValue, Operation, Verdict } from "../history.ts";
import type { RangeOp } from "./apply.ts";
import { fmtKey, fmtKv, fmtKvOr, keysInRange } from "./keys.ts";
import { buildModel, type Model } from "./model.ts";

export function checkDurability(h: History, model: Model = buildModel(h)): Verdict {
  return [...checkOneWritePerRevision(model), ...checkFinalReads(h, model), ...checkMembersReached(h, model)];
}

/** No two writes share a revision, and each write's value carries one revision: the one acknowledged. */
function checkOneWritePerRevision(model: Model): Verdict {
  const out: Verdict = [];
  for (const c of model.conflicts) out.push(`ops ${c.ops[0]} and ${c.ops[1]} both wrote rev ${c.revision}`);
  for (const [value, list] of model.seen) {
    const w = model.written.get(value);
    if (!w || w.writers.length > 1) continue;
    const revs = [...new Set(list.map((s) => s.kv.modRevision))].sort((a, b) => (a < b ? -1 : 1));
    if (revs.length > 1) {
      out.push(`op ${w.op.id}'s value ${fmtKey(value)} seen at revs ${revs.join(", ")} (applied more than once)`);
      continue;
    }
    const acked = w.op.outcome?.type === "ok" ? w.op.outcome.result.revision : undefined;
    if (acked !== undefined && revs[0] !== acked) {
      const s = list[0];
      out.push(`op ${w.op.id} was acknowledged at rev ${acked}, but ${s.where} saw its value as ${fmtKv(s.kv)}`);
    }
  }
  return out;
}

interface FinalRead {
  op: Operation;
  rev: bigint;
  kv?: KvValue;
}

/**
 * For each member and key, the read at the highest revision (the state a crash left it in): it shows
 * the latest acknowledged write to the key at or below that revision, or something newer.
 */
function checkFinalReads(h: History, model: Model): Verdict {
  const finals = new Map<string, FinalRead>();
  for (const op of h.operations) {
    if (op.op.kind !== "range" || op.outcome?.type !== "ok" || op.outcome.result.kind !== "range") continue;
    const rop = op.op as RangeOp;
    const res = op.outcome.result;
    if ((rop.limit !== undefined && rop.limit > 0) || res.kvs.length !== res.count) continue; // a partial answer
    const rev = rop.revision !== undefined && rop.revision > 0n ? rop.revision : res.revision;
    const got = new Map(res.kvs.map((kv) => [kv.key, kv]));
    for (const k of keysInRange(model.universe, rop.key, rop.end)) {
      const id = `${op.member}/${k}`;
      const have = finals.get(id);
      if (!have || rev > have.rev) finals.set(id, { op, rev, kv: got.get(k) });
    }
  }
  // The acknowledged writes of each key, in revision order.
  const acked = new Map<string, { rev: bigint; type: "PUT" | "DELETE"; op: number }[]>();
  const revs = [...model.changes.keys()].sort((a, b) => (a < b ? -1 : 1));
  for (const rev of revs) {
    const w = model.writers.get(rev);
    if (w?.kind !== "op" || !w.acked) continue;
    for (const c of model.changes.get(rev)!) {
      if (c.type === "UNKNOWN" || c.maybe) continue;
      const list = acked.get(c.key);
      const item = { rev, type: c.type, op: w.op.id };
      if (list) list.push(item);
      else acked.set(c.key, [item]);
    }
  }
  const out: Verdict = [];
  for (const [id, f] of finals) {
    const key = id.slice(id.indexOf("/") + 1);
    const list = acked.get(key);
    if (!list) continue;
    let i = list.length - 1;
    while (i >= 0 && list[i].rev > f.rev) i--;
    if (i < 0) continue;
    const last = list[i];
    let lost = false;
    if (f.kv) lost = f.kv.modRevision < last.rev;
    else if (last.type === "PUT") {
      const e = model.at(key, f.rev);
      lost = e.kv !== undefined && e.unsure !== "all"; // absent, though no write after it deleted it
    }
    if (lost) {
      out.push(
        `acknowledged op ${last.op} (${fmtKey(key)} @rev ${last.rev}) lost: op ${f.op.id}'s last read on member ${f.op.member.toString(16)} at rev ${f.rev} shows ${fmtKvOr(f.kv, key)}`,
      );
    }
  }
  return out;
}

/** Some member reaches the revision of every acknowledged write (the snapshots are taken at the end). */
function checkMembersReached(h: History, model: Model): Verdict {
  if (h.members.length === 0) return [];
  let top = h.members[0].revision;
  for (const m of h.members) if (m.revision > top) top = m.revision;
  let highest: { rev: bigint; op: number } | undefined;
  for (const [rev, w] of model.writers) {
    if (w.kind === "op" && w.acked && (!highest || rev > highest.rev)) highest = { rev, op: w.op.id };
  }
  if (highest && top < highest.rev) return [`no member reached rev ${highest.rev} of acknowledged op ${highest.op} (highest member rev ${top})`];
  return [];
}
