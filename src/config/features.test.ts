// etcd 3.6's plain names and their --experimental-* aliases, --feature-gates, flags accepted but
// not acted on (warned about) or refused, and the warnings loadConfig hands back.
import { afterAll, describe, expect, test } from "bun:test";
import { FEATURE_GATES } from "./feature-gates";
import { loadConfig } from "./load";
import type { ConfigWarning } from "./types";
import { configError, load, removeConfigs, writeConfig } from "./test-helpers";

afterAll(removeConfigs);

function warningsOf(argv: string[], env: Record<string, string> = {}): readonly ConfigWarning[] {
  const result = loadConfig(argv, env);
  if (result.kind !== "run") throw new Error("expected a run config");
  return result.warnings;
}

describe("former experimental flags: one setting under two names", () => {
  test.each([
    ["watch-progress-notify-interval", "watchProgressNotifyInterval", "5s", 5_000],
    ["corrupt-check-time", "corruptCheckTime", "1m", 60_000],
    ["compact-hash-check-time", "compactHashCheckTime", "30s", 30_000],
    ["compaction-batch-limit", "compactionBatchLimit", "500", 500],
    ["snapshot-catchup-entries", "snapshotCatchupEntries", "100", 100],
    ["warning-apply-duration", "warningApplyDuration", "1s", 1_000],
    ["peer-skip-client-san-verification", "peerSkipClientSanVerification", "true", true],
    ["backend-bbolt-freelist-type", "backendBboltFreelistType", "array", "array"],
  ] as const)("--%s and --experimental-%s", (plain, field, text, value) => {
    expect(load([`--${plain}=${text}`])[field]).toEqual(value);
    const viaAlias = load([`--experimental-${plain}=${text}`]);
    expect(viaAlias[field]).toEqual(value);
    expect(viaAlias.sources[field]).toBe("flag");
    expect(load([], { [`ETCD_EXPERIMENTAL_${plain.toUpperCase().replaceAll("-", "_")}`]: text })[field]).toEqual(value);
    // Both names with the same value is fine.
    expect(load([`--${plain}=${text}`, `--experimental-${plain}=${text}`])[field]).toEqual(value);
  });

  test("both names with different values is an error naming both", () => {
    const error = configError(() => load(["--watch-progress-notify-interval=5s", "--experimental-watch-progress-notify-interval=10s"]));
    expect(error.message).toBe(
      "--watch-progress-notify-interval=5s and --experimental-watch-progress-notify-interval=10s set the same setting to different values: keep only --watch-progress-notify-interval",
    );
    expect(error.setting).toBe("--experimental-watch-progress-notify-interval");
    // The same value written differently is the same value.
    expect(load(["--corrupt-check-time=60s", "--experimental-corrupt-check-time=1m"]).corruptCheckTime).toBe(60_000);
    // In one config file as well.
    const file = writeConfig("corrupt-check-time: 1m\nexperimental-corrupt-check-time: 2m\n", "etcd.yml");
    expect(() => load(["--config-file", file])).toThrow("set the same setting to different values");
  });

  test("precedence works across names: a flag beats the alias from the environment", () => {
    const c = load(["--watch-progress-notify-interval=5s"], { ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL: "1m" });
    expect([c.watchProgressNotifyInterval, c.sources.watchProgressNotifyInterval]).toEqual([5_000, "flag"]);
  });

  test("errors name the alias as written", () => {
    expect(configError(() => load(["--experimental-watch-progress-notify-interval=soon"])).message).toStartWith(
      `Invalid value "soon" for --experimental-watch-progress-notify-interval (ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL): expected a duration`,
    );
  });

  test("--log-output is etcd 3.4's old name of --log-outputs", () => {
    expect(load(["--log-output=stdout"]).logOutputs).toEqual(["stdout"]);
  });

  test("YAML: etcd's spelling experimental-snapshot-catch-up-entries and its socket-options section", () => {
    const file = writeConfig("experimental-snapshot-catch-up-entries: 300\nsocket-options:\n  reuse-address: true\n", "etcd.yml");
    const c = load(["--config-file", file]);
    expect([c.snapshotCatchupEntries, c.socketReuseAddress]).toEqual([300, true]);
  });

  test("etcd's watch progress rules: 0 keeps 10 minutes, less than 100ms becomes 100ms with a warning", () => {
    expect(load(["--watch-progress-notify-interval=0"]).watchProgressNotifyInterval).toBe(600_000);
    expect(load([]).watchProgressNotifyInterval).toBe(600_000);
    const result = loadConfig(["--watch-progress-notify-interval=10ms"], {});
    if (result.kind !== "run") throw new Error("expected a run config");
    expect(result.config.watchProgressNotifyInterval).toBe(100);
    expect(result.warnings).toEqual([
      {
        msg: "adjusting watch progress notify interval to minimum period",
        fields: { "min-watch-progress-notify-interval": "100ms", "set-by": "--watch-progress-notify-interval" },
      },
    ]);
  });

  test("the compaction hash check period must be positive", () => {
    expect(() => load(["--compact-hash-check-time=0s"])).toThrow("expected a duration longer than 0");
  });
});

