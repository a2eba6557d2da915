import { InvalidValueError, quote } from "./errors";

export interface ParsedUrl {
  /** The URL exactly as configured (trimmed). */
  readonly url: string;
  /**
   * Without the trailing colon, unlike WHATWG URL#protocol. unix and unixs name a unix socket, the
   * file "host:port" in the working directory, as etcd (pkg/socket-address.ts); unixs speaks TLS on it.
   */
  readonly protocol: "http" | "https" | "unix" | "unixs";
  /** Lower-cased; IPv6 addresses without brackets, ready for listen(). */
  readonly hostname: string;
  readonly port: number;
}

export interface UrlRules {
  /** Shown in errors so the operator sees the expected shape. */
  readonly example: string;
  /** Port 0 asks the OS for a free port, which only makes sense when listening. */
  readonly allowPortZero: boolean;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s;
const HOST_PORT = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d*))?$/;

/**
 * Validates one URL the way etcd's types.NewURLs does: http, https, unix or
 * unixs, an explicit host and port, and nothing after the port. WHATWG URL alone is
 * not enough because it silently drops default ports and adds a "/" path.
 */
export function parseUrl(text: string, rules: UrlRules): ParsedUrl {
  const url = text.trim();
  const shape = `expected http:// or https:// URLs with a host and port, such as ${rules.example}`;
  const scheme = SCHEME.exec(url);
  if (scheme === null) throw new InvalidValueError(`${quote(url)} is not a URL; ${shape}`);
  const protocol = scheme[1].toLowerCase();
  if (protocol !== "http" && protocol !== "https" && protocol !== "unix" && protocol !== "unixs") {
    throw new InvalidValueError(`${quote(url)} uses the unsupported scheme "${scheme[1]}"; ${shape}`);
  }
  const authority = scheme[2];
  if (/[/?#]/.test(authority)) {
    throw new InvalidValueError(`${quote(url)} has a path, query or fragment; ${shape}`);
  }
  if (authority.includes("@")) {
    throw new InvalidValueError(`${quote(url)} contains user credentials; ${shape}`);
  }
  const hostPort = HOST_PORT.exec(authority);
  if (hostPort === null || hostPort[1] === "" || hostPort[1] === "[]") {
    throw new InvalidValueError(`${quote(url)} has no valid host; ${shape}`);
  }
  if (hostPort[2] === undefined || hostPort[2] === "") {
    throw new InvalidValueError(`${quote(url)} has no port; ${shape}`);
  }
  const port = Number(hostPort[2]);
  if (port > 65535 || (port === 0 && !rules.allowPortZero)) {
    throw new InvalidValueError(`${quote(url)} has port ${hostPort[2]}, outside 1-65535; ${shape}`);
  }
  // Let the WHATWG parser judge the host's characters (IPv6 syntax, spaces...).
  try {
    new URL(`${protocol}://${hostPort[1]}:1`);
  } catch {
    throw new InvalidValueError(`${quote(url)} has an invalid host; ${shape}`);
  }
  const hostname = hostPort[1].replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return Object.freeze({ url, protocol, hostname, port });
}

/** Comma-separated URLs; empty entries (from "a,,b" or a trailing comma) are skipped. */
export function parseUrlList(text: string, rules: UrlRules & { readonly allowEmpty: boolean }): ParsedUrl[] {
  const urls = text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => parseUrl(part, rules));
  if (urls.length === 0 && !rules.allowEmpty) {
    throw new InvalidValueError(`expected at least one URL, such as ${rules.example}`);
  }
  return urls;
}

/**
 * Identity used to compare peer URLs between --initial-cluster and
 * --initial-advertise-peer-urls. etcd resolves host names before comparing;
 * the config module deliberately does no DNS, so names compare as text.
 */
export function urlKey(url: ParsedUrl): string {
  const host = url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname;
  return `${url.protocol}://${host}:${url.port}`;
}

/** A URL-list parser for the settings table: listening URLs may use port 0 (any free port). */
export function urlList(example: string, options: { readonly allowEmpty: boolean; readonly listening: boolean; readonly allowPortZero?: boolean }) {
  return (text: string): readonly string[] =>
    parseUrlList(text, { example, allowEmpty: options.allowEmpty, allowPortZero: options.allowPortZero ?? options.listening }).map((u) => u.url);
}
