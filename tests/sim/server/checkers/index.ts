// One verdict for a whole-server simulation run: every checker over one shared replay, each
// violation prefixed with the checker that found it, a few per checker so a failure stays readable.
import type { History, Verdict } from "../history.ts";
import { checkDurability } from "./durability.ts";
import { checkLinearizable } from "./linearizable.ts";
import { checkMembers, type MemberCheckOptions } from "./members.ts";
import { buildModel } from "./model.ts";
import { checkWatches } from "./watch.ts";

export interface CheckOptions extends MemberCheckOptions {
  /** Messages kept per checker (the rest are counted); default 10. */
  maxPerChecker?: number;
}

export function checkHistory(h: History, opts: CheckOptions = {}): Verdict {
  const model = buildModel(h);
  const keep = opts.maxPerChecker ?? 10;
  const parts: [string, Verdict][] = [
    ["linearizable", checkLinearizable(h, model)],
    ["durability", checkDurability(h, model)],
    ["watch", checkWatches(h, model)],
    ["members", checkMembers(h, model, opts)],
  ];
  const out: Verdict = [];
  for (const [name, found] of parts) {
    for (const m of found.slice(0, keep)) out.push(`${name}: ${m}`);
    if (found.length > keep) out.push(`${name}: … and ${found.length - keep} more`);
  }
  return out;
}

export { buildModel, checkDurability, checkLinearizable, checkMembers, checkWatches };
