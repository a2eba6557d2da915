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
    const key = pair.key.value;
    const value = data[key];
    if (key in TRANSPORT_SECURITY && value !== null && typeof value === "object" && !Array.isArray(value)) {
      entries.push(...transportSecurity(key, value as Record<string, unknown>, path, line));
      continue;
    }
    entries.push({ key, value: toText(value, key, path, line), isList: Array.isArray(value), line });
  }
  return entries;
}

/**
 * etcd's YAML file puts TLS in two sections, `client-transport-security:` and `peer-transport-security:`,
 * with the flag names without their `peer-` prefix (cert-file, key-file, client-cert-auth,
 * trusted-ca-file, auto-tls). Each becomes its flag's entry; another key that is set is refused.
 */
const TRANSPORT_SECURITY: Readonly<Record<string, string>> = { "client-transport-security": "", "peer-transport-security": "peer-" };
const TRANSPORT_KEYS = new Set(["cert-file", "key-file", "client-cert-auth", "trusted-ca-file", "auto-tls"]);

function transportSecurity(section: string, values: Record<string, unknown>, path: string, line: number): YamlEntry[] {
  const out: YamlEntry[] = [];
  for (const [sub, value] of Object.entries(values)) {
    const text = toText(value, `${section}.${sub}`, path, line);
    if (!TRANSPORT_KEYS.has(sub)) {
      if (text === undefined || text === "false") continue; // etcd's sample file lists them empty
      throw new ConfigError(
        `Unsupported setting ${section}.${sub} in config file '${path}' line ${line}: etcd-ts supports ${[...TRANSPORT_KEYS].join(", ")} there`,
        `${path}:${section}.${sub}`,
      );
    }
    out.push({ key: TRANSPORT_SECURITY[section] + sub, value: text, isList: false, line });
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
