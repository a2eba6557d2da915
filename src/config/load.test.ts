import { afterAll, describe, expect, test } from "bun:test";
import { ConfigError } from "./errors";
import { SETTINGS } from "./flags";
import { loadConfig } from "./load";
import { configError, load, removeConfigs, writeConfig } from "./test-helpers";

afterAll(removeConfigs);

describe("defaults", () => {
  test("match etcd's", () => {
    const c = load([]);
    expect(c).toMatchObject({
      name: "default",
      dataDir: "default.etcd",
      walDir: "default.etcd/member/wal",
      snapshotCount: 10000,
      heartbeatInterval: 100,
      electionTimeout: 1000,
      listenPeerUrls: ["http://localhost:2380"],
      listenClientUrls: ["http://localhost:2379"],
      maxSnapshots: 5,
      maxWals: 5,
      cors: [],
      quotaBackendBytes: 2 * 1024 ** 3,
      maxRequestBytes: 1572864,
      maxTxnOps: 128,
      grpcKeepaliveMinTime: 5_000,
      grpcKeepaliveInterval: 7_200_000,
      grpcKeepaliveTimeout: 20_000,
      initialAdvertisePeerUrls: ["http://localhost:2380"],
      initialClusterState: "new",
      initialClusterToken: "etcd-cluster",
      advertiseClientUrls: ["http://localhost:2379"],
      discovery: "",
      discoverySrv: "",
      discoveryFallback: "proxy",
      discoveryProxy: "",
      strictReconfigCheck: true,
      autoCompactionRetention: "0",
      autoCompactionMode: "periodic",
      autoCompaction: { mode: "periodic", periodMs: 0 },
      enableV2: false,
      authToken: "simple",
      authTokenTtl: 300,
      bcryptCost: 10,
      logger: "zap",
      logOutputs: ["default"],
      logLevel: "info",
      debug: false,
      enablePprof: false,
      listenMetricsUrls: [],
      forceNewCluster: false,
      configFile: "",
    });
    expect([...c.initialCluster]).toEqual([["default", ["http://localhost:2380"]]]);
    expect(c.parsedUrls.listenClientUrls).toEqual([{ url: "http://localhost:2379", protocol: "http", hostname: "localhost", port: 2379 }]);
    expect(c.parsedUrls.listenMetricsUrls).toEqual([]);
  });

  test("every setting is sourced from its default", () => {
    const c = load([]);
    expect(Object.keys(c.sources).sort()).toEqual(SETTINGS.map((s) => s.field).sort());
    expect(new Set(Object.values(c.sources))).toEqual(new Set(["default"]));
  });

  test("data-dir and initial-cluster follow --name, as in etcd", () => {
    const c = load(["--name", "n1"]);
    expect(c.dataDir).toBe("n1.etcd");
    expect(c.walDir).toBe("n1.etcd/member/wal");
    expect([...c.initialCluster]).toEqual([["n1", ["http://localhost:2380"]]]);
    expect(c.sources.initialCluster).toBe("default");

    const multi = load(["--name", "n1", "--initial-advertise-peer-urls", "http://10.0.0.1:2380,http://10.0.0.9:2380"]);
    expect([...multi.initialCluster]).toEqual([["n1", ["http://10.0.0.1:2380", "http://10.0.0.9:2380"]]]);
  });

  test("an explicit wal-dir is kept; an explicit empty one means the default", () => {
    expect(load(["--wal-dir", "/fast/wal"]).walDir).toBe("/fast/wal");
    expect(load(["--data-dir", "/data/etcd/", "--wal-dir="]).walDir).toBe("/data/etcd/member/wal");
  });

  test("the config is frozen all the way down", () => {
    const c = load([]);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.listenClientUrls)).toBe(true);
    expect(Object.isFrozen(c.parsedUrls.listenClientUrls[0])).toBe(true);
    expect(Object.isFrozen(c.sources)).toBe(true);
    expect(Object.isFrozen(c.autoCompaction)).toBe(true);
    expect(() => {
      (c as { name: string }).name = "x";
    }).toThrow();
  });
});

