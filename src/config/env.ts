import { LEGACY_IGNORED_FLAGS, settingByEnvName, type NamedSetting } from "./flags";
import type { ConfigWarning, RawValue } from "./types";

/**
 * ETCD_* names that are not settings by design, so they must not trip the
 * unknown-variable check:
 * - ETCD_UNSUPPORTED_ARCH is etcd's opt-in for unsupported CPU architectures.
 * - ETCD_VERSION is commonly set by container images to label the etcd
 *   release they ship; honouring it as --version would make the server
 *   print its version and exit, and rejecting it would break those images.
 *   --version is therefore command-line only.
 * - ETCD_TS_FAILPOINT(_AFTER, _ACTION), ETCD_TS_UNSAFE_BUG and ETCD_TS_RECORD_SYNCED are the test
 *   switches read by src/pkg/failpoint.ts.
 */
const NOT_SETTINGS = new Set(["ETCD_UNSUPPORTED_ARCH", "ETCD_VERSION", "ETCD_TS_FAILPOINT", "ETCD_TS_FAILPOINT_AFTER", "ETCD_TS_FAILPOINT_ACTION", "ETCD_TS_UNSAFE_BUG", "ETCD_TS_RECORD_SYNCED"]);

/** Variable names whose values stay out of logs. */
const SECRET_NAME = /PASS|SECRET|TOKEN|KEY|CREDENTIAL/;

export type EnvKeyMeaning = NamedSetting | "ignore" | "legacy" | "unknown";

/** What an ETCD_* name means; shared by the process environment and etcd.conf env-files. */
export function meaningOfEnvKey(key: string): EnvKeyMeaning {
  // etcdctl's variables share files and shells with etcd's but are not ours.
  if (key.startsWith("ETCDCTL_") || NOT_SETTINGS.has(key)) return "ignore";
  if (!key.startsWith("ETCD_")) return "unknown";
  const found = settingByEnvName(key);
  if (found !== undefined) return found;
  return LEGACY_IGNORED_FLAGS.has(flagOfEnv(key)) ? "legacy" : "unknown";
}

function flagOfEnv(key: string): string {
  return key.slice("ETCD_".length).toLowerCase().replaceAll("_", "-");
}

export interface EnvSettings {
  /** Keyed by the name the variable stands for: the flag, or the alias it spells. */
  readonly values: ReadonlyMap<string, RawValue>;
  readonly warnings: readonly ConfigWarning[];
}

/**
 * Reads settings from the process environment. As etcd does, an ETCD_* variable that is no
 * setting is only a warning: Kubernetes puts ETCD_CLIENT_PORT, ETCD_SERVICE_HOST … into every pod
 * of a namespace with a Service named etcd, and those pods must still start. (A config file is
 * written for etcd alone, so an unknown name there stays an error.) Empty variables count as unset.
 */
export function readEnv(env: Readonly<Record<string, string | undefined>>): EnvSettings {
  const values = new Map<string, RawValue>();
  const warnings: ConfigWarning[] = [];
  // Sorted so warnings come out in a stable order.
  for (const key of Object.keys(env).sort()) {
    const value = env[key];
    if (!key.startsWith("ETCD_") || value === undefined || value === "") continue;
    const meaning = meaningOfEnvKey(key);
    if (meaning === "ignore") continue;
    if (meaning === "unknown") {
      const shown = SECRET_NAME.test(key) ? "[redacted]" : value;
      warnings.push({ msg: "unrecognized environment variable", fields: { "environment-variable": `${key}=${shown}` } });
      continue;
    }
    if (meaning === "legacy") {
      warnings.push(legacyWarning(`-${flagOfEnv(key)}`, key));
      continue;
    }
    const name = meaning.alias ?? meaning.setting.flag;
    values.set(name, { text: value, source: "env", setting: key, where: "", ...(meaning.alias === undefined ? {} : { alias: meaning.alias }) });
  }
  return { values, warnings };
}

/** etcd 0.4's flags are still accepted by etcd 3.x, which ignores them with a warning. */
export function legacyWarning(flag: string, setBy: string): ConfigWarning {
  return { msg: "flag is no longer supported; ignoring it", fields: { flag, "set-by": setBy } };
}
