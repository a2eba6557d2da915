// The conformance runner's logic without Go or etcd: reading `go test -v` output, the rule for what
// counts against etcd-ts, the summary line, and the command line.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { E2E_SRC } from "./build.ts";
import { firstTestMessage, outcomeOf, parseGoTestOutput, ranNoTests, stuckIn } from "./go-test-output.ts";
import { KNOWN_DIFFERENCES } from "./known.ts";
import { DEFAULT_C_ONLY, parseOptions } from "./options.ts";
import { exitCodeOf, markdownTable, summarize, summaryLine, textTable, verdictOf, type KnownDifference, type Outcomes } from "./verdict.ts";

const PASSED = `=== RUN   TestCtlV3Put
/tmp/x/bin-b/etcd-9: {"level":"info","msg":"ready to serve client requests"}
--- PASS: TestCtlV3Put (1.20s)
PASS
`;

const FAILED = `=== RUN   TestCtlV3Version
/tmp/x/bin-c/etcdctl-18: etcdctl version: 3.5.0
    ctl_v3_test.go:33: versionTest ctlV3Version error (expected "3.4.23", got ["etcdctl version: 3.5.0\\r\\n"])
    ctl_v3_test.go:40: a second message
--- FAIL: TestCtlV3Version (1.50s)
FAIL
`;

const SKIPPED = `=== RUN   TestReleaseUpgrade
    etcd_release_upgrade_test.go:35: "/tmp/bin/etcd-last-release" does not exist
--- SKIP: TestReleaseUpgrade (0.00s)
PASS
`;

const SUBTESTS = `=== RUN   TestCtlV3MoveLeaderScenarios
=== RUN   TestCtlV3MoveLeaderScenarios/Secure
    --- FAIL: TestCtlV3MoveLeaderScenarios/Secure (3.10s)
=== RUN   TestCtlV3MoveLeaderScenarios/Insecure
    --- PASS: TestCtlV3MoveLeaderScenarios/Insecure (2.00s)
--- FAIL: TestCtlV3MoveLeaderScenarios (5.10s)
FAIL
`;

// curl's answer has no newline; the test's message and result run on from it.
const GLUED = `=== RUN   TestCtlV3Alarm
/usr/bin/curl-101: {"health":"false","reason":"ALARM NOSPACE"}    ctl_v3_alarm_test.go:63: failed get with curl
/usr/bin/curl-102: {"health":"true"}--- FAIL: TestCtlV3Alarm (11.09s)
FAIL
`;

// testutil.FatalStack: every goroutine's stack first, then the reason.
const STACK_FIRST = `=== RUN   TestCtlV3AuthDisable
    testutil.go:55: goroutine 109 [running]:
        go.etcd.io/etcd/pkg/testutil.FatalStack(0xc000102b60, {0xc0003a2060, 0x1c})
        	/usr/share/gocode/src/go.etcd.io/etcd/pkg/testutil/testutil.go:54 +0x6c
        
        goroutine 112 [sync.Cond.Wait]:
        go.etcd.io/etcd/pkg/expect.(*ExpectProcess).ExpectFunc(0xc0001c5570, 0xd86848)
        	/usr/share/gocode/src/go.etcd.io/etcd/pkg/expect/expect.go:101 +0xdb
        go.etcd.io/etcd/tests/e2e.spawnWithExpectLines({0xc000037880?, 0xc00014f640?, 0xc0000d7000?}, {0xc00012fc68, 0x1, 0xd2d2ec?})
        	/usr/share/gocode/src/go.etcd.io/etcd/tests/e2e/util.go:64 +0x269
        go.etcd.io/etcd/tests/e2e.spawnWithExpect(...)
        	/usr/share/gocode/src/go.etcd.io/etcd/tests/e2e/util.go:43
        go.etcd.io/etcd/tests/e2e.ctlV3PutFailPerm({0xc00008cea0, {0x0, 0x0}, ...}, ...)
        	/usr/share/gocode/src/go.etcd.io/etcd/tests/e2e/ctl_v3_auth_test.go:382 +0x155
        go.etcd.io/etcd/tests/e2e.authDisableTest({0xc00008cea0, {0x0, 0x0}, ...})
        	/usr/share/gocode/src/go.etcd.io/etcd/tests/e2e/ctl_v3_auth_test.go:134 +0x219
        go.etcd.io/etcd/tests/e2e.testCtl.func2()
        	/usr/share/gocode/src/go.etcd.io/etcd/tests/e2e/ctl_v3_test.go:192 +0xb8
        created by go.etcd.io/etcd/tests/e2e.testCtl
        	/usr/share/gocode/src/go.etcd.io/etcd/tests/e2e/ctl_v3_test.go:190 +0x42a
        
    testutil.go:56: test timed out after 15s
--- FAIL: TestCtlV3AuthDisable (17.21s)
`;

