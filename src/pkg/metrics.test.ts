import { describe, expect, test } from "bun:test";
import { Counter, exponentialBuckets, formatValue, Registry } from "./metrics.ts";
import { registerProcessMetrics } from "./process-metrics.ts";

describe("formatValue", () => {
  test("writes numbers as client_golang does (Go's shortest 'g' format)", () => {
    // Each pair was seen in etcd 3.4's /metrics output or follows Go's strconv rules.
    const cases: [number, string][] = [
      [0, "0"],
      [1, "1"],
      [1312, "1312"],
      [24576, "24576"],
      [999999, "999999"],
      [1e6, "1e+06"],
      [19248392, "1.9248392e+07"],
      [25346048, "2.5346048e+07"],
      [1795635831.6, "1.7956358316e+09"],
      [18446744073709552000, "1.8446744073709552e+19"],
      [0.03, "0.03"],
      [0.001777907, "0.001777907"],
      [0.0001, "0.0001"],
      [0.00010765300000000001, "0.00010765300000000001"],
      [0.00001, "1e-05"],
      [1.5e-7, "1.5e-07"],
      [-2, "-2"],
      [-1234567, "-1.234567e+06"],
      [Infinity, "+Inf"],
      [-Infinity, "-Inf"],
      [NaN, "NaN"],
    ];
    for (const [v, s] of cases) expect(`${v} -> ${formatValue(v)}`).toBe(`${v} -> ${s}`);
  });

  test("etcd's exponential buckets print as etcd prints its le labels", () => {
    expect(exponentialBuckets(0.001, 2, 14).map(formatValue)).toEqual([
      "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512", "1.024", "2.048", "4.096", "8.192",
    ]);
    expect(exponentialBuckets(0.0001, 2, 16).map(formatValue)).toEqual([
      "0.0001", "0.0002", "0.0004", "0.0008", "0.0016", "0.0032", "0.0064", "0.0128",
      "0.0256", "0.0512", "0.1024", "0.2048", "0.4096", "0.8192", "1.6384", "3.2768",
    ]);
  });
});

