// Prometheus metrics: counters, gauges and histograms, and the text exposition format (0.0.4) that
// Prometheus scrapes from /metrics. Each layer defines its metrics once, at module load, on
// `defaultRegistry` (as etcd registers its own with client_golang's default registry), under etcd's
// names, help texts, buckets and label names, so that etcd's dashboards and alerts work unchanged.
//
// Cheap on the hot path: a labelled series is looked up once (`family.with(...)`) and kept by the
// caller, so an update is a field increment; a histogram's buckets are fixed when it is defined.
// The output is ordered and its numbers formatted as client_golang does, so the two diff cleanly.

export type MetricType = "counter" | "gauge" | "histogram";

/** A value that only goes up (or restarts at 0 with the process). */
export class Counter {
  value = 0;

  inc(n = 1): void {
    // A negative step is a bug in the caller: rate() would read it as a counter reset.
    if (!(n >= 0)) throw new RangeError(`Counter.inc expects a non-negative number, got ${n}`);
    this.value += n;
  }
}

/** A value that goes up and down. */
export class Gauge {
  value = 0;

  set(v: number): void {
    this.value = v;
  }

  inc(n = 1): void {
    this.value += n;
  }

  dec(n = 1): void {
    this.value -= n;
  }
}

/** Observations counted into fixed buckets (each bucket counts values <= its upper bound). */
export class Histogram {
  readonly upperBounds: readonly number[];
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly #counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(upperBounds: readonly number[]) {
    this.upperBounds = upperBounds;
    this.#counts = new Float64Array(upperBounds.length + 1);
  }

  observe(v: number): void {
    const b = this.upperBounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.#counts[i]++;
    this.sum += v;
    this.count++;
  }

  /** Cumulative counts per bucket, +Inf last (what the exposition shows). */
  cumulative(): number[] {
    const out: number[] = [];
    let total = 0;
    for (const c of this.#counts) out.push((total += c));
    return out;
  }
}

type MetricOf<T extends MetricType> = T extends "counter" ? Counter : T extends "gauge" ? Gauge : Histogram;

interface Series<M> {
  values: readonly string[];
  /** `{name="value",...}` in label-name order, or "" without labels; built once. */
  labels: string;
  sortKey: string;
  metric: M;
}

export interface MetricOptions {
  name: string;
  help: string;
}

export interface VecOptions extends MetricOptions {
  labelNames: readonly string[];
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, increasing; +Inf is implied. */
  buckets: readonly number[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** One metric name with its help, type, label names and a series per set of label values. */
export class MetricFamily<T extends MetricType> {
  readonly name: string;
  readonly help: string;
  readonly type: T;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[] | undefined;
  readonly #series = new Map<string, Series<MetricOf<T>>>();
  /** Label positions in name order: the exposition writes labels sorted by name, as client_golang. */
  readonly #order: number[];
  #sorted: Series<MetricOf<T>>[] | null = null;

  constructor(type: T, opts: MetricOptions & { labelNames?: readonly string[]; buckets?: readonly number[] }) {
    if (!METRIC_NAME.test(opts.name)) throw new Error(`Invalid metric name '${opts.name}'`);
    const labelNames = opts.labelNames ?? [];
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith("__")) throw new Error(`Invalid label name '${l}' of metric '${opts.name}'`);
      if (type === "histogram" && l === "le") throw new Error(`Histogram '${opts.name}' cannot have a label named 'le'`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`Metric '${opts.name}' repeats a label name`);
    if (type === "histogram") {
      const b = opts.buckets ?? [];
      if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]))) {
        throw new Error(`Histogram '${opts.name}' needs finite, increasing buckets, got [${b.join(", ")}]`);
      }
    }
    this.name = opts.name;
    this.help = opts.help;
    this.type = type;
    this.labelNames = [...labelNames];
    this.buckets = opts.buckets && [...opts.buckets];
    this.#order = labelNames.map((_, i) => i).sort((a, b) => (labelNames[a] < labelNames[b] ? -1 : 1));
  }

  /** The series with these label values (in `labelNames` order), created at 0 on first use. Keep it. */
  with(...values: string[]): MetricOf<T> {
    const key = values.length === 1 ? values[0] : values.join("\u0000");
    const found = this.#series.get(key);
    if (found) return found.metric;
    if (values.length !== this.labelNames.length) {
      throw new Error(`Metric '${this.name}' has labels [${this.labelNames.join(", ")}], got ${values.length} value(s)`);
    }
    const metric = (this.type === "histogram" ? new Histogram(this.buckets!) : this.type === "counter" ? new Counter() : new Gauge()) as MetricOf<T>;
    const sortedValues = this.#order.map((i) => values[i]);
    const labels = this.#order.map((i) => `${this.labelNames[i]}="${escapeLabelValue(values[i])}"`).join(",");
    this.#series.set(key, { values: [...values], labels: labels && `{${labels}}`, sortKey: sortedValues.join("\u0000"), metric });
    this.#sorted = null;
    return metric;
  }

  /** Drops a series (e.g. of a removed peer); false if there was none. */
  remove(...values: string[]): boolean {
    const gone = this.#series.delete(values.length === 1 ? values[0] : values.join("\u0000"));
    if (gone) this.#sorted = null;
    return gone;
  }

  get size(): number {
    return this.#series.size;
  }

  /** Appends this family's exposition lines (nothing for a family without series, as client_golang). */
  write(out: string[]): void {
    if (this.#series.size === 0) return;
    this.#sorted ??= [...this.#series.values()].sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const s of this.#sorted) {
      if (this.type !== "histogram") {
        out.push(`${this.name}${s.labels} ${formatValue((s.metric as Counter | Gauge).value)}`);
        continue;
      }
      const h = s.metric as Histogram;
      const prefix = s.labels ? `${s.labels.slice(0, -1)},` : "{";
      const counts = h.cumulative();
      for (let i = 0; i < counts.length; i++) {
        const le = i < h.upperBounds.length ? formatValue(h.upperBounds[i]) : "+Inf";
        out.push(`${this.name}_bucket${prefix}le="${le}"} ${formatValue(counts[i])}`);
      }
      out.push(`${this.name}_sum${s.labels} ${formatValue(h.sum)}`, `${this.name}_count${s.labels} ${formatValue(h.count)}`);
    }
  }
}