const PANICKED = `=== RUN   TestGateway
panic: runtime error: invalid memory address or nil pointer dereference [recovered]
goroutine 7 [running]:
`;

describe("reading go test -v output", () => {
  test("pass, fail and skip with Go's durations", () => {
    expect(parseGoTestOutput(PASSED).get("TestCtlV3Put")).toEqual({ status: "pass", seconds: 1.2 });
    expect(parseGoTestOutput(FAILED).get("TestCtlV3Version")).toEqual({ status: "fail", seconds: 1.5 });
    expect(parseGoTestOutput(SKIPPED).get("TestReleaseUpgrade")).toEqual({ status: "skip", seconds: 0 });
  });

  test("subtests are kept apart from their parent", () => {
    const r = parseGoTestOutput(SUBTESTS);
    expect(r.get("TestCtlV3MoveLeaderScenarios")?.status).toBe("fail");
    expect(r.get("TestCtlV3MoveLeaderScenarios/Secure")?.status).toBe("fail");
    expect(r.get("TestCtlV3MoveLeaderScenarios/Insecure")?.status).toBe("pass");
  });

  test("a message or result after a process's unterminated line is still found", () => {
    expect(parseGoTestOutput(GLUED).get("TestCtlV3Alarm")).toEqual({ status: "fail", seconds: 11.09 });
    expect(firstTestMessage(GLUED)).toBe("ctl_v3_alarm_test.go:63: failed get with curl");
  });

  test("a failure wins over progress notes logged before it", () => {
    const out = `=== RUN   TestCtlV3AuthCertCNWithWithConcurrentOperation
    ctl_v3_auth_no_proxy_test.go:48: Apply certificate with root CommonName
    ctl_v3_auth_no_proxy_test.go:139: Test case timeout after 60 seconds
    ctl_v3_auth_no_proxy_test.go:123: The second goroutine finished
--- FAIL: TestCtlV3AuthCertCNWithWithConcurrentOperation (64.38s)
`;
    expect(firstTestMessage(out)).toBe("ctl_v3_auth_no_proxy_test.go:139: Test case timeout after 60 seconds");
    expect(firstTestMessage("    a_test.go:1: step one\n    a_test.go:2: step two\n")).toBe("a_test.go:1: step one");
  });

  test("a stack dump is not the message; the reason after it is, with where the test waited", () => {
    expect(firstTestMessage(STACK_FIRST)).toBe("testutil.go:56: test timed out after 15s");
    expect(stuckIn(STACK_FIRST)).toBe("ctlV3PutFailPerm (ctl_v3_auth_test.go:382) ← authDisableTest (ctl_v3_auth_test.go:134)");
    expect(outcomeOf("TestCtlV3AuthDisable", { output: STACK_FIRST, timedOut: false, timeoutMs: 1000, exitCode: 1 })).toEqual({
      outcome: "fail",
      message: "testutil.go:56: test timed out after 15s, waiting in ctlV3PutFailPerm (ctl_v3_auth_test.go:382) ← authDisableTest (ctl_v3_auth_test.go:134)",
    });
    expect(stuckIn(FAILED)).toBe("");
  });

  test("a test without a result line is absent", () => {
    expect(parseGoTestOutput(PANICKED).has("TestGateway")).toBe(false);
  });

  test("the first message is the test's own, not a line a process printed", () => {
    expect(firstTestMessage(FAILED)).toBe('ctl_v3_test.go:33: versionTest ctlV3Version error (expected "3.4.23", got ["etcdctl version: 3.5.0\\r\\n"])');
    expect(firstTestMessage(SKIPPED)).toBe('etcd_release_upgrade_test.go:35: "/tmp/bin/etcd-last-release" does not exist');
    expect(firstTestMessage(PANICKED)).toBe("panic: runtime error: invalid memory address or nil pointer dereference [recovered]");
    expect(firstTestMessage(PASSED)).toBe("");
  });

  test("a pattern that matched nothing is recognised", () => {
    expect(ranNoTests("testing: warning: no tests to run\nPASS\n")).toBe(true);
    expect(ranNoTests(PASSED)).toBe(false);
  });
});

