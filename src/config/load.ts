import { join } from "node:path";
import { parseArgv } from "./argv";
import { interpretAutoCompaction } from "./auto-compaction";
import { readConfigFile } from "./config-file";
import { readEnv } from "./env";
import { ConfigError, InvalidValueError } from "./errors";
import { resolveFeatureGates } from "./feature-gates";
import { settingByField, SETTINGS, type Setting } from "./flags";
import { helpText } from "./help";
import { invalidValue, parseRaw, resolveSettings } from "./resolve";
import { sameValue } from "./same-value";
import { checkSupport } from "./support";
import type { Config, ConfigResult, ConfigSettings, ConfigWarning, RawValue, SettingField, Source } from "./types";
import { parseUrl, type ParsedUrl } from "./urls";
import { validateSettings } from "./validate";

/** etcd raises shorter watch progress intervals to this. */
const MIN_PROGRESS_NOTIFY_MS = 100;

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
 * Throws ConfigError for anything the operator has to fix; returns warnings
 * for what they should know (unrecognized ETCD_* variables, flags accepted
 * but not acted on), for the caller to log once its logger exists.
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const command = parseArgv(argv);
  if (command.help) return { kind: "help", text: helpText() };
  // Before reading env and files, so a broken deployment can still report its version.
  if (command.version) return { kind: "version" };

  const fromEnv = readEnv(env);
  const configFile = (command.values.get("config-file") ?? fromEnv.values.get("config-file"))?.text.trim() ?? "";
  const fromFile = configFile === "" ? new Map<string, RawValue>() : readConfigFile(configFile);

  const chosen = new Map<string, RawValue>();
  for (const setting of SETTINGS) {
    const raw = pick(setting, command.values) ?? pick(setting, fromEnv.values) ?? pick(setting, fromFile);
    if (raw !== undefined) chosen.set(setting.flag, raw);
  }
  const { config, warnings } = buildConfig(chosen);
  return { kind: "run", config, warnings: Object.freeze([...command.warnings, ...fromEnv.warnings, ...warnings]) };
}

/**
 * The value one source gives a setting. A setting may be given under its own name and its
 * aliases (--watch-progress-notify-interval and --experimental-watch-progress-notify-interval) in
 * one source: the same value is fine, different values are an error naming both.
 */
function pick(setting: Setting, source: ReadonlyMap<string, RawValue>): RawValue | undefined {
  const given = [setting.flag, ...setting.aliases].flatMap((name) => source.get(name) ?? []);
  if (given.length <= 1) return given[0];
  const [first, ...others] = given;
  const value = parseRaw(setting, first);
  for (const other of others) {
    if (!sameValue(value, parseRaw(setting, other))) {
      throw new ConfigError(
        `${first.setting}=${first.text}${first.where} and ${other.setting}=${other.text}${other.where} set the same setting to different values: keep only --${setting.flag}`,
        other.setting,
      );
    }
  }
  return first;
}

function buildConfig(chosen: ReadonlyMap<string, RawValue>): { config: Config; warnings: ConfigWarning[] } {
  const resolved = resolveSettings(chosen);
  const gates = resolveFeatureGates(resolved.values, resolved.raws);
  const values: ConfigSettings = { ...resolved.values, ...gates.fields, featureGates: gates.gates };
  // A field --feature-gates decided is blamed on (and sourced from) --feature-gates.
  const raws = new Map(resolved.raws);
  for (const field of gates.fromGates) raws.set(field, resolved.raws.get("featureGates")!);

  const warnings = checkSupport(values, raws);
  validateSettings(values, raws);

  if (values.watchProgressNotifyInterval < MIN_PROGRESS_NOTIFY_MS) {
    warnings.push({
      msg: "adjusting watch progress notify interval to minimum period",
      fields: { "min-watch-progress-notify-interval": `${MIN_PROGRESS_NOTIFY_MS}ms`, "set-by": raws.get("watchProgressNotifyInterval")!.setting },
    });
  }

  const settings: ConfigSettings = {
    ...values,
    walDir: values.walDir === "" ? join(values.dataDir, "member", "wal") : values.walDir,
    // etcd 3.4: --debug overrides --log-level.
    logLevel: values.debug ? "debug" : values.logLevel,
    watchProgressNotifyInterval: Math.max(values.watchProgressNotifyInterval, MIN_PROGRESS_NOTIFY_MS),
  };

  const sources = {} as Record<SettingField, Source>;
  for (const [field, raw] of raws) sources[field] = raw.source;

  const config = deepFreeze({
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
  return { config, warnings };
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
