import { legacyWarning } from "./env";
import { ConfigError, quote } from "./errors";
import { LEGACY_IGNORED_FLAGS, settingByName } from "./flags";
import type { ConfigWarning, RawValue } from "./types";
import { parseBool } from "./values";

export interface ParsedArgv {
  readonly help: boolean;
  readonly version: boolean;
  /** Keyed by flag name as given, without dashes: the setting's own name or one of its aliases. */
  readonly values: ReadonlyMap<string, RawValue>;
  /** Flags accepted with a warning (etcd 0.4's, which etcd 3.x ignores). */
  readonly warnings: readonly ConfigWarning[];
}

const HELP = new Set(["-h", "--h", "-help", "--help"]);
const HELP_NAMES = new Set(["h", "help"]);
const BOOL_TEXT = /^(1|0|t|f|true|false)$/i;

/**
 * A small hand parser instead of node:util parseArgs: etcd (Go's flag
 * package) takes single-dash long flags and "--debug=false", parseArgs takes
 * neither, and rewriting argv to fit it would be longer than this.
 *
 * Go semantics kept: "-x" and "--x" are the same flag, "=" or the next
 * argument supplies a value, boolean flags only take a value with "=", the
 * last occurrence of a flag wins, and "--" ends the flags.
 */
export function parseArgv(argv: readonly string[]): ParsedArgv {
  // Help wins over everything, so "etcd --nmae x --help" still shows help.
  if (argv.some((arg) => HELP.has(arg))) return { help: true, version: false, values: new Map(), warnings: [] };

  const values = new Map<string, RawValue>();
  const warnings: ConfigWarning[] = [];
  let version = false;
  let previousBareBoolean: string | undefined;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const afterBoolean = previousBareBoolean;
    previousBareBoolean = undefined;

    if (arg === "--") {
      if (i + 1 < argv.length) throw unexpectedArgument(argv[i + 1], undefined);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") throw unexpectedArgument(arg, afterBoolean);

    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      throw new ConfigError(`Malformed flag ${quote(arg)}: write flags as --name value or --name=value`, arg);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const written = eq < 0 ? arg : arg.slice(0, arg.length - body.length + eq);

    if (HELP_NAMES.has(name) || name === "version") {
      const on = inline === undefined ? true : commandSwitch(inline, name);
      if (HELP_NAMES.has(name) && on) return { help: true, version: false, values: new Map(), warnings: [] };
      if (name === "version") version = on;
      continue;
    }
    if (LEGACY_IGNORED_FLAGS.has(name)) {
      // Like etcd, these never take a separate value, so "-v" cannot swallow the next flag.
      warnings.push(legacyWarning(written, written));
      continue;
    }

    const found = settingByName(name);
    if (found === undefined) {
      throw new ConfigError(`Unknown flag ${quote(written)}: run 'etcd --help' to list the supported flags`, written);
    }
    const { setting, alias } = found;
    const given = `--${name}`;

    let text: string;
    if (inline !== undefined) {
      text = inline;
    } else if (setting.boolean) {
      text = "true";
      previousBareBoolean = given;
    } else {
      const next = argv[i + 1];
      // Go would take "--data-dir" as the value of "--name --data-dir x";
      // refusing a known flag here turns that silent mistake into an error.
      if (next === undefined || looksLikeFlag(next)) {
        throw new ConfigError(`Flag ${given} needs a value: write ${given} VALUE or ${given}=VALUE`, given);
      }
      text = next;
      i++;
    }
    values.set(name, { text, source: "flag", setting: given, where: "", ...(alias === undefined ? {} : { alias }) });
  }

  return { help: false, version, values, warnings };
}

function looksLikeFlag(arg: string): boolean {
  const match = /^--?([^-=][^=]*)(=|$)/.exec(arg);
  if (match === null) return false;
  const name = match[1];
  return settingByName(name) !== undefined || HELP_NAMES.has(name) || name === "version" || LEGACY_IGNORED_FLAGS.has(name);
}

function commandSwitch(text: string, name: string): boolean {
  try {
    return parseBool(text);
  } catch {
    throw new ConfigError(`Invalid value ${quote(text)} for --${name}: expected true or false`, `--${name}`);
  }
}

function unexpectedArgument(arg: string, afterBoolean: string | undefined): ConfigError {
  if (afterBoolean !== undefined && BOOL_TEXT.test(arg)) {
    return new ConfigError(
      `Unexpected argument ${quote(arg)} after ${afterBoolean}: boolean flags take their value with '=', such as ${afterBoolean}=${arg}`,
      afterBoolean,
    );
  }
  return new ConfigError(
    `Unexpected argument ${quote(arg)}: etcd takes only flags; run 'etcd --help' to list the supported flags`,
    arg,
  );
}
