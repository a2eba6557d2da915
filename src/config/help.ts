import { SETTINGS, type Group, type Setting } from "./flags";

const GROUP_ORDER: readonly Group[] = ["Member", "Clustering", "v2 Proxy", "Security", "Logging", "Profiling and monitoring", "Experimental", "Unsafe"];

// Extra lines under a group heading.
const GROUP_NOTES: Partial<Record<Group, string>> = {
  "v2 Proxy": "etcd 3.4/3.5's proxy mode; etcd-ts runs only as a member.",
  Experimental: "etcd 3.6 names; the etcd 3.4/3.5 --experimental-* names are accepted too (one setting, one value).",
  Unsafe: "Use with caution: these can break a cluster.",
};

/** What etcd-ts does with the flag, when that is less than etcd does. */
export function supportNote(setting: Setting): string | undefined {
  const { support } = setting;
  if (support.kind === "ignored") return `etcd-ts: accepted, not acted on (${support.why}).`;
  if (support.kind === "refused") return `etcd-ts: refused unless left at '${setting.defaultHelp}' (${support.why}).`;
  return undefined;
}

function describe(setting: Setting): string {
  const lines = [`  --${setting.flag} '${setting.defaultHelp}'`, `      ${setting.description}`];
  if (setting.aliases.length > 0) lines.push(`      Also ${setting.aliases.map((a) => `--${a}`).join(", ")}.`);
  const note = supportNote(setting);
  if (note !== undefined) lines.push(`      ${note}`);
  return lines.join("\n");
}

/** The --help text, laid out like etcd's: usage first, then flags by group with defaults. */
export function helpText(): string {
  const configFile = SETTINGS.filter((s) => s.group === "Config file");
  const lines: string[] = [
    "Usage:",
    "",
    "  etcd [flags]",
    "      Start an etcd server.",
    "",
    "  etcd --version",
    "      Show the version of etcd.",
    "",
    "  etcd -h | --help",
    "      Show the help information about etcd.",
    "",
    ...configFile.map(describe),
    "",
    "Every flag can be written with one or two dashes (-name n1, --name=n1) and can also be",
    "set as an ETCD_ environment variable (--initial-cluster-token as ETCD_INITIAL_CLUSTER_TOKEN)",
    "or in the config file. Precedence: flag, then environment, then config file, then default.",
    "Every etcd 3.4-3.7 server flag is accepted; those etcd-ts does not act on say so below.",
    "An unrecognized ETCD_ variable is logged as a warning; an unknown flag or config-file key is an error.",
  ];
  for (const group of GROUP_ORDER) {
    lines.push("", `${group}:`, "");
    const note = GROUP_NOTES[group];
    if (note !== undefined) lines.push(`  ${note}`, "");
    for (const setting of SETTINGS) if (setting.group === group) lines.push(describe(setting));
  }
  lines.push("");
  return lines.join("\n");
}
