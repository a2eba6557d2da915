// `etcd grpc-proxy start`'s flags (etcdmain/grpc_proxy.go, etcd 3.4 to 3.7) → one checked settings
// object. What etcd-ts cannot do is refused by name with the reason, not ignored.
import { checkCipherSuites } from "../pkg/tls-config.ts";
import { FlagError, type FlagSpec, parseCommandLine, usage } from "./flags.ts";
import { checkSubcommand, splitHostPort } from "./gateway.ts";

const MIB = 1024 * 1024;

export const GRPC_PROXY_FLAGS: readonly FlagSpec[] = [
  { name: "listen-addr", kind: "string", default: "127.0.0.1:23790", help: "listen address" },
  { name: "discovery-srv", kind: "string", default: "", help: "domain name to query for SRV records describing cluster endpoints (not supported: list the members with --endpoints)" },
  { name: "discovery-srv-name", kind: "string", default: "", help: "service name to query when using DNS discovery" },
  { name: "metrics-addr", kind: "string", default: "", help: "listen for endpoint /metrics requests on an additional interface" },
  { name: "insecure-discovery", kind: "bool", default: false, help: "accept insecure SRV records" },
  { name: "endpoints", kind: "strings", default: ["127.0.0.1:2379"], help: "comma separated etcd cluster endpoints" },
  { name: "endpoints-auto-sync-interval", kind: "duration", default: 0, help: "etcd endpoints auto sync interval (only 0: the proxy uses the endpoints given)" },
  { name: "dial-keepalive-time", kind: "duration", default: 30_000, help: "keepalive time for client(grpc-proxy) connections (0 disables; etcd-ts pings every 30s by default, so a member that vanishes is failed over)" },
  { name: "dial-keepalive-timeout", kind: "duration", default: 20_000, help: "keepalive timeout for client(grpc-proxy) connections" },
  { name: "permit-without-stream", kind: "bool", default: false, help: "Enable client(grpc-proxy) to send keepalive pings even with no active RPCs (etcd-ts always does)." },
  { name: "advertise-client-url", kind: "string", default: "127.0.0.1:23790", help: "advertise address to register (must be reachable by client); MemberList answers with it, empty forwards MemberList to the cluster" },
  { name: "resolver-prefix", kind: "string", default: "", help: "prefix to use for registering proxy (must be shared with other grpc-proxy members) (not supported)" },
  { name: "resolver-ttl", kind: "int", default: 0, help: "specify TTL, in seconds, when registering proxy endpoints" },
  { name: "namespace", kind: "string", default: "", help: "string to prefix to all keys for namespacing requests" },
  { name: "enable-pprof", kind: "bool", default: false, help: "Enable runtime profiling data via HTTP server (only false is accepted: there is no Go pprof)" },
  { name: "data-dir", kind: "string", default: "default.proxy", help: "Data directory for persistent data" },
  { name: "max-send-bytes", kind: "int", default: 1.5 * MIB, help: "message send limits in bytes (default value is 1.5 MiB)" },
  { name: "max-recv-bytes", kind: "int", default: 2 ** 31 - 1, help: "message receive limits in bytes (default value is math.MaxInt32)" },
  { name: "max-concurrent-streams", kind: "int", default: 2 ** 32 - 1, help: "Maximum concurrent streams that each client can open at a time." },
  { name: "grpc-keepalive-min-time", kind: "duration", default: 5_000, help: "Minimum interval duration that a client should wait before pinging proxy (only the default: not enforced)." },
  { name: "grpc-keepalive-interval", kind: "duration", default: 2 * 3600_000, help: "Frequency duration of server-to-client ping to check if a connection is alive (only the default: the proxy does not ping its clients)." },
  { name: "grpc-keepalive-timeout", kind: "duration", default: 20_000, help: "Additional duration of wait before closing a non-responsive connection (only the default)." },
  // TLS towards the cluster
  { name: "cert", kind: "string", default: "", help: "identify secure connections with etcd servers using this TLS certificate file" },
  { name: "key", kind: "string", default: "", help: "identify secure connections with etcd servers using this TLS key file" },
  { name: "cacert", kind: "string", default: "", help: "verify certificates of TLS-enabled secure etcd servers using this CA bundle" },
  { name: "insecure-skip-tls-verify", kind: "bool", default: false, help: "skip authentication of etcd server TLS certificates (CAUTION: this option should be enabled only for testing purposes)" },
  // TLS towards the proxy's clients
  { name: "cert-file", kind: "string", default: "", help: "identify secure connections to the proxy using this TLS certificate file" },
  { name: "key-file", kind: "string", default: "", help: "identify secure connections to the proxy using this TLS key file" },
  { name: "trusted-ca-file", kind: "string", default: "", help: "verify certificates of TLS-enabled secure proxy using this CA bundle" },
  { name: "listen-cipher-suites", kind: "strings", default: [], help: "Comma-separated list of supported TLS cipher suites between client/proxy (empty will be auto-populated by Go)." },
  { name: "auto-tls", kind: "bool", default: false, help: "proxy TLS using generated certificates" },
  { name: "client-crl-file", kind: "string", default: "", help: "proxy client certificate revocation list file." },
  { name: "self-signed-cert-validity", kind: "int", default: 1, help: "The validity period of the proxy certificates, unit is year" },
  { name: "tls-min-version", kind: "string", default: "TLS1.2", help: "Minimum TLS version supported by grpc proxy. Possible values: TLS1.2, TLS1.3." },
  { name: "tls-max-version", kind: "string", default: "", help: "Maximum TLS version supported by grpc proxy. Possible values: TLS1.2, TLS1.3 (empty defers to the TLS library)." },
  // experimental
  { name: "experimental-serializable-ordering", kind: "bool", default: false, help: "Ensure serializable reads have monotonically increasing store revisions across endpoints (not supported)." },
  { name: "experimental-leasing-prefix", kind: "string", default: "", help: "leasing metadata prefix for disconnected linearized reads (not supported)." },
  { name: "experimental-enable-grpc-logging", kind: "bool", default: false, help: "logging all grpc requests and responses (not supported)." },
  { name: "debug", kind: "bool", default: false, help: "Enable debug-level logging for grpc-proxy." },
];

