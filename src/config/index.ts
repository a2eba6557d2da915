// Public face of the configuration module; everything else is internal.
export { loadConfig } from "./load";
export { ConfigError } from "./errors";
export { formatInitialCluster } from "./initial-cluster";
export type { AutoCompaction, Config, ConfigResult, ConfigSettings, LogLevel, SettingField, Source } from "./types";
export type { ParsedUrl } from "./urls";
