import { readFileSync } from "node:fs";
import { meaningOfEnvKey } from "./env";
import { ENV_FILE_LINE, parseEnvFile } from "./env-file";
import { ConfigError, quote } from "./errors";
import { settingByName } from "./flags";
import type { RawValue } from "./types";
import { parseYamlFile } from "./yaml-file";

export type ConfigFileFormat = "env" | "yaml";

/**
 * etcd.conf env-files and etcd YAML files are told apart by content rather
 * than by extension: both turn up as "etcd.conf" in the wild, and a single
 * ETCD_X= line cannot be valid etcd YAML anyway.
 */
export function detectFormat(text: string): ConfigFileFormat {
  return ENV_FILE_LINE.test(text) ? "env" : "yaml";
}

/** Reads and parses the config file into setting values keyed by flag name. */
export function readConfigFile(path: string): Map<string, RawValue> {
  return parseConfigFile(readText(path), path);
}

export function parseConfigFile(text: string, path: string): Map<string, RawValue> {
  return detectFormat(text) === "env" ? fromEnvFile(text, path) : fromYaml(text, path);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String(error);
    throw new ConfigError(
      `Cannot read config file '${path}': ${reason}; check --config-file (ETCD_CONFIG_FILE)`,
      path,
    );
  }
}

function fromEnvFile(text: string, path: string): Map<string, RawValue> {
  const values = new Map<string, RawValue>();
  for (const entry of parseEnvFile(text, path)) {
    const at = `config file '${path}' line ${entry.line}`;
    const setting = `${path}:${entry.line}`;
    const meaning = meaningOfEnvKey(entry.key);
    if (meaning === "ignore") continue;
    if (meaning === "unknown" || meaning === "legacy") {
      throw new ConfigError(`Unknown setting ${quote(entry.key)} in ${at}: run 'etcd --help' to list the supported settings`, setting);
    }
    if (meaning.setting.flag === "config-file") {
      throw new ConfigError(`A config file cannot name another config file (${entry.key} in ${at}): remove the line`, setting);
    }
    // Empty means unset, as for the environment the file stands in for.
    if (entry.value === "") continue;
    values.set(meaning.alias ?? meaning.setting.flag, raw(entry.value, setting, at, meaning.alias));
  }
  return values;
}

function fromYaml(text: string, path: string): Map<string, RawValue> {
  const values = new Map<string, RawValue>();
  for (const entry of parseYamlFile(text, path)) {
    const at = `config file '${path}' line ${entry.line}`;
    const setting = `${path}:${entry.key}`;
    const found = settingByName(entry.key);
    if (found === undefined) {
      throw new ConfigError(`Unknown key ${quote(entry.key)} in ${at}: run 'etcd --help' to list the supported settings`, setting);
    }
    if (found.setting.flag === "config-file") {
      throw new ConfigError(`A config file cannot name another config file (key config-file in ${at}): remove the key`, setting);
    }
    if (entry.isList && !found.setting.list) {
      throw new ConfigError(`Invalid value for ${entry.key} in ${at}: expected a single value, not a list`, setting);
    }
    if (entry.value === undefined) continue;
    values.set(entry.key, raw(entry.value, setting, at, found.alias));
  }
  return values;
}

function raw(text: string, setting: string, at: string, alias: string | undefined): RawValue {
  return { text, source: "file", setting, where: ` in ${at}`, ...(alias === undefined ? {} : { alias }) };
}
