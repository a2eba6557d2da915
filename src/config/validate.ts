import fs from "node:fs";
import { ConfigError, quote } from "./errors";
import { formatInitialCluster } from "./initial-cluster";
import type { ConfigSettings, RawValue, SettingField } from "./types";
import { parseUrl, urlKey } from "./urls";

// etcd refuses election timeouts above this (embed.Config.Validate).
const MAX_ELECTION_TIMEOUT_MS = 50_000;

/**
 * Rules that span several settings. Single-value rules live with the parsers in the settings
 * table; values etcd-ts refuses are refused by support.ts before these run.
 */
export function validateSettings(values: ConfigSettings, raws: ReadonlyMap<SettingField, RawValue>): void {
  const raw = (field: SettingField): RawValue => raws.get(field)!;
  const explicit = (field: SettingField): boolean => raw(field).source !== "default";

  const { heartbeatInterval: heartbeat, electionTimeout: election } = values;
  if (election < 5 * heartbeat) {
    // Blame whichever of the two the operator actually set.
    const culprit = explicit("electionTimeout") || !explicit("heartbeatInterval") ? "electionTimeout" : "heartbeatInterval";
    throw new ConfigError(
      `Election timeout ${election}ms (--election-timeout) must be at least 5 times the heartbeat interval ${heartbeat}ms (--heartbeat-interval): ` +
        `raise --election-timeout to ${5 * heartbeat} or lower --heartbeat-interval`,
      raw(culprit).setting,
    );
  }
  if (election > MAX_ELECTION_TIMEOUT_MS) {
    throw new ConfigError(
      `Election timeout ${election}ms (--election-timeout) is too long: use at most ${MAX_ELECTION_TIMEOUT_MS}ms`,
      raw("electionTimeout").setting,
    );
  }

  // Same rule as etcd: advertising the localhost default while listening
  // elsewhere would hand clients an address they cannot reach.
  if (explicit("listenClientUrls") && !explicit("advertiseClientUrls")) {
    throw new ConfigError(
      "--advertise-client-urls is required when --listen-client-urls is set explicitly: " +
        "set it (or ETCD_ADVERTISE_CLIENT_URLS) to the client URLs other machines should use, such as http://10.0.0.1:2379",
      "--advertise-client-urls",
    );
  }

  // As etcd 3.5+: persisting checkpoints without making them is a mistake, not a no-op.
  if (values.leaseCheckpointPersist && !values.enableLeaseCheckpoint) {
    throw new ConfigError(
      "--experimental-enable-lease-checkpoint-persist (LeaseCheckpointPersist) needs lease checkpoints: " +
        "also set --experimental-enable-lease-checkpoint or --feature-gates=LeaseCheckpoint=true",
      raw("leaseCheckpointPersist").setting,
    );
  }

  checkLocalMember(values, raw("initialCluster"));
  checkTls(values, raw);

  // Client and peer URLs may be unix sockets, as etcd's; the metrics listener here speaks TCP only.
  const unixMetrics = values.listenMetricsUrls.find((u) => /^unixs?:/i.test(u));
  if (unixMetrics !== undefined) {
    throw new ConfigError(`--listen-metrics-urls ${unixMetrics}: etcd-ts serves metrics on http:// or https:// URLs only, not on unix sockets`, raw("listenMetricsUrls").setting);
  }
}

/**
 * https:// URLs need a certificate: --cert-file with --key-file, or --auto-tls (peers: the --peer-*
 * twins). Files must be readable now rather than at the first connection. As etcd, TLS 1.3 alone
 * leaves no cipher suites to choose.
 */