describe("command line", () => {
  test("one- and two-dash forms give the same config", () => {
    const forms = [
      ["-name", "n1", "-heartbeat-interval", "200", "-debug"],
      ["--name", "n1", "--heartbeat-interval", "200", "--debug"],
      ["--name=n1", "--heartbeat-interval=200", "--debug=true"],
      ["-name=n1", "-heartbeat-interval=200", "-debug=true"],
    ];
    for (const argv of forms) {
      const c = load(argv);
      expect([c.name, c.heartbeatInterval, c.debug, c.logLevel]).toEqual(["n1", 200, true, "debug"]);
      expect(c.sources.name).toBe("flag");
    }
  });

  test("--debug=false leaves the log level alone", () => {
    const c = load(["--debug=false", "--log-level", "warn"]);
    expect([c.debug, c.logLevel]).toEqual([false, "warn"]);
  });

  test("--help and --version", () => {
    const help = loadConfig(["--help"], {});
    expect(help.kind).toBe("help");
    expect(loadConfig(["-h"], { ETCD_NMAE: "broken" }).kind).toBe("help");
    expect(loadConfig(["--version"], {})).toEqual({ kind: "version" });
    // A broken environment must not stop --version from answering.
    expect(loadConfig(["-version"], { ETCD_NMAE: "x", ETCD_CONFIG_FILE: "/missing" })).toEqual({ kind: "version" });
  });

  test("help lists every flag with its default, grouped like etcd's", () => {
    const result = loadConfig(["-h"], {});
    if (result.kind !== "help") throw new Error("expected help");
    for (const s of SETTINGS) expect(result.text).toContain(`--${s.flag} '${s.defaultHelp}'\n      ${s.description}`);
    for (const group of ["Member:", "Clustering:", "Security:", "Logging:"]) expect(result.text).toContain(`\n${group}\n`);
    expect(result.text.indexOf("Member:")).toBeLessThan(result.text.indexOf("Clustering:"));
    expect(result.text.indexOf("Clustering:")).toBeLessThan(result.text.indexOf("Security:"));
    expect(result.text.indexOf("Security:")).toBeLessThan(result.text.indexOf("Logging:"));
  });
});

describe("precedence: flag > env > file > default", () => {
  const file = writeConfig(`ETCD_NAME="from-file"\nETCD_SNAPSHOT_COUNT=300\nETCD_MAX_WALS=3\nETCD_MAX_SNAPSHOTS=3\n`);
  const env = { ETCD_CONFIG_FILE: file, ETCD_NAME: "from-env", ETCD_MAX_WALS: "2", ETCD_MAX_TXN_OPS: "64" };

  test("flag beats env", () => {
    const c = load(["--name", "from-flag"], env);
    expect(c.name).toBe("from-flag");
    expect(c.sources.name).toBe("flag");
  });

  test("env beats file", () => {
    const c = load([], env);
    expect([c.name, c.maxWals]).toEqual(["from-env", 2]);
    expect(c.sources.name).toBe("env");
    expect(c.sources.maxWals).toBe("env");
  });

  test("flag beats file", () => {
    const c = load(["--snapshot-count=400"], env);
    expect(c.snapshotCount).toBe(400);
    expect(c.sources.snapshotCount).toBe("flag");
  });

  test("file beats default", () => {
    const c = load([], env);
    expect(c.maxSnapshots).toBe(3);
    expect(c.sources.maxSnapshots).toBe("file");
    expect(c.snapshotCount).toBe(300);
  });

  test("env beats default", () => {
    const c = load([], env);
    expect(c.maxTxnOps).toBe(64);
    expect(c.sources.maxTxnOps).toBe("env");
    expect(c.sources.maxRequestBytes).toBe("default");
  });

  test("--config-file beats ETCD_CONFIG_FILE", () => {
    const other = writeConfig("name: from-yaml\n", "etcd.yml");
    const c = load(["--config-file", other], { ETCD_CONFIG_FILE: file });
    expect(c.name).toBe("from-yaml");
    expect(c.configFile).toBe(other);
    expect(c.sources.configFile).toBe("flag");
  });

  test("empty environment variables count as unset", () => {
    const c = load([], { ETCD_NAME: "", ETCD_NMAE: "" });
    expect(c.name).toBe("default");
  });
});

