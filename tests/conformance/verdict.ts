// Turns per-configuration outcomes into verdicts: what counts against etcd-ts, what the expected
// differences cover, which of those are stale, and the summary line and tables. Pure (unit-tested).

/** a: etcd 3.4 + its etcdctl (the baseline); b: etcd-ts + etcdctl 3.4; c: etcd-ts + its own etcdctl. */
export type ConfigId = "a" | "b" | "c";
export const CONFIG_IDS: readonly ConfigId[] = ["a", "b", "c"];
export const CONFIG_TITLES: Record<ConfigId, string> = {
  a: "etcd 3.4",
  b: "etcd-ts+etcdctl 3.4",
  c: "etcd-ts+our etcdctl",
};

/** One test in one configuration. "error": the binary ended without a result line for the test. */
export type Outcome = "pass" | "fail" | "skip" | "timeout" | "error";

export interface KnownDifference {
  test: string;
  reason: string;
  /** The configurations the difference applies to; both etcd-ts ones when absent. */
  configs?: ("b" | "c")[];
}

export type Verdict =
  | "ok" // passes on etcd 3.4 and here
  | "regression" // passes on etcd 3.4, not here, not listed: counts against etcd-ts
  | "expected" // passes on etcd 3.4, not here, listed with a reason
  | "stale" // listed, but passes here now: remove it from the list
  | "baseline-fail" // fails (or times out) on etcd 3.4 itself here: never counts
  | "baseline-skip" // skipped on etcd 3.4 (a prerequisite is missing here): never counts
  | "not-run";

export function isListed(known: readonly KnownDifference[], test: string, config: "b" | "c"): KnownDifference | undefined {
  return known.find((k) => k.test === test && (k.configs ?? ["b", "c"]).includes(config));
}

/** The rule: only tests that pass on etcd 3.4 count; of those, a listed failure is expected. */
export function verdictOf(
  test: string,
  config: "b" | "c",
  baseline: Outcome | undefined,
  outcome: Outcome | undefined,
  known: readonly KnownDifference[],
): Verdict {
  if (baseline === undefined || outcome === undefined) return "not-run";
  if (baseline === "skip") return "baseline-skip";
  if (baseline !== "pass") return "baseline-fail";
  const listed = isListed(known, test, config) !== undefined;
  if (outcome === "pass") return listed ? "stale" : "ok";
  return listed ? "expected" : "regression";
}

export type Outcomes = Map<string, Partial<Record<ConfigId, Outcome>>>;

export interface Summary {
  config: "b" | "c";
  /** Tests run in this configuration that pass on etcd 3.4. */
  counted: number;
  /** Of those, the ones that pass on etcd-ts too (listed differences do not pass). */
  passing: number;
  byVerdict: Record<Verdict, string[]>;
}

export function summarize(outcomes: Outcomes, config: "b" | "c", known: readonly KnownDifference[]): Summary {
  const byVerdict: Record<Verdict, string[]> = {
    ok: [], regression: [], expected: [], stale: [], "baseline-fail": [], "baseline-skip": [], "not-run": [],
  };
  for (const [test, per] of outcomes) byVerdict[verdictOf(test, config, per.a, per[config], known)].push(test);
  const counted = byVerdict.ok.length + byVerdict.regression.length + byVerdict.expected.length + byVerdict.stale.length;
  return { config, counted, passing: byVerdict.ok.length + byVerdict.stale.length, byVerdict };
}

export function summaryLine(s: Summary): string {
  const notes = [
    s.byVerdict.expected.length ? `${s.byVerdict.expected.length} expected differences` : "",
    s.byVerdict.regression.length ? `${s.byVerdict.regression.length} unexpected failures` : "",
  ].filter(Boolean);
  return `${CONFIG_TITLES[s.config]}: ${s.passing}/${s.counted} tests that pass on etcd 3.4 pass on etcd-ts` +
    (notes.length ? ` (${notes.join(", ")})` : "");
}

/** Only config b gates: a regression there fails the run (config c's are reported). */
export function exitCodeOf(b: Summary | undefined): number {
  return b && b.byVerdict.regression.length > 0 ? 1 : 0;
}

function cell(outcome: Outcome | undefined, verdict: Verdict | undefined): string {
  if (outcome === undefined) return "";
  const word = outcome === "fail" ? "FAIL" : outcome === "timeout" ? "TIMEOUT" : outcome === "error" ? "ERROR" : outcome;
  if (verdict === "expected") return `${word} (known)`;
  if (verdict === "stale") return `${word} (listed)`;
  return word;
}

function rowsOf(outcomes: Outcomes, configs: readonly ConfigId[], known: readonly KnownDifference[]): string[][] {
  const rows: string[][] = [];
  for (const [test, per] of outcomes) {
    rows.push([test, ...configs.map((c) => cell(per[c], c === "a" ? undefined : verdictOf(test, c, per.a, per[c], known)))]);
  }
  return rows;
}

export function textTable(outcomes: Outcomes, configs: readonly ConfigId[], known: readonly KnownDifference[]): string {
  const rows = [["test", ...configs.map((c) => CONFIG_TITLES[c])], ...rowsOf(outcomes, configs, known)];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((v, i) => v.padEnd(widths[i])).join(" | ").trimEnd();
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("-+-"), ...rows.slice(1).map(line)].join("\n");
}

export function markdownTable(outcomes: Outcomes, configs: readonly ConfigId[], known: readonly KnownDifference[]): string {
  const head = ["test", ...configs.map((c) => CONFIG_TITLES[c])];
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rowsOf(outcomes, configs, known).map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}
