// `npm run conformance`: etcd 3.4's own end-to-end suite as etcd-ts's conformance test (issue 13).
//
// Every test of the suite runs alone (own working tree, TMPDIR, HOME, network and PID namespace) in
// up to three configurations in the same run — etcd 3.4 + its etcdctl (baseline), etcd-ts + etcdctl
// 3.4, etcd-ts + its own etcdctl — with the binaries as shipped (no wrapper, no flag rewriting).
// Only tests that pass on etcd 3.4 here count; a failure on etcd-ts that known.ts does not list fails
// the run. Results, and the output of every test that did not pass, go to .conformance/.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { ensureE2eBinary, ETCD_SRC, listTests } from "./build.ts";
import { outcomeOf } from "./go-test-output.ts";
import { KNOWN_DIFFERENCES } from "./known.ts";
import { parseOptions, USAGE, type Options } from "./options.ts";
import { canIsolate, runOne, stopAll } from "./sandbox.ts";
import {
  CONFIG_TITLES, exitCodeOf, isListed, markdownTable, summarize, summaryLine, textTable,
  type ConfigId, type Outcome, type Outcomes, type Summary,
} from "./verdict.ts";

const ROOT = resolve(import.meta.dir, "../..");
const CACHE = join(ROOT, ".conformance");
const LOGS = join(CACHE, "logs");
const RESULTS = join(CACHE, "results.json");
const CERT_DIR = join(ETCD_SRC, "integration/fixtures");
const LOG_TAIL_LINES = 40;

interface ConfigResult {
  outcome: Outcome;
  message: string;
  seconds: number;
  /** Outcomes of earlier attempts, when the test was re-run. */
  retried?: Outcome[];
  log?: string;
}
type TestResults = Partial<Record<ConfigId, ConfigResult>>;

const say = (line: string) => console.log(line);
const mmss = (ms: number) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
};

/** The etcd-ts binary to test; the default one is built first when missing. */
function ensureTsBinary(opts: Options): string {
  const binary = resolve(opts.binary ?? join(ROOT, "dist/etcd"));
  if (existsSync(binary)) return binary;
  if (opts.binary) throw new Error(`--binary ${opts.binary}: no such file`);
  say("dist/etcd is missing: npm run build");
  const r = spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0 || !existsSync(binary)) throw new Error(`'npm run build' failed (exit ${r.status})`);
  return binary;
}

function binaryInfo(binary: string) {
  const st = statSync(binary);
  const v = spawnSync(binary, ["--version"], { encoding: "utf8" });
  // "etcd Version: 3.5.0" is the API level it speaks; its own version is the "etcd-ts Version" line.
  const own = /^etcd-ts Version: (.*)$/m.exec(v.stdout ?? "")?.[1];
  return { path: binary, mtime: st.mtime.toISOString(), bytes: st.size, version: own ? `etcd-ts ${own}` : (v.stdout ?? "").trim().split("\n")[0] ?? "" };
}

/** bin dirs as the suite wants them (DIR/etcd, DIR/etcdctl), one per configuration. */
function makeBinDirs(runDir: string, opts: Options, tsBinary: string | undefined): Record<ConfigId, string> {
  const real = (name: string) => {
    const p = join(opts.etcd34Dir, name);
    if (!existsSync(p)) throw new Error(`${p} is missing: install etcd 3.4 (apt-get install -y etcd-server etcd-client) or pass --etcd34-dir`);
    return p;
  };
  const dirs = { a: join(runDir, "bin-a"), b: join(runDir, "bin-b"), c: join(runDir, "bin-c") };
  for (const d of Object.values(dirs)) mkdirSync(d);
  symlinkSync(real("etcd"), join(dirs.a, "etcd"));
  symlinkSync(real("etcdctl"), join(dirs.a, "etcdctl"));
  if (tsBinary) {
    // A private copy: a rebuild of dist/etcd during the run must not change what the run tests.
    const copy = join(runDir, "ts", "etcd");
    mkdirSync(join(runDir, "ts"));
    copyFileSync(tsBinary, copy);
    chmodSync(copy, 0o755);
    if (existsSync(`${tsBinary}.map`)) copyFileSync(`${tsBinary}.map`, `${copy}.map`);
    symlinkSync(copy, join(dirs.b, "etcd"));
    symlinkSync(real("etcdctl"), join(dirs.b, "etcdctl"));
    symlinkSync(copy, join(dirs.c, "etcd"));
    symlinkSync(copy, join(dirs.c, "etcdctl")); // the binary is etcdctl when started under that name
  }
  return dirs;
}