describe("environment", () => {
  test("every flag is available as ETCD_<UPPER_SNAKE>", () => {
    const c = load([], {
      ETCD_INITIAL_CLUSTER_TOKEN: "tok",
      ETCD_STRICT_RECONFIG_CHECK: "false",
      ETCD_GRPC_KEEPALIVE_MIN_TIME: "1m30s",
      ETCD_DEBUG: "1",
      PATH: "/usr/bin",
    });
    expect([c.initialClusterToken, c.strictReconfigCheck, c.grpcKeepaliveMinTime, c.debug]).toEqual(["tok", false, 90_000, true]);
  });

  test("an unknown ETCD_ variable is a warning, as in etcd (Kubernetes service links inject ETCD_*_PORT)", () => {
    const result = loadConfig([], { ETCD_NMAE: "n1", ETCD_CLIENT_PORT: "tcp://10.96.0.5:2379", ETCD_ROOT_PASSWORD: "hunter2" });
    if (result.kind !== "run") throw new Error("expected a run config");
    expect(result.config.name).toBe("default");
    expect(result.warnings).toEqual([
      { msg: "unrecognized environment variable", fields: { "environment-variable": "ETCD_CLIENT_PORT=tcp://10.96.0.5:2379" } },
      { msg: "unrecognized environment variable", fields: { "environment-variable": "ETCD_NMAE=n1" } },
      // Values of secret-looking names stay out of the log.
      { msg: "unrecognized environment variable", fields: { "environment-variable": "ETCD_ROOT_PASSWORD=[redacted]" } },
    ]);
  });

  test("a config without surprises has no warnings", () => {
    const result = loadConfig(["--name", "n1"], { ETCD_DATA_DIR: "/var/lib/etcd", PATH: "/usr/bin" });
    expect(result.kind === "run" && result.warnings).toEqual([]);
  });

  test("variables that are not settings by design are ignored", () => {
    expect(load([], { ETCDCTL_API: "3", ETCDCTL_ENDPOINTS: "x", ETCD_UNSUPPORTED_ARCH: "arm", ETCD_VERSION: "3.4.0" }).name).toBe("default");
  });

  test("experimental variables set their setting, under the old or the plain name", () => {
    expect(load([], { ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: "true" }).initialCorruptCheck).toBe(true);
    expect(load([], { ETCD_EXPERIMENTAL_CORRUPT_CHECK_TIME: "1m" }).corruptCheckTime).toBe(60_000);
    expect(load([], { ETCD_CORRUPT_CHECK_TIME: "2m" }).corruptCheckTime).toBe(120_000);
    expect(load(["--experimental-corrupt-check-time=0s"], {}).corruptCheckTime).toBe(0);
    expect(load([], {}).corruptCheckTime).toBe(300_000);
  });
});

describe("config file", () => {
  test("YAML with YAML types", () => {
    const path = writeConfig(
      [
        "name: n1",
        "data-dir: /var/lib/etcd",
        "heartbeat-interval: 250",
        "election-timeout: 2500",
        "listen-client-urls: http://10.0.0.1:2379",
        "advertise-client-urls: http://10.0.0.1:2379",
        "initial-cluster-state: new",
        "strict-reconfig-check: false",
        "grpc-keepalive-timeout: 30s",
        "auto-compaction-retention: 1",
        "quota-backend-bytes: 8589934592",
      ].join("\n"),
      "etcd.yml",
    );
    const c = load(["--config-file", path]);
    expect(c).toMatchObject({
      name: "n1",
      dataDir: "/var/lib/etcd",
      heartbeatInterval: 250,
      electionTimeout: 2500,
      listenClientUrls: ["http://10.0.0.1:2379"],
      strictReconfigCheck: false,
      grpcKeepaliveTimeout: 30_000,
      autoCompaction: { mode: "periodic", periodMs: 3_600_000 },
      quotaBackendBytes: 8589934592,
      configFile: path,
    });
    expect(c.sources.heartbeatInterval).toBe("file");
  });

  test("a bad value names the file line (env-file) or key (YAML)", () => {
    const envFile = writeConfig(`ETCD_NAME=n1\nETCD_HEARTBEAT_INTERVAL="abc"\n`);
    const fromEnvFile = configError(() => load(["--config-file", envFile]));
    expect(fromEnvFile.message).toBe(
      `Invalid value "abc" for --heartbeat-interval (ETCD_HEARTBEAT_INTERVAL) in config file '${envFile}' line 2: expected a whole number of milliseconds`,
    );
    expect(fromEnvFile.setting).toBe(`${envFile}:2`);

    const yaml = writeConfig("heartbeat-interval: abc\n", "etcd.yml");
    const fromYaml = configError(() => load(["--config-file", yaml]));
    expect(fromYaml.message).toContain(`for --heartbeat-interval (ETCD_HEARTBEAT_INTERVAL) in config file '${yaml}' line 1`);
    expect(fromYaml.setting).toBe(`${yaml}:heartbeat-interval`);
  });

  test("a bad line in an env-file names file and line", () => {
    const path = writeConfig(`ETCD_NAME=n1\nETCD_DATA_DIR\n`);
    const error = configError(() => load([], { ETCD_CONFIG_FILE: path }));
    expect(error.message).toStartWith(`Cannot parse config file '${path}' line 2: missing '='`);
  });

  test("unknown keys are errors", () => {
    expect(() => load(["--config-file", writeConfig(`ETCD_NAME=n1\nETCD_NMAE=n2\n`)])).toThrow(`Unknown setting "ETCD_NMAE"`);
    expect(() => load(["--config-file", writeConfig("nmae: n2\n", "etcd.yml")])).toThrow(`Unknown key "nmae"`);
  });

  test("a missing file", () => {
    expect(() => load(["--config-file=/nonexistent/etcd.conf"])).toThrow("Cannot read config file '/nonexistent/etcd.conf'");
  });
});

