import type { Setting } from "./setting";
import { CLUSTERING } from "./settings-clustering";
import { CONFIG_FILE, EXPERIMENTAL } from "./settings-features";
import { LOGGING, MONITORING } from "./settings-logging";
import { MEMBER } from "./settings-member";
import { SECURITY } from "./settings-security";
import type { SettingField } from "./types";

export { envName, type DefaultInputs, type Group, type Setting, type Support } from "./setting";

// The table of settings: one row per etcd flag (of etcd 3.4 to 3.7), carrying everything the
// parsers, the precedence logic, --help and etc/etcd.conf need, so adding a flag is one edit in
// the settings-*.ts file of its group.

export const SETTINGS: readonly Setting[] = Object.freeze([...CONFIG_FILE, ...MEMBER, ...CLUSTERING, ...SECURITY, ...LOGGING, ...MONITORING, ...EXPERIMENTAL]);

/** A name a setting answers to, and whether that name is one of its aliases. */
export interface NamedSetting {
  readonly setting: Setting;
  /** The alias used, or undefined for the setting's own name. */
  readonly alias?: string;
}

const BY_NAME = new Map<string, NamedSetting>();
const BY_ENV = new Map<string, NamedSetting>();
for (const setting of SETTINGS) {
  BY_NAME.set(setting.flag, { setting });
  BY_ENV.set(setting.env, { setting });
  for (const alias of setting.aliases) {
    BY_NAME.set(alias, { setting, alias });
    BY_ENV.set(envNameOf(alias), { setting, alias });
  }
}

function envNameOf(flag: string): string {
  return `ETCD_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/** The setting a flag name (or YAML key) stands for, aliases included. */
export function settingByName(name: string): NamedSetting | undefined {
  return BY_NAME.get(name);
}

/** The setting an ETCD_* name stands for, aliases included. */
export function settingByEnvName(key: string): NamedSetting | undefined {
  return BY_ENV.get(key);
}

/** By the setting's own flag name only. */
export function settingByFlag(flag: string): Setting | undefined {
  const found = BY_NAME.get(flag);
  return found === undefined || found.alias !== undefined ? undefined : found.setting;
}

/** By the setting's own ETCD_* name only. */
export function settingByEnv(name: string): Setting | undefined {
  const found = BY_ENV.get(name);
  return found === undefined || found.alias !== undefined ? undefined : found.setting;
}

export function settingByField(field: SettingField): Setting {
  const found = SETTINGS.find((s) => s.field === field);
  if (found === undefined) throw new Error(`no setting for field ${field}`);
  return found;
}

/**
 * Flags of etcd 0.4 that etcd 3.x still accepts and ignores with a warning ("-v", "-snapshot", …);
 * they never take a separate value argument.
 */
export const LEGACY_IGNORED_FLAGS: ReadonlySet<string> = new Set([
  "cluster-active-size",
  "cluster-remove-delay",
  "cluster-sync-interval",
  "config",
  "force",
  "max-result-buffer",
  "max-retry-attempts",
  "peer-heartbeat-interval",
  "peer-election-timeout",
  "retry-interval",
  "snapshot",
  "v",
  "vv",
]);

/** A flag etcd-ts accepts but does not act on (fully, or for some values), and why. */
export interface NotHonoured {
  readonly flag: string;
  readonly aliases: readonly string[];
  /** "ignored": any valid value is accepted; "refused": only the default (or an equally inert value) is. */
  readonly kind: "ignored" | "refused";
  readonly why: string;
}

/** Every accepted-but-not-acted-on flag, for --help, etc/etcd.conf and the README. */
export const NOT_HONOURED: readonly NotHonoured[] = Object.freeze(
  SETTINGS.flatMap((s): NotHonoured[] =>
    s.support.kind === "honoured" ? [] : [Object.freeze({ flag: s.flag, aliases: s.aliases, kind: s.support.kind, why: s.support.why })],
  ),
);