/** The exposition's Content-Type (Prometheus text format 0.0.4). */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A set of metric families, exposed together; collectors refresh pulled values before each exposition. */
export class Registry {
  readonly #families = new Map<string, MetricFamily<MetricType>>();
  readonly #collectors = new Set<() => void>();

  counter(opts: MetricOptions): Counter {
    return this.#define("counter", opts).with();
  }

  counterVec(opts: VecOptions): MetricFamily<"counter"> {
    return this.#define("counter", opts);
  }

  gauge(opts: MetricOptions): Gauge {
    return this.#define("gauge", opts).with();
  }

  gaugeVec(opts: VecOptions): MetricFamily<"gauge"> {
    return this.#define("gauge", opts);
  }

  histogram(opts: HistogramOptions): Histogram {
    return this.#define("histogram", opts).with();
  }

  histogramVec(opts: HistogramOptions & VecOptions): MetricFamily<"histogram"> {
    return this.#define("histogram", opts);
  }

  /** Runs `collect` before every exposition (for values read rather than counted); returns its removal. */
  onCollect(collect: () => void): () => void {
    const fn = () => collect();
    this.#collectors.add(fn);
    return () => void this.#collectors.delete(fn);
  }

  /** A registered family by name (tests, and callers that check what is defined). */
  get(name: string): MetricFamily<MetricType> | undefined {
    return this.#families.get(name);
  }

  /** Every family's current values in the text format, families sorted by name. */
  expose(): string {
    for (const collect of this.#collectors) collect();
    const out: string[] = [];
    for (const name of [...this.#families.keys()].sort()) this.#families.get(name)!.write(out);
    return out.length ? `${out.join("\n")}\n` : "";
  }

  /**
   * Defining the same metric again returns the first definition (a module loaded twice, a second
   * server in one process); a different definition under the same name is a bug and throws.
   */
  #define<T extends MetricType>(type: T, opts: MetricOptions & { labelNames?: readonly string[]; buckets?: readonly number[] }): MetricFamily<T> {
    const fresh = new MetricFamily(type, opts);
    const existing = this.#families.get(opts.name);
    if (!existing) {
      this.#families.set(opts.name, fresh);
      return fresh;
    }
    const same =
      existing.type === type &&
      existing.help === fresh.help &&
      existing.labelNames.join(",") === fresh.labelNames.join(",") &&
      (existing.buckets ?? []).join(",") === (fresh.buckets ?? []).join(",");
    if (!same) throw new Error(`Metric '${opts.name}' is already defined differently (${existing.type} [${existing.labelNames.join(", ")}])`);
    return existing as MetricFamily<T>;
  }
}

/** The registry /metrics exposes. */
export const defaultRegistry = new Registry();

/** client_golang's ExponentialBuckets: count bounds from start, each factor times the previous. */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  if (!(start > 0) || !(factor > 1) || !Number.isInteger(count) || count < 1) {
    throw new RangeError(`exponentialBuckets needs start > 0, factor > 1, count >= 1; got ${start}, ${factor}, ${count}`);
  }
  const out: number[] = [];
  for (let i = 0, b = start; i < count; i++, b *= factor) out.push(b);
  return out;
}

/**
 * A sample value as client_golang writes it (Go's strconv 'g' format, shortest): plain decimals for
 * exponents -4..5, else d.ddde±XX; +Inf, -Inf, NaN.
 */
export function formatValue(v: number): string {
  if (Number.isInteger(v) && v > -1e6 && v < 1e6) return Object.is(v, -0) ? "-0" : String(v);
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  const s = v.toExponential(); // shortest digits that round-trip, as Go's
  const e = s.indexOf("e");
  const exp = Number(s.slice(e + 1));
  if (exp >= -4 && exp < 6) return String(v);
  const abs = Math.abs(exp);
  return `${s.slice(0, e)}e${exp < 0 ? "-" : "+"}${abs < 10 ? "0" : ""}${abs}`;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
