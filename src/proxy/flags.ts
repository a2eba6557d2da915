// Flags of `etcd gateway start` and `etcd grpc-proxy start`, parsed as etcd parses them there
// (cobra/pflag, not Go's flag package like the server's): "--name value" or "--name=value"; booleans
// take a value only with "="; a string list takes commas and appends when repeated; flags may come
// before or after the subcommand ("etcd gateway --endpoints=a start", as etcd's e2e suite writes it).
// A single dash works too ("-endpoints"), as operators write for the server. Table-driven, so the
// help text and the parser cannot disagree.
import { parseDuration } from "../config/duration.ts";

export type FlagKind = "string" | "bool" | "strings" | "duration" | "int";

export interface FlagSpec {
  name: string;
  kind: FlagKind;
  help: string;
  /** The value when the flag is not given (milliseconds for durations). */
  default: string | boolean | string[] | number;
}

export type FlagValue = string | boolean | string[] | number;

/** A usage error: the message names the flag and says what to do; exit status 1 (cobra's). */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FlagError";
  }
}

export interface ParsedCommand {
  /** The positional arguments (the subcommand, and anything misplaced). */
  positionals: string[];
  help: boolean;
  values: Map<string, FlagValue>;
  /** Flags the command line set (their defaults were not used). */
  given: Set<string>;
}

const HELP = new Set(["h", "help"]);
const BOOL_TRUE = /^(1|t|true)$/i;
const BOOL_FALSE = /^(0|f|false)$/i;

/**
 * Parses `argv` against `specs`. Unknown flags are errors naming them; `hint(name)` may add what to
 * use instead (a flag of another etcd command, say).
 */
export function parseCommandLine(argv: readonly string[], specs: readonly FlagSpec[], command: string, hint?: (name: string) => string | undefined): ParsedCommand {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values = new Map<string, FlagValue>(specs.map((s) => [s.name, Array.isArray(s.default) ? [...s.default] : s.default]));
  const given = new Set<string>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    if (name === "" || name.startsWith("-")) throw new FlagError(`bad flag syntax: ${arg} (write --name value or --name=value)`);
    if (HELP.has(name)) {
      help = inline === undefined || BOOL_TRUE.test(inline);
      continue;
    }
    const spec = byName.get(name);
    if (!spec) {
      const more = hint?.(name);
      throw new FlagError(`unknown flag: --${name}${more ? ` (${more})` : ""}; run '${command} --help' to list the flags`);
    }
    let text: string;
    if (inline !== undefined) text = inline;
    else if (spec.kind === "bool") text = "true";
    else {
      const next = argv[i + 1];
      // pflag would take "--endpoints" as the value of "--namespace --endpoints x"; a known flag here
      // is almost surely a forgotten value, so say so.
      if (next === undefined || looksLikeKnownFlag(next, byName)) throw new FlagError(`flag needs an argument: --${name} (write --${name} VALUE or --${name}=VALUE)`);
      text = next;
      i++;
    }
    values.set(name, convert(spec, text, given.has(name) ? values.get(name) : undefined));
    given.add(name);
  }
  return { positionals, help, values, given };
}

function looksLikeKnownFlag(arg: string, byName: ReadonlyMap<string, FlagSpec>): boolean {
  const m = /^--?([^-=][^=]*)(=|$)/.exec(arg);
  return m !== null && (byName.has(m[1]) || HELP.has(m[1]));
}

function convert(spec: FlagSpec, text: string, previous: FlagValue | undefined): FlagValue {
  const bad = (expected: string) => new FlagError(`invalid argument "${text}" for "--${spec.name}" flag: ${expected}`);
  switch (spec.kind) {
    case "string":
      return text;
    case "bool":
      if (BOOL_TRUE.test(text)) return true;
      if (BOOL_FALSE.test(text)) return false;
      throw bad("expected true or false");
    case "strings": {
      // pflag's StringSlice: comma-separated; a second occurrence appends to the first.
      const items = text === "" ? [] : text.split(",").map((s) => s.trim());
      return Array.isArray(previous) ? [...previous, ...items] : items;
    }
    case "duration":
      try {
        return parseDuration(text);
      } catch {
        throw bad("expected a duration with a unit, such as 500ms, 5s or 1m30s");
      }
    case "int": {
      const t = text.trim();
      if (!/^[+-]?(\d+|0x[0-9a-f]+)$/i.test(t)) throw bad("expected an integer");
      const n = Number(t.replace(/^\+/, ""));
      if (!Number.isSafeInteger(n)) throw bad("the number is too large");
      return n;
    }
  }
}

/** cobra's usage text: a summary, the usage line and the flags with their defaults. */
export function usage(summary: string, useLine: string, specs: readonly FlagSpec[]): string {
  const rows = [...specs, { name: "help", kind: "bool", help: "help for this command", default: false } as FlagSpec]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((s) => {
      const type = s.kind === "bool" ? "" : ` ${s.kind === "strings" ? "strings" : s.kind === "int" ? "int" : s.kind}`;
      return { left: `      --${s.name}${type}`, right: s.help + defaultText(s) };
    });
  const width = Math.max(...rows.map((r) => r.left.length)) + 3;
  return `${summary}\n\nUsage:\n  ${useLine}\n\nFlags:\n${rows.map((r) => r.left.padEnd(width) + r.right).join("\n")}\n`;
}

function defaultText(s: FlagSpec): string {
  const d = s.default;
  if (s.kind === "bool") return d ? " (default true)" : "";
  if (s.kind === "strings") return (d as string[]).length ? ` (default [${(d as string[]).join(",")}])` : "";
  if (s.kind === "duration") return (d as number) ? ` (default ${formatDuration(d as number)})` : "";
  if (s.kind === "int") return ` (default ${d})`;
  return d === "" ? "" : ` (default "${d}")`;
}

/** Go's time.Duration.String() for whole milliseconds ("1m0s", "20s", "500ms"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const sec = `${Number(s.toFixed(3))}s`;
  return h ? `${h}h${m}m${sec}` : m ? `${m}m${sec}` : sec;
}
