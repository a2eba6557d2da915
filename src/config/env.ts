import { ConfigError } from "./errors";
import { isExperimentalFlag, settingByEnv, type Setting } from "./flags";
import type { RawValue } from "./types";

/**
 * ETCD_* names that are not settings by design, so they must not trip the
 * unknown-variable check:
 * - ETCD_UNSUPPORTED_ARCH is etcd's opt-in for unsupported CPU architectures.
 * - ETCD_VERSION is commonly set by container images to label the etcd
 *   release they ship; honouring it as --version would make the server
 *   print its version and exit, and rejecting it would break those images.
 *   --version is therefore command-line only.
 * - ETCD_TS_FAILPOINT(_AFTER) are the crash-test switches read by src/pkg/failpoint.ts.
 */
const NOT_SETTINGS = new Set(["ETCD_UNSUPPORTED_ARCH", "ETCD_VERSION", "ETCD_TS_FAILPOINT", "ETCD_TS_FAILPOINT_AFTER"]);

export type EnvKeyMeaning = Setting | "ignore" | "experimental" | "unknown";

/** What an ETCD_* name means; shared by the process environment and etcd.conf env-files. */
export function meaningOfEnvKey(key: string): EnvKeyMeaning {
  // etcdctl's variables share files and shells with etcd's but are not ours.
  if (key.startsWith("ETCDCTL_") || NOT_SETTINGS.has(key)) return "ignore";
  if (!key.startsWith("ETCD_")) return "unknown";
  const setting = settingByEnv(key);
  if (setting !== undefined) return setting;
  const flag = key.slice("ETCD_".length).toLowerCase().replaceAll("_", "-");
  return isExperimentalFlag(flag) ? "experimental" : "unknown";
}

/**
 * Reads settings from the process environment. etcd 3.4 only warns about
 * unrecognized ETCD_* variables; a typo there silently changes nothing, so
 * here it is an error. Empty variables count as unset, as in etcd.
 */
export function readEnv(env: Readonly<Record<string, string | undefined>>): Map<string, RawValue> {
  const values = new Map<string, RawValue>();
  // Sorted so that, with several bad variables, the same one is always reported.
  for (const key of Object.keys(env).sort()) {
    const value = env[key];
    if (!key.startsWith("ETCD_") || value === undefined || value === "") continue;
    const meaning = meaningOfEnvKey(key);
    if (meaning === "ignore") continue;
    if (meaning === "experimental") {
      throw new ConfigError(
        `Environment variable ${key} is not supported: etcd-ts supports no experimental feature but --experimental-corrupt-check-time, unset it`,
        key,
      );
    }
    if (meaning === "unknown") {
      throw new ConfigError(
        `Unknown environment variable ${key}: it is not an etcd setting; unset it or fix its name (run 'etcd --help' to list the settings)`,
        key,
      );
    }
    values.set(meaning.flag, { text: value, source: "env", setting: key, where: "" });
  }
  return values;
}