describe("value errors", () => {
  test("bad number from a flag or the environment", () => {
    const error = configError(() => load(["--heartbeat-interval", "abc"]));
    expect(error.message).toBe(`Invalid value "abc" for --heartbeat-interval (ETCD_HEARTBEAT_INTERVAL): expected a whole number of milliseconds`);
    expect(error.setting).toBe("--heartbeat-interval");
    expect(configError(() => load([], { ETCD_HEARTBEAT_INTERVAL: "abc" })).setting).toBe("ETCD_HEARTBEAT_INTERVAL");
  });

  test.each([
    [["--heartbeat-interval=0"], "greater than 0"],
    [["--snapshot-count=0"], "greater than 0"],
    [["--max-request-bytes=0"], "greater than 0"],
    [["--max-txn-ops=0"], "greater than 0"],
    [["--max-wals=-1"], "expected a whole number"],
    [["--quota-backend-bytes=2GB"], "expected a whole number of bytes"],
    [["--grpc-keepalive-interval=2"], "expected a duration with a unit"],
    [["--initial-cluster-state=old"], "expected 'new' or 'existing'"],
    [["--auto-compaction-mode=daily"], "expected 'periodic' or 'revision'"],
    [["--discovery-fallback=retry"], "expected 'proxy' or 'exit'"],
    [["--log-level=verbose"], "expected 'debug', 'info', 'warn', 'error', 'panic' or 'fatal'"],
    [["--logger=log4j"], "expected 'zap' or 'capnslog'"],
    [["--auth-token=jwt,pub-key=x"], "jwt needs sign-method"],
    [["--auth-token=oauth"], "expected 'simple'"],
    [["--bcrypt-cost=3"], "at least 4"],
    [["--strict-reconfig-check=maybe"], "expected true or false"],
    [["--name="], "expected a member name"],
    [["--log-outputs="], "expected at least one log output"],
    [["--auto-compaction-retention=abc"], "expected a number of hours or a duration"],
    [["--auto-compaction-mode=revision", "--auto-compaction-retention=1h"], "expected a whole number of revisions"],
  ])("%p", (argv, expected) => {
    const error = configError(() => load(argv));
    expect(error.message).toStartWith("Invalid value ");
    expect(error.message).toContain(expected);
  });

  test("bad URL", () => {
    const error = configError(() => load(["--listen-peer-urls", "http://0.0.0.0"]));
    expect(error.message).toBe(
      `Invalid value "http://0.0.0.0" for --listen-peer-urls (ETCD_LISTEN_PEER_URLS): "http://0.0.0.0" has no port; expected http:// or https:// URLs with a host and port, such as http://10.0.0.1:2380`,
    );
    expect(error.setting).toBe("--listen-peer-urls");
    // As etcd, a unix socket URL also has the form host:port (the socket file's name).
    expect(() => load(["--listen-client-urls", "unix://etcd.sock", "--advertise-client-urls", "http://a:2379"])).toThrow("has no port");
    expect(() => load(["--advertise-client-urls", "localhost:2379"])).toThrow("is not a URL");
    expect(() => load(["--initial-advertise-peer-urls", "http://a:0"])).toThrow("outside 1-65535");
  });

  test("unix socket URLs for clients and peers, as etcd's; unixs needs a certificate; not for metrics", () => {
    const c = load(["--listen-client-urls", "unix://c.sock:2379", "--advertise-client-urls", "unix://c.sock:2379", "--listen-peer-urls", "unix://p.sock:2380", "--initial-advertise-peer-urls", "unix://p.sock:2380", "--initial-cluster", "default=unix://p.sock:2380"]);
    expect(c.parsedUrls.listenPeerUrls[0]).toMatchObject({ protocol: "unix", hostname: "p.sock", port: 2380 });
    expect(() => load(["--listen-client-urls", "unixs://c.sock:2379", "--advertise-client-urls", "unixs://c.sock:2379"])).toThrow("has unixs://c.sock:2379 but no client certificate is configured");
    expect(() => load(["--listen-metrics-urls", "unix://m.sock:2381"])).toThrow("etcd-ts serves metrics on http:// or https:// URLs only");
  });

  test("listen URLs may use port 0", () => {
    const c = load(["--listen-peer-urls", "http://127.0.0.1:0", "--listen-client-urls", "http://127.0.0.1:0", "--advertise-client-urls", "http://127.0.0.1:2379"]);
    expect(c.parsedUrls.listenPeerUrls[0].port).toBe(0);
  });

  test("advertised client URLs may carry port 0, as etcd's own e2e suite passes them; peer URLs may not", () => {
    expect(load(["--advertise-client-urls", "http://0.0.0.0:0"]).parsedUrls.advertiseClientUrls[0].port).toBe(0);
    expect(() => load(["--initial-advertise-peer-urls", "http://a:0"])).toThrow("outside 1-65535");
  });
});