describe("one run's outcome", () => {
  const run = (output: string, extra: Partial<{ timedOut: boolean; exitCode: number | null }> = {}) =>
    outcomeOf(output.includes("TestCtlV3Put") ? "TestCtlV3Put" : /=== RUN\s+(\w+)/.exec(output)?.[1] ?? "TestX", {
      output, timedOut: false, timeoutMs: 180_000, exitCode: 0, ...extra,
    });

  test("the result line decides", () => {
    expect(run(PASSED)).toEqual({ outcome: "pass", message: "" });
    expect(run(FAILED).outcome).toBe("fail");
    expect(run(FAILED).message).toStartWith("ctl_v3_test.go:33: versionTest");
    expect(run(SKIPPED).outcome).toBe("skip");
  });

  test("a message quoting pages of output is cut short", () => {
    const long = `=== RUN   TestV3MetricsInsecure\n    metrics_test.go:66: failed get with curl (${"x".repeat(5000)})\n--- FAIL: TestV3MetricsInsecure (2.00s)\n`;
    const r = outcomeOf("TestV3MetricsInsecure", { output: long, timedOut: false, timeoutMs: 1000, exitCode: 1 });
    expect(r.outcome).toBe("fail");
    expect(r.message.length).toBe(401);
    expect(r.message).toStartWith("metrics_test.go:66: failed get with curl (xxx");
    expect(r.message).toEndWith("…");
  });

  test("killed at the timeout: 'timeout', with what the test had logged", () => {
    const r = run("=== RUN   TestGateway\n    gateway_test.go:30: still waiting\n", { timedOut: true, exitCode: null });
    expect(r).toEqual({ outcome: "timeout", message: "no result within 180 s; logged before: gateway_test.go:30: still waiting" });
  });

  test("ended without a result line: 'error', saying how", () => {
    const r = run(PANICKED, { exitCode: 2 });
    expect(r.outcome).toBe("error");
    expect(r.message).toContain("exit 2");
    expect(r.message).toContain("panic: runtime error");
    expect(outcomeOf("TestNope", { output: "testing: warning: no tests to run\nPASS\n", timedOut: false, timeoutMs: 1000, exitCode: 0 }))
      .toEqual({ outcome: "error", message: "the e2e binary has no test named TestNope" });
  });
});

