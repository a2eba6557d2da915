#!/usr/bin/env bun
// `npm run robustness`: histories of traffic × nemesis against 3-member clusters of dist/etcd, each
// checked (KV linearizability, watch guarantees, no acknowledged write lost, members converged).
//
//   npm run robustness                        every profile × every nemesis once (20 s each)
//   npm run robustness -- --ci                the bounded mix .ci/run runs (≤ 5 min): every profile ×
//                                             nemesis, then every regression scenario
//   npm run robustness -- --regressions all   the scenarios of etcd's track record (regressions.ts),
//                                             or a comma-separated list of their names
//   npm run robustness -- --minutes 60        a soak: the matrix again and again for an hour
//   npm run robustness -- --bug watch-skip-on-compaction
//                                             self-test: a planted server bug must be caught
//   npm run robustness -- --check DIR/history.json
//                                             checks a kept history again, offline
//
// A failed history prints its seed, the nemesis schedule and the violations, and keeps its history,
// member logs and data dirs under --keep-dir (--keep: every history's). --seed S replays the same choices of operations and
// faults (timing, and so the interleaving, is not reproducible).
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { UNSAFE_BUGS } from "../../src/pkg/failpoint.ts";
import { BINARY } from "../e2e/harness.ts";
import { checkHistory, excerpt } from "./check/index.ts";
import type { History } from "./history.ts";
import { NEMESES, type NemesisKind } from "./nemesis.ts";
import { REGRESSIONS } from "./regressions.ts";
import { runScenario, type ScenarioOptions, type ScenarioResult } from "./scenario.ts";
import { PROFILES } from "./traffic/profiles.ts";

const USAGE = `usage: npm run robustness -- [--ci] [--minutes M] [--histories N] [--seconds S]
  [--profiles etcd,kubernetes] [--nemeses ${NEMESES.join(",")}] [--seed N] [--clients N]
  [--think-ms MS] [--no-etcdctl] [--regressions all|NAME,...] [--bug ${UNSAFE_BUGS.join("|")}] [--keep-dir DIR] [--keep] [--check FILE]`;

function fail(msg: string): never {
  console.error(`robustness: ${msg}\n${USAGE}`);
  process.exit(2);
}

const OPTIONS = {
  ci: { type: "boolean" },
  minutes: { type: "string" },
  histories: { type: "string" },
  seconds: { type: "string" },
  profiles: { type: "string" },
  nemeses: { type: "string" },
  seed: { type: "string" },
  clients: { type: "string" },
  "think-ms": { type: "string" },
  "no-etcdctl": { type: "boolean" },
  bug: { type: "string" },
  "keep-dir": { type: "string" },
  keep: { type: "boolean" },
  check: { type: "string" },
  regressions: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

function parse() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (e) {
    return fail((e as Error).message);
  }
}
const parsed = parse();
if (parsed.help) {
  console.log(USAGE);
  process.exit(0);
}

function num(name: "minutes" | "histories" | "seconds" | "seed" | "clients" | "think-ms", dflt: number, min: number, max: number): number {
  const raw = parsed[name];
  if (raw === undefined) return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) fail(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return v;
}

function list<T extends string>(name: "profiles" | "nemeses", all: readonly T[]): T[] {
  const raw = parsed[name];
  if (raw === undefined) return [...all];
  const xs = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const x of xs) if (!(all as readonly string[]).includes(x)) fail(`--${name}: unknown ${JSON.stringify(x)} (known: ${all.join(", ")})`);
  return xs as T[];
}

const log = (msg: string) => console.error(msg);

if (parsed.check) {
  let history: History;
  try {
    history = JSON.parse(readFileSync(parsed.check, "utf8"));
  } catch (e) {
    fail(`--check ${parsed.check}: cannot read a history there (${(e as Error).message})`);
  }
  const violations = checkHistory(history, log);
  for (const v of violations) console.log([`[${v.checker}/${v.kind}] ${v.detail}`, ...excerpt(history, v)].join("\n"));
  console.log(violations.length === 0 ? `${parsed.check}: no violation` : `${parsed.check}: ${violations.length} violation(s)`);
  process.exit(violations.length === 0 ? 0 : 1);
}

const ci = parsed.ci === true;
const profiles = list("profiles", Object.keys(PROFILES) as (keyof typeof PROFILES)[]);
const nemeses = list<NemesisKind>("nemeses", NEMESES);
const seconds = num("seconds", ci ? 6 : 20, 2, 3600);
const minutes = num("minutes", 0, 0, 24 * 60);
type Planned = Pick<ScenarioOptions, "profile" | "nemesis"> & Partial<ScenarioOptions>;
const regressions = (() => {
  const raw = parsed.regressions;
  if (raw === undefined) return ci && parsed.bug === undefined ? REGRESSIONS : [];
  if (raw === "all") return REGRESSIONS;
  return raw.split(",").map((n) => REGRESSIONS.find((r) => r.name === n.trim()) ?? fail(`--regressions: unknown scenario ${JSON.stringify(n)} (known: ${REGRESSIONS.map((r) => r.name).join(", ")})`));
})();
const regressionsOnly = parsed.regressions !== undefined && parsed.profiles === undefined && parsed.nemeses === undefined && !ci;
const matrix: Planned[] = [
  ...(regressionsOnly ? [] : profiles.flatMap((p) => nemeses.map((n): Planned => ({ profile: PROFILES[p], nemesis: n })))),
  ...regressions.map((r): Planned => ({ ...r.options, name: `${r.name} (etcd #${r.etcdIssue})` })),
];
const histories = num("histories", minutes > 0 ? 1_000_000 : matrix.length, 1, 1_000_000);
const firstSeed = num("seed", Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1);
const clients = num("clients", 6, 1, 64);
// Rates from light to overload: without --think-ms, histories cycle through a client pause of 5 ms
// (moderate), 0 (as fast as answers come: more than 2 cores serve) and 50 ms (light).
const THINK_CYCLE = [5, 0, 50];
const thinkFixed = parsed["think-ms"] === undefined ? null : num("think-ms", 5, 0, 10_000);
const bug = parsed.bug;
if (bug !== undefined && !(UNSAFE_BUGS as readonly string[]).includes(bug)) fail(`--bug must be one of ${UNSAFE_BUGS.join(", ")}`);
const keepDir = parsed["keep-dir"] ?? join(tmpdir(), "etcd-ts-robustness");
if (!(await Bun.file(BINARY).exists())) fail(`${BINARY} is missing: run 'npm run build' first`);