describe("election timeout vs heartbeat", () => {
  test("election must be at least 5 heartbeats", () => {
    expect(load(["--heartbeat-interval=200", "--election-timeout=1000"]).electionTimeout).toBe(1000);
    const error = configError(() => load(["--heartbeat-interval=300"]));
    expect(error.message).toBe(
      "Election timeout 1000ms (--election-timeout) must be at least 5 times the heartbeat interval 300ms (--heartbeat-interval): raise --election-timeout to 1500 or lower --heartbeat-interval",
    );
    // The heartbeat was the explicit setting, so it is the one at fault.
    expect(error.setting).toBe("--heartbeat-interval");
    expect(configError(() => load(["--election-timeout=400"], { ETCD_HEARTBEAT_INTERVAL: "100" })).setting).toBe("--election-timeout");
  });

  test("election timeout is capped like etcd's", () => {
    expect(() => load(["--election-timeout=50001"])).toThrow("is too long");
  });
});

describe("advertise-client-urls", () => {
  test("is required when listen-client-urls is set explicitly", () => {
    const error = configError(() => load(["--listen-client-urls", "http://0.0.0.0:2379"]));
    expect(error.message).toStartWith("--advertise-client-urls is required when --listen-client-urls is set explicitly");
    expect(error.setting).toBe("--advertise-client-urls");
    expect(() => load([], { ETCD_LISTEN_CLIENT_URLS: "http://0.0.0.0:2379" })).toThrow("--advertise-client-urls is required");
  });

  test("is accepted from any source", () => {
    const c = load(["--listen-client-urls", "http://0.0.0.0:2379"], { ETCD_ADVERTISE_CLIENT_URLS: "http://10.0.0.1:2379" });
    expect(c.advertiseClientUrls).toEqual(["http://10.0.0.1:2379"]);
  });
});

