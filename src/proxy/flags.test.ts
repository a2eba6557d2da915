import { describe, expect, test } from "bun:test";
import { FlagError, type FlagSpec, formatDuration, parseCommandLine, usage } from "./flags.ts";
import { gatewayConfig, parseEndpoint } from "./gateway.ts";
import { grpcProxyConfig, type GrpcProxyConfig } from "./grpc-proxy-config.ts";

const SPECS: FlagSpec[] = [
  { name: "listen-addr", kind: "string", default: "127.0.0.1:23790", help: "" },
  { name: "endpoints", kind: "strings", default: ["127.0.0.1:2379"], help: "" },
  { name: "debug", kind: "bool", default: false, help: "" },
  { name: "retry-delay", kind: "duration", default: 60_000, help: "" },
  { name: "max", kind: "int", default: 5, help: "" },
];

describe("pflag-style parsing", () => {
  test("both value forms, single or double dash, flags before or after the subcommand", () => {
    const p = parseCommandLine(["--endpoints=a:1,b:2", "start", "-listen-addr", "0.0.0.0:9", "--retry-delay", "1m30s", "-max=0x10"], SPECS, "x");
    expect(p.positionals).toEqual(["start"]);
    expect(p.values.get("endpoints")).toEqual(["a:1", "b:2"]);
    expect(p.values.get("listen-addr")).toBe("0.0.0.0:9");
    expect(p.values.get("retry-delay")).toBe(90_000);
    expect(p.values.get("max")).toBe(16);
    expect([...p.given].sort()).toEqual(["endpoints", "listen-addr", "max", "retry-delay"]);
  });

  test("defaults stay when a flag is not given; a repeated string list appends (pflag's StringSlice)", () => {
    expect(parseCommandLine(["start"], SPECS, "x").values.get("endpoints")).toEqual(["127.0.0.1:2379"]);
    expect(parseCommandLine(["--endpoints", "a:1", "--endpoints=b:2,c:3"], SPECS, "x").values.get("endpoints")).toEqual(["a:1", "b:2", "c:3"]);
    expect(parseCommandLine(["--endpoints="], SPECS, "x").values.get("endpoints")).toEqual([]);
  });

  test("a boolean takes a value only with '=' (the next word is a positional)", () => {
    const p = parseCommandLine(["--debug", "false"], SPECS, "x");
    expect(p.values.get("debug")).toBe(true);
    expect(p.positionals).toEqual(["false"]);
    expect(parseCommandLine(["--debug=false"], SPECS, "x").values.get("debug")).toBe(false);
    expect(() => parseCommandLine(["--debug=maybe"], SPECS, "x")).toThrow('invalid argument "maybe" for "--debug" flag');
  });

  test("unknown flags, missing values and bad values are errors naming the flag", () => {
    expect(() => parseCommandLine(["--nope"], SPECS, "etcd gateway start")).toThrow("unknown flag: --nope; run 'etcd gateway start --help' to list the flags");
    expect(() => parseCommandLine(["--listen-addr"], SPECS, "x")).toThrow("flag needs an argument: --listen-addr");
    // A known flag where a value should be is taken as a forgotten value.
    expect(() => parseCommandLine(["--listen-addr", "--debug"], SPECS, "x")).toThrow("flag needs an argument: --listen-addr");
    expect(() => parseCommandLine(["--retry-delay", "10"], SPECS, "x")).toThrow('invalid argument "10" for "--retry-delay" flag: expected a duration');
    expect(() => parseCommandLine(["--max", "ten"], SPECS, "x")).toThrow(FlagError);
    expect(() => parseCommandLine(["---x"], SPECS, "x")).toThrow("bad flag syntax");
  });

  test("-h/--help asks for help; '--' ends the flags", () => {
    expect(parseCommandLine(["start", "-h"], SPECS, "x").help).toBe(true);
    expect(parseCommandLine(["--", "--debug"], SPECS, "x").positionals).toEqual(["--debug"]);
  });

  test("usage lists every flag with cobra's defaults", () => {
    const u = usage("start it", "etcd x start [flags]", SPECS);
    expect(u).toContain("Usage:\n  etcd x start [flags]");
    expect(u).toContain('--listen-addr string');
    expect(u).toContain('(default "127.0.0.1:23790")');
    expect(u).toContain("(default [127.0.0.1:2379])");
    expect(u).toContain("(default 1m0s)");
    expect(formatDuration(20_000)).toBe("20s");
    expect(formatDuration(2 * 3600_000)).toBe("2h0m0s");
  });
});

describe("etcd gateway start", () => {
  test("etcd's e2e form: flags before 'start', URLs reduced to host:port", () => {
    const cfg = gatewayConfig(["--endpoints=http://127.0.0.1:2379,https://[::1]:22379,10.0.0.1:2379", "start", "--retry-delay=5s"]);
    expect(cfg).toEqual({
      listenHost: "127.0.0.1",
      listenPort: 23790,
      endpoints: [
        { host: "127.0.0.1", port: 2379 },
        { host: "::1", port: 22379 },
        { host: "10.0.0.1", port: 2379 },
      ],
      retryDelayMs: 5000,
    });
  });

  test("refusals say why and what to do", () => {
    expect(() => gatewayConfig(["start", "--discovery-srv", "example.com"])).toThrow("--discovery-srv is not supported: etcd-ts does not look up DNS SRV records; list the members' client URLs with --endpoints instead");
    expect(() => gatewayConfig(["start", "--endpoints", "nohost"])).toThrow('error parsing endpoint "nohost"');
    expect(() => gatewayConfig(["start", "--listen-addr", "23790"])).toThrow("failed to validate listen address: 23790");
    expect(() => gatewayConfig(["start", "--retry-delay", "0"])).toThrow("--retry-delay must be a positive duration");
    expect(() => gatewayConfig(["stop"])).toThrow('unknown command "stop" for "etcd gateway"');
    expect(() => gatewayConfig(["start", "extra"])).toThrow('unexpected argument "extra"');
    expect(() => gatewayConfig(["start", "--endpoints="])).toThrow("no endpoints found");
    expect(parseEndpoint("[fe80::1]:2379")).toEqual({ host: "fe80::1", port: 2379 });
  });
});

