// --peer-cert-allowed-cn, --peer-cert-allowed-hostname and --client-cert-allowed-hostname: which
// verified certificates may connect, with etcd's semantics. A CN must equal one allowed CN exactly; a
// hostname must match the certificate as Go's x509.Certificate.VerifyHostname matches it: an IP
// against the IP SANs, a name against the DNS SANs (case-insensitive, a trailing dot ignored, "*."
// standing for exactly one leftmost label); the subject's CN is never taken as a host name. Several
// values (comma-separated, as etcd 3.6 takes them) allow a certificate matching any one of them.
import net from "node:net";
import type { CertificateNames } from "./tls-x509.ts";

/** etcd's words when a certificate does not match (Go's VerifyPeerCertificate error in etcd). */
export const NOT_ALLOWED = "client certificate authentication failed";

export interface AllowedNames {
  readonly commonNames: readonly string[];
  readonly hostnames: readonly string[];
  /** For messages: the flags the lists came from. */
  readonly cnFlag: string;
  readonly hostnameFlag: string;
}

/** Splits a flag's comma-separated values, dropping empty ones. */
export function splitAllowed(value: string): string[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** Whether any rule is configured (no rule: every verified certificate is allowed). */
export function hasRules(a: AllowedNames): boolean {
  return a.commonNames.length > 0 || a.hostnames.length > 0;
}

/**
 * Why a verified certificate is not allowed, or undefined when it is (or no rule is set). The text
 * starts with etcd's words, so scripts that look for them in logs keep working.
 */
export function allowedNamesRefusal(cert: CertificateNames, a: AllowedNames): string | undefined {
  if (a.commonNames.length > 0) {
    if (a.commonNames.includes(cert.commonName)) return undefined;
    const cn = cert.commonName === "" ? "no CN" : `CN ${JSON.stringify(cert.commonName)}`;
    return `${NOT_ALLOWED}: the certificate has ${cn}, ${a.cnFlag} allows ${a.commonNames.map((n) => JSON.stringify(n)).join(", ")}`;
  }
  if (a.hostnames.length > 0) {
    if (a.hostnames.some((h) => verifyHostname(cert, h))) return undefined;
    const sans = [...cert.dnsNames, ...cert.ipAddresses.map(formatIp)];
    return `${NOT_ALLOWED}: the certificate is for ${sans.length ? sans.join(", ") : "no host (no DNS or IP SAN)"}, ${a.hostnameFlag} allows ${a.hostnames.join(", ")}`;
  }
  return undefined;
}

/** Go's x509.Certificate.VerifyHostname(host) == nil, on the SANs only. */
export function verifyHostname(cert: Pick<CertificateNames, "dnsNames" | "ipAddresses">, host: string): boolean {
  const bare = host.length >= 3 && host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const ip = parseIp(bare);
  if (ip !== null) return cert.ipAddresses.some((c) => sameIp(normalizeIp(c), ip));
  const candidate = host.toLowerCase();
  const validCandidate = validHostname(candidate, false);
  return cert.dnsNames.some((pattern) => (validCandidate && validHostname(pattern, true) ? matchPattern(pattern, candidate) : matchExactly(pattern, candidate)));
}

/** Letters, digits, '-' (not first), '_' (seen in real deployments); '*' only as a whole first label of a pattern. */
function validHostname(host: string, isPattern: boolean): boolean {
  const h = isPattern ? host : host.replace(/\.$/, "");
  if (h === "") return false;
  return h.split(".").every((label, i) => {
    if (label === "") return false;
    if (isPattern && i === 0 && label === "*") return true;
    return /^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(label);
  });
}

function matchExactly(a: string, b: string): boolean {
  if (a === "" || a === "." || b === "" || b === ".") return false;
  return a.toLowerCase() === b.toLowerCase();
}

/** Label by label; a leading "*" matches one label. The host's trailing dot is ignored. */
function matchPattern(pattern: string, host: string): boolean {
  const trimmed = host.toLowerCase().replace(/\.$/, "");
  if (pattern === "" || trimmed === "") return false;
  const p = pattern.toLowerCase().split(".");
  const h = trimmed.split(".");
  if (p.length !== h.length) return false;
  return p.every((label, i) => (i === 0 && label === "*") || label === h[i]);
}

/** An IPv4 or IPv6 address as 16 bytes (IPv4 mapped as ::ffff:a.b.c.d), or null when it is not one. */
export function parseIp(s: string): Uint8Array | null {
  if (net.isIPv4(s)) return normalizeIp(Uint8Array.from(s.split(".").map(Number)));
  if (!net.isIPv6(s) || s.includes("%")) return null;
  const [head, tail] = s.includes("::") ? s.split("::") : [s, null];
  const groups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        const [a, b, c, d] = g.split(".").map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groups(head);
  const right = tail === null ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function normalizeIp(b: Uint8Array): Uint8Array {
  if (b.length === 16) return b;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(b, 12);
  return out;
}

function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function formatIp(b: Uint8Array): string {
  if (b.length === 4) return b.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}