describe("initial cluster", () => {
  const three = "n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380";

  test("parses into name → peer URLs", () => {
    const c = load(["--name=n2", "--initial-advertise-peer-urls=http://10.0.0.2:2380", "--initial-cluster", three]);
    expect([...c.initialCluster.keys()]).toEqual(["n1", "n2", "n3"]);
    expect(c.initialCluster.get("n3")).toEqual(["http://10.0.0.3:2380"]);
    expect(c.sources.initialCluster).toBe("flag");
  });

  test("a member's URLs match regardless of order and case", () => {
    const c = load([
      "--name=n1",
      "--initial-advertise-peer-urls=http://B:2380,http://a:2380",
      "--initial-cluster=n1=http://a:2380,n1=http://b:2380,n2=http://c:2380",
    ]);
    expect(c.initialCluster.get("n1")).toEqual(["http://a:2380", "http://b:2380"]);
  });

  test("a URL in --initial-cluster missing from --initial-advertise-peer-urls", () => {
    const error = configError(() =>
      load(["--name", "n1", "--initial-cluster", "n1=http://a:2380", "--initial-advertise-peer-urls", "http://b:2380"]),
    );
    expect(error.message).toStartWith("--initial-cluster has n1=http://a:2380 but it is missing from --initial-advertise-peer-urls=http://b:2380");
    expect(error.setting).toBe("--initial-cluster");
  });

  test("an advertised URL missing from --initial-cluster", () => {
    const error = configError(() =>
      load(["--name=n1", "--initial-cluster=n1=http://a:2380", "--initial-advertise-peer-urls=http://a:2380,http://b:2380"]),
    );
    expect(error.message).toStartWith("--initial-advertise-peer-urls has http://b:2380 but it is missing from --initial-cluster=n1=http://a:2380");
  });

  test("this member must be listed", () => {
    const error = configError(() => load(["--name=n9", "--initial-cluster", three], { ETCD_INITIAL_CLUSTER_STATE: "existing" }));
    expect(error.message).toStartWith(`Member name "n9" (--name) is not listed in --initial-cluster=${three}`);
    // The default initial cluster is built from --name, so forgetting --name is caught too.
    expect(() => load(["--initial-cluster", three])).toThrow(`Member name "default" (--name) is not listed`);
  });

  test("joining an existing cluster does not compare peer URLs", () => {
    const c = load(["--name=n1", "--initial-cluster=n1=http://a:2380", "--initial-advertise-peer-urls=http://b:2380", "--initial-cluster-state=existing"]);
    expect(c.initialClusterState).toBe("existing");
  });

  test("blames the file line when the cluster came from a file", () => {
    const path = writeConfig(`ETCD_NAME=n1\nETCD_INITIAL_CLUSTER=n2=http://a:2380\n`);
    expect(configError(() => load(["--config-file", path])).setting).toBe(`${path}:2`);
  });
});

describe("other settings", () => {
  test("discovery is refused", () => {
    for (const [flag, value] of [
      ["--discovery", "https://discovery.etcd.io/abc"],
      ["--discovery-srv", "example.com"],
      ["--discovery-proxy", "http://proxy:8080"],
    ]) {
      const error = configError(() => load([flag, value]));
      expect(error.message).toBe(`Cannot use ${flag} "${value}": discovery is not supported by etcd-ts: use --initial-cluster`);
      expect(error.setting).toBe(flag);
    }
    expect(load(["--discovery-fallback=exit"]).discoveryFallback).toBe("exit");
  });

  test("auto compaction per mode", () => {
    expect(load(["--auto-compaction-retention=30m"]).autoCompaction).toEqual({ mode: "periodic", periodMs: 1_800_000 });
    expect(load(["--auto-compaction-retention=72"]).autoCompaction).toEqual({ mode: "periodic", periodMs: 72 * 3_600_000 });
    const revision = load(["--auto-compaction-mode=revision", "--auto-compaction-retention=1000"]);
    expect(revision.autoCompaction).toEqual({ mode: "revision", revisions: 1000 });
    expect(revision.autoCompactionRetention).toBe("1000");
  });

  test("lists; switches etcd-ts lacks are accepted off and refused on", () => {
    const c = load([
      "--cors=https://a.example, https://b.example",
      "--log-outputs=stderr,/var/log/etcd.log",
      "--enable-v2=false",
      "--enable-pprof=false",
      "--force-new-cluster=false",
      "--listen-metrics-urls=http://0.0.0.0:2381",
    ]);
    expect(c.cors).toEqual(["https://a.example", "https://b.example"]);
    expect(c.logOutputs).toEqual(["stderr", "/var/log/etcd.log"]);
    expect([c.enableV2, c.enablePprof, c.forceNewCluster]).toEqual([false, false, false]);
    expect(() => load(["--enable-v2"])).toThrow("--enable-v2 is not supported by etcd-ts");
    expect(() => load(["--enable-pprof"])).toThrow("--enable-pprof is not supported by etcd-ts");
    expect(() => load(["--force-new-cluster"])).toThrow("take `etcdctl snapshot save` from a surviving member");
    expect(c.parsedUrls.listenMetricsUrls).toEqual([{ url: "http://0.0.0.0:2381", protocol: "http", hostname: "0.0.0.0", port: 2381 }]);
  });

  test("ConfigError is an Error with a name", () => {
    const error = configError(() => load(["--nmae"]));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ConfigError");
    expect(error).toBeInstanceOf(ConfigError);
  });
});