const stopAt = minutes > 0 ? performance.now() + minutes * 60_000 : Infinity;
const results: ScenarioResult[] = [];
console.error(`robustness: ${histories === 1_000_000 ? `${minutes} min of` : histories} histories of ${seconds} s over ${matrix.map((m) => m.name ?? `${m.profile.name}×${m.nemesis}`).join(", ")}; first seed ${firstSeed}${bug ? `; planted bug ${bug}` : ""}`);
for (let i = 0; i < histories && performance.now() < stopAt; i++) {
  const planned = matrix[i % matrix.length];
  const { profile, nemesis } = planned;
  const seed = (firstSeed + i) >>> 0;
  const thinkMs = thinkFixed ?? THINK_CYCLE[Math.floor(i / matrix.length + i) % THINK_CYCLE.length];
  const r = await runScenario({
    thinkMs, ...planned, seed, seconds, clients, keepDir, plantedBug: bug, keepAll: parsed.keep === true,
    etcdctl: parsed["no-etcdctl"] !== true,
    log: ci ? () => {} : log,
  });
  results.push(r);
  const calls = r.calls.ok + r.calls.failed + r.calls.unknown;
  console.error(
    `${r.ok ? "ok  " : "FAIL"} ${r.name} seed ${seed}, think ${planned.thinkMs ?? thinkMs} ms: ${calls} calls (${r.calls.ok} ok, ${r.calls.unknown} unknown), ` +
      `${r.watchEvents} watch events in ${r.watchSessions} sessions, ${r.faults} faults, ${(r.ms / 1000).toFixed(1)} s`,
  );
  if (!r.ok) {
    const which = planned.name ? `--regressions ${planned.name.replace(/ \(.*$/, "")}` : `--profiles ${profile.name} --nemeses ${nemesis}`;
    console.error(`  replay: npm run robustness -- ${which} --histories 1 --seed ${seed} --seconds ${seconds} --think-ms ${planned.thinkMs ?? thinkMs}`);
    console.error(`  schedule: ${r.schedule.map((e) => `${e.at.toFixed(1)}s ${e.what}${e.outcome ? ` → ${e.outcome}` : ""}`).join("; ") || "(none)"}`);
    for (const v of r.violations.slice(0, 10)) console.error(`  [${v.checker}/${v.kind}] ${v.detail}`);
    if (r.violations.length > 10) console.error(`  … ${r.violations.length - 10} more in violations.txt`);
    const first = r.violations.find((v) => v.call !== undefined || v.revision !== undefined);
    if (first) console.error(`  history around [${first.checker}/${first.kind}]:\n${excerpt(r.history ?? { calls: [] }, first).map((l) => `    ${l}`).join("\n")}`);
    console.error(`  kept: ${r.keptAt} (history.json, schedule.json, violations.txt, excerpt.txt, member logs, data dirs)`);
    // A planted bug caught once is enough for the self-test.
    if (bug) break;
  }
}

// ---- summary: scenario × nemesis
const rows = new Map<string, { histories: number; calls: number; events: number; faults: number; violations: number; failed: number }>();
for (const r of results) {
  const row = rows.get(r.name) ?? { histories: 0, calls: 0, events: 0, faults: 0, violations: 0, failed: 0 };
  row.histories++;
  row.calls += r.calls.ok + r.calls.failed + r.calls.unknown;
  row.events += r.watchEvents;
  row.faults += r.faults;
  row.violations += r.violations.length;
  row.failed += r.ok ? 0 : 1;
  rows.set(r.name, row);
}
console.log("| scenario | histories | KV calls | watch events | faults | violations |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name, r] of rows) console.log(`| ${name} | ${r.histories} | ${r.calls} | ${r.events} | ${r.faults} | ${r.violations} |`);
const failed = results.filter((r) => !r.ok).length;
if (bug) {
  // The self-test passes when the planted bug was caught at least once.
  console.log(failed > 0 ? `planted bug ${bug}: caught in ${failed} of ${results.length} histories` : `planted bug ${bug}: NOT caught in ${results.length} histories`);
  process.exit(failed > 0 ? 0 : 1);
}
console.log(failed === 0 ? `${results.length} histories, no violation` : `${failed} of ${results.length} histories FAILED`);
process.exit(failed === 0 ? 0 : 1);
