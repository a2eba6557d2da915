import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { ConfigError } from "./errors";

export interface YamlEntry {
  readonly key: string;
  /** The value as setting text; undefined for an empty value (`wal-dir:`), which counts as unset. */
  readonly value: string | undefined;
  /** The value was a YAML sequence; only list settings accept one. */
  readonly isList: boolean;
  /** 1-based line of the key, for error messages. */
  readonly line: number;
}

/**
 * Reads etcd's YAML config-file format: a flat mapping from flag names to
 * scalars. Values become text so one set of parsers serves flags, env and
 * files; a sequence is joined with commas, which is what list settings
 * expect (etcd itself wants the comma-joined string; both work here).
 */
export function parseYamlFile(text: string, path: string): YamlEntry[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const lineOf = (offset: number): number => lineCounter.linePos(offset).line;

  const error = doc.errors[0];
  if (error !== undefined) {
    const line = error.linePos?.[0].line ?? lineOf(error.pos[0]);
    // The pretty message repeats the offending source below its first line.
    const reason = error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new ConfigError(`Cannot parse config file '${path}' line ${line}: ${reason}; fix the YAML syntax`, `${path}:${line}`);
  }

  if (doc.contents === null) return []; // an empty or comment-only file sets nothing
  if (!isMap(doc.contents)) {
    throw new ConfigError(
      `Cannot parse config file '${path}': expected a mapping of setting names to values, such as "name: n1"`,
      path,
    );
  }

  const entries: YamlEntry[] = [];
  let data: Record<string, unknown>;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  } catch (error) {
    // Alias problems only surface when values are resolved.
    throw new ConfigError(`Cannot parse config file '${path}': ${(error as Error).message}; fix the YAML syntax`, path);
  }
  for (const pair of doc.contents.items) {
    const line = isScalar(pair.key) && pair.key.range ? lineOf(pair.key.range[0]) : 0;
    if (!isScalar(pair.key) || typeof pair.key.value !== "string") {
      throw new ConfigError(`Cannot parse config file '${path}' line ${line}: keys must be setting names, such as "name"`, `${path}:${line}`);
    }
    const key = YAML_ONLY_NAMES[pair.key.value] ?? pair.key.value;
    const value = data[pair.key.value];
    const section = SECTIONS[key];
    if (section !== undefined && value !== null && typeof value === "object" && !Array.isArray(value)) {
      entries.push(...sectionEntries(key, section, value as Record<string, unknown>, path, line));
      continue;
    }
    entries.push({ key, value: toText(value, key, path, line), isList: Array.isArray(value), line });
  }
  return entries;
}

/** Keys etcd's YAML spells unlike the flag (etcd 3.5/3.6 accept both for this one). */
const YAML_ONLY_NAMES: Readonly<Record<string, string>> = { "experimental-snapshot-catch-up-entries": "experimental-snapshot-catchup-entries" };

/**
 * etcd's YAML file puts TLS in two sections, `client-transport-security:` and
 * `peer-transport-security:`, and the socket options in `socket-options:`; each key there is
 * a flag's entry. Keys that have no flag (the client side's allowed-cn …) are refused when set.
 */
const SECTIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "client-transport-security": {
    "cert-file": "cert-file",
    "key-file": "key-file",
    "client-cert-file": "client-cert-file",
    "client-key-file": "client-key-file",
    "client-cert-auth": "client-cert-auth",
    "trusted-ca-file": "trusted-ca-file",
    "auto-tls": "auto-tls",
    "allowed-hostname": "client-cert-allowed-hostname",
  },
  "peer-transport-security": {
    "cert-file": "peer-cert-file",
    "key-file": "peer-key-file",
    "client-cert-file": "peer-client-cert-file",
    "client-key-file": "peer-client-key-file",
    "client-cert-auth": "peer-client-cert-auth",
    "trusted-ca-file": "peer-trusted-ca-file",
    "auto-tls": "peer-auto-tls",
    "allowed-cn": "peer-cert-allowed-cn",
    "allowed-hostname": "peer-cert-allowed-hostname",
    "skip-client-san-verification": "peer-skip-client-san-verification",
  },
  "socket-options": { "reuse-port": "socket-reuse-port", "reuse-address": "socket-reuse-address" },
};

function sectionEntries(section: string, keys: Readonly<Record<string, string>>, values: Record<string, unknown>, path: string, line: number): YamlEntry[] {
  const out: YamlEntry[] = [];
  for (const [sub, value] of Object.entries(values)) {
    const text = toText(value, `${section}.${sub}`, path, line);
    const flag = keys[sub];
    if (flag === undefined) {
      // etcd's sample file lists some of them empty.
      if (text === undefined || text === "false") continue;
      throw new ConfigError(
        `Unsupported setting ${section}.${sub} in config file '${path}' line ${line}: etcd-ts supports ${Object.keys(keys).join(", ")} there`,
        `${path}:${section}.${sub}`,
      );
    }
    out.push({ key: flag, value: text, isList: Array.isArray(value), line });
  }
  return out;
}

function toText(value: unknown, key: string, path: string, line: number): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "string") return value === "" ? undefined : value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (Array.isArray(value) && value.every((item) => ["string", "number"].includes(typeof item))) {
    return value.join(",");
  }
  throw new ConfigError(
    `Invalid value for ${key} in config file '${path}' line ${line}: expected a single value or a list of values`,
    `${path}:${key}`,
  );
}