describe("Registry", () => {
  test("exposes families sorted by name, with HELP and TYPE, labels sorted by name", () => {
    const r = new Registry();
    const g = r.gauge({ name: "b_gauge", help: "A gauge." });
    const c = r.counterVec({ name: "a_total", help: "Calls.", labelNames: ["method", "code"] });
    g.set(2.5);
    c.with("Range", "OK").inc();
    c.with("Put", "OK").inc(3);
    expect(r.expose()).toBe(
      [
        "# HELP a_total Calls.",
        "# TYPE a_total counter",
        'a_total{code="OK",method="Put"} 3',
        'a_total{code="OK",method="Range"} 1',
        "# HELP b_gauge A gauge.",
        "# TYPE b_gauge gauge",
        "b_gauge 2.5",
        "",
      ].join("\n"),
    );
  });

  test("histograms write cumulative buckets (value <= le), +Inf, _sum and _count; labels before le", () => {
    const r = new Registry();
    const h = r.histogramVec({ name: "rtt_seconds", help: "RTT.", buckets: [0.1, 0.2, 0.4], labelNames: ["To"] });
    const peer = h.with("ab12");
    for (const v of [0.05, 0.1, 0.15, 0.3, 5]) peer.observe(v);
    expect(r.expose()).toBe(
      [
        "# HELP rtt_seconds RTT.",
        "# TYPE rtt_seconds histogram",
        'rtt_seconds_bucket{To="ab12",le="0.1"} 2',
        'rtt_seconds_bucket{To="ab12",le="0.2"} 3',
        'rtt_seconds_bucket{To="ab12",le="0.4"} 4',
        'rtt_seconds_bucket{To="ab12",le="+Inf"} 5',
        'rtt_seconds_sum{To="ab12"} 5.6',
        'rtt_seconds_count{To="ab12"} 5',
        "",
      ].join("\n"),
    );
    const plain = r.histogram({ name: "fsync_seconds", help: "Fsync.", buckets: [1] });
    plain.observe(2);
    expect(r.expose()).toContain('fsync_seconds_bucket{le="1"} 0\nfsync_seconds_bucket{le="+Inf"} 1\nfsync_seconds_sum 2\nfsync_seconds_count 1\n');
  });

  test("a family without series writes nothing, as client_golang", () => {
    const r = new Registry();
    r.counterVec({ name: "peer_sent_bytes_total", help: "Sent.", labelNames: ["To"] });
    expect(r.expose()).toBe("");
  });

  test("escapes help text and label values", () => {
    const r = new Registry();
    r.gaugeVec({ name: "x", help: 'back\\slash\nnewline "quotes" stay', labelNames: ["v"] }).with('a"b\\c\nd').set(1);
    expect(r.expose()).toBe('# HELP x back\\\\slash\\nnewline "quotes" stay\n# TYPE x gauge\nx{v="a\\"b\\\\c\\nd"} 1\n');
  });

  test("with() returns the same series for the same values, and remove() drops it", () => {
    const r = new Registry();
    const f = r.counterVec({ name: "c_total", help: "C.", labelNames: ["a", "b"] });
    expect(f.with("1", "2")).toBe(f.with("1", "2"));
    expect(f.with("1", "2")).not.toBe(f.with("12", ""));
    expect(() => f.with("only-one")).toThrow("has labels [a, b], got 1 value(s)");
    expect(f.remove("1", "2")).toBe(true);
    expect(f.size).toBe(1);
  });

  test("defining a metric again returns it; defining it differently throws", () => {
    const r = new Registry();
    const a = r.counter({ name: "n_total", help: "N." });
    expect(r.counter({ name: "n_total", help: "N." })).toBe(a);
    expect(() => r.gauge({ name: "n_total", help: "N." })).toThrow("already defined differently");
    expect(() => r.counter({ name: "n_total", help: "Other." })).toThrow("already defined differently");
  });

  test("refuses invalid names, label names, buckets and counter decrements", () => {
    const r = new Registry();
    expect(() => r.counter({ name: "bad-name", help: "" })).toThrow("Invalid metric name 'bad-name'");
    expect(() => r.counterVec({ name: "ok", help: "", labelNames: ["__x"] })).toThrow("Invalid label name '__x'");
    expect(() => r.histogramVec({ name: "h", help: "", buckets: [1], labelNames: ["le"] })).toThrow("cannot have a label named 'le'");
    expect(() => r.histogram({ name: "h2", help: "", buckets: [2, 1] })).toThrow("increasing buckets");
    expect(() => new Counter().inc(-1)).toThrow("non-negative");
  });

  test("collectors run before each exposition until removed", () => {
    const r = new Registry();
    const g = r.gauge({ name: "pulled", help: "P." });
    let n = 0;
    const off = r.onCollect(() => g.set(++n));
    expect(r.expose()).toContain("pulled 1\n");
    expect(r.expose()).toContain("pulled 2\n");
    off();
    expect(r.expose()).toContain("pulled 2\n");
  });

  test("process metrics have client_golang's names, types and plausible values", () => {
    const r = new Registry();
    registerProcessMetrics(r);
    registerProcessMetrics(r); // once per registry
    const text = r.expose();
    expect(text).toContain("# TYPE process_cpu_seconds_total counter\n");
    expect(text).toContain("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
    expect(value("process_resident_memory_bytes")).toBeGreaterThan(1e6);
    expect(value("process_open_fds")).toBeGreaterThan(2);
    expect(Math.abs(value("process_start_time_seconds") - Date.now() / 1000)).toBeLessThan(3600);
    expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
  });

  test("counting costs no allocation: a million increments and observations stay cheap", () => {
    const r = new Registry();
    const c = r.counterVec({ name: "hot_total", help: "H.", labelNames: ["m"] }).with("Put");
    const h = r.histogram({ name: "hot_seconds", help: "H.", buckets: exponentialBuckets(0.001, 2, 14) });
    const start = performance.now();
    for (let i = 0; i < 1_000_000; i++) {
      c.inc();
      h.observe(0.003);
    }
    // ~10 ns per pair here; the bound only catches a per-call allocation or lookup creeping in.
    expect(performance.now() - start).toBeLessThan(500);
    expect(c.value).toBe(1_000_000);
  });
});
