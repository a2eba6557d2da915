// Progress on stderr, the problems noticed during a run, and the Markdown report (stdout and bench/results.md).
import fs from "node:fs";
import path from "node:path";

const RESULTS = path.resolve(import.meta.dir, "..", "results.md");

const T0 = Date.now();
export const elapsed = () => `${((Date.now() - T0) / 1000).toFixed(0).padStart(4)}s`;
export const log = (msg: string) => process.stderr.write(`[bench ${elapsed()}] ${msg}\n`);

/** What went wrong or looked odd; listed under "Problems noticed". */
export const problems: string[] = [];
let failed = false;
/** The run failed (requests failed, a server misbehaved): the bench exits 1 after the report. */
export function markFailed(): void {
  failed = true;
}

export const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

export const median = (xs: number[]): number => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export interface Row {
  metric: string;
  ts: number;
  etcd: number;
  digits: number;
  better: "higher" | "lower";
}

export function table(rows: Row[]): string {
  const lines = ["| metric | etcd-ts | etcd 3.4 | ratio (etcd-ts / etcd) |", "| --- | ---: | ---: | ---: |"];
  for (const r of rows) {
    const ratio = r.ts / r.etcd;
    lines.push(`| ${r.metric} | ${fmt(r.ts, r.digits)} | ${fmt(r.etcd, r.digits)} | ${fmt(ratio, 2)}× (${r.better} is better) |`);
  }
  return lines.join("\n");
}

/** The order of the runs: A = etcd-ts, B = etcd 3.4. */
export const runOrder = (reps: number) =>
  Array.from({ length: reps }, (_, rep) => (rep % 2 === 0 ? "A-B" : "B-A")).join("-") + " with A = etcd-ts, B = etcd 3.4";

export function logStart(versions: { ts: string; etcd: string }, etcd: string, o: object): void {
  log(`etcd-ts: ${versions.ts}`);
  log(`etcd:    ${versions.etcd} (${etcd})`);
  log(`options: ${JSON.stringify(o)}`);
}

/** The report: a title line (which gets the time), the command, the table, a paragraph on how, per-run details, problems. */
export function markdown(title: (when: string) => string, command: string, tableText: string, how: string, details: string[]): string {
  const when = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return [
    title(when),
    "",
    `Command: \`${command}\``,
    "",
    tableText,
    "",
    how,
    "",
    "<details><summary>Per-run numbers</summary>",
    "",
    ...details,
    "",
    "</details>",
    ...(problems.length ? ["", "Problems noticed:", "", ...problems.map((p) => `- ${p}`)] : []),
    "",
  ].join("\n");
}

/**
 * Writes the report to bench/results.md (replacing it, or with append after what is there) and
 * stdout; exits 1 if the run failed.
 */
export function finish(md: string, opts: { append?: boolean } = {}): void {
  if (opts.append && fs.existsSync(RESULTS)) fs.appendFileSync(RESULTS, "\n---\n\n" + md);
  else fs.writeFileSync(RESULTS, md);
  log(`done in ${elapsed().trim()}; table ${opts.append ? "appended" : "written"} to bench/results.md`);
  process.stdout.write("\n" + md);
  if (failed) {
    process.stderr.write("\nbench: FAILED: some requests failed or a server misbehaved (see 'Problems noticed' above)\n");
    process.exit(1);
  }
}