export type TlsVersionName = "TLS1.2" | "TLS1.3";

export interface GrpcProxyConfig {
  listenHost: string;
  listenPort: number;
  listenAddr: string;
  /** "" for none; else a URL (http:// or https://) to serve /metrics and /health on. */
  metricsUrl: URL | null;
  endpoints: string[];
  advertiseClientUrl: string;
  namespace: string;
  dataDir: string;
  maxSendBytes: number;
  maxRecvBytes: number;
  maxConcurrentStreams: number;
  dialKeepAliveTimeMs: number;
  dialKeepAliveTimeoutMs: number;
  /** Towards the cluster. */
  cert: string;
  key: string;
  cacert: string;
  insecureSkipTlsVerify: boolean;
  /** Towards the proxy's clients. */
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  cipherSuites: string[];
  autoTls: boolean;
  clientCrlFile: string;
  selfSignedCertValidityYears: number;
  tlsMinVersion: TlsVersionName;
  tlsMaxVersion: TlsVersionName | "";
  debug: boolean;
  /** Set but without effect (said at start, so nobody relies on it). */
  warnings: string[];
}

/** Names other etcd commands use that people reach for here: what to write instead. */
function hint(name: string): string | undefined {
  const alias: Record<string, string> = {
    "cipher-suites": "the proxy's flag is --listen-cipher-suites",
    "listen-client-urls": "the proxy listens on --listen-addr host:port",
    "advertise-client-urls": "the proxy's flag is --advertise-client-url",
    "client-cert-auth": "the proxy asks clients for certificates when --trusted-ca-file is set",
  };
  return alias[name];
}

