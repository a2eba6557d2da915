/**
 * The one error type the configuration module lets escape. `setting` names
 * what the operator has to change — a flag (`--name`), an environment
 * variable (`ETCD_NAME`), or a config-file location (`/etc/etcd/etcd.conf:7`,
 * `/etc/etcd/etcd.yml:name`) — so the startup path can log it as a field
 * without parsing the message.
 */
export class ConfigError extends Error {
  readonly setting: string;

  constructor(message: string, setting: string) {
    super(message);
    this.name = "ConfigError";
    this.setting = setting;
  }
}

/**
 * Thrown by the value parsers, which know what they expected but not which
 * flag or file line the text came from; the loader rewraps it into a
 * ConfigError with that context. Never escapes the module.
 */
export class InvalidValueError extends Error {
  constructor(expected: string) {
    super(expected);
    this.name = "InvalidValueError";
  }
}

/** `"abc"` with JSON escaping, so stray whitespace and control characters show up in messages. */
export function quote(text: string): string {
  return JSON.stringify(text);
}
