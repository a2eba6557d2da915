// The packaged unit is one systemd accepts, and says what the operations issue asks of it.
import { expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { requireTool, ROOT } from "./harness.ts";

const UNIT = join(ROOT, "systemd/etcd.service");
const haveAnalyze = requireTool("systemd-analyze", spawnSync("systemd-analyze", ["--version"]).status === 0);

test.if(haveAnalyze)("systemd-analyze verify accepts systemd/etcd.service", () => {
  const r = spawnSync("systemd-analyze", ["verify", UNIT], { encoding: "utf8" });
  // verify prints problems and still exits 0 for some; any line about our unit is a problem.
  expect(r.stderr.split("\n").filter((l) => l.includes("etcd.service"))).toEqual([]);
  expect(r.status).toBe(0);
});

test("Type=notify, the config as EnvironmentFile, its own user, restart on failure, hardening", () => {
  const text = readFileSync(UNIT, "utf8");
  const settings = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1], m[2]);
  }
  expect(settings.get("Type")).toBe("notify");
  expect(settings.get("EnvironmentFile")).toBe("-/etc/etcd/etcd.conf");
  expect(settings.get("ExecStart")).toBe("/usr/bin/etcd");
  expect(settings.get("User")).toBe("etcd");
  expect(settings.get("Restart")).toBe("on-failure");
  expect(settings.get("LimitNOFILE")).toBe("65536");
  expect(settings.get("NoNewPrivileges")).toBe("yes");
  expect(settings.get("ProtectSystem")).toBe("strict");
  expect(settings.get("ReadWritePaths")).toBe("/var/lib/etcd");
  expect(settings.get("StateDirectory")).toBe("etcd");
});
