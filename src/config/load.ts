import { join } from "node:path";
import { parseArgv } from "./argv";
import { interpretAutoCompaction } from "./auto-compaction";
import { readConfigFile } from "./config-file";
import { readEnv } from "./env";
import { InvalidValueError } from "./errors";
import { settingByField, SETTINGS } from "./flags";
import { helpText } from "./help";
import { invalidValue, resolveSettings } from "./resolve";
import type { Config, ConfigResult, ConfigSettings, RawValue, SettingField, Source } from "./types";
import { parseUrl, type ParsedUrl } from "./urls";
import { validateSettings } from "./validate";

/**
 * Builds the server configuration from the command line (without the
 * executable and script: process.argv.slice(2)) and the environment.
 *
 * Precedence per setting: flag > ETCD_* variable > config file > default.
 * etcd 3.4 differs on purpose in two places: it refuses a setting given both
 * as a flag and as an environment variable, and it ignores flags and
 * environment entirely when --config-file is used. Layering instead lets a
 * unit file pin a shared config file and override one member's settings.
 *
 * Throws ConfigError for anything the operator has to fix.
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const command = parseArgv(argv);
  if (command.help) return { kind: "help", text: helpText() };
  // Before reading env and files, so a broken deployment can still report its version.
  if (command.version) return { kind: "version" };

  const fromEnv = readEnv(env);
  const configFile = (command.values.get("config-file") ?? fromEnv.get("config-file"))?.text.trim() ?? "";
  const fromFile = configFile === "" ? new Map<string, RawValue>() : readConfigFile(configFile);

  const chosen = new Map<string, RawValue>();
  for (const { flag } of SETTINGS) {
    const raw = command.values.get(flag) ?? fromEnv.get(flag) ?? fromFile.get(flag);
    if (raw !== undefined) chosen.set(flag, raw);
  }
  return { kind: "run", config: buildConfig(chosen) };
}

function buildConfig(chosen: ReadonlyMap<string, RawValue>): Config {
  const { values, raws } = resolveSettings(chosen);
  validateSettings(values, raws);

  const settings: ConfigSettings = {
    ...values,
    walDir: values.walDir === "" ? join(values.dataDir, "member", "wal") : values.walDir,
    // etcd 3.4: --debug overrides --log-level.
    logLevel: values.debug ? "debug" : values.logLevel,
  };

  const sources = {} as Record<SettingField, Source>;
  for (const [field, raw] of raws) sources[field] = raw.source;

  return deepFreeze({
    ...settings,
    parsedUrls: {
      listenPeerUrls: parseAll(settings.listenPeerUrls),
      listenClientUrls: parseAll(settings.listenClientUrls),
      initialAdvertisePeerUrls: parseAll(settings.initialAdvertisePeerUrls),
      advertiseClientUrls: parseAll(settings.advertiseClientUrls),
      listenMetricsUrls: parseAll(settings.listenMetricsUrls),
    },
    autoCompaction: autoCompaction(values, raws),
    sources,
  });
}

function autoCompaction(values: ConfigSettings, raws: ReadonlyMap<SettingField, RawValue>): Config["autoCompaction"] {
  try {
    return interpretAutoCompaction(values.autoCompactionMode, values.autoCompactionRetention);
  } catch (error) {
    if (!(error instanceof InvalidValueError)) throw error;
    throw invalidValue(settingByField("autoCompactionRetention"), raws.get("autoCompactionRetention")!, error.message);
  }
}

// The strings were validated while parsing; this only re-derives the parts.
function parseAll(urls: readonly string[]): readonly ParsedUrl[] {
  return urls.map((url) => parseUrl(url, { example: "", allowPortZero: true }));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