function checkTls(values: ConfigSettings, raw: (field: SettingField) => RawValue): void {
  const sides = [
    {
      what: "client",
      urls: [
        ["--listen-client-urls", values.listenClientUrls],
        ["--listen-metrics-urls", values.listenMetricsUrls],
      ] as const,
      cert: ["certFile", "--cert-file"],
      key: ["keyFile", "--key-file"],
      ca: ["trustedCaFile", "--trusted-ca-file"],
      crl: ["clientCrlFile", "--client-crl-file"],
      dialCert: null,
      allowed: null,
      auth: ["clientCertAuth", "--client-cert-auth"],
      auto: ["autoTls", "--auto-tls"],
    },
    {
      what: "peer",
      urls: [
        ["--listen-peer-urls", values.listenPeerUrls],
        ["--initial-advertise-peer-urls", values.initialAdvertisePeerUrls],
      ] as const,
      cert: ["peerCertFile", "--peer-cert-file"],
      key: ["peerKeyFile", "--peer-key-file"],
      ca: ["peerTrustedCaFile", "--peer-trusted-ca-file"],
      crl: ["peerCrlFile", "--peer-crl-file"],
      dialCert: [
        ["peerClientCertFile", "--peer-client-cert-file"],
        ["peerClientKeyFile", "--peer-client-key-file"],
      ],
      allowed: [
        ["peerCertAllowedCn", "--peer-cert-allowed-cn"],
        ["peerCertAllowedHostname", "--peer-cert-allowed-hostname"],
      ],
      auth: ["peerClientCertAuth", "--peer-client-cert-auth"],
      auto: ["peerAutoTls", "--peer-auto-tls"],
    },
  ] as const;
  for (const side of sides) {
    const [certField, certFlag] = side.cert;
    const [keyField, keyFlag] = side.key;
    const [caField, caFlag] = side.ca;
    const [authField, authFlag] = side.auth;
    const [autoField, autoFlag] = side.auto;
    const hasCert = values[certField] !== "";
    const hasKey = values[keyField] !== "";
    if (hasCert !== hasKey) {
      const [missing, given, field] = hasCert ? [keyFlag, certFlag, certField] : [certFlag, keyFlag, keyField];
      throw new ConfigError(`${given} is set but ${missing} is not: ${side.what} TLS needs both the certificate and its key`, raw(field).setting);
    }
    for (const [flag, urls] of side.urls) {
      const https = urls.find((u) => /^(https|unixs):/i.test(u));
      if (https !== undefined && !hasCert && !values[autoField]) {
        throw new ConfigError(
          `${flag} has ${https} but no ${side.what} certificate is configured: set ${certFlag} and ${keyFlag}, or ${autoFlag}, or use http://`,
          certFlag,
        );
      }
    }
    if (values[authField] && values[caField] === "" && !values[autoField]) {
      throw new ConfigError(`${authFlag} needs ${caFlag}: the CA that signs the certificates ${side.what}s must present`, raw(authField).setting);
    }
    if (side.dialCert !== null) {
      const [[dialCertField, dialCertFlag], [dialKeyField, dialKeyFlag]] = side.dialCert;
      if ((values[dialCertField] === "") !== (values[dialKeyField] === "")) {
        const [missing, given, field] = values[dialCertField] !== "" ? [dialKeyFlag, dialCertFlag, dialCertField] : [dialCertFlag, dialKeyFlag, dialKeyField];
        throw new ConfigError(`${given} is set but ${missing} is not: the certificate members present when dialing needs its key`, raw(field).setting);
      }
    }
    if (side.allowed !== null) {
      // As etcd's TLS setup: a member's certificate is matched by CN or by host name, not both.
      const [[cnField, cnFlag], [hostField, hostFlag]] = side.allowed;
      if (values[cnField].length > 0 && values[hostField].length > 0) {
        throw new ConfigError(`${cnFlag} and ${hostFlag} cannot be used together: choose one way to match member certificates`, raw(hostField).setting);
      }
    }
    const files = [side.cert, side.key, side.ca, side.crl, ...(side.dialCert ?? [])] as const;
    for (const [field, flag] of files) {
      const file = values[field];
      if (file === "") continue;
      try {
        fs.accessSync(file, fs.constants.R_OK);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String((e as Error).message);
        throw new ConfigError(`Cannot read ${flag} ${quote(file)}: ${why}`, raw(field).setting);
      }
    }
  }
  if (values.tlsMinVersion === "TLS1.3" && values.tlsMaxVersion === "TLS1.2") {
    throw new ConfigError(
      "--tls-min-version TLS1.3 is above --tls-max-version TLS1.2: no TLS version would be left; raise the maximum or lower the minimum",
      raw("tlsMaxVersion").setting,
    );
  }
  if (values.tlsMinVersion === "TLS1.3" && values.cipherSuites.length > 0) {
    throw new ConfigError("--cipher-suites cannot be used with --tls-min-version TLS1.3: TLS 1.3 has its own fixed cipher suites", raw("cipherSuites").setting);
  }
}

/**
 * This member must be in --initial-cluster, and when bootstrapping a new
 * cluster its entry must carry exactly the advertised peer URLs (order does
 * not matter), or peers would dial an address it does not answer on.
 * Unlike etcd, host names are compared as written, without DNS lookups.
 */
function checkLocalMember(values: ConfigSettings, clusterRaw: RawValue): void {
  const { name, initialCluster, initialAdvertisePeerUrls } = values;
  const cluster = formatInitialCluster(initialCluster);
  const listed = initialCluster.get(name);
  if (listed === undefined) {
    throw new ConfigError(
      `Member name ${quote(name)} (--name) is not listed in --initial-cluster=${cluster}: ` +
        `add ${name}=<peer URL> to --initial-cluster or correct --name`,
      clusterRaw.setting,
    );
  }
  if (values.initialClusterState !== "new") return;

  const keyOf = (url: string): string => urlKey(parseUrl(url, { example: "", allowPortZero: false }));
  const advertised = initialAdvertisePeerUrls.join(",");
  const advertisedKeys = new Set(initialAdvertisePeerUrls.map(keyOf));
  const listedKeys = new Set(listed.map(keyOf));
  const fix = `list the same peer URLs for ${name} in both settings`;
  for (const url of listed) {
    if (!advertisedKeys.has(keyOf(url))) {
      throw new ConfigError(
        `--initial-cluster has ${name}=${url} but it is missing from --initial-advertise-peer-urls=${advertised}: ${fix}`,
        clusterRaw.setting,
      );
    }
  }
  for (const url of initialAdvertisePeerUrls) {
    if (!listedKeys.has(keyOf(url))) {
      throw new ConfigError(
        `--initial-advertise-peer-urls has ${url} but it is missing from --initial-cluster=${cluster}: add ${name}=${url} there or ${fix}`,
        clusterRaw.setting,
      );
    }
  }
}
