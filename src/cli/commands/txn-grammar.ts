/**
 * The text etcdctl's txn reads: comparisons (`mod("k") > "5"`), then requests written as the get, put
 * and del commands (`put k "v w" --prev-kv`). Pure functions, so every error text is unit tested.
 *
 * Words are kept as "binary" strings (one char per byte, latin1): a quoted "\xff" is one byte, as in
 * Go, and the op builders turn them back into bytes with `LATIN1`.
 */
import type { etcdserverpb } from "../../proto/etcd.js";
import { etcdserverpb as pb } from "../../proto/etcd.js";
import type { Flags } from "../command.ts";
import { CliError, ExitCode } from "../errors.ts";
import { type FlagSpec, parseFlags } from "../flags.ts";
import { goQuoteBytes } from "../output/go-quote.ts";
import { DEL_FLAGS, deleteRequest } from "./del.ts";
import { GET_FLAGS, getRequest } from "./get.ts";
import { PUT_FLAGS, putRequest } from "./put.ts";
import { parseInt64 } from "./strconv.ts";

/** Bytes of a word held as a binary string. */
export const LATIN1 = (s: string): Buffer => Buffer.from(s, "latin1");

const invalidInput = (message: string) => new CliError(ExitCode.InvalidInput, message);

/** Go's \s (RE2): ASCII space, \t, \n, \f, \r. */
const WORD = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\t\n\f\r ][^\t\n\f\r ]*[^'"\t\n\f\r ]?/g;

/**
 * etcdctl's argify: splits a line into words; "double quoted" words are Go string literals,
 * 'single quoted' ones are taken as they are (etcdctl 3.4 cuts them at the wrong length; we do not).
 */
export function argify(line: string): string[] {
  return (line.match(WORD) ?? []).map((w) => {
    if (w.startsWith("'")) return w.slice(1, -1);
    if (w.startsWith('"')) {
      const r = scanQuoted(w, 0);
      if (typeof r === "string") throw invalidInput(r);
      return r.value;
    }
    return w;
  });
}

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, "\\": 92, '"': 34 };

/** strconv.Unquote of a double-quoted Go literal (without its quotes), as a binary string; null if invalid. */
function unquoteBody(body: string): string | null {
  const out: number[] = [];
  const utf8 = (cp: number) => out.push(...Buffer.from(String.fromCodePoint(cp), "utf8"));
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '"' || c === "\n") return null;
    if (c !== "\\") {
      // The line is a binary string already: keep its bytes.
      out.push(c.charCodeAt(0) & 0xff);
      continue;
    }
    const e = body[++i];
    if (e === undefined) return null;
    if (e in SIMPLE_ESCAPES) {
      out.push(SIMPLE_ESCAPES[e]);
    } else if (e === "x" || e === "u" || e === "U") {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return null;
      const v = parseInt(hex, 16);
      i += n;
      if (e === "x") out.push(v);
      else if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) return null;
      else utf8(v);
    } else if (e >= "0" && e <= "7") {
      const oct = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return null;
      out.push(parseInt(oct, 8));
      i += 2;
    } else {
      return null;
    }
  }
  return Buffer.from(out).toString("latin1");
}

/**
 * fmt's %q verb reading at `pos`: spaces skipped, then a "…" or `…` literal. The value and where it
 * ended, or fmt's error text.
 */
function scanQuoted(s: string, pos: number): { value: string; pos: number } | string {
  while (s[pos] === " " || s[pos] === "\t") pos++;
  if (pos >= s.length) return "unexpected EOF";
  const q = s[pos];
  if (q === "`") {
    const end = s.indexOf("`", pos + 1);
    if (end < 0) return "unexpected EOF";
    return { value: s.slice(pos + 1, end), pos: end + 1 };
  }
  if (q !== '"') return "expected quoted string";
  let i = pos + 1;
  for (; i < s.length && s[i] !== '"'; i++) if (s[i] === "\\") i++;
  if (i >= s.length) return "unexpected EOF";
  const value = unquoteBody(s.slice(pos + 1, i));
  if (value === null) return "invalid syntax";
  return { value, pos: i + 1 };
}

/** fmt.Sscanf(s, "%q) %s %q", &key, &op, &val): how many of the three were read, and them. */
export function scanCompare(s: string): { n: number; key: string; op: string; val: string } {
  const r = { n: 0, key: "", op: "", val: "" };
  const k = scanQuoted(s, 0);
  if (typeof k === "string") return r;
  r.key = k.value;
  r.n = 1;
  let pos = k.pos;
  if (s[pos] !== ")") return r;
  pos++;
  while (s[pos] === " " || s[pos] === "\t") pos++;
  const opStart = pos;
  while (pos < s.length && s[pos] !== " " && s[pos] !== "\t") pos++;
  if (pos === opStart) return r;
  r.op = s.slice(opStart, pos);
  r.n = 2;
  const v = scanQuoted(s, pos);
  if (typeof v === "string") return r;
  r.val = v.value;
  r.n = 3;
  return r;
}

const RESULTS: Record<string, etcdserverpb.Compare.CompareResult> = {
  "=": pb.Compare.CompareResult.EQUAL,
  "!=": pb.Compare.CompareResult.NOT_EQUAL,
  ">": pb.Compare.CompareResult.GREATER,
  "<": pb.Compare.CompareResult.LESS,
};

