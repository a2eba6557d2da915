/**
 * Command-line flags as etcdctl's (spf13/pflag) reads them: `--name=value`, `--name value`, `-w json`,
 * `-wjson`, booleans without a value, flags anywhere among the arguments, `--` ending them. Errors
 * carry pflag's wording, since scripts and people match on it.
 */
import { CliError, ExitCode } from "./errors.ts";

export type FlagType = "bool" | "string" | "int" | "uint" | "duration" | "strings";
export type FlagValue = boolean | string | bigint | number | string[];

export interface FlagSpec {
  readonly name: string;
  readonly short?: string;
  readonly type: FlagType;
  /** Defaults: false, "", 0n, 0 ms, [] unless given. Durations are milliseconds. */
  readonly default?: FlagValue;
  readonly usage: string;
}

export interface ParsedFlags {
  /** Every declared flag, with its default when not given. */
  readonly values: Readonly<Record<string, FlagValue>>;
  /** The flags given on the command line (env and defaults excluded). */
  readonly set: ReadonlySet<string>;
  /** The positional arguments, in order. */
  readonly args: string[];
  /** How many of `args` came before "--" (cobra's ArgsLenAtDash); -1 without one. */
  readonly argsAtDash: number;
}

export function defaultOf(spec: FlagSpec): FlagValue {
  if (spec.default !== undefined) return spec.default;
  switch (spec.type) {
    case "bool":
      return false;
    case "string":
      return "";
    case "int":
    case "uint":
      return 0n;
    case "duration":
      return 0;
    case "strings":
      return [];
  }
}

function flagError(message: string): CliError {
  return new CliError(ExitCode.Error, message);
}

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** strconv.ParseInt / ParseUint with base 0, as pflag's int64/uint64 flags. */
function parseInteger(text: string, unsigned: boolean): bigint {
  const fn = unsigned ? "strconv.ParseUint" : "strconv.ParseInt";
  const syntax = () => new Error(`${fn}: parsing ${JSON.stringify(text)}: invalid syntax`);
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO]?[0-7_]+|[1-9][0-9_]*|0)$/.exec(text);
  if (!m || (unsigned && m[1] !== "")) throw syntax();
  let digits = m[2].replace(/_/g, "");
  if (/^0[0-7]/.test(digits)) digits = "0o" + digits.slice(1);
  let v = BigInt(digits);
  if (m[1] === "-") v = -v;
  if (unsigned ? v > UINT64_MAX : v < INT64_MIN || v > INT64_MAX) {
    throw new Error(`${fn}: parsing ${JSON.stringify(text)}: value out of range`);
  }
  return v;
}

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** time.ParseDuration, in milliseconds. */
export function parseGoDuration(text: string): number {
  const invalid = () => new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    sign = s[0] === "-" ? -1 : 1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw invalid();
  let total = 0;
  const term = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)?/y;
  let pos = 0;
  while (pos < s.length) {
    term.lastIndex = pos;
    const m = term.exec(s);
    if (!m) throw invalid();
    if (!m[2]) throw new Error(`time: missing unit in duration ${JSON.stringify(text)}`);
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]];
    pos = term.lastIndex;
  }
  return sign * total;
}

function convert(spec: FlagSpec, text: string, previous: FlagValue, given: boolean): FlagValue {
  switch (spec.type) {
    case "bool":
      if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
      if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
      throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`);
    case "string":
      return text;
    case "int":
      return parseInteger(text, false);
    case "uint":
      return parseInteger(text, true);
    case "duration":
      return parseGoDuration(text);
    case "strings": {
      // pflag's StringSlice: comma-separated (CSV), and repeated flags add up.
      const items = text === "" ? [] : text.split(",").map((s) => s.trim());
      return given ? [...(previous as string[]), ...items] : items;
    }
  }
}

/** Sets one flag from its text; the error names the flag as pflag does. */
export function setFlag(spec: FlagSpec, text: string, values: Record<string, FlagValue>, set: Set<string>): void {
  try {
    values[spec.name] = convert(spec, text, values[spec.name], set.has(spec.name));
  } catch (e) {
    const name = spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
    throw flagError(`invalid argument ${JSON.stringify(text)} for "${name}" flag: ${(e as Error).message}`);
  }
  set.add(spec.name);
}

/**
 * "–lease=…" (an en or em dash) is what "--lease=…" becomes when pasted from a web page, as in the
 * tutorial our users follow; etcdctl would take it for a key. We read it as the flag it was meant to be.
 */
export function dashes(arg: string): string {
  return /^[\u2013\u2014][a-z]/.test(arg) ? "--" + arg.slice(1) : arg;
}

/** Parses argv against the flags a command accepts (its own and the global ones). */
export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[]): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values: Record<string, FlagValue> = {};
  for (const s of specs) values[s.name] = defaultOf(s);
  const set = new Set<string>();
  const args: string[] = [];
  let argsAtDash = -1;
  for (let i = 0; i < argv.length; i++) {
    const a = dashes(argv[i]);
    if (a === "--") {
      argsAtDash = args.length;
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byName.get(name);
      if (!spec) throw flagError(`unknown flag: --${name}`);
      if (eq >= 0) setFlag(spec, a.slice(eq + 1), values, set);
      else if (spec.type === "bool") setFlag(spec, "true", values, set);
      else if (i + 1 < argv.length) setFlag(spec, argv[++i], values, set);
      else throw flagError(`flag needs an argument: --${name}`);
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      // A run of shorthands: -ab, -wjson, -w=json.
      for (let j = 1; j < a.length; j++) {
        const c = a[j];
        const spec = byShort.get(c);
        if (!spec) throw flagError(`unknown shorthand flag: '${c}' in ${a}`);
        if (spec.type === "bool") {
          if (a[j + 1] === "=") {
            setFlag(spec, a.slice(j + 2), values, set);
            break;
          }
          setFlag(spec, "true", values, set);
          continue;
        }
        let text: string;
        if (j + 1 < a.length) text = a.slice(a[j + 1] === "=" ? j + 2 : j + 1);
        else if (i + 1 < argv.length) text = argv[++i];
        else throw flagError(`flag needs an argument: '${c}' in -${c}`);
        setFlag(spec, text, values, set);
        break;
      }
      continue;
    }
    args.push(a);
  }
  return { values, set, args, argsAtDash };
}

/** Go's Duration.String() for whole milliseconds and above ("2s", "1m30s", "500ms"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? "-" : ""}${Number.isInteger(rest) ? rest : rest.toFixed(3).replace(/0+$/, "")}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = (rest / 1000).toFixed(9).replace(/\.?0+$/, "");
  return `${neg ? "-" : ""}${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${s}s`;
}