describe("--feature-gates", () => {
  test("defaults: every known gate, two of them on", () => {
    const c = load([]);
    expect([...c.featureGates]).toEqual(FEATURE_GATES.map((g) => [g.name, g.byDefault]));
    expect(c.featureGates.get("TxnModeWriteWithSharedBuffer")).toBe(true);
    expect(c.featureGates.get("FastLeaseKeepAlive")).toBe(true);
    expect([c.initialCorruptCheck, c.compactHashCheckEnabled, c.enableLeaseCheckpoint, c.leaseCheckpointPersist]).toEqual([false, false, false, false]);
  });

  test("a gate sets the field of the experimental flag it replaced", () => {
    const c = load(["--feature-gates=InitialCorruptCheck=true,CompactHashCheck=true,LeaseCheckpoint=true,LeaseCheckpointPersist=true"]);
    expect([c.initialCorruptCheck, c.compactHashCheckEnabled, c.enableLeaseCheckpoint, c.leaseCheckpointPersist]).toEqual([true, true, true, true]);
    expect(c.sources.initialCorruptCheck).toBe("flag");
    expect(c.sources.stopGrpcServiceOnDefrag).toBe("default");
    expect(load([], { ETCD_FEATURE_GATES: "InitialCorruptCheck=true" }).sources.initialCorruptCheck).toBe("env");
  });

  test("an experimental switch sets its gate", () => {
    const c = load(["--experimental-initial-corrupt-check", "--experimental-compact-hash-check-enabled=true"]);
    expect(c.featureGates.get("InitialCorruptCheck")).toBe(true);
    expect(c.featureGates.get("CompactHashCheck")).toBe(true);
  });

  test("a switch and its gate: the same value is fine, different values are an error naming both", () => {
    expect(load(["--experimental-initial-corrupt-check=true", "--feature-gates=InitialCorruptCheck=true"]).initialCorruptCheck).toBe(true);
    const error = configError(() => load(["--experimental-initial-corrupt-check=false", "--feature-gates=InitialCorruptCheck=true"]));
    expect(error.message).toBe(
      "--experimental-initial-corrupt-check=false conflicts with --feature-gates InitialCorruptCheck=true: both set the InitialCorruptCheck feature; keep only --feature-gates=InitialCorruptCheck=…",
    );
    expect(error.setting).toBe("--experimental-initial-corrupt-check");
    // Across sources too: the two are different flags, so neither silently wins.
    expect(() => load(["--experimental-enable-lease-checkpoint=true"], { ETCD_FEATURE_GATES: "LeaseCheckpoint=false" })).toThrow(
      "conflicts with ETCD_FEATURE_GATES LeaseCheckpoint=false",
    );
  });

  test("AllAlpha/AllBeta switch the gates not named; a named gate or switch wins", () => {
    const c = load(["--feature-gates=AllAlpha=true,CompactHashCheck=false", "--experimental-stop-grpc-service-on-defrag=false"]);
    expect(c.featureGates.get("InitialCorruptCheck")).toBe(true);
    expect(c.featureGates.get("SetMemberLocalAddr")).toBe(true);
    expect(c.featureGates.get("CompactHashCheck")).toBe(false);
    expect(c.featureGates.get("StopGRPCServiceOnDefrag")).toBe(false);
    expect(c.featureGates.get("TxnModeWriteWithSharedBuffer")).toBe(true);
    // AllAlpha turns on lease checkpoints and their persistence together, which is consistent.
    expect([c.enableLeaseCheckpoint, c.leaseCheckpointPersist]).toEqual([true, true]);
    expect(load(["--feature-gates=AllBeta=false"]).txnModeWriteWithSharedBuffer).toBe(false);
  });

  test("syntax: etcd's spellings of booleans, spaces and empty parts are fine", () => {
    const c = load(["--feature-gates= InitialCorruptCheck = T ,,CompactHashCheck=1,"]);
    expect([c.initialCorruptCheck, c.compactHashCheckEnabled]).toEqual([true, true]);
  });

  test("an unknown gate is an error listing the known ones; a gate needs a boolean", () => {
    const error = configError(() => load(["--feature-gates=InitialCorruptChek=true"]));
    expect(error.message).toBe(
      `Invalid value "InitialCorruptChek=true" for --feature-gates (ETCD_FEATURE_GATES): unknown feature gate 'InitialCorruptChek'; the known gates are ` +
        "AllAlpha, AllBeta, CompactHashCheck, FastLeaseKeepAlive, InitialCorruptCheck, LeaseCheckpoint, LeaseCheckpointPersist, PriorityRequest, SetMemberLocalAddr, StopGRPCServiceOnDefrag, TxnModeWriteWithSharedBuffer",
    );
    expect(() => load(["--feature-gates=InitialCorruptCheck"])).toThrow("feature gate 'InitialCorruptCheck' needs a value: write InitialCorruptCheck=true");
    expect(() => load(["--feature-gates=InitialCorruptCheck=yes"])).toThrow("feature gate 'InitialCorruptCheck' needs true or false, not 'yes'");
  });

  test("lease checkpoint persistence needs lease checkpoints, whichever way they are set", () => {
    expect(() => load(["--experimental-enable-lease-checkpoint-persist"])).toThrow("needs lease checkpoints");
    expect(() => load(["--feature-gates=LeaseCheckpointPersist=true"])).toThrow("needs lease checkpoints");
    expect(load(["--feature-gates=LeaseCheckpointPersist=true", "--experimental-enable-lease-checkpoint"]).leaseCheckpointPersist).toBe(true);
  });

  test("the map is frozen", () => {
    const gates = load([]).featureGates as Map<string, boolean>;
    expect(typeof gates.set).toBe("undefined");
  });
});

