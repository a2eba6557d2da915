// The TLS policy flags (--cipher-suites, --tls-min-version) as etcd spells them (Go's crypto/tls names),
// translated to what node:tls takes (OpenSSL names, "TLSv1.2"). Pure: the config parser checks the
// names with it, the listeners and dialers build their options from it.

/** etcd's --tls-min-version values; TLS 1.0 and 1.1 are refused, as etcd 3.5 refuses them. */
export const TLS_VERSIONS = ["TLS1.2", "TLS1.3"] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/** --tls-min-version → node:tls's minVersion. */
export function nodeTlsVersion(v: TlsVersion): "TLSv1.2" | "TLSv1.3" {
  return v === "TLS1.3" ? "TLSv1.3" : "TLSv1.2";
}

/**
 * Go's cipher suite names (crypto/tls, as etcd's --cipher-suites takes them) → OpenSSL's. Only suites
 * the TLS library inside Bun can negotiate are listed; RC4 and 3DES are gone from it.
 */
const GO_TO_OPENSSL: Readonly<Record<string, string>> = Object.freeze({
  TLS_RSA_WITH_AES_128_CBC_SHA: "AES128-SHA",
  TLS_RSA_WITH_AES_256_CBC_SHA: "AES256-SHA",
  TLS_RSA_WITH_AES_128_GCM_SHA256: "AES128-GCM-SHA256",
  TLS_RSA_WITH_AES_256_GCM_SHA384: "AES256-GCM-SHA384",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: "ECDHE-ECDSA-AES128-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: "ECDHE-ECDSA-AES256-SHA",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: "ECDHE-RSA-AES128-SHA",
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: "ECDHE-RSA-AES256-SHA",
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: "ECDHE-ECDSA-AES128-GCM-SHA256",
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: "ECDHE-ECDSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: "ECDHE-RSA-AES128-GCM-SHA256",
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: "ECDHE-RSA-AES256-GCM-SHA384",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-RSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: "ECDHE-ECDSA-CHACHA20-POLY1305",
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
});

/** Names Go knows but that are not offered here, with why (so the error says more than "unknown"). */
const REFUSED: Readonly<Record<string, string>> = Object.freeze({
  TLS_RSA_WITH_RC4_128_SHA: "RC4 is broken",
  TLS_ECDHE_ECDSA_WITH_RC4_128_SHA: "RC4 is broken",
  TLS_ECDHE_RSA_WITH_RC4_128_SHA: "RC4 is broken",
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: "3DES is not offered",
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: "3DES is not offered",
  TLS_RSA_WITH_AES_128_CBC_SHA256: "CBC with SHA-256 is not offered",
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: "CBC with SHA-256 is not offered",
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: "CBC with SHA-256 is not offered",
});

/** TLS 1.3's suites: Go (and so etcd) always enables all three, whatever --cipher-suites says. */
const TLS13_SUITES = new Set(["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]);

export function supportedCipherSuites(): string[] {
  return Object.keys(GO_TO_OPENSSL);
}

/**
 * Checks etcd's --cipher-suites names and returns them in order, without duplicates. Throws an Error
 * naming the first name that is not accepted, and why.
 */
export function checkCipherSuites(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of names) {
    const name = raw.trim();
    if (name === "") continue;
    if (!(name in GO_TO_OPENSSL) && !TLS13_SUITES.has(name)) {
      const why = REFUSED[name] ? `it is not supported (${REFUSED[name]})` : "it is not a known cipher suite";
      throw new Error(`cipher suite "${name}": ${why}; use Go's names, such as ${supportedCipherSuites().slice(8, 12).join(", ")}`);
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/**
 * node:tls's `ciphers` string for etcd's names: the OpenSSL names of the TLS 1.2 suites. TLS 1.3's
 * suites stay on (as in Go). Undefined when no names are given: the library's secure defaults apply.
 */
export function opensslCiphers(names: readonly string[]): string | undefined {
  const checked = checkCipherSuites(names);
  const tls12 = [...new Set(checked.filter((n) => !TLS13_SUITES.has(n)).map((n) => GO_TO_OPENSSL[n]))];
  if (tls12.length === 0) return undefined;
  return [...TLS13_SUITES, ...tls12].join(":");
}