/** One comparison line: `target("key") op "value"`, target one of ver(sion), c(reate), m(od), val(ue), lease. */
export function parseCompare(line: string): etcdserverpb.Compare.$Properties {
  const paren = line.indexOf("(");
  if (paren < 0) throw invalidInput(`malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  const { n, key, op, val } = scanCompare(line.slice(paren + 1));
  if (n !== 3) {
    throw invalidInput(`malformed comparison: ${line}; got ${target}(${goQuoteBytes(LATIN1(key))}) ${op} ${goQuoteBytes(LATIN1(val))}`);
  }
  const cmp: etcdserverpb.Compare.$Properties = { key: LATIN1(key) };
  const int = (base: 10 | 16): bigint => {
    try {
      return parseInt64(val, base);
    } catch {
      throw invalidInput(`invalid txn compare request: ${line}`);
    }
  };
  const T = pb.Compare.CompareTarget;
  switch (target) {
    case "ver":
    case "version":
      Object.assign(cmp, { target: T.VERSION, version: int(10) });
      break;
    case "c":
    case "create":
      Object.assign(cmp, { target: T.CREATE, createRevision: int(10) });
      break;
    case "m":
    case "mod":
      Object.assign(cmp, { target: T.MOD, modRevision: int(10) });
      break;
    case "val":
    case "value":
      Object.assign(cmp, { target: T.VALUE, value: LATIN1(val) });
      break;
    case "lease":
      // etcdctl panics here (clientv3 cannot take the string); we read the id in hex, as put --lease.
      Object.assign(cmp, { target: T.LEASE, lease: int(16) });
      break;
    default:
      throw invalidInput(`malformed comparison: ${line} (unknown target ${target})`);
  }
  const result = RESULTS[op];
  // etcdctl panics on an unknown operator ("Unknown result op"); we refuse the line instead.
  if (result === undefined) throw invalidInput(`invalid txn compare request: ${line} (unknown operator ${op}; use =, !=, > or <)`);
  cmp.result = result;
  return cmp;
}

interface OpKind {
  name: string;
  usage: string;
  flags: readonly FlagSpec[];
  build(args: string[], f: Flags): Promise<etcdserverpb.RequestOp.$Properties>;
}

const HELP: FlagSpec = { name: "help", short: "h", type: "bool", usage: "help" };

const OPS: readonly OpKind[] = [
  { name: "put", usage: "put [options] <key> <value> (<value> can also be given from stdin)", flags: PUT_FLAGS, build: async (a, f) => ({ requestPut: await putRequest(a, f, null, LATIN1) }) },
  { name: "get", usage: "get [options] <key> [range_end]", flags: GET_FLAGS, build: async (a, f) => ({ requestRange: getRequest(a, f, LATIN1) }) },
  { name: "del", usage: "del [options] <key> [range_end]", flags: DEL_FLAGS, build: async (a, f) => ({ requestDeleteRange: deleteRequest(a, f, LATIN1) }) },
];

/** A request line etcdctl refuses; `usage` is what cobra printed on stdout for it first. */
export class InvalidRequestError extends CliError {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(ExitCode.InvalidInput, message);
  }
}

/** pflag's FlagUsages: sorted by name, the type after the name, usages aligned, non-zero defaults. */
export function flagUsages(flags: readonly FlagSpec[]): string {
  const rows = [...flags]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((f) => {
      const typeName = f.type === "bool" ? "" : f.type === "int" ? " int" : f.type === "uint" ? " uint" : ` ${f.type}`;
      const head = `${f.short ? `  -${f.short}, ` : "      "}--${f.name}${typeName}`;
      let usage = f.usage;
      if (f.type === "string" && f.default) usage += ` (default ${JSON.stringify(f.default)})`;
      else if ((f.type === "int" || f.type === "uint") && f.default) usage += ` (default ${f.default})`;
      return { head, usage };
    });
  const width = Math.max(...rows.map((r) => r.head.length));
  return rows.map((r) => `${r.head}${" ".repeat(width - r.head.length + 3)}${r.usage}\n`).join("");
}

/** cobra's usage of a txn request command, printed when its flags do not parse. */
function usageOf(kind: OpKind): string {
  const help: FlagSpec = { ...HELP, usage: `help for ${kind.name}` };
  return `Usage:\n   ${kind.usage} [flags]\n\nFlags:\n${flagUsages([...kind.flags, help])}\n`;
}

/** One request line: a get, put or del command line (a unique prefix of the name will do, as in cobra). */
export async function parseRequest(line: string): Promise<etcdserverpb.RequestOp.$Properties> {
  const words = argify(line);
  if (words.length < 2) throw invalidInput(`invalid txn compare request: ${line}`);
  const invalid = () => invalidInput(`invalid txn request: ${line}`);
  const exact = OPS.find((o) => o.name === words[0]);
  const byPrefix = OPS.filter((o) => o.name.startsWith(words[0]));
  const kind = exact ?? (byPrefix.length === 1 ? byPrefix[0] : undefined);
  if (!kind) throw invalid();
  let parsed;
  try {
    parsed = parseFlags([...kind.flags, HELP], words.slice(1));
  } catch {
    throw new InvalidRequestError(`invalid txn request: ${line}`, usageOf(kind));
  }
  if (parsed.values.help) throw invalid();
  return kind.build(parsed.args, Object.assign({ ...parsed.values }, { $set: parsed.set }));
}