describe("flags accepted but not acted on", () => {
  test("a changed value is a warning naming the flag, its source and why; the default is silent", () => {
    expect(warningsOf(["--backend-batch-limit=500"])).toEqual([
      {
        msg: "flag accepted but not acted on by etcd-ts",
        fields: {
          flag: "--backend-batch-limit",
          value: "500",
          "set-by": "--backend-batch-limit",
          reason: "backend tuning; etcd-ts commits its SQLite batch by time and the WAL makes every write durable first",
        },
      },
    ]);
    // The freelist type means nothing without bbolt (and etcd 3.4 and 3.5 differ on its default): silent.
    expect(warningsOf(["--experimental-backend-bbolt-freelist-type=array"])).toEqual([]);
    expect(warningsOf(["--metrics=basic", "--pre-vote=true", "--log-format=json", "--max-learners=1"])).toEqual([]);
    expect(warningsOf([], { ETCD_METRICS: "extensive" })[0].fields).toMatchObject({ flag: "--metrics", "set-by": "ETCD_METRICS" });
    expect(warningsOf(["--experimental-memory-mlock"])[0].fields.flag).toBe("--experimental-memory-mlock");
  });

  test("values etcd-ts already behaves like are silent", () => {
    // etcd-ts never checks SANs against the address, and its listeners always reuse addresses.
    expect(warningsOf(["--peer-skip-client-san-verification=true", "--socket-reuse-address=true", "--initial-election-tick-advance=false"])).toEqual([]);
    expect(warningsOf(["--v2-deprecation=gone", "--experimental-txn-mode-write-with-shared-buffer=false"])).toEqual([]);
  });

  test("what some values only would change: --pre-vote=false, --logger=capnslog, gates etcd-ts lacks", () => {
    const flags = (argv: string[]) => warningsOf(argv).map((w) => w.fields.flag);
    expect(flags(["--pre-vote=false"])).toEqual(["--pre-vote"]);
    expect(flags(["--logger=capnslog", "--log-package-levels=etcdserver=WARNING"])).toEqual(["--logger", "--log-package-levels"]);
    expect(flags(["--feature-gates=StopGRPCServiceOnDefrag=true"])).toEqual(["--experimental-stop-grpc-service-on-defrag"]);
  });

  test("values are still checked", () => {
    expect(() => load(["--backend-bbolt-freelist-type=list"])).toThrow("expected 'array' or 'map'");
    expect(() => load(["--log-format=text"])).toThrow("expected 'json' or 'console'");
    expect(() => load(["--v2-deprecation=later"])).toThrow("expected 'not-yet', 'write-only'");
    expect(() => load(["--distributed-tracing-sampling-rate=2000000"])).toThrow("from 0 to 1000000");
    expect(() => load(["--log-rotation-config-json=[1]"])).toThrow("expected a JSON object");
    expect(() => load(["--max-concurrent-streams=0"])).toThrow("greater than 0");
    expect(() => load(["--max-concurrent-streams=4294967296"])).toThrow("from 1 to 4294967295");
    expect(load(["--max-concurrent-streams=100"]).maxConcurrentStreams).toBe(100);
    expect(load([]).maxConcurrentStreams).toBe(4294967295);
  });
});

