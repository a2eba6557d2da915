// A runner for the datadriven transcript format of cockroachdb/datadriven, as etcd-io/raft's
// testdata/*.txt use it:
//
//   # a comment
//   command arg key=value key=(v1,v2)
//   optional input lines
//   ----
//   expected output
//   <blank line>
//
// Output that itself holds blank lines sits between a doubled separator ("----" twice before it,
// twice after). With ETCD_TS_REWRITE=1 the file is written back with the actual outputs, keeping the
// commands and comments as they are.
import { readFileSync, writeFileSync } from "node:fs";

export interface Arg {
  key: string;
  /** The values of key=v or key=(v1,v2); empty for a bare word. */
  vals: string[];
}

export interface TestData {
  /** Where the command is, for messages: "file.txt:12". */
  pos: string;
  cmd: string;
  args: Arg[];
  /** The lines between the command and "----", joined with "\n". */
  input: string;
}

export interface CaseResult {
  data: TestData;
  expected: string;
  actual: string;
}

interface Case {
  data: TestData;
  /** The command and input lines as written, for rewriting. */
  header: string[];
  expected: string;
}

type Segment = { text: string[] } | { testCase: Case };

const SEP = "----";

/** Parses "cmd a b=c d=(1,2)" into a command and arguments. */
export function parseCommand(line: string, pos: string): { cmd: string; args: Arg[] } {
  const words: string[] = [];
  let cur = "";
  let depth = 0;
  for (const ch of line.trim()) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (/\s/.test(ch) && depth === 0) {
      if (cur) words.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (depth !== 0) throw new Error(`${pos}: unbalanced parentheses in '${line}'`);
  if (cur) words.push(cur);
  const [cmd, ...rest] = words;
  const args = rest.map((w): Arg => {
    const eq = w.indexOf("=");
    if (eq < 0) return { key: w, vals: [] };
    const key = w.slice(0, eq);
    let v = w.slice(eq + 1);
    if (v.startsWith("(") && v.endsWith(")")) {
      v = v.slice(1, -1);
      return { key, vals: v.split(/[\s,]+/).filter((s) => s !== "") };
    }
    return { key, vals: [v] };
  });
  return { cmd, args };
}

function parse(name: string, text: string): Segment[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const segs: Segment[] = [];
  let text_: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "" || line.startsWith("#")) {
      text_.push(line);
      i++;
      continue;
    }
    if (text_.length) segs.push({ text: text_ });
    text_ = [];
    const pos = `${name}:${i + 1}`;
    const header: string[] = [line];
    i++;
    while (i < lines.length && lines[i] !== SEP) header.push(lines[i++]);
    if (i >= lines.length) throw new Error(`${pos}: command without a '${SEP}' line`);
    i++; // the separator
    const out: string[] = [];
    if (lines[i] === SEP) {
      // Doubled separator: the output ends at the next doubled separator.
      i++;
      while (i < lines.length && !(lines[i] === SEP && lines[i + 1] === SEP)) out.push(lines[i++]);
      if (i >= lines.length) throw new Error(`${pos}: output opened with a doubled '${SEP}' is never closed`);
      i += 2;
      if (i < lines.length && lines[i].trim() === "") i++;
    } else {
      while (i < lines.length && lines[i].trim() !== "") out.push(lines[i++]);
      if (i < lines.length) i++; // the blank line ending the case
    }
    const { cmd, args } = parseCommand(header[0], pos);
    segs.push({ testCase: { data: { pos, cmd, args, input: header.slice(1).join("\n") }, header, expected: out.join("\n") } });
  }
  if (text_.length) segs.push({ text: text_ });
  return segs;
}

function render(segs: Segment[], outputs: string[]): string {
  const out: string[] = [];
  let k = 0;
  segs.forEach((s, n) => {
    if ("text" in s) {
      out.push(...s.text);
      return;
    }
    const actual = outputs[k++];
    out.push(...s.testCase.header, SEP);
    if (actual.split("\n").some((l) => l.trim() === "")) out.push(SEP, actual, SEP, SEP);
    else out.push(actual);
    if (n < segs.length - 1) out.push("");
  });
  return out.join("\n") + "\n";
}

/** Output as compared and written: no trailing newline, never empty. */
function normalize(s: string): string {
  const t = s.replace(/\n+$/, "");
  return t === "" ? "ok" : t;
}

/**
 * Runs every command of the file through handle, in order. Returns every case with its expected
 * and actual output; with rewrite, writes the actual outputs back into the file first.
 */
export function runFile(path: string, handle: (d: TestData) => string, opts: { rewrite?: boolean } = {}): CaseResult[] {
  const name = path.split("/").pop()!;
  const segs = parse(name, readFileSync(path, "utf8"));
  const results: CaseResult[] = [];
  for (const s of segs) {
    if (!("testCase" in s)) continue;
    let actual: string;
    try {
      actual = normalize(handle(s.testCase.data));
    } catch (err) {
      throw new Error(`${s.testCase.data.pos}: '${s.testCase.header[0]}' failed: ${(err as Error).stack ?? err}`);
    }
    results.push({ data: s.testCase.data, expected: s.testCase.expected, actual });
  }
  if (opts.rewrite) writeFileSync(path, render(segs, results.map((r) => r.actual)));
  return results;
}

/** A line diff of expected against actual ("-" expected only, "+" actual only), for failure messages. */
export function lineDiff(expected: string, actual: string): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  // Longest common subsequence table, from the end.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i++]}`);
      j++;
    } else if (i < a.length && (j === b.length || lcs[i + 1][j] >= lcs[i][j + 1])) out.push(`- ${a[i++]}`);
    else out.push(`+ ${b[j++]}`);
  }
  return out.join("\n");
}