export function grpcProxyConfig(argv: readonly string[]): GrpcProxyConfig | "help" {
  const p = parseCommandLine(argv, GRPC_PROXY_FLAGS, "etcd grpc-proxy start", hint);
  if (p.help) return "help";
  checkSubcommand(p.positionals, "grpc-proxy");
  const v = p.values;
  const str = (n: string) => v.get(n) as string;
  const num = (n: string) => v.get(n) as number;
  const bool = (n: string) => v.get(n) as boolean;
  const warnings: string[] = [];

  // etcd's checkArgs, in its order and with its texts.
  if (str("resolver-prefix") !== "" && num("resolver-ttl") < 1) throw new FlagError(`invalid resolver-ttl ${num("resolver-ttl")}`);
  if (str("resolver-prefix") === "" && num("resolver-ttl") > 0) throw new FlagError(`invalid resolver-prefix ""`);
  if (str("resolver-prefix") !== "" && str("advertise-client-url") === "") throw new FlagError(`invalid advertise-client-url ""`);

  const refuse = (flag: string, why: string) => {
    throw new FlagError(`--${flag} is not supported by etcd-ts: ${why}`);
  };
  if (str("discovery-srv") !== "") refuse("discovery-srv", "it does not look up DNS SRV records; list the members' client URLs with --endpoints");
  if (str("resolver-prefix") !== "") refuse("resolver-prefix", "proxies do not register themselves under a key prefix; give clients the proxies' addresses directly");
  if (num("endpoints-auto-sync-interval") !== 0) refuse("endpoints-auto-sync-interval", "the proxy keeps the endpoints given; list every member in --endpoints");
  if (bool("enable-pprof")) refuse("enable-pprof", "Go's pprof does not exist here; profile with `bun --inspect` on a source checkout");
  if (bool("experimental-serializable-ordering")) refuse("experimental-serializable-ordering", "serializable reads are not ordered across endpoints; use linearizable reads");
  if (str("experimental-leasing-prefix") !== "") refuse("experimental-leasing-prefix", "leasing KV is not implemented");
  if (bool("experimental-enable-grpc-logging")) refuse("experimental-enable-grpc-logging", "use --debug for the proxy's own debug logs");
  for (const [flag, def] of [["grpc-keepalive-min-time", 5_000], ["grpc-keepalive-interval", 2 * 3600_000], ["grpc-keepalive-timeout", 20_000]] as const) {
    if (p.given.has(flag) && num(flag) !== def) refuse(flag, "the proxy's HTTP/2 server neither pings its clients nor limits their pings; leave it at its default");
  }

  const listenAddr = str("listen-addr");
  const listen = splitHostPort(listenAddr);
  if (!listen) throw new FlagError(`invalid --listen-addr "${listenAddr}": write host:port, such as 127.0.0.1:23790`);

  const endpoints = (v.get("endpoints") as string[]).filter((e) => e !== "");
  if (endpoints.length === 0) throw new FlagError("no endpoints: give the members' client URLs with --endpoints");
  for (const e of endpoints) {
    const hostPort = /^https?:\/\//i.test(e) ? safeUrl(e)?.host ?? "" : e;
    if (!splitHostPort(hostPort)) throw new FlagError(`invalid endpoint "${e}" in --endpoints: write host:port or http(s)://host:port`);
  }

  let metricsUrl: URL | null = null;
  if (str("metrics-addr") !== "") {
    metricsUrl = safeUrl(str("metrics-addr"));
    if (!metricsUrl || (metricsUrl.protocol !== "http:" && metricsUrl.protocol !== "https:") || !metricsUrl.port) {
      throw new FlagError(`cannot parse "${str("metrics-addr")}" (--metrics-addr): write a URL with a port, such as http://127.0.0.1:6633`);
    }
  }

  for (const [flag, min] of [["max-send-bytes", 1], ["max-recv-bytes", 1], ["max-concurrent-streams", 1]] as const) {
    if (num(flag) < min) throw new FlagError(`--${flag} must be at least ${min}, got ${num(flag)}`);
  }
  if (num("max-concurrent-streams") > 2 ** 32 - 1) throw new FlagError(`--max-concurrent-streams must fit in 32 bits, got ${num("max-concurrent-streams")}`);
  if (bool("auto-tls") && num("self-signed-cert-validity") < 1) throw new FlagError("selfSignedCertValidity is invalid,it should be greater than 0");
  if (num("self-signed-cert-validity") !== 1) refuse("self-signed-cert-validity", "auto-TLS certificates are made valid for one year; leave it at 1");

  const versions = ["TLS1.2", "TLS1.3"];
  const minV = str("tls-min-version");
  const maxV = str("tls-max-version");
  if (!versions.includes(minV)) throw new FlagError(`tls-min-version is invalid: unknown TLS version "${minV}" (use TLS1.2 or TLS1.3; TLS 1.0 and 1.1 are not offered)`);
  if (maxV !== "" && !versions.includes(maxV)) throw new FlagError(`tls-max-version is invalid: unknown TLS version "${maxV}" (use TLS1.2 or TLS1.3)`);
  if (maxV !== "" && minV > maxV) throw new FlagError(`min version (${minV}) is greater than max version (${maxV})`);
  const cipherSuites = v.get("listen-cipher-suites") as string[];
  if (minV === "TLS1.3" && cipherSuites.length > 0) throw new FlagError("cipher suites cannot be configured when only TLS1.3 is enabled");
  try {
    checkCipherSuites(cipherSuites);
  } catch (e) {
    throw new FlagError(`--listen-cipher-suites: ${(e as Error).message}`);
  }

  const certFile = str("cert-file");
  const keyFile = str("key-file");
  if ((certFile === "") !== (keyFile === "")) throw new FlagError("--cert-file and --key-file go together: give both (or neither)");
  if (str("trusted-ca-file") !== "" && certFile === "" && !bool("auto-tls")) {
    throw new FlagError(`cannot listen on TLS for ${listenAddr}: KeyFile and CertFile are not presented (--trusted-ca-file needs --cert-file and --key-file)`);
  }
  const listenTls = certFile !== "" || bool("auto-tls");
  if (!listenTls && cipherSuites.length > 0) warnings.push("--listen-cipher-suites has no effect: the proxy serves plaintext (give --cert-file/--key-file or --auto-tls)");
  if (!listenTls && str("client-crl-file") !== "") warnings.push("--client-crl-file has no effect: the proxy serves plaintext");
  if ((str("cert") === "") !== (str("key") === "")) throw new FlagError("--cert and --key go together: give both (or neither)");
  if (bool("permit-without-stream")) warnings.push("--permit-without-stream: pings to the cluster go out whether or not calls are open");

  return {
    listenHost: listen.host,
    listenPort: listen.port,
    listenAddr,
    metricsUrl,
    endpoints,
    advertiseClientUrl: str("advertise-client-url"),
    namespace: str("namespace"),
    dataDir: str("data-dir"),
    maxSendBytes: num("max-send-bytes"),
    maxRecvBytes: num("max-recv-bytes"),
    maxConcurrentStreams: num("max-concurrent-streams"),
    dialKeepAliveTimeMs: num("dial-keepalive-time"),
    dialKeepAliveTimeoutMs: num("dial-keepalive-timeout"),
    cert: str("cert"),
    key: str("key"),
    cacert: str("cacert"),
    insecureSkipTlsVerify: bool("insecure-skip-tls-verify"),
    certFile,
    keyFile,
    trustedCaFile: str("trusted-ca-file"),
    cipherSuites,
    autoTls: bool("auto-tls"),
    clientCrlFile: str("client-crl-file"),
    selfSignedCertValidityYears: num("self-signed-cert-validity"),
    tlsMinVersion: minV as TlsVersionName,
    tlsMaxVersion: maxV as TlsVersionName | "",
    debug: bool("debug"),
    warnings,
  };
}

function safeUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

export function grpcProxyUsage(): string {
  return usage("start the grpc proxy", "etcd grpc-proxy start [flags]", GRPC_PROXY_FLAGS);
}