describe("what counts against etcd-ts", () => {
  const known: KnownDifference[] = [
    { test: "TestCtlV2Set", reason: "v2 key space" },
    { test: "TestCtlV3Version", reason: "our etcdctl reports 3.5", configs: ["c"] },
  ];

  test("only tests that pass on etcd 3.4 count", () => {
    expect(verdictOf("TestX", "b", "fail", "fail", known)).toBe("baseline-fail");
    expect(verdictOf("TestX", "b", "timeout", "pass", known)).toBe("baseline-fail");
    expect(verdictOf("TestReleaseUpgrade", "b", "skip", "skip", known)).toBe("baseline-skip");
    expect(verdictOf("TestX", "b", undefined, "fail", known)).toBe("not-run");
    expect(verdictOf("TestX", "c", "pass", undefined, known)).toBe("not-run");
  });

  test("a failure is expected only when listed for that configuration", () => {
    expect(verdictOf("TestX", "b", "pass", "pass", known)).toBe("ok");
    expect(verdictOf("TestX", "b", "pass", "fail", known)).toBe("regression");
    expect(verdictOf("TestX", "b", "pass", "timeout", known)).toBe("regression");
    expect(verdictOf("TestX", "b", "pass", "skip", known)).toBe("regression");
    expect(verdictOf("TestCtlV2Set", "b", "pass", "fail", known)).toBe("expected");
    expect(verdictOf("TestCtlV2Set", "c", "pass", "fail", known)).toBe("expected");
    expect(verdictOf("TestCtlV3Version", "c", "pass", "fail", known)).toBe("expected");
    expect(verdictOf("TestCtlV3Version", "b", "pass", "fail", known)).toBe("regression");
  });

  test("a listed test that passes is stale", () => {
    expect(verdictOf("TestCtlV2Set", "b", "pass", "pass", known)).toBe("stale");
    expect(verdictOf("TestCtlV3Version", "b", "pass", "pass", known)).toBe("ok");
  });

  const outcomes: Outcomes = new Map([
    ["TestA", { a: "pass", b: "pass", c: "pass" }],
    ["TestB", { a: "pass", b: "fail", c: "pass" }],
    ["TestCtlV2Set", { a: "pass", b: "fail", c: "fail" }],
    ["TestBroken", { a: "fail", b: "fail", c: "fail" }],
    ["TestReleaseUpgrade", { a: "skip", b: "skip" }],
  ]);

  test("the summary line counts what passes on etcd 3.4; listed failures do not pass", () => {
    const b = summarize(outcomes, "b", known);
    expect(b.counted).toBe(3);
    expect(b.passing).toBe(1);
    expect(b.byVerdict.regression).toEqual(["TestB"]);
    expect(b.byVerdict["baseline-fail"]).toEqual(["TestBroken"]);
    expect(b.byVerdict["baseline-skip"]).toEqual(["TestReleaseUpgrade"]);
    expect(summaryLine(b)).toBe("etcd-ts+etcdctl 3.4: 1/3 tests that pass on etcd 3.4 pass on etcd-ts (1 expected differences, 1 unexpected failures)");
    const c = summarize(outcomes, "c", known);
    expect(c.byVerdict["not-run"]).toEqual(["TestReleaseUpgrade"]);
    expect(summaryLine(c)).toBe("etcd-ts+our etcdctl: 2/3 tests that pass on etcd 3.4 pass on etcd-ts (1 expected differences)");
  });

  test("only an unexpected failure with etcdctl 3.4 (config b) fails the run", () => {
    expect(exitCodeOf(summarize(outcomes, "b", known))).toBe(1);
    const fixed: Outcomes = new Map([...outcomes, ["TestB", { a: "pass", b: "pass", c: "fail" }]]);
    expect(exitCodeOf(summarize(fixed, "b", known))).toBe(0);
    expect(exitCodeOf(undefined)).toBe(0);
  });

  test("tables mark listed failures and listed passes", () => {
    const text = textTable(outcomes, ["a", "b", "c"], known);
    expect(text.split("\n")[0]).toBe("test               | etcd 3.4 | etcd-ts+etcdctl 3.4 | etcd-ts+our etcdctl");
    expect(text).toContain("TestCtlV2Set       | pass     | FAIL (known)        | FAIL (known)");
    const md = markdownTable(new Map([["TestCtlV2Set", { a: "pass", b: "pass" }]]), ["a", "b"], known);
    expect(md).toBe("| test | etcd 3.4 | etcd-ts+etcdctl 3.4 |\n| --- | --- | --- |\n| TestCtlV2Set | pass | pass (listed) |");
  });

  test("the checked-in list names tests of the suite (when its sources are installed)", () => {
    if (!existsSync(E2E_SRC)) return;
    const source = readdirSync(E2E_SRC).filter((f) => f.endsWith(".go")).map((f) => readFileSync(join(E2E_SRC, f), "utf8")).join("\n");
    const missing = KNOWN_DIFFERENCES.map((k) => k.test).filter((t) => !source.includes(`func ${t}(t *testing.T)`));
    expect(missing).toEqual([]);
  });

  test("the checked-in list names each test once, with a reason", () => {
    const names = KNOWN_DIFFERENCES.map((k) => `${k.test}:${(k.configs ?? ["b", "c"]).join()}`);
    expect(new Set(names).size).toBe(names.length);
    for (const k of KNOWN_DIFFERENCES) {
      expect(k.test).toMatch(/^Test\w+$/);
      expect(k.reason.length).toBeGreaterThan(10);
    }
  });
});

describe("the command line", () => {
  test("defaults", () => {
    const o = parseOptions([]);
    expect(o.configs).toEqual(["a", "b", "c"]);
    expect(o.jobs).toBe(2);
    expect(o.timeoutMs).toBe(180_000);
    expect(o.cOnly.source).toBe(DEFAULT_C_ONLY);
    expect(o.only).toBeUndefined();
  });

  test("options with separate and = values", () => {
    const o = parseOptions(["--only", "^TestCtlV3Put$", "--config=b,a", "--jobs", "3", "--binary", "/tmp/etcd", "--timeout=60", "--write-docs"]);
    expect(o.only?.test("TestCtlV3Put")).toBe(true);
    expect(o.configs).toEqual(["a", "b"]);
    expect(o.jobs).toBe(3);
    expect(o.binary).toBe("/tmp/etcd");
    expect(o.timeoutMs).toBe(60_000);
    expect(o.writeDocs).toBe(true);
  });

  test("mistakes are refused, naming the option", () => {
    expect(() => parseOptions(["--config", "a,d"])).toThrow("--config: 'a,d' must list some of a, b, c");
    expect(() => parseOptions(["--jobs", "0"])).toThrow("--jobs: '0' is not a whole number ≥ 1");
    expect(() => parseOptions(["--only", "("])).toThrow("--only: '(' is not a regular expression");
    expect(() => parseOptions(["--timeout"])).toThrow("--timeout needs a value");
    expect(() => parseOptions(["--frobnicate"])).toThrow("unknown option '--frobnicate'");
  });
});