describe("flags refused unless left at their default", () => {
  test.each([
    [["--proxy=on"], `Cannot use --proxy "on": etcd-ts runs only as a cluster member, never as a v2 proxy`],
    [["--proxy=readonly"], `Cannot use --proxy "readonly"`],
    [["--experimental-enable-v2v3=/v2"], `Cannot use --experimental-enable-v2v3 "/v2": etcd-ts serves the v3 API only`],
    [["--unsafe-no-fsync"], "--unsafe-no-fsync is not supported by etcd-ts: etcd-ts always syncs its WAL; for a fast throwaway test cluster put --data-dir on a tmpfs"],
    [["--enable-log-rotation"], "--enable-log-rotation is not supported by etcd-ts: etcd-ts does not rotate its logs"],
    [["--listen-client-http-urls=http://0.0.0.0:2378"], `Cannot use --listen-client-http-urls "http://0.0.0.0:2378": etcd-ts serves HTTP and gRPC together`],
    [["--discovery-endpoints=http://d:2379"], `Cannot use --discovery-endpoints "http://d:2379": discovery is not supported by etcd-ts: use --initial-cluster`],
    [["--discovery-token=abc"], `Cannot use --discovery-token "abc": discovery is not supported`],
    [["--host-whitelist=etcd.example.com"], `Cannot use --host-whitelist "etcd.example.com": etcd-ts does not check the Host header`],
  ])("%p", (argv, message) => {
    const error = configError(() => load(argv));
    expect(error.message).toStartWith(message);
    expect(error.setting).toBe(argv[0].replace(/=.*/, ""));
  });

  test("their default values load, as packaged configs carry them", () => {
    const c = load(["--proxy=off", "--experimental-enable-v2v3=", "--unsafe-no-fsync=false", "--enable-log-rotation=false", "--host-whitelist=*"]);
    expect([c.proxy, c.experimentalEnableV2v3, c.unsafeNoFsync, c.enableLogRotation, c.hostWhitelist]).toEqual(["off", "", false, false, ["*"]]);
  });

  test("--host-whitelist only matters where etcd applies it: plain-HTTP client URLs", () => {
    expect(() => load(["--host-whitelist=a.example", "--listen-client-urls=http://0.0.0.0:2379", "--advertise-client-urls=http://a.example:2379"])).toThrow(
      "does not check the Host header",
    );
    const crt = writeConfig("pem", "c.crt");
    const key = writeConfig("pem", "c.key");
    const tls = ["--listen-client-urls=https://0.0.0.0:2379", "--advertise-client-urls=https://a.example:2379", `--cert-file=${crt}`, `--key-file=${key}`];
    expect(load(["--host-whitelist=a.example", ...tls]).hostWhitelist).toEqual(["a.example"]);
  });

  test("a refused value from a file names the file line", () => {
    const file = writeConfig("ETCD_PROXY=on\n");
    const error = configError(() => load(["--config-file", file]));
    expect(error.message).toBe(
      `Cannot use --proxy "on" in config file '${file}' line 1: etcd-ts runs only as a cluster member, never as a v2 proxy: point clients at the members (or use etcd's grpc-proxy)`,
    );
    expect(error.setting).toBe(`${file}:1`);
  });
});

describe("environment warnings vs config-file errors", () => {
  test("an unknown ETCD_ variable warns; the same name in a config file stops the server", () => {
    expect(warningsOf([], { ETCD_CLIENT_SERVICE_HOST: "10.0.0.1" })).toEqual([
      { msg: "unrecognized environment variable", fields: { "environment-variable": "ETCD_CLIENT_SERVICE_HOST=10.0.0.1" } },
    ]);
    const envFile = writeConfig("ETCD_CLIENT_SERVICE_HOST=10.0.0.1\n");
    expect(() => load(["--config-file", envFile])).toThrow(`Unknown setting "ETCD_CLIENT_SERVICE_HOST" in config file '${envFile}' line 1`);
    const yaml = writeConfig("client-service-host: 10.0.0.1\n", "etcd.yml");
    expect(() => load(["--config-file", yaml])).toThrow(`Unknown key "client-service-host"`);
  });

  test("an unknown flag stays an error", () => {
    expect(() => load(["--client-service-host=x"])).toThrow(`Unknown flag "--client-service-host": run 'etcd --help' to list the supported flags`);
  });

  test("etcd 0.4's names in the environment are ignored with a warning", () => {
    expect(warningsOf([], { ETCD_SNAPSHOT: "true" })).toEqual([
      { msg: "flag is no longer supported; ignoring it", fields: { flag: "-snapshot", "set-by": "ETCD_SNAPSHOT" } },
    ]);
  });

  test("warnings come in a stable order: flags, then environment, then values", () => {
    const w = warningsOf(["-v", "--metrics=extensive"], { ETCD_ZZZ: "1", ETCD_AAA: "2" });
    expect(w.map((x) => x.fields.flag ?? x.fields["environment-variable"])).toEqual(["-v", "ETCD_AAA=2", "ETCD_ZZZ=1", "--metrics"]);
  });
});

