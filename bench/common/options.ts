// Command-line options of the benchmarks (bench/run.ts, bench/cluster.ts): --name value or --name=value,
// with BENCH_NAME in the environment as the fallback for numbers.
import fs from "node:fs";

export const argv = process.argv.slice(2);

export function flag(name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}

export const bool = (name: string): boolean => argv.includes(`--${name}`);

const envName = (name: string) => `BENCH_${name.toUpperCase().replace(/-/g, "_")}`;

/** A positive number from --name or BENCH_NAME (floored), else dflt; exits 2 on anything else. */
export function opt(name: string, dflt: number): number {
  const raw = flag(name) ?? process.env[envName(name)];
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`bench: --${name} wants a positive number, not '${raw}'\n`);
    process.exit(2);
  }
  return Math.floor(n);
}

/** Exits 2 on a --flag not in known; `context` goes after the flag in the message (e.g. " with --members"). */
export function checkFlags(known: string[], context = ""): void {
  const KNOWN = new Set(known);
  for (const a of argv) {
    if (a.startsWith("--") && !KNOWN.has(a.slice(2).split("=")[0])) {
      process.stderr.write(`bench: unknown flag ${a}${context} (known: ${[...KNOWN].map((k) => "--" + k).join(" ")})\n`);
      process.exit(2);
    }
  }
}

/**
 * --help: prints the comment of `file` without the "// " and exits 0. "header" is the comment block
 * after the #! line; "all" is every line of the file that starts with "//".
 */
export function helpIfAsked(file: string, scope: "header" | "all"): void {
  if (!bool("help")) return;
  let lines = fs.readFileSync(file, "utf8").split("\n");
  if (scope === "header") {
    lines = lines.slice(1);
    lines = lines.slice(0, lines.findIndex((l) => !l.startsWith("//")));
  } else lines = lines.filter((l) => l.startsWith("//"));
  process.stdout.write(lines.map((l) => l.slice(3)).join("\n") + "\n");
  process.exit(0);
}

/** The command line for the report: BENCH_* env, then "npm run bench -- …" under npm, else `script` and the args. */
export function commandLine(script: string): string {
  const env = Object.keys(process.env)
    .filter((k) => k.startsWith("BENCH_"))
    .map((k) => `${k}=${process.env[k]}`);
  const base = process.env.npm_lifecycle_event === "bench" ? "npm run bench" : script;
  const rest = argv.length ? (base.startsWith("npm") ? ` -- ${argv.join(" ")}` : ` ${argv.join(" ")}`) : "";
  return [...env, base].join(" ") + rest;
}

/**
 * The put/range flags both benches take, in this order (it is the order of the "options:" log line);
 * defaults for --clients 100, --keyspace 10000, --value-size 256 and --warmup 2000 are the same in both.
 */
export function kvOptions(dflt: { total: number; conns: number; reps: number }) {
  return {
    total: opt("total", dflt.total),
    clients: opt("clients", 100),
    conns: opt("conns", dflt.conns),
    keyspace: opt("keyspace", 10_000),
    valueSize: opt("value-size", 256),
    warmup: opt("warmup", 2_000),
    reps: opt("reps", dflt.reps),
  };
}
