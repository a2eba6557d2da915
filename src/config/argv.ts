import { ConfigError, quote } from "./errors";
import { isExperimentalFlag, settingByFlag } from "./flags";
import type { RawValue } from "./types";
import { parseBool } from "./values";

export interface ParsedArgv {
  readonly help: boolean;
  readonly version: boolean;
  /** Keyed by flag name without dashes. */
  readonly values: ReadonlyMap<string, RawValue>;
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
  if (argv.some((arg) => HELP.has(arg))) return { help: true, version: false, values: new Map() };

  const values = new Map<string, RawValue>();
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
      if (HELP_NAMES.has(name) && on) return { help: true, version: false, values: new Map() };
      if (name === "version") version = on;
      continue;
    }

    const setting = settingByFlag(name);
    if (setting === undefined) {
      if (isExperimentalFlag(name)) {
        throw new ConfigError(
          `Flag ${quote(written)} is not supported: etcd-ts supports no experimental feature but --experimental-corrupt-check-time, remove it`,
          written,
        );
      }
      throw new ConfigError(`Unknown flag ${quote(written)}: run 'etcd --help' to list the supported flags`, written);
    }

    let text: string;
    if (inline !== undefined) {
      text = inline;
    } else if (setting.boolean) {
      text = "true";
      previousBareBoolean = `--${setting.flag}`;
    } else {
      const next = argv[i + 1];
      // Go would take "--data-dir" as the value of "--name --data-dir x";
      // refusing a known flag here turns that silent mistake into an error.
      if (next === undefined || looksLikeFlag(next)) {
        throw new ConfigError(
          `Flag --${setting.flag} needs a value: write --${setting.flag} VALUE or --${setting.flag}=VALUE`,
          `--${setting.flag}`,
        );
      }
      text = next;
      i++;
    }
    values.set(setting.flag, { text, source: "flag", setting: `--${setting.flag}`, where: "" });
  }

  return { help: false, version, values };
}

function looksLikeFlag(arg: string): boolean {
  const match = /^--?([^-=][^=]*)(=|$)/.exec(arg);
  if (match === null) return false;
  const name = match[1];
  return settingByFlag(name) !== undefined || HELP_NAMES.has(name) || name === "version" || isExperimentalFlag(name);
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