describe("logging", () => {
  test("-debug and --log-level debug both give logLevel debug", () => {
    expect(load(["-debug"]).logLevel).toBe("debug");
    expect(load(["--log-level", "debug"]).logLevel).toBe("debug");
    expect(load([], { ETCD_DEBUG: "true" }).logLevel).toBe("debug");
    expect(load(["--debug=false"]).logLevel).toBe("info");
  });
});

describe("TLS settings added in etcd 3.5", () => {
  const file = (name: string) => writeConfig("pem", name);

  test("CRL files, allowed names and the peer dialing certificate are read into the config", () => {
    const crl = file("c.crl");
    const peerCrt = file("pc.crt");
    const peerKey = file("pc.key");
    const c = load([
      `--client-crl-file=${crl}`,
      `--peer-crl-file=${crl}`,
      "--client-cert-allowed-hostname=a.example,b.example",
      "--peer-cert-allowed-cn=etcd-peer",
      `--peer-client-cert-file=${peerCrt}`,
      `--peer-client-key-file=${peerKey}`,
      "--tls-max-version=TLS1.3",
    ]);
    expect(c).toMatchObject({
      clientCrlFile: crl,
      peerCrlFile: crl,
      clientCertAllowedHostname: ["a.example", "b.example"],
      peerCertAllowedCn: ["etcd-peer"],
      peerCertAllowedHostname: [],
      peerClientCertFile: peerCrt,
      peerClientKeyFile: peerKey,
      tlsMaxVersion: "TLS1.3",
    });
    expect(load([]).tlsMaxVersion).toBe("");
  });

  test("etcd's rules: readable files, pairs, CN or host name, min <= max", () => {
    expect(() => load(["--client-crl-file=/nonexistent.crl"])).toThrow(`Cannot read --client-crl-file "/nonexistent.crl": no such file`);
    expect(() => load([`--peer-client-cert-file=${file("x.crt")}`])).toThrow("--peer-client-cert-file is set but --peer-client-key-file is not");
    expect(() => load(["--peer-cert-allowed-cn=a", "--peer-cert-allowed-hostname=b"])).toThrow(
      "--peer-cert-allowed-cn and --peer-cert-allowed-hostname cannot be used together",
    );
    expect(() => load(["--tls-min-version=TLS1.3", "--tls-max-version=TLS1.2"])).toThrow("no TLS version would be left");
    expect(() => load(["--tls-max-version=TLS1.1"])).toThrow("expected 'TLS1.2' or 'TLS1.3'");
  });

  test("YAML transport-security sections carry the new keys", () => {
    const crt = file("p.crt");
    const key = file("p.key");
    const yaml = writeConfig(
      [
        "peer-transport-security:",
        `  client-cert-file: ${crt}`,
        `  client-key-file: ${key}`,
        "  allowed-cn: etcd-peer",
        "  skip-client-san-verification: true",
        "client-transport-security:",
        "  allowed-hostname: [a.example, b.example]",
      ].join("\n"),
      "etcd.yml",
    );
    const c = load(["--config-file", yaml]);
    expect(c).toMatchObject({ peerClientCertFile: crt, peerClientKeyFile: key, peerCertAllowedCn: ["etcd-peer"], peerSkipClientSanVerification: true });
    expect(c.clientCertAllowedHostname).toEqual(["a.example", "b.example"]);
    // The client side has no allowed-cn flag; set, it is refused rather than dropped.
    const clientCn = writeConfig("client-transport-security:\n  allowed-cn: admin\n", "etcd.yml");
    expect(() => load(["--config-file", clientCn])).toThrow("Unsupported setting client-transport-security.allowed-cn");
  });
});
