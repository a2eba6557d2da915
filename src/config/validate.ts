import { ConfigError, quote } from "./errors";
import { formatInitialCluster } from "./initial-cluster";
import type { ConfigSettings, RawValue, SettingField } from "./types";
import { parseUrl, urlKey } from "./urls";

// etcd refuses election timeouts above this (embed.Config.Validate).
const MAX_ELECTION_TIMEOUT_MS = 50_000;

/** Rules that span several settings; single-value rules live with the parsers in flags.ts. */
export function validateSettings(values: ConfigSettings, raws: ReadonlyMap<SettingField, RawValue>): void {
  const raw = (field: SettingField): RawValue => raws.get(field)!;
  const explicit = (field: SettingField): boolean => raw(field).source !== "default";

  for (const [field, flag] of [
    ["discovery", "--discovery"],
    ["discoverySrv", "--discovery-srv"],
    ["discoveryProxy", "--discovery-proxy"],
  ] as const) {
    if (values[field] !== "") {
      throw new ConfigError(
        `Cannot use ${flag} ${quote(values[field])}: discovery is not supported by etcd-ts: use --initial-cluster`,
        raw(field).setting,
      );
    }
  }

  // Switches etcd-ts has no machinery for: accepted when off (packaged etcd.conf files set them to
  // false), refused when on rather than silently doing nothing.
  const unsupportedSwitches = [
    ["enableV2", "--enable-v2", "etcd-ts serves the v3 API only (plus /v2/members); v2 clients need etcd"],
    ["enablePprof", "--enable-pprof", "Go's pprof does not exist here; profile with `bun --inspect` on a source checkout"],
    [
      "forceNewCluster",
      "--force-new-cluster",
      "to recover from a lost quorum, take `etcdctl snapshot save` from a surviving member and restore it into a new cluster (README: Disaster recovery)",
    ],
  ] as const;
  for (const [field, flag, instead] of unsupportedSwitches) {
    if (values[field]) throw new ConfigError(`${flag} is not supported by etcd-ts: ${instead}`, raw(field).setting);
  }

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

  checkLocalMember(values, raw("initialCluster"));
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
