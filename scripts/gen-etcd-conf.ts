// Writes etc/etcd.conf from the settings table (src/config/flags.ts), so the packaged file lists
// every setting the server acts on, grouped as etcd's packaged file is, with the defaults commented
// out, followed by the names it accepts without acting on them. `bun scripts/gen-etcd-conf.ts
// --check` fails when the committed file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Group, SETTINGS } from "../src/config/flags.ts";

const SECTIONS: [Group, string][] = [
  ["Member", "member"],
  ["Clustering", "cluster"],
  ["Security", "security"],
  ["Logging", "logging"],
  ["Profiling and monitoring", "profiling"],
  ["Experimental", "experimental"],
  ["Unsafe", "unsafe"],
];

export function etcdConf(): string {
  let text =
    "# etcd-ts configuration: /etc/etcd/etcd.conf, the systemd unit's EnvironmentFile, or\n" +
    "# `etcd --config-file /etc/etcd/etcd.conf`. Each ETCD_* name is an etcd flag (ETCD_DATA_DIR is\n" +
    "# --data-dir; `etcd --help` describes them). Lines commented out show the defaults; remove the '#'\n" +
    "# and change the value to set one. KEY=\"value\" or KEY=value; an unknown name stops the server with\n" +
    "# an error naming it. Precedence: command-line flag > environment > this file > default.\n" +
    "# Generated from src/config/flags.ts by scripts/gen-etcd-conf.ts.\n";
  for (const [group, section] of SECTIONS) {
    const rows = SETTINGS.filter((s) => s.group === group && s.support.kind === "honoured");
    if (rows.length === 0) continue;
    text += `\n# [${section}]\n`;
    // A default computed from the name is shown for the default name (a file cannot refer to ${name});
    // other defaults as the parser reads them (--help may spell one as etcd does: math.MaxUint32).
    for (const s of rows) text += `#${s.env}="${typeof s.default === "string" ? s.default : s.defaultHelp.replaceAll("${name}", "default")}"\n`;
  }
  text +=
    "\n# [accepted for compatibility with etcd 3.4-3.7, not acted on by etcd-ts]\n" +
    "# Any valid value is accepted; one other than the default is logged as a warning at start.\n";
  for (const s of SETTINGS) if (s.support.kind === "ignored") text += `# ${s.env}: ${s.support.why}\n`;
  text += "\n# [refused unless left at their default]\n";
  for (const s of SETTINGS) if (s.support.kind === "refused") text += `# ${s.env}="${s.defaultHelp}": ${s.support.why}\n`;
  return text;
}

if (import.meta.main) {
  const path = join(import.meta.dir, "../etc/etcd.conf");
  const want = etcdConf();
  let have = "";
  try {
    have = readFileSync(path, "utf8");
  } catch {}
  if (process.argv.includes("--check")) {
    if (have !== want) {
      console.error("etc/etcd.conf is stale: run 'bun scripts/gen-etcd-conf.ts' and commit it.");
      process.exit(1);
    }
    console.log("etc/etcd.conf: up to date");
  } else if (have !== want) {
    writeFileSync(path, want);
    console.log("etc/etcd.conf: written");
  }
}
