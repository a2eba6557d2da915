/**
 * `etcd install`: puts this binary, the etcdctl link, the systemd unit, the configuration file, the
 * service user and its data directory in place, the way a distribution package would. `--root`
 * installs into another tree (an image being built, or a test). Every step says what it did; a step
 * that cannot be done names the path and what to do.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import etcdConf from "../../etc/etcd.conf" with { type: "text" };
import unit from "../../systemd/etcd.service" with { type: "text" };

export interface InstallOptions {
  /** The tree to install into ("/" for this machine). */
  root: string;
  /** The binary to install (this process's executable). */
  binary: string;
  user: string;
  say(line: string): void;
}

const SERVICE_HOME = "/var/lib/etcd";

export class InstallError extends Error {}

/** systemd-sysusers' line for the service user: a system user with no login, home = data dir. */
export function sysusersLine(user: string): string {
  return `u ${user} - "etcd-ts key-value store" ${SERVICE_HOME} /usr/sbin/nologin\n`;
}

/** The packaged unit, running as `user` (its User= and Group= say etcd). */
export function unitFor(user: string): string {
  return unit.replace(/^User=.*$/m, `User=${user}`).replace(/^Group=.*$/m, `Group=${user}`);
}

/** uid and gid of `user` in <root>/etc/passwd, or null. */
export function lookupUser(root: string, user: string): { uid: number; gid: number } | null {
  let text: string;
  try {
    text = readFileSync(join(root, "etc/passwd"), "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === user && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

function writeAtomically(path: string, data: string | Buffer, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.install-${process.pid}`);
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function createUser(root: string, user: string, say: (l: string) => void): { uid: number; gid: number } {
  const existing = lookupUser(root, user);
  if (existing) {
    say(`user ${user} exists (uid ${existing.uid})`);
    return existing;
  }
  const sysusers = join(root, "usr/lib/sysusers.d/etcd.conf");
  const tries: string[][] = [
    ["systemd-sysusers", ...(root === "/" ? [] : [`--root=${root}`]), sysusers],
    ["useradd", ...(root === "/" ? [] : ["--root", root]), "--system", "--user-group", "--home-dir", SERVICE_HOME, "--no-create-home", "--shell", "/usr/sbin/nologin", user],
  ];
  const errors: string[] = [];
  for (const cmd of tries) {
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8" });
    if (r.error) {
      errors.push(`${cmd[0]}: not available`);
      continue;
    }
    const made = lookupUser(root, user);
    if (r.status === 0 && made) {
      say(`created system user ${user} (uid ${made.uid}) with ${cmd[0]}`);
      return made;
    }
    errors.push(`${cmd.join(" ")}: ${(r.stderr || r.stdout || `exit ${r.status}`).trim()}`);
  }
  throw new InvalidStep(`cannot create the service user ${user} (${errors.join("; ")}). Create it yourself (useradd --system ${user}) and run install again`);
}

class InvalidStep extends InstallError {}

export function install(opts: InstallOptions): void {
  const { root, user, say } = opts;
  const at = (p: string) => join(root, p);
  if (!existsSync(opts.binary) || /(^|\/)bun(\.exe)?$/.test(opts.binary)) {
    throw new InstallError(`install copies the compiled etcd binary, but this is ${opts.binary}: build it (npm run build) and run dist/etcd install`);
  }

  // The binary and the etcdctl name for it.
  const bin = at("usr/bin/etcd");
  try {
    mkdirSync(dirname(bin), { recursive: true });
    const tmp = join(dirname(bin), `.etcd.install-${process.pid}`);
    copyFileSync(opts.binary, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, bin);
  } catch (e) {
    throw new InstallError(`cannot write ${bin}: ${(e as Error).message}. Run install as root (sudo), or choose another tree with --root`);
  }
  say(`installed ${bin}`);
  const ctl = at("usr/bin/etcdctl");
  if (existsSync(ctl) || isLink(ctl)) rmSync(ctl, { force: true });
  symlinkSync("etcd", ctl);
  say(`linked ${ctl} -> etcd`);

  // systemd's pieces: the unit, the user (sysusers.d) and the data directory (tmpfiles.d).
  writeAtomically(at("etc/systemd/system/etcd.service"), unitFor(user), 0o644);
  say(`installed ${at("etc/systemd/system/etcd.service")}`);
  writeAtomically(at("usr/lib/sysusers.d/etcd.conf"), sysusersLine(user), 0o644);
  writeAtomically(at("usr/lib/tmpfiles.d/etcd.conf"), `d ${SERVICE_HOME} 0700 ${user} ${user} -\n`, 0o644);

  // The configuration is the operator's: written once, never replaced.
  const conf = at("etc/etcd/etcd.conf");
  if (existsSync(conf)) say(`kept ${conf} (already there)`);
  else {
    writeAtomically(conf, etcdConf, 0o644);
    say(`installed ${conf}`);
  }

  const ids = createUser(root, user, say);
  const data = at(SERVICE_HOME.slice(1));
  mkdirSync(dirname(data), { recursive: true, mode: 0o755 });
  mkdirSync(data, { recursive: true });
  chmodSync(data, 0o700);
  chownSync(data, ids.uid, ids.gid);
  say(`data directory ${data} (owner ${user}, mode 0700)`);

  if (root === "/" && spawnSync("systemctl", ["daemon-reload"]).status === 0) say("systemd reloaded");
  say(`next: edit ${conf}, then: systemctl enable --now etcd`);
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