function writeLog(config: ConfigId, test: string, header: string[], output: string): string {
  const dir = join(LOGS, config);
  mkdirSync(dir, { recursive: true });
  const lines = output.trimEnd().split("\n");
  const file = join(dir, `${test}.log`);
  writeFileSync(file, [...header, `--- last ${Math.min(LOG_TAIL_LINES, lines.length)} of ${lines.length} lines ---`, ...lines.slice(-LOG_TAIL_LINES), ""].join("\n"));
  writeFileSync(join(dir, `${test}.full.log`), [...header, "", output].join("\n"));
  return relative(ROOT, file);
}

/** Baseline outcomes from the previous results, for a run that does not include configuration a. */
function previousBaseline(): { at: string; outcomes: Map<string, ConfigResult> } | undefined {
  try {
    const prev = JSON.parse(readFileSync(RESULTS, "utf8"));
    const outcomes = new Map<string, ConfigResult>();
    for (const [test, per] of Object.entries(prev.tests as Record<string, TestResults>)) if (per.a) outcomes.set(test, per.a);
    return outcomes.size ? { at: prev.baselineFrom ?? prev.started, outcomes } : undefined;
  } catch {
    return undefined;
  }
}

interface RunRecord {
  started: string;
  seconds: number;
  /** When configuration a's outcomes were produced (an earlier run's, if this one skipped a). */
  baselineFrom: string;
  binary?: ReturnType<typeof binaryInfo>;
  e2eBinary: string;
  isolate: boolean;
  jobs: number;
  configs: ConfigId[];
  cOnly: string;
  timeoutSeconds: number;
  tests: Record<string, TestResults>;
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (opts.report) {
    if (!existsSync(RESULTS)) throw new Error(`${relative(ROOT, RESULTS)} is missing: run 'npm run conformance' first`);
    const record = JSON.parse(readFileSync(RESULTS, "utf8")) as RunRecord;
    rereadLogs(record);
    return report(record, opts);
  }
  const record = await runSuite(opts);
  writeFileSync(RESULTS, JSON.stringify({ ...record, summaries: summariesOf(record) }, null, 2));
  return report(record, opts);
}

