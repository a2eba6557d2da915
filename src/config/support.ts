import { ConfigError, quote } from "./errors";
import { SETTINGS, type Setting } from "./flags";
import { parseRaw } from "./resolve";
import { sameValue } from "./same-value";
import type { ConfigSettings, ConfigWarning, RawValue, SettingField } from "./types";

/**
 * Applies each row's support level (setting.ts) to the final values: a refused value stops the
 * server with the row's reason, an ignored one that the operator changed earns a warning. Runs
 * after feature gates are merged, so a feature switched by either spelling is judged the same.
 */
export function checkSupport(values: ConfigSettings, raws: ReadonlyMap<SettingField, RawValue>): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  for (const setting of SETTINGS) {
    const { support } = setting;
    if (support.kind === "honoured") continue;
    const raw = raws.get(setting.field)!;
    const value = values[setting.field];
    if (support.kind === "refused") {
      const allowed = support.allowed === undefined ? isDefault(setting, value) : support.allowed(value as never, values);
      if (!allowed) throw new ConfigError(refusal(setting, raw, support.why), raw.setting);
      continue;
    }
    const warn = support.warnIf === undefined ? raw.source !== "default" && !isDefault(setting, value) : support.warnIf(value as never);
    if (warn) {
      warnings.push({
        msg: "flag accepted but not acted on by etcd-ts",
        fields: { flag: `--${raw.alias ?? setting.flag}`, value: raw.text, "set-by": raw.setting, reason: support.why },
      });
    }
  }
  return warnings;
}

function isDefault(setting: Setting, value: unknown): boolean {
  if (typeof setting.default !== "string") return false;
  return sameValue(value, parseRaw(setting, { text: setting.default, source: "default", setting: `--${setting.flag}`, where: "" }));
}

function refusal(setting: Setting, raw: RawValue, why: string): string {
  const name = `--${raw.alias ?? setting.flag}`;
  // A switch reads better as "--enable-v2 is not supported"; a value is quoted as given.
  if (setting.boolean) return `${name} is not supported by etcd-ts${raw.where}: ${why}`;
  return `Cannot use ${name} ${quote(raw.text)}${raw.where}: ${why}`;
}
