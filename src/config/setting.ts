import type { ConfigSettings, SettingField } from "./types";
import { parseBool } from "./values";

// The shape of one row of the settings table (flags.ts) and the helpers the group files use to
// write rows; kept apart so the group files and flags.ts do not import each other.

export type Group =
  | "Member"
  | "Clustering"
  | "v2 Proxy"
  | "Security"
  | "Logging"
  | "Profiling and monitoring"
  | "Experimental"
  | "Unsafe"
  | "Config file";

/** The resolved values a computed default may depend on; these have plain defaults themselves. */
export type DefaultInputs = Pick<ConfigSettings, "name" | "initialAdvertisePeerUrls">;

/**
 * Whether etcd-ts acts on a setting. Every etcd 3.4–3.7 flag is accepted so deployments keep
 * starting, but only a flag whose effect etcd-ts has is "honoured":
 * - "ignored": no effect in etcd-ts, and none is needed for correct data or a safe cluster
 *   (tuning of bbolt, Go or a feature etcd-ts lacks). Any valid value is accepted; `warnIf` says
 *   which values earn a startup warning (without it: an explicit value other than the default).
 * - "refused": the value would ask for behaviour etcd-ts does not have (a v2 proxy, discovery,
 *   skipped fsyncs…). Only `allowed` values (without it: the default value) are accepted; anything
 *   else stops the server with `why`, which says what to do instead.
 * Methods rather than function properties, so rows of different value types share one array.
 */
export type Support<V = unknown> = Honoured | Ignored<V> | Refused<V>;

export interface Honoured {
  readonly kind: "honoured";
}

export interface Ignored<V> {
  readonly kind: "ignored";
  readonly why: string;
  warnIf?(value: V): boolean;
}

export interface Refused<V> {
  readonly kind: "refused";
  readonly why: string;
  allowed?(value: V, all: ConfigSettings): boolean;
}

export interface Setting<K extends SettingField = SettingField> {
  /** Without dashes: "initial-cluster-token". Also the YAML config-file key. */
  readonly flag: string;
  /** "ETCD_INITIAL_CLUSTER_TOKEN"; also the env-file key. */
  readonly env: string;
  /**
   * Other names of the same setting, each also an ETCD_* variable and a YAML key: the etcd 3.4/3.5
   * --experimental-* names of what etcd 3.6 made plain flags, and deprecated spellings (--log-output).
   */
  readonly aliases: readonly string[];
  readonly field: K;
  readonly group: Group;
  readonly description: string;
  readonly support: Support<ConfigSettings[K]>;
  /** Boolean flags never consume the next argument, so "-debug -name x" works. */
  readonly boolean: boolean;
  /** A YAML sequence is accepted and joined with commas. */
  readonly list: boolean;
  /** Text fed to `parse` when no source sets the value; a function when it depends on other settings. */
  readonly default: string | ((inputs: DefaultInputs) => string);
  /** The default as --help shows it. */
  readonly defaultHelp: string;
  readonly parse: (text: string) => ConfigSettings[K];
}

export interface Row<K extends SettingField> {
  readonly group: Group;
  readonly description: string;
  readonly default: string | ((inputs: DefaultInputs) => string);
  readonly defaultHelp?: string;
  readonly boolean?: boolean;
  readonly list?: boolean;
  readonly aliases?: readonly string[];
  /** Honoured unless said otherwise. */
  readonly support?: Support<ConfigSettings[K]>;
  readonly parse: (text: string) => ConfigSettings[K];
}

export function row<K extends SettingField>(flag: string, field: K, spec: Row<K>): Setting<K> {
  return Object.freeze({
    flag,
    env: envName(flag),
    aliases: Object.freeze([...(spec.aliases ?? [])]),
    field,
    group: spec.group,
    description: spec.description,
    support: spec.support ?? HONOURED,
    boolean: spec.boolean ?? false,
    list: spec.list ?? false,
    default: spec.default,
    defaultHelp: spec.defaultHelp ?? (typeof spec.default === "string" ? spec.default : ""),
    parse: spec.parse,
  });
}

const HONOURED = Object.freeze({ kind: "honoured" as const });

export function envName(flag: string): string {
  return `ETCD_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/** A boolean row; `extra` adds aliases or a support level. */
export function bool<K extends SettingField>(
  group: Group,
  description: string,
  byDefault: boolean,
  extra: Pick<Row<K>, "aliases" | "support"> = {},
): Row<K> {
  return { group, description, default: String(byDefault), boolean: true, parse: parseBool as (text: string) => ConfigSettings[K], ...extra };
}

/**
 * Support for a flag that has no effect in etcd-ts. Warns about an explicit value other than the
 * default unless `warnIf` says otherwise (`() => false`: the value never matters).
 */
export function ignored<V>(why: string, warnIf?: (value: V) => boolean): Support<V> {
  return warnIf === undefined ? { kind: "ignored", why } : { kind: "ignored", why, warnIf };
}

/** Support for a flag that etcd-ts accepts only at its default (or the `allowed` values). */
export function refused<V>(why: string, allowed?: (value: V, all: ConfigSettings) => boolean): Support<V> {
  return allowed === undefined ? { kind: "refused", why } : { kind: "refused", why, allowed };
}

/** warnIf for values that never matter. */
export const NEVER = (): boolean => false;
