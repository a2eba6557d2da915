// `npm run conformance -- [options]`: the command line, parsed into one frozen value (unit-tested).
import { CONFIG_IDS, type ConfigId } from "./verdict.ts";

export interface Options {
  only: RegExp | undefined;
  configs: ConfigId[];
  /** Tests run in configuration c (etcd-ts's own etcdctl); the rest run in a and b only. */
  cOnly: RegExp;
  jobs: number;
  binary: string | undefined;
  etcd34Dir: string;
  timeoutMs: number;
  retries: number;
  writeDocs: boolean;
  /** Print the last run's results again (known.ts re-applied, logs re-read) instead of running. */
  report: boolean;
  help: boolean;
}

/**
 * Configuration c runs only the etcdctl tests by default: the suite takes about 15 minutes for a and b
 * on 2 cores, and the server-side tests say nothing new about our etcdctl. `--c-only '.*'` runs all.
 */
export const DEFAULT_C_ONLY = "^TestCtl";

export const USAGE = `usage: npm run conformance -- [options]

Runs etcd 3.4's own end-to-end suite (Debian's golang-etcd-server-dev, tests/e2e) in three configurations:
  a  etcd 3.4 + etcdctl 3.4 (the baseline)
  b  etcd-ts (--binary) + etcdctl 3.4
  c  etcd-ts + its own etcdctl (a symlink named etcdctl to the binary)

options:
  --only REGEX      run only the tests whose name matches
  --config LIST     configurations to run, e.g. a,b (default a,b,c)
  --c-only REGEX    tests to run in configuration c (default ${DEFAULT_C_ONLY}; '.*' for all)
  --jobs N          tests at a time, each in its own network namespace (default 2)
  --binary PATH     the etcd-ts binary (default dist/etcd, built with 'npm run build' if missing)
  --etcd34-dir DIR  where etcd 3.4's etcd and etcdctl are (default /usr/bin)
  --timeout SEC     per-test timeout (default 180)
  --retries N       re-run a test that failed (not timed out) up to N times (default 1)
  --write-docs      also write the table to docs/conformance.md
  --report          run nothing: print the last run's results again (.conformance/results.json), with
                    tests/conformance/known.ts as it is now
`;

const KNOWN_FLAGS = ["--only", "--config", "--c-only", "--jobs", "--binary", "--etcd34-dir", "--timeout", "--retries", "--write-docs", "--report", "--help", "-h"];

export function parseOptions(argv: readonly string[]): Options {
  const o: Options = {
    only: undefined,
    configs: [...CONFIG_IDS],
    cOnly: new RegExp(DEFAULT_C_ONLY),
    jobs: 2,
    binary: undefined,
    etcd34Dir: "/usr/bin",
    timeoutMs: 180_000,
    retries: 1,
    writeDocs: false,
    report: false,
    help: false,
  };
  const regex = (flag: string, v: string) => {
    try {
      return new RegExp(v);
    } catch (e) {
      throw new Error(`${flag}: '${v}' is not a regular expression (${(e as Error).message})`);
    }
  };
  const count = (flag: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag}: '${v}' is not a whole number ≥ ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    if (!KNOWN_FLAGS.includes(flag)) throw new Error(`unknown option '${arg}' (see --help)`);
    const takesValue = !["--write-docs", "--report", "--help", "-h"].includes(flag);
    let value = "";
    if (takesValue) {
      if (eq > 0 && arg.startsWith("--")) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new Error(`${flag} needs a value (see --help)`);
    }
    switch (flag) {
      case "--only": o.only = regex(flag, value); break;
      case "--c-only": o.cOnly = regex(flag, value); break;
      case "--config": {
        const ids = value.split(",").map((s) => s.trim()).filter(Boolean);
        const bad = ids.filter((id) => !(CONFIG_IDS as readonly string[]).includes(id));
        if (bad.length || ids.length === 0) throw new Error(`--config: '${value}' must list some of a, b, c (comma-separated)`);
        o.configs = CONFIG_IDS.filter((id) => ids.includes(id));
        break;
      }
      case "--jobs": o.jobs = count(flag, value, 1); break;
      case "--binary": o.binary = value; break;
      case "--etcd34-dir": o.etcd34Dir = value; break;
      case "--timeout": o.timeoutMs = count(flag, value, 1) * 1000; break;
      case "--retries": o.retries = count(flag, value, 0); break;
      case "--write-docs": o.writeDocs = true; break;
      case "--report": o.report = true; break;
      case "--help": case "-h": o.help = true; break;
      default: throw new Error(`unknown option '${arg}' (see --help)`);
    }
  }
  return o;
}
