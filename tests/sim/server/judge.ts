// One verdict for one whole-server simulation run: what the simulation itself saw (a member that died
// of a real error, a failed restart, members that disagree after settling), the smoke check, and
// the checkers over the recorded history.
import { checkHistory } from "./checkers/index.ts";
import type { ServerSimResult } from "./sim-cluster.ts";
import { checkAckedPuts } from "./smoke-check.ts";

export function judge(r: ServerSimResult, opts: { electionTimeoutMs: number }): string[] {
  if (r.violations.length) return r.violations;
  return [...checkAckedPuts(r.history, r.finalKvs).map((m) => `smoke: ${m}`), ...checkHistory(r.history, { electionTimeoutMs: opts.electionTimeoutMs })];
}

/** The command that replays one run. */
export function replayLine(r: { seed: number; members: number; steps: number }, bug?: string): string {
  return `npm run sim -- --server --seed ${r.seed} --members ${r.members} --steps ${r.steps}${bug ? ` --bug ${bug}` : ""}`;
}
