// The packaged etc/etcd.conf lists every setting with its default, and the server reads it back.
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdConf } from "../../scripts/gen-etcd-conf.ts";
import { SETTINGS } from "./flags.ts";
import { loadConfig } from "./load.ts";

const FILE = join(import.meta.dir, "../../etc/etcd.conf");

test("etc/etcd.conf is generated from the settings table (bun scripts/gen-etcd-conf.ts)", () => {
  expect(readFileSync(FILE, "utf8")).toBe(etcdConf());
});

test("every setting is in it under its ETCD_ name: those acted on with their default, the others with the reason", () => {
  const text = readFileSync(FILE, "utf8");
  for (const s of SETTINGS) {
    if (s.group === "Config file") continue;
    if (s.support.kind === "honoured") expect(text).toContain(`\n#${s.env}="`);
    else expect(text).toContain(`\n# ${s.env}${s.support.kind === "refused" ? `="${s.defaultHelp}"` : ""}: ${s.support.why}\n`);
  }
});

test("with every line uncommented, the server reads the same configuration as with none", () => {
  const dir = mkdtempSync(join(tmpdir(), "etcd-conf-"));
  try {
    const uncommented = join(dir, "etcd.conf");
    writeFileSync(uncommented, readFileSync(FILE, "utf8").replace(/^#(ETCD_)/gm, "$1"));
    const fromFile = loadConfig(["--config-file", uncommented], {});
    const defaults = loadConfig([], {});
    if (fromFile.kind !== "run" || defaults.kind !== "run") throw new Error("expected configurations");
    // Only where each value came from differs.
    expect({ ...fromFile.config, configFile: "", sources: null }).toEqual({ ...defaults.config, configFile: "", sources: null });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
