/** Help text in etcdctl's layout (NAME, USAGE, COMMANDS, OPTIONS). */
import type { Command } from "./command.ts";
import { defaultOf, type FlagSpec, formatGoDuration } from "./flags.ts";
import { GLOBAL_FLAGS } from "./global.ts";

export const CTL_VERSION = "3.5.0";
export const CTL_API_VERSION = "3.5";

function leaves(cmds: readonly Command[], prefix = ""): { name: string; short: string }[] {
  return cmds.flatMap((c) => {
    const name = prefix ? `${prefix} ${c.name}` : c.name;
    if (c.subcommands?.length) return leaves(c.subcommands, name);
    return [{ name, short: c.short }];
  });
}

function defaultText(f: FlagSpec): string {
  const d = defaultOf(f);
  if (f.type === "duration") return formatGoDuration(d as number);
  if (f.type === "strings") return `[${(d as string[]).join(",")}]`;
  if (f.type === "string") return JSON.stringify(d);
  return String(d);
}

function flagLines(flags: readonly FlagSpec[]): string {
  return flags
    .map((f) => `  ${f.short ? `-${f.short}, ` : "    "}--${f.name}=${defaultText(f)}\t\t${f.usage}\n`)
    .join("");
}

export function rootHelp(cmds: readonly Command[]): string {
  return (
    "NAME:\n\tetcdctl - A simple command line client for etcd3.\n\n" +
    "USAGE:\n\tetcdctl [flags]\n\n" +
    `VERSION:\n\t${CTL_VERSION}\n\nAPI VERSION:\n\t${CTL_API_VERSION}\n\n\n` +
    "COMMANDS:\n" +
    leaves(cmds).map((l) => `\t${l.name}\t\t${l.short}\n`).join("") +
    "\nOPTIONS:\n" +
    flagLines(GLOBAL_FLAGS)
  );
}

export function commandHelp(path: readonly Command[]): string {
  const cmd = path[path.length - 1];
  const parents = path.slice(0, -1).map((c) => c.name);
  const use = ["etcdctl", ...parents, cmd.usage].join(" ");
  let text = `NAME:\n\t${[...parents, cmd.name].join(" ")} - ${cmd.short}\n\nUSAGE:\n\t${use}\n\n`;
  if (cmd.long) text += `DESCRIPTION:\n${cmd.long.replace(/^/gm, "\t")}\n\n`;
  if (cmd.subcommands?.length) {
    text += "COMMANDS:\n" + leaves(cmd.subcommands).map((l) => `\t${l.name}\t${l.short}\n`).join("") + "\n";
  }
  const own = path.flatMap((c) => c.flags ?? []);
  if (own.length) text += "OPTIONS:\n" + flagLines(own) + "\n";
  text += "GLOBAL OPTIONS:\n" + flagLines(GLOBAL_FLAGS);
  return text;
}