describe("etcd grpc-proxy start", () => {
  const cfg = (args: string[]) => grpcProxyConfig(["start", ...args]) as GrpcProxyConfig;

  test("etcd's defaults", () => {
    const c = cfg([]);
    expect(c.listenAddr).toBe("127.0.0.1:23790");
    expect(c.endpoints).toEqual(["127.0.0.1:2379"]);
    expect(c.advertiseClientUrl).toBe("127.0.0.1:23790");
    expect(c.maxSendBytes).toBe(1.5 * 1024 * 1024);
    expect(c.maxRecvBytes).toBe(2 ** 31 - 1);
    expect(c.dataDir).toBe("default.proxy");
    expect(c.metricsUrl).toBeNull();
    expect(c.warnings).toEqual([]);
  });

  test("etcd's e2e proxy flags are taken", () => {
    const c = cfg(["--listen-addr", "127.0.0.1:20003", "--endpoints", "http://127.0.0.1:20000", "--advertise-client-url", "", "--metrics-addr", "http://127.0.0.1:20004"]);
    expect(c.advertiseClientUrl).toBe("");
    expect(c.metricsUrl?.port).toBe("20004");
    expect(c.listenPort).toBe(20003);
  });

  test("etcd's checkArgs texts", () => {
    expect(() => cfg(["--resolver-prefix", "/p"])).toThrow("invalid resolver-ttl 0");
    expect(() => cfg(["--resolver-ttl", "5"])).toThrow('invalid resolver-prefix ""');
    expect(() => cfg(["--tls-min-version", "TLS1.3", "--tls-max-version", "TLS1.2"])).toThrow("min version (TLS1.3) is greater than max version (TLS1.2)");
    expect(() => cfg(["--tls-min-version", "TLS1.3", "--listen-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])).toThrow("cipher suites cannot be configured when only TLS1.3 is enabled");
  });

  test("what etcd-ts cannot do is refused by name, with the reason", () => {
    expect(() => cfg(["--discovery-srv", "example.com"])).toThrow("--discovery-srv is not supported by etcd-ts: it does not look up DNS SRV records");
    expect(() => cfg(["--resolver-prefix", "/p", "--resolver-ttl", "5"])).toThrow("--resolver-prefix is not supported by etcd-ts");
    expect(() => cfg(["--enable-pprof"])).toThrow("--enable-pprof is not supported by etcd-ts");
    expect(cfg(["--enable-pprof=false"]).endpoints).toEqual(["127.0.0.1:2379"]);
    expect(() => cfg(["--endpoints-auto-sync-interval", "30s"])).toThrow("--endpoints-auto-sync-interval is not supported");
    expect(() => cfg(["--experimental-leasing-prefix", "/l"])).toThrow("--experimental-leasing-prefix is not supported");
    expect(() => cfg(["--grpc-keepalive-interval", "10s"])).toThrow("--grpc-keepalive-interval is not supported");
    expect(cfg(["--grpc-keepalive-interval", "2h"]).listenPort).toBe(23790);
  });

  test("bad values and other commands' flag names", () => {
    expect(() => cfg(["--cipher-suites", "x"])).toThrow("unknown flag: --cipher-suites (the proxy's flag is --listen-cipher-suites)");
    expect(() => cfg(["--listen-cipher-suites", "TLS_RSA_WITH_RC4_128_SHA"])).toThrow('--listen-cipher-suites: cipher suite "TLS_RSA_WITH_RC4_128_SHA": it is not supported (RC4 is broken)');
    expect(() => cfg(["--listen-addr", "nope"])).toThrow('invalid --listen-addr "nope"');
    expect(() => cfg(["--endpoints", "http://x"])).toThrow('invalid endpoint "http://x" in --endpoints');
    expect(() => cfg(["--metrics-addr", "127.0.0.1:9"])).toThrow('cannot parse "127.0.0.1:9" (--metrics-addr)');
    expect(() => cfg(["--cert-file", "c.pem"])).toThrow("--cert-file and --key-file go together");
    expect(() => cfg(["--cert", "c.pem"])).toThrow("--cert and --key go together");
    expect(() => cfg(["--trusted-ca-file", "ca.pem"])).toThrow("KeyFile and CertFile are not presented");
    expect(() => cfg(["--max-send-bytes", "0"])).toThrow("--max-send-bytes must be at least 1");
  });

  test("settings without effect are accepted and said (etcd's e2e starts the proxy with --listen-cipher-suites and no TLS)", () => {
    expect(cfg(["--listen-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]).warnings).toEqual([
      "--listen-cipher-suites has no effect: the proxy serves plaintext (give --cert-file/--key-file or --auto-tls)",
    ]);
    expect(cfg(["--listen-cipher-suites", ""]).cipherSuites).toEqual([]);
  });
});
