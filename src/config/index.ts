// Public face of the configuration module; everything else is internal.
export { loadConfig } from "./load";
export { ConfigError } from "./errors";
export { formatInitialCluster } from "./initial-cluster";
export type { AutoCompaction, Config, ConfigResult, ConfigSettings, ConfigWarning, LogLevel, SettingField, Source } from "./types";
export { NOT_HONOURED, type NotHonoured } from "./flags";
export type { ParsedUrl } from "./urls";
