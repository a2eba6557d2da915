/**
 * etcdctl in the etcd-ts binary: finds the command the way cobra does (global flags anywhere,
 * unique prefixes of command names), parses flags and ETCDCTL_* variables, runs the command and
 * turns failures into "Error: …" and etcdctl's exit codes.
 */
import type { Command } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";
import { type Io, Ctx, type OfflineTools } from "./context.ts";
import { asCliError, CliError, ExitCode } from "./errors.ts";
import { dashes, type FlagSpec, parseFlags } from "./flags.ts";
import { applyEnv, GLOBAL_FLAGS, globalsFrom } from "./global.ts";
import { commandHelp, rootHelp } from "./help.ts";
import { type CtlStartOptions, Interrupts, processSignals, type SignalTarget } from "./interrupt.ts";
import { runCtlV2 } from "./v2/main.ts";

const HELP_FLAG: FlagSpec = { name: "help", short: "h", type: "bool", usage: "help for the command" };

interface Found {
  path: Command[];
  /** argv without the words that named the command. */
  rest: string[];
}

/** The flags a command accepts: its own, its groups' (persistent, like endpoint --cluster) and the global ones. */
export function flagsOf(path: readonly Command[]): FlagSpec[] {
  return [...GLOBAL_FLAGS, HELP_FLAG, ...path.flatMap((c) => c.flags ?? [])];
}

function match(children: readonly Command[], word: string): Command | undefined {
  const exact = children.find((c) => c.name === word || c.aliases?.includes(word));
  if (exact) return exact;
  // cobra.EnablePrefixMatching, as etcdctl sets it: a unique prefix selects the command.
  const byPrefix = children.filter((c) => c.name.startsWith(word));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

/** cobra's Find: walks the words that are not flags (nor values of flags) down the command tree. */
export function findCommand(root: readonly Command[], argv: readonly string[]): Found | { unknown: string } | null {
  const path: Command[] = [];
  const rest: string[] = [];
  let children = root;
  let descending = true;
  for (let i = 0; i < argv.length; i++) {
    const a = dashes(argv[i]);
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (a.startsWith("-") && a.length > 1) {
      rest.push(a);
      // "--flag value": the value is not a command word.
      const specs = flagsOf(path);
      const long = a.startsWith("--") && !a.includes("=") ? specs.find((s) => s.name === a.slice(2)) : undefined;
      const short = !a.startsWith("--") && a.length === 2 ? specs.find((s) => s.short === a[1]) : undefined;
      const spec = long ?? short;
      if (spec && spec.type !== "bool" && i + 1 < argv.length) rest.push(argv[++i]);
      continue;
    }
    if (descending && children.length > 0) {
      const c = match(children, a);
      if (c) {
        path.push(c);
        children = c.subcommands ?? [];
        continue;
      }
      if (path.length === 0) return { unknown: a };
    }
    descending = false;
    rest.push(a);
  }
  return path.length ? { path, rest } : null;
}

/**
 * Runs etcdctl with `argv` (without the program name); resolves to the exit code. `start` hands over
 * a signal that came before (interrupt.ts); `signals` is the process's, or a fake in tests.
 */
export async function runCtl(argv: string[], io: Io, offline: OfflineTools = {}, start: CtlStartOptions = {}, signals: SignalTarget = processSignals): Promise<number> {
  const found = findCommand(COMMANDS, argv);
  const leaf = found && "path" in found ? found.path[found.path.length - 1] : undefined;
  const interrupts = new Interrupts(io.env.ETCDCTL_API !== "2" && (leaf?.interruptible ?? false), start, signals);
  try {
    return await runFound(found, argv, io, offline, interrupts.signal);
  } finally {
    interrupts.dispose();
  }
}

async function runFound(found: ReturnType<typeof findCommand>, argv: string[], io: Io, offline: OfflineTools, interrupted: AbortSignal): Promise<number> {
  // As etcdctl 3.5: ETCDCTL_API picks the v2 or the v3 command line; anything else is refused.
  const api = io.env.ETCDCTL_API;
  if (api === "2") return runCtlV2(argv, io);
  if (api !== undefined && api !== "" && api !== "3") {
    io.err(`unsupported API version: ${api}\n`);
    return ExitCode.Error;
  }
  if (found === null) {
    // No command: only flags (or nothing), as `etcdctl --help`; cobra shows the help.
    const parsed = safeParse(flagsOf([]), argv);
    if (parsed instanceof CliError) return fail(io, parsed);
    io.out(rootHelp(COMMANDS));
    return ExitCode.Success;
  }
  if ("unknown" in found) {
    io.err(`Error: unknown command ${JSON.stringify(found.unknown)} for "etcdctl"\nRun 'etcdctl --help' for usage.\n`);
    return ExitCode.Error;
  }
  const { path, rest } = found;
  const cmd = path[path.length - 1];
  let ctx: Ctx | null = null;
  try {
    const parsed = parseFlags(flagsOf(path), rest);
    if (parsed.values.help || !cmd.run) {
      io.out(commandHelp(path));
      return ExitCode.Success;
    }
    const values = { ...parsed.values };
    const set = new Set(parsed.set);
    applyEnv(values, set, io.env, (line) => io.err(line + "\n"));
    ctx = new Ctx(globalsFrom(values), io, offline, interrupted);
    await cmd.run(ctx, parsed.args, Object.assign(values, { $set: set as ReadonlySet<string>, $argsAtDash: parsed.argsAtDash }));
    return ExitCode.Success;
  } catch (err) {
    return fail(io, asCliError(err));
  } finally {
    ctx?.close();
  }
}

function safeParse(specs: FlagSpec[], argv: string[]) {
  try {
    return parseFlags(specs, argv);
  } catch (e) {
    return e instanceof CliError ? e : null;
  }
}

function fail(io: Io, err: CliError): number {
  // An empty message is etcdctl's bare os.Exit(code): the command has already said what failed.
  if (err.message !== "") io.err(`Error: ${err.message}\n`);
  return err.code;
}

/** The Io of a real process: stdout/stderr, stdin read on demand. */
export function processIo(): Io {
  let stdinLines: AsyncIterator<string> | null = null;
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    async readLine() {
      if (!stdinLines) {
        const { createInterface } = await import("node:readline");
        stdinLines = createInterface({ input: process.stdin, terminal: false })[Symbol.asyncIterator]();
      }
      const r = await stdinLines.next();
      return r.done ? null : r.value;
    },
    // Asked only by the commands that care: touching process.stdin builds its stream, a few ms of
    // every etcdctl call otherwise.
    get stdoutIsTTY() {
      return !!process.stdout.isTTY;
    },
    get stdinIsTTY() {
      return !!process.stdin.isTTY;
    },
    get stderrIsTTY() {
      return !!process.stderr.isTTY;
    },
    env: process.env,
  };
}
