/** What a command is: its name, usage, flags and what it runs; subcommands for groups (member, lease…). */
import type { Ctx } from "./context.ts";
import type { FlagSpec, FlagValue } from "./flags.ts";

export type Flags = Readonly<Record<string, FlagValue>> & {
  /** Was the flag given on the command line? */
  readonly $set: ReadonlySet<string>;
  /** How many arguments came before "--" (-1: none); watch runs what follows it. */
  readonly $argsAtDash?: number;
};

export interface Command {
  /** The word that selects it: "get", or "list" under "member". */
  readonly name: string;
  readonly aliases?: readonly string[];
  /** cobra's Use line: "get [options] <key> [range_end]". */
  readonly usage: string;
  readonly short: string;
  /** Extra help text after the usage. */
  readonly long?: string;
  readonly flags?: readonly FlagSpec[];
  readonly subcommands?: readonly Command[];
  /**
   * SIGINT/SIGTERM cancel it (ctx.interrupted aborts) instead of ending the process: etcdctl's lock
   * and elect, which call signal.Notify. See interrupt.ts.
   */
  readonly interruptible?: boolean;
  /** Throws CliError (or an RPC error) to fail; output goes through ctx. */
  run?(ctx: Ctx, args: string[], flags: Flags): Promise<void>;
}

export const flagBool = (f: Flags, name: string): boolean => f[name] as boolean;
export const flagString = (f: Flags, name: string): string => f[name] as string;
export const flagStrings = (f: Flags, name: string): string[] => f[name] as string[];
export const flagInt = (f: Flags, name: string): bigint => f[name] as bigint;
/** Durations are milliseconds. */
export const flagDuration = (f: Flags, name: string): number => f[name] as number;
