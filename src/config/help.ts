import { SETTINGS, type Group, type Setting } from "./flags";

const GROUP_ORDER: readonly Group[] = ["Member", "Clustering", "Security", "Logging", "Profiling and monitoring", "Experimental", "Unsafe"];

// Extra lines under a group heading, for what the group does not (yet) offer.
const GROUP_NOTES: Partial<Record<Group, string>> = {
  Experimental: "Other --experimental-* flags of etcd are not supported.",
  Unsafe: "Use with caution: these can break a cluster.",
};

function describe(setting: Setting): string {
  return `  --${setting.flag} '${setting.defaultHelp}'\n      ${setting.description}`;
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
  ];
  for (const group of GROUP_ORDER) {
    lines.push("", `${group}:`, "");
    const note = GROUP_NOTES[group];
    if (note !== undefined) lines.push(`  ${note}`, "");
    for (const setting of SETTINGS) if (setting.group === group) lines.push(describe(setting));
  }
  lines.push("", "Experimental flags (--experimental-*) are not supported.", "");
  return lines.join("\n");
}
