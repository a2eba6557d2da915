// Reads what a Go test binary prints under -test.v: which tests passed, failed or were skipped, and
// the first line that says why a test failed. Pure text in, values out (unit-tested without Go).
import type { Outcome } from "./verdict.ts";

export type GoStatus = "pass" | "fail" | "skip";

export interface GoTestResult {
  status: GoStatus;
  /** What Go reports in "--- PASS: TestX (1.20s)". */
  seconds: number;
}

// "--- PASS: TestX (1.20s)"; a subtest's ("TestX/sub") is indented. Searched anywhere in a line: a
// process's last output line without a newline (EXPECT_DEBUG echoes it as is) runs into the next one.
const RESULT = /--- (PASS|FAIL|SKIP): (\S+) \((\d+(?:\.\d+)?)s\)/;

/**
 * The result of every top-level test and subtest named in `output`, by name ("TestX", "TestX/sub").
 * A test that started but has no result line (the binary panicked or was killed) is absent.
 */
export function parseGoTestOutput(output: string): Map<string, GoTestResult> {
  const results = new Map<string, GoTestResult>();
  for (const line of output.split("\n")) {
    const m = RESULT.exec(line);
    if (!m) continue;
    results.set(m[2], { status: m[1].toLowerCase() as GoStatus, seconds: Number(m[3]) });
  }
  return results;
}

// A message logged by t.Error/t.Fatal/t.Skip: "    ctl_v3_kv_test.go:56: ..." (Go 1.14+ indents it
// by four spaces; it too may follow a process's unterminated line).
const TEST_LOG = /\s{4}([\w.-]+\.go:\d+: .*)$/;

/**
 * The first message the test logged that reads like a failure (its t.Fatal/t.Error text, for a skip
 * its reason, with file:line), else its first message, else the first panic line, else "". What the processes a test runs print
 * (EXPECT_DEBUG: "/path/etcd-123: …") does not count.
 */
export function firstTestMessage(output: string): string {
  let first = "";
  let panic = "";
  for (const line of output.split("\n")) {
    const m = TEST_LOG.exec(line);
    // testutil.FatalStack logs every goroutine's stack before its one-line reason: skip the dump.
    if (m && !/^[\w.-]+\.go:\d+: goroutine \d+ \[/.test(m[1])) {
      // t.Log progress notes look like t.Error text; a message that sounds like a failure wins.
      if (SOUNDS_LIKE_FAILURE.test(m[1])) return m[1].trim();
      first ||= m[1].trim();
    }
    if (!panic && /^panic: /.test(line)) panic = line.trim();
  }
  return first || panic;
}

/**
 * Where a test that hit the suite's own timeout (testutil.FatalStack) was waiting: the suite's frames
 * of the goroutine testCtl started, innermost first, without the spawn/expect helpers — e.g.
 * "ctlV3PutFailPerm (ctl_v3_auth_test.go:382) ← authDisableTest (ctl_v3_auth_test.go:134)". "" if none.
 */
export function stuckIn(output: string): string {
  // Goroutine blocks are separated by blank lines (indented like the rest of the dump).
  const blocks = output.split(/\n\s*\n/);
  const block = blocks.find((b) => /created by go\.etcd\.io\/etcd\/tests\/e2e\.testCtl\b/.test(b));
  if (!block) return "";
  const lines = block.split("\n");
  const frames: string[] = [];
  for (let i = 0; i + 1 < lines.length && frames.length < 2; i++) {
    const fn = /^\s*go\.etcd\.io\/etcd\/tests\/e2e\.([\w.]+)\(/.exec(lines[i]);
    const at = /\/([\w.-]+\.go:\d+)/.exec(lines[i + 1]);
    if (!fn || !at || /^(spawnWithExpect\w*|testCtl\.func\d+)$/.test(fn[1])) continue;
    frames.push(`${fn[1]} (${at[1]})`);
  }
  return frames.join(" ← ");
}

const SOUNDS_LIKE_FAILURE = /error|fail|time[sd]? ?out|expected|unexpected|could not|cannot|can't|not exist|mismatch|want|got/i;

/** True when the binary ran no test at all (the -test.run pattern matched nothing). */
export function ranNoTests(output: string): boolean {
  return /^testing: warning: no tests to run/m.test(output);
}

const MESSAGE_MAX = 400; // a message can quote a whole /metrics page; the log has all of it

function short(message: string): string {
  return message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX)}…` : message;
}

/** One run of one test, read: its outcome and, unless it passed, why in one line. */
export function outcomeOf(test: string, run: { output: string; timedOut: boolean; timeoutMs: number; exitCode: number | null }): {
  outcome: Outcome;
  message: string;
} {
  const result = parseGoTestOutput(run.output).get(test);
  if (result?.status === "pass") return { outcome: "pass", message: "" };
  if (result) {
    const message = firstTestMessage(run.output);
    const stuck = /test timed out after/.test(message) ? stuckIn(run.output) : "";
    return { outcome: result.status, message: short(stuck ? `${message}, waiting in ${stuck}` : message) };
  }
  if (run.timedOut) {
    const last = firstTestMessage(run.output);
    return { outcome: "timeout", message: short(`no result within ${Math.round(run.timeoutMs / 1000)} s${last ? `; logged before: ${last}` : ""}`) };
  }
  if (ranNoTests(run.output)) return { outcome: "error", message: `the e2e binary has no test named ${test}` };
  const why = firstTestMessage(run.output) || run.output.trim().split("\n").slice(-1)[0] || "";
  return { outcome: "error", message: short(`ended (exit ${run.exitCode}) without a result line${why ? `: ${why}` : ""}`) };
}
