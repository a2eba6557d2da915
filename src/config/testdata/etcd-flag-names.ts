// Extracts the server flag names of a real etcd, so the tests that check etcd-ts accepts every one
// of them run on lists produced by a program, not typed by hand. Two sources:
//   help:   the output of `etcd --help`             bun etcd-flag-names.ts help < help.txt
//   source: etcd's Go files that register flags    bun etcd-flag-names.ts source etcdmain/config.go embed/config.go
// The lists in this folder were made with (etcd-io/etcd checked out at each tag):
//   /usr/bin/etcd --help 2>&1 | bun etcd-flag-names.ts help > etcd-v3.4.23-help.txt
//   bun etcd-flag-names.ts source $GOPATH/src/go.etcd.io/etcd/etcdmain/config.go > etcd-v3.4.23-source.txt
//   bun etcd-flag-names.ts source server/etcdmain/config.go server/embed/config.go > etcd-v3.N.M-source.txt
import { readFileSync } from "node:fs";

/** Flag names in `etcd --help` output: each documented flag starts an indented line with "--". */
export function flagsFromHelp(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(/^\s+--([a-z0-9][a-z0-9.-]*)/gm)) names.add(match[1]);
  return [...names].sort();
}

/**
 * Flag names registered on etcd's flag set: the first string literal among the arguments of each
 * `fs.<Method>(` call (BoolVar, StringVar, Var …, whose name argument may follow a nested call),
 * the feature-gate flag (`….AddFlag(fs, SomeConstant)`), and the entries of the `ignored` list of
 * etcd 0.4 names, which are registered in a loop.
 */
export function flagsFromGoSource(text: string): string[] {
  const names = new Set<string>();
  for (const call of text.matchAll(/\bfs\.[A-Z][A-Za-z0-9]*\(/g)) {
    const name = firstStringArgument(text, call.index! + call[0].length);
    if (name !== undefined && /^[a-z][a-z0-9.-]*$/.test(name)) names.add(name);
  }
  // etcd 3.6's feature gates register their flag themselves, named by a constant.
  for (const m of text.matchAll(/\.AddFlag\(fs,\s*([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
    const constant = new RegExp(`\\b${m[1]}\\s*=\\s*"([a-z0-9.-]+)"`).exec(text);
    if (constant !== null) names.add(constant[1]);
  }
  const ignored = /\bignored\s*=\s*\[\]string\{([^}]*)\}/.exec(text);
  if (ignored !== null) for (const m of ignored[1].matchAll(/"([a-z0-9.-]+)"/g)) if (!m[1].startsWith("test.")) names.add(m[1]);
  return [...names].sort();
}

/** Scans from just inside "(" to the first string literal at argument depth, or the closing ")". */
function firstStringArgument(text: string, from: number): string | undefined {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === "(" || c === "{" || c === "[") depth++;
    else if (c === ")" || c === "}" || c === "]") {
      if (depth === 0) return undefined;
      depth--;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (depth === 0) return text.slice(i + 1, end);
      i = end;
    } else if (c === "`") {
      i = text.indexOf("`", i + 1);
    }
  }
  return undefined;
}

/** Reads one of the stored lists: one name per line, '#' comments. */
export function readFlagList(path: string): string[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

if (import.meta.main) {
  const [mode, ...files] = process.argv.slice(2);
  const names =
    mode === "help"
      ? flagsFromHelp(readFileSync(0, "utf8"))
      : mode === "source"
        ? flagsFromGoSource(files.map((f) => readFileSync(f, "utf8")).join("\n"))
        : undefined;
  if (names === undefined) {
    process.stderr.write("usage: etcd-flag-names.ts help < help.txt | etcd-flag-names.ts source file.go...\n");
    process.exit(2);
  }
  process.stdout.write(names.join("\n") + "\n");
}