async function runSuite(opts: Options): Promise<RunRecord> {
  const started = new Date();
  const usesTs = opts.configs.includes("b") || opts.configs.includes("c");
  const tsBinary = usesTs ? ensureTsBinary(opts) : undefined;
  const tsInfo = tsBinary ? binaryInfo(tsBinary) : undefined;
  if (tsInfo) say(`etcd-ts binary: ${tsInfo.path} (${tsInfo.version || "no --version output"}; modified ${tsInfo.mtime})`);
  const e2e = await ensureE2eBinary(CACHE, say);

  const tests = listTests(e2e).filter((t) => !opts.only || opts.only.test(t));
  if (tests.length === 0) throw new Error(`no test of etcd 3.4's e2e suite matches --only ${opts.only}`);
  const isolate = canIsolate();
  const jobs = isolate ? opts.jobs : 1;
  if (!isolate) {
    say("warning: cannot create network/PID namespaces here (unshare -n -p needs root): running one test at a time on the host's " +
      "loopback; the suite uses fixed ports 20000+, so anything else listening there makes tests fail");
  }

  const runDir = mkdtempSync(join(tmpdir(), "etcdts-conf-"));
  const binDirs = makeBinDirs(runDir, opts, tsBinary);
  for (const c of opts.configs) rmSync(join(LOGS, c), { recursive: true, force: true });
  const interrupt = () => {
    stopAll();
    rmSync(runDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);

  // Test by test, its configurations side by side, so a partial run still compares like with like.
  const queue: { test: string; config: ConfigId }[] = [];
  for (const test of tests) {
    for (const config of opts.configs) if (config !== "c" || opts.cOnly.test(test)) queue.push({ test, config });
  }
  say(`running ${tests.length} tests, ${queue.length} runs (${opts.configs.map((c) => `${c}: ${CONFIG_TITLES[c]}`).join("; ")}` +
    `${opts.configs.includes("c") ? `; c only for /${opts.cOnly.source}/` : ""}), ${jobs} at a time, ${opts.timeoutMs / 1000} s timeout each`);

  const results = new Map<string, TestResults>(tests.map((t) => [t, {}]));
  let next = 0;
  let finished = 0;
  let seq = 0;
  const worker = async () => {
    while (next < queue.length) {
      const { test, config } = queue[next++];
      const retried: Outcome[] = [];
      let spentMs = 0;
      let failedAttempt: { output: string; exitCode: number | null; message: string } | undefined;
      for (;;) {
        const run = await runOne({
          e2eBinary: e2e, test, binDir: binDirs[config], certDir: CERT_DIR,
          workDir: join(runDir, `w${seq++}`), timeoutMs: opts.timeoutMs, isolate,
        });
        spentMs += run.ms;
        const { outcome, message } = outcomeOf(test, { ...run, timeoutMs: opts.timeoutMs });
        if ((outcome === "fail" || outcome === "error") && retried.length < opts.retries) {
          retried.push(outcome);
          failedAttempt = { output: run.output, exitCode: run.exitCode, message };
          continue;
        }
        const result: ConfigResult = { outcome, message, seconds: Math.round(spentMs / 100) / 10 };
        if (retried.length) result.retried = retried;
        if (outcome === "pass" && failedAttempt) {
          // Flaky: keep what the failed attempt printed, for triage.
          result.log = writeLog(config, test, [
            `test: ${test}`, `configuration ${config}: ${CONFIG_TITLES[config]} (bin dir: etcd -> ${binDirs[config]})`,
            `outcome: passed on attempt ${retried.length + 1}; below, the failed attempt before it (exit ${failedAttempt.exitCode})`,
            `message: ${failedAttempt.message}`,
          ], failedAttempt.output);
        } else if (outcome !== "pass") {
          result.log = writeLog(config, test, [
            `test: ${test}`, `configuration ${config}: ${CONFIG_TITLES[config]} (bin dir: etcd -> ${binDirs[config]})`,
            `outcome: ${outcome} after ${Math.round(run.ms / 100) / 10} s (exit ${run.exitCode})${retried.length ? `; earlier attempts: ${retried.join(", ")}` : ""}`,
            `message: ${message}`,
          ], run.output);
        }
        results.get(test)![config] = result;
        finished++;
        say(`[${finished}/${queue.length} ${mmss(Date.now() - started.getTime())}] ${config} ${test}: ${outcome} (${result.seconds} s)` +
          `${retried.length ? ` after ${retried.join(", ")}` : ""}${outcome !== "pass" && message ? ` — ${message.slice(0, 200)}` : ""}`);
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  rmSync(runDir, { recursive: true, force: true });

  let baselineFrom = started.toISOString();
  if (!opts.configs.includes("a")) {
    const prev = previousBaseline();
    if (prev) {
      baselineFrom = prev.at;
      for (const [test, per] of results) if (prev.outcomes.has(test)) per.a = prev.outcomes.get(test);
      say(`baseline (a) not run: using the results of ${prev.at} from ${relative(ROOT, RESULTS)}`);
    } else {
      say("baseline (a) not run and no earlier results: nothing counts (run with --config a,...)");
    }
  }
  return {
    started: started.toISOString(), seconds: Math.round((Date.now() - started.getTime()) / 1000), baselineFrom,
    binary: tsInfo, e2eBinary: e2e, isolate, jobs, configs: opts.configs, cOnly: opts.cOnly.source,
    timeoutSeconds: opts.timeoutMs / 1000, tests: Object.fromEntries(results),
  };
}

/** For --report: read outcomes and messages again from the saved output (the parser may have improved). */
function rereadLogs(record: RunRecord): void {
  for (const [test, per] of Object.entries(record.tests)) {
    for (const [config, r] of Object.entries(per) as [ConfigId, ConfigResult][]) {
      // A timeout's output has no verdict to re-read; a pass's log is that of an earlier failed attempt.
      if (!r.log || r.outcome === "timeout" || r.outcome === "pass") continue;
      const full = join(ROOT, r.log.replace(/\.log$/, ".full.log"));
      if (!existsSync(full)) continue;
      const text = readFileSync(full, "utf8");
      const output = text.slice(text.indexOf("\n\n") + 2);
      Object.assign(r, outcomeOf(test, { output, timedOut: false, timeoutMs: record.timeoutSeconds * 1000, exitCode: null }));
    }
  }
}

function outcomesOf(record: RunRecord): Outcomes {
  return new Map(Object.entries(record.tests).map(([t, per]) => [t, Object.fromEntries(Object.entries(per).map(([c, r]) => [c, r!.outcome]))]));
}

function summariesOf(record: RunRecord): Partial<Record<"b" | "c", Summary>> {
  const outcomes = outcomesOf(record);
  const summaries: Partial<Record<"b" | "c", Summary>> = {};
  for (const config of ["b", "c"] as const) if (record.configs.includes(config)) summaries[config] = summarize(outcomes, config, KNOWN_DIFFERENCES);
  return summaries;
}

function report(record: RunRecord, opts: Options): number {
  const outcomes = outcomesOf(record);
  const hasBaseline = [...outcomes.values()].some((per) => per.a !== undefined);
  const shown: ConfigId[] = hasBaseline ? ["a", ...record.configs.filter((c) => c !== "a")] : record.configs;
  say(`\n== results\n${textTable(outcomes, shown, KNOWN_DIFFERENCES)}`);
  const summaries = summariesOf(record);
  reportLists(new Map(Object.entries(record.tests)), summaries);
  say("\n== summary");
  if (record.binary) say(`etcd-ts binary: ${record.binary.path} (modified ${record.binary.mtime})`);
  for (const s of Object.values(summaries)) say(summaryLine(s));
  const byConfig = record.configs.map((c) => `${c} ${mmss(1000 * Object.values(record.tests).reduce((sum, per) => sum + (per[c]?.seconds ?? 0), 0))}`);
  say(`total time: ${mmss(record.seconds * 1000)} (${record.jobs} at a time${record.isolate ? ", each in its own network namespace" : ", no namespaces"}); ` +
    `test time by configuration: ${byConfig.join(", ")}`);
  say(`results: ${relative(ROOT, RESULTS)}; logs of what did not pass: ${relative(ROOT, LOGS)}/<config>/<test>.log`);
  if (opts.writeDocs) writeDocs(outcomes, shown, summaries, record);
  return exitCodeOf(summaries.b);
}

function reportLists(results: Map<string, TestResults>, summaries: Partial<Record<"b" | "c", Summary>>): void {
  const why = (test: string, config: ConfigId) => {
    const r = results.get(test)?.[config];
    return r ? `${r.outcome}${r.message ? ` — ${r.message}` : ""}${r.log ? `  [${r.log}]` : ""}` : "";
  };
  const anyS = Object.values(summaries)[0];
  if (anyS) {
    const section = (title: string, tests: string[], config: ConfigId) => {
      if (!tests.length) return;
      say(`\n${title} (${tests.length}):`);
      for (const t of tests) say(`  ${t}: ${why(t, config)}`);
    };
    section("fails on etcd 3.4 itself here (never counts)", anyS.byVerdict["baseline-fail"], "a");
    section("skipped on etcd 3.4 here (never counts)", anyS.byVerdict["baseline-skip"], "a");
  }
  for (const config of ["a", "b", "c"] as const) {
    const flaky = [...results].filter(([, per]) => per[config]?.outcome === "pass" && per[config]?.retried).map(([t]) => t);
    if (!flaky.length) continue;
    say(`\n${CONFIG_TITLES[config]}: passed only when re-run (flaky here) (${flaky.length}):`);
    for (const t of flaky) say(`  ${t}: first ${results.get(t)![config]!.retried!.join(", ")}  [${results.get(t)![config]!.log ?? "no log"}]`);
  }
  for (const s of Object.values(summaries)) {
    const title = CONFIG_TITLES[s.config];
    if (s.byVerdict.regression.length) {
      say(`\n${title}: UNEXPECTED failures — pass on etcd 3.4, not listed in tests/conformance/known.ts (${s.byVerdict.regression.length}):`);
      for (const t of s.byVerdict.regression) say(`  ${t}: ${why(t, s.config)}`);
    }
    if (s.byVerdict.expected.length) {
      say(`\n${title}: expected differences (${s.byVerdict.expected.length}):`);
      for (const t of s.byVerdict.expected) say(`  ${t}: ${isListed(KNOWN_DIFFERENCES, t, s.config)?.reason}`);
    }
    if (s.byVerdict.stale.length) {
      say(`\n${title}: listed in tests/conformance/known.ts but passing now — remove it from the list:`);
      for (const t of s.byVerdict.stale) say(`  ${t}`);
    }
  }
}

function writeDocs(outcomes: Outcomes, shown: ConfigId[], summaries: Partial<Record<"b" | "c", Summary>>, record: RunRecord): void {
  const file = join(ROOT, "docs/conformance.md");
  const listed = KNOWN_DIFFERENCES.map((k) => `- \`${k.test}\`${k.configs ? ` (${k.configs.join(", ")})` : ""}: ${k.reason}`);
  writeFileSync(file, [
    "# Conformance: etcd 3.4's own end-to-end suite",
    "",
    "Generated by `npm run conformance -- --write-docs` (tests/conformance/): every test of etcd 3.4's",
    "`tests/e2e` (from Debian's golang-etcd-server-dev) alone in its own network namespace, against",
    "etcd 3.4 itself (the baseline), etcd-ts with etcdctl 3.4, and etcd-ts with its own etcdctl",
    `${record.cOnly === ".*" ? "" : `(the last only for tests matching \`/${record.cOnly}/\`)`}. Only tests that pass on etcd 3.4 count.`,
    "",
    `Run ${record.started.slice(0, 10)} in ${mmss(record.seconds * 1000)} on ${record.binary?.version ?? "?"} (binary built ${record.binary?.mtime ?? "?"}).`,
    "",
    ...Object.values(summaries).map((s) => `- ${summaryLine(s)}`),
    "",
    "## Expected differences",
    "",
    ...(listed.length ? listed : ["None."]),
    "",
    "## Results",
    "",
    markdownTable(outcomes, shown, KNOWN_DIFFERENCES),
    "",
  ].join("\n"));
  say(`wrote ${relative(ROOT, file)}`);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    stopAll();
    console.error(`conformance: ${(e as Error).message}`);
    process.exit(2);
  },
);
