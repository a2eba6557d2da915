import { ConfigError } from "./errors";

export interface EnvFileEntry {
  readonly key: string;
  readonly value: string;
  /** 1-based, for error messages. */
  readonly line: number;
}

/** A line that makes a file an env-file rather than YAML. */
export const ENV_FILE_LINE = /^\s*(export\s+)?ETCD_[A-Z0-9_]+\s*=/m;

const ASSIGNMENT = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/s;

/**
 * Parses the etcd.conf format that systemd's EnvironmentFile= and shells
 * both read: KEY=value, KEY="value", KEY='value', blank lines, # comments and
 * an optional leading "export". Quoting follows the shell closely enough for
 * the files people actually write; multi-line values are not supported.
 */
export function parseEnvFile(text: string, path: string): EnvFileEntry[] {
  const entries: EnvFileEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const trimmed = lines[i].trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const fail = (problem: string): ConfigError =>
      new ConfigError(`Cannot parse config file '${path}' line ${line}: ${problem}`, `${path}:${line}`);

    const match = ASSIGNMENT.exec(trimmed);
    if (match === null) {
      throw trimmed.includes("=")
        ? fail("expected KEY=value with a name made of letters, digits and '_', such as ETCD_NAME=n1")
        : fail("missing '='; write settings as KEY=value, such as ETCD_NAME=n1");
    }
    entries.push({ key: match[1], value: parseValue(match[2], fail), line });
  }
  return entries;
}

function parseValue(raw: string, fail: (problem: string) => ConfigError): string {
  const quoteChar = raw[0];
  if (quoteChar !== '"' && quoteChar !== "'") {
    // As in a shell, " #" starts a comment; a '#' inside a word does not.
    return raw.replace(/\s+#.*$/, "").trim();
  }
  let value = "";
  let i = 1;
  for (; i < raw.length; i++) {
    const c = raw[i];
    if (c === quoteChar) break;
    // Inside double quotes the shell only lets backslash escape these; a
    // backslash before anything else stays (Windows-ish paths survive).
    if (quoteChar === '"' && c === "\\" && i + 1 < raw.length && '"\\$`'.includes(raw[i + 1])) {
      value += raw[++i];
      continue;
    }
    value += c;
  }
  if (i >= raw.length) throw fail(`missing closing ${quoteChar}; close the quote on the same line`);
  const rest = raw.slice(i + 1).trim();
  if (rest !== "" && !rest.startsWith("#")) {
    throw fail(`unexpected text ${JSON.stringify(rest)} after the closing ${quoteChar}; quote the whole value`);
  }
  return value;
}
