import { ConfigError, InvalidValueError, quote } from "./errors";
import { envName, SETTINGS, type DefaultInputs, type Setting } from "./flags";
import type { ConfigSettings, RawValue, SettingField } from "./types";

export interface Resolved {
  readonly values: ConfigSettings;
  /** Every setting's chosen text, defaults included, so later checks can blame the right place. */
  readonly raws: ReadonlyMap<SettingField, RawValue>;
}

/**
 * Parses each setting's winning text, falling back to its default. Defaults
 * that depend on other settings (data-dir, initial-cluster) are computed in
 * a second pass, after the values they depend on are known.
 */
export function resolveSettings(chosen: ReadonlyMap<string, RawValue>): Resolved {
  const values: Record<string, unknown> = {};
  const raws = new Map<SettingField, RawValue>();
  const take = (setting: Setting, raw: RawValue): void => {
    raws.set(setting.field, raw);
    values[setting.field] = parseRaw(setting, raw);
  };

  const computed: Setting[] = [];
  for (const setting of SETTINGS) {
    const raw = chosen.get(setting.flag);
    if (raw !== undefined) take(setting, raw);
    else if (typeof setting.default === "string") take(setting, defaultRaw(setting, setting.default));
    else computed.push(setting);
  }
  for (const setting of computed) {
    const makeDefault = setting.default as (inputs: DefaultInputs) => string;
    take(setting, defaultRaw(setting, makeDefault(values as unknown as DefaultInputs)));
  }
  // Table order, so logs and --help list settings the same way.
  const ordered = Object.fromEntries(SETTINGS.map((s) => [s.field, values[s.field]]));
  const orderedRaws = new Map(SETTINGS.map((s) => [s.field, raws.get(s.field)!]));
  return { values: ordered as unknown as ConfigSettings, raws: orderedRaws };
}

function defaultRaw(setting: Setting, text: string): RawValue {
  return { text, source: "default", setting: `--${setting.flag}`, where: "" };
}

/** Runs the setting's parser and names the flag, variable and file line in any complaint. */
export function parseRaw<K extends SettingField>(setting: Setting<K>, raw: RawValue): ConfigSettings[K] {
  try {
    return setting.parse(raw.text);
  } catch (error) {
    if (error instanceof InvalidValueError) throw invalidValue(setting, raw, error.message);
    throw error;
  }
}

/** Names the flag as the operator wrote it: an alias (--experimental-…) is named as such. */
export function invalidValue(setting: Setting, raw: RawValue, expected: string): ConfigError {
  const flag = raw.alias ?? setting.flag;
  return new ConfigError(`Invalid value ${quote(raw.text)} for --${flag} (${envName(flag)})${raw.where}: ${expected}`, raw.setting);
}
