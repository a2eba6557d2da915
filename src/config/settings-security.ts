import { checkCipherSuites, TLS_VERSIONS } from "../pkg/tls-config.ts";
import { parseAuthToken } from "./auth-token";
import { InvalidValueError } from "./errors";
import { bool, ignored, NEVER, refused, row, type Setting } from "./setting";
import { parseChoice, parseList, parseWholeNumber } from "./values";

// Security: TLS on the client and peer ports, and authentication (etcd's "Security" and "Auth").

function parseCipherSuites(text: string): readonly string[] {
  try {
    return checkCipherSuites(parseList(text));
  } catch (e) {
    throw new InvalidValueError((e as Error).message);
  }
}

const path = (text: string): string => text.trim();

/** etcd's Host check only guards plain-HTTP client ports (against DNS rebinding). */
const plainHttpClients = (urls: readonly string[]): boolean => urls.some((url) => /^http:/i.test(url));

export const SECURITY: readonly Setting[] = [
  row("cert-file", "certFile", {
    group: "Security",
    description: "Path to the client server TLS cert file (PEM); with --key-file, https:// client URLs serve TLS.",
    default: "",
    parse: path,
  }),
  row("key-file", "keyFile", {
    group: "Security",
    description: "Path to the client server TLS key file (PEM).",
    default: "",
    parse: path,
  }),
  row("client-cert-auth", "clientCertAuth", bool("Security", "Require a client certificate signed by --trusted-ca-file on the client port (a trusted CA alone already requires one, as in etcd); with this flag its CN is the user when no token is sent.", false)),
  row("client-crl-file", "clientCrlFile", {
    group: "Security",
    description: "Path to a certificate revocation list (PEM or DER); client certificates whose serial it lists are refused.",
    default: "",
    parse: path,
  }),
  row("client-cert-allowed-hostname", "clientCertAllowedHostname", {
    group: "Security",
    description: "Comma-separated host names; a client certificate must be valid for one of them (its DNS or IP SANs; the CN never counts).",
    default: "",
    list: true,
    parse: parseList,
  }),
  row("trusted-ca-file", "trustedCaFile", {
    group: "Security",
    description: "Path to the client server TLS trusted CA cert file (PEM), which checks client certificates.",
    default: "",
    parse: path,
  }),
  row("client-cert-file", "clientCertFile", {
    group: "Security",
    description: "Certificate etcd presents when it dials its own client port (its gRPC gateway), instead of --cert-file (etcd 3.5+).",
    default: "",
    parse: path,
    support: ignored("etcd-ts's JSON gateway calls the services in-process and never dials its own client port", NEVER),
  }),
  row("client-key-file", "clientKeyFile", {
    group: "Security",
    description: "Key of --client-cert-file (etcd 3.5+).",
    default: "",
    parse: path,
    support: ignored("etcd-ts's JSON gateway calls the services in-process and never dials its own client port", NEVER),
  }),
  row("auto-tls", "autoTls", bool("Security", "Client TLS using a generated self-signed certificate (in <data-dir>/fixtures/client).", false)),
  row("peer-cert-file", "peerCertFile", {
    group: "Security",
    description: "Path to the peer server TLS cert file (PEM), also presented when dialing other members.",
    default: "",
    parse: path,
  }),
  row("peer-key-file", "peerKeyFile", {
    group: "Security",
    description: "Path to the peer server TLS key file (PEM).",
    default: "",
    parse: path,
  }),
  row("peer-client-cert-auth", "peerClientCertAuth", bool("Security", "Require a peer certificate signed by --peer-trusted-ca-file from every member that connects.", false)),
  row("peer-trusted-ca-file", "peerTrustedCaFile", {
    group: "Security",
    description: "Path to the peer server TLS trusted CA file (PEM), which checks the other members' certificates.",
    default: "",
    parse: path,
  }),
  row("peer-client-cert-file", "peerClientCertFile", {
    group: "Security",
    description: "Certificate (PEM) presented when dialing other members, instead of --peer-cert-file (etcd 3.5+).",
    default: "",
    parse: path,
  }),
  row("peer-client-key-file", "peerClientKeyFile", {
    group: "Security",
    description: "Key of --peer-client-cert-file (etcd 3.5+).",
    default: "",
    parse: path,
  }),
  row("peer-cert-allowed-cn", "peerCertAllowedCn", {
    group: "Security",
    description: "Comma-separated common names; a member connecting to the peer port must present a certificate with one of them.",
    default: "",
    list: true,
    parse: parseList,
  }),
  row("peer-cert-allowed-hostname", "peerCertAllowedHostname", {
    group: "Security",
    description: "Comma-separated host names; a member's certificate must be valid for one of them.",
    default: "",
    list: true,
    parse: parseList,
  }),
  row("peer-auto-tls", "peerAutoTls", bool("Security", "Peer TLS using a generated self-signed certificate (in <data-dir>/fixtures/peer); members then do not verify each other.", false)),
  row("peer-crl-file", "peerCrlFile", {
    group: "Security",
    description: "Path to a certificate revocation list (PEM or DER); member certificates whose serial it lists are refused.",
    default: "",
    parse: path,
  }),
  row("peer-skip-client-san-verification", "peerSkipClientSanVerification", bool("Security", "Do not check that a connecting member's address is among its certificate's SANs.", false, {
    aliases: ["experimental-peer-skip-client-san-verification"],
    support: ignored("etcd-ts never compares a connecting member's address with its certificate; --peer-trusted-ca-file and --peer-cert-allowed-cn/-hostname decide", NEVER),
  })),
  row("self-signed-cert-validity", "selfSignedCertValidity", {
    group: "Security",
    description: "Validity, in years, of the certificates --auto-tls and --peer-auto-tls generate.",
    default: "1",
    parse: (text) => parseWholeNumber(text, { min: 1, unit: "years" }),
    support: ignored("etcd-ts's generated certificates are valid for one year (they are made anew when missing)"),
  }),
  row("cipher-suites", "cipherSuites", {
    group: "Security",
    description: "Comma-separated list of TLS 1.2 cipher suites, by Go's names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...); empty: secure defaults.",
    default: "",
    list: true,
    parse: parseCipherSuites,
  }),
  row("tls-min-version", "tlsMinVersion", {
    group: "Security",
    description: "Minimum TLS version of client and peer connections: TLS1.2 or TLS1.3.",
    default: "TLS1.2",
    parse: (text) => parseChoice(text, TLS_VERSIONS),
  }),
  row("tls-max-version", "tlsMaxVersion", {
    group: "Security",
    description: "Maximum TLS version of client and peer connections: TLS1.2 or TLS1.3; empty lets the TLS library choose.",
    default: "",
    parse: (text) => (text.trim() === "" ? "" : parseChoice(text, TLS_VERSIONS)),
  }),
  row("host-whitelist", "hostWhitelist", {
    group: "Security",
    description: "Comma-separated host names accepted in the Host header of plain-HTTP client requests ('*' or empty: any).",
    default: "*",
    list: true,
    parse: parseList,
    support: refused(
      "etcd-ts does not check the Host header; serve clients over https:// (where etcd skips the check too) or put a proxy that checks it in front",
      (hosts, all) => hosts.length === 0 || hosts.includes("*") || !plainHttpClients(all.listenClientUrls),
    ),
  }),
  row("auth-token", "authToken", {
    group: "Security",
    description: "Authentication token type: 'simple', or 'jwt,pub-key=<file>,priv-key=<file>,sign-method=<RS256|PS256|ES256|EdDSA|…>[,ttl=<duration>]'.",
    default: "simple",
    parse: (text) => parseAuthToken(text),
  }),
  row("auth-token-ttl", "authTokenTtl", {
    group: "Security",
    description: "Time (in seconds) a simple token stays valid after its last use.",
    default: "300",
    parse: (text) => parseWholeNumber(text, { min: 1, unit: "seconds" }),
  }),
  row("bcrypt-cost", "bcryptCost", {
    group: "Security",
    description: "Cost of bcrypt when hashing passwords (4 to 31; each step doubles the time of every password check).",
    default: "10",
    parse: (text) => {
      const n = parseWholeNumber(text, { min: 4 });
      if (n > 31) throw new InvalidValueError("expected a bcrypt cost from 4 to 31");
      return n;
    },
  }),
];
