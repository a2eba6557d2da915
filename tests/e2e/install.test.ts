// `etcd install --root DIR`: the tree a package would lay down, with owners and modes, and a re-run
// that keeps the operator's configuration.
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lookupUser } from "../../src/install/install.ts";
import { BINARY, ROOT } from "./harness.ts";

const root = mkdtempSync(join(tmpdir(), "install-root-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mode = (p: string) => (statSync(join(root, p)).mode & 0o7777).toString(8);
const canCreateUsers = process.getuid?.() === 0;

test.if(canCreateUsers)("installs binary, etcdctl link, unit, config, user and data directory", () => {
  const r = spawnSync(BINARY, ["install", "--root", root], { encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`installed ${root}/usr/bin/etcd\n`);
  expect(r.stdout).toContain("next: edit ");

  expect(mode("usr/bin/etcd")).toBe("755");
  expect(readFileSync(join(root, "usr/bin/etcd")).equals(readFileSync(BINARY))).toBe(true);
  expect(lstatSync(join(root, "usr/bin/etcdctl")).isSymbolicLink()).toBe(true);
  expect(readlinkSync(join(root, "usr/bin/etcdctl"))).toBe("etcd");
  // The installed etcdctl is the same binary acting as etcdctl.
  const v = spawnSync(join(root, "usr/bin/etcdctl"), ["version"], { encoding: "utf8" });
  expect(v.stdout).toStartWith("etcdctl version: 3.5.");

  expect(readFileSync(join(root, "etc/systemd/system/etcd.service"), "utf8")).toBe(readFileSync(join(ROOT, "systemd/etcd.service"), "utf8"));
  expect(mode("etc/systemd/system/etcd.service")).toBe("644");
  expect(readFileSync(join(root, "etc/etcd/etcd.conf"), "utf8")).toBe(readFileSync(join(ROOT, "etc/etcd.conf"), "utf8"));

  const user = lookupUser(root, "etcd");
  expect(user).not.toBeNull();
  const data = statSync(join(root, "var/lib/etcd"));
  expect([data.uid, data.gid]).toEqual([user!.uid, user!.gid]);
  expect(mode("var/lib/etcd")).toBe("700");
  expect(mode("var/lib")).toBe("755");
  expect(readFileSync(join(root, "etc/passwd"), "utf8")).toMatch(/^etcd:x:\d+:\d+:[^:]*:\/var\/lib\/etcd:\/usr\/sbin\/nologin$/m);
});

test.if(canCreateUsers)("a second run replaces the binary but keeps the operator's etcd.conf and the user", () => {
  const conf = join(root, "etc/etcd/etcd.conf");
  writeFileSync(conf, 'ETCD_NAME="edited"\n');
  const before = lookupUser(root, "etcd");
  const r = spawnSync(BINARY, ["install", "--root", root], { encoding: "utf8" });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`kept ${conf} (already there)`);
  expect(r.stdout).toContain(`user etcd exists (uid ${before!.uid})`);
  expect(readFileSync(conf, "utf8")).toBe('ETCD_NAME="edited"\n');
});

test.if(canCreateUsers)("--user NAME: the unit, the user and the data directory all use that name", () => {
  const other = mkdtempSync(join(tmpdir(), "install-user-"));
  try {
    const r = spawnSync(BINARY, ["install", "--root", other, "--user", "etcdsvc"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const unitText = readFileSync(join(other, "etc/systemd/system/etcd.service"), "utf8");
    expect(unitText).toMatch(/^User=etcdsvc$/m);
    expect(unitText).toMatch(/^Group=etcdsvc$/m);
    const user = lookupUser(other, "etcdsvc")!;
    expect(statSync(join(other, "var/lib/etcd")).uid).toBe(user.uid);
    expect(readFileSync(join(other, "usr/lib/tmpfiles.d/etcd.conf"), "utf8")).toContain("etcdsvc etcdsvc");
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test("an unwritable destination names the path and what to do", () => {
  const file = join(root, "not-a-dir");
  writeFileSync(file, "");
  const r = spawnSync(BINARY, ["install", "--root", file], { encoding: "utf8" });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`etcd install: cannot write ${file}/usr/bin/etcd`);
  expect(r.stderr).toContain("--root");
});

test("unknown options are refused with the usage", () => {
  const r = spawnSync(BINARY, ["install", "--bogus"], { encoding: "utf8" });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain("Usage: etcd install [--root DIR] [--user etcd]");
});
