import { parseDuration } from "./duration";
import { parseInitialCluster } from "./initial-cluster";
import { bool, ignored, NEVER, refused, row, type Setting } from "./setting";
import { urlList } from "./urls";
import { parseChoice, parseList, parseNonEmpty, parseWholeNumber } from "./values";

// Clustering (etcd's group of the same name) and etcd 3.4/3.5's v2 proxy mode.

const NO_DISCOVERY = "discovery is not supported by etcd-ts: use --initial-cluster";
/** The knobs of etcd 3.6's v3 discovery: inert while its endpoints (refused) are unset. */
const V3_DISCOVERY = "only used by v3 discovery (--discovery-endpoints), which etcd-ts does not support";
const PROXY_ONLY = "only used in v2 proxy mode (--proxy), which etcd-ts does not have";

const empty = (value: string): boolean => value === "";

/** Kept verbatim so the refusal can quote it. */
const verbatim = (text: string): string => text.trim();

export const CLUSTERING: readonly Setting[] = [
  row("initial-advertise-peer-urls", "initialAdvertisePeerUrls", {
    group: "Clustering",
    description: "List of this member's peer URLs to advertise to the rest of the cluster.",
    default: "http://localhost:2380",
    list: true,
    parse: urlList("http://10.0.0.1:2380", { allowEmpty: false, listening: false }),
  }),
  row("initial-cluster", "initialCluster", {
    group: "Clustering",
    description: "Initial cluster configuration for bootstrapping, as name=peer-url pairs; when unset, built from --name and --initial-advertise-peer-urls.",
    default: ({ name, initialAdvertisePeerUrls }) => initialAdvertisePeerUrls.map((url) => `${name}=${url}`).join(","),
    defaultHelp: "default=http://localhost:2380",
    list: true,
    parse: parseInitialCluster,
  }),
  row("initial-cluster-state", "initialClusterState", {
    group: "Clustering",
    description: "Initial cluster state ('new' or 'existing').",
    default: "new",
    parse: (text) => parseChoice(text, ["new", "existing"] as const),
  }),
  row("initial-cluster-token", "initialClusterToken", {
    group: "Clustering",
    description: "Initial cluster token; distinct tokens keep separate clusters from joining each other by mistake.",
    default: "etcd-cluster",
    parse: (text) => text.trim(),
  }),
  row("advertise-client-urls", "advertiseClientUrls", {
    group: "Clustering",
    description: "List of this member's client URLs to advertise to clients; required when --listen-client-urls is set.",
    default: "http://localhost:2379",
    list: true,
    // etcd takes port 0 here (its own e2e suite advertises http://0.0.0.0:0); it only misleads clients.
    parse: urlList("http://10.0.0.1:2379", { allowEmpty: false, listening: false, allowPortZero: true }),
  }),
  row("discovery", "discovery", {
    group: "Clustering",
    description: "v2 discovery URL used to bootstrap the cluster.",
    default: "",
    parse: verbatim,
    support: refused(NO_DISCOVERY, empty),
  }),
  row("discovery-fallback", "discoveryFallback", {
    group: "Clustering",
    description: "Expected behavior ('exit' or 'proxy') when the discovery service fails.",
    default: "proxy",
    parse: (text) => parseChoice(text, ["proxy", "exit"] as const),
    support: ignored("discovery is not supported", NEVER),
  }),
  row("discovery-proxy", "discoveryProxy", {
    group: "Clustering",
    description: "HTTP proxy to use for traffic to the v2 discovery service.",
    default: "",
    parse: verbatim,
    support: refused(NO_DISCOVERY, empty),
  }),
  row("discovery-srv", "discoverySrv", {
    group: "Clustering",
    description: "DNS SRV domain used to bootstrap the cluster.",
    default: "",
    parse: verbatim,
    support: refused(NO_DISCOVERY, empty),
  }),
  row("discovery-srv-name", "discoverySrvName", {
    group: "Clustering",
    description: "Suffix of the DNS SRV service name queried by --discovery-srv.",
    default: "",
    parse: (text) => text.trim(),
    support: ignored("only used by --discovery-srv, which etcd-ts does not support"),
  }),
  row("discovery-endpoints", "discoveryEndpoints", {
    group: "Clustering",
    description: "v3 discovery (etcd 3.6+): gRPC endpoints of the discovery service.",
    default: "",
    list: true,
    parse: parseList,
    support: refused(NO_DISCOVERY, (endpoints) => endpoints.length === 0),
  }),
  row("discovery-token", "discoveryToken", {
    group: "Clustering",
    description: "v3 discovery: the discovery token of the cluster to bootstrap.",
    default: "",
    parse: verbatim,
    support: refused(NO_DISCOVERY, empty),
  }),
  row("discovery-dial-timeout", "discoveryDialTimeout", {
    group: "Clustering",
    description: "v3 discovery: dial timeout of its client connections.",
    default: "2s",
    parse: parseDuration,
    support: ignored(V3_DISCOVERY),
  }),
  row("discovery-request-timeout", "discoveryRequestTimeout", {
    group: "Clustering",
    description: "v3 discovery: timeout of its requests.",
    default: "5s",
    parse: parseDuration,
    support: ignored(V3_DISCOVERY),
  }),
  row("discovery-keepalive-time", "discoveryKeepaliveTime", {
    group: "Clustering",
    description: "v3 discovery: keepalive time of its client connections.",
    default: "2s",
    parse: parseDuration,
    support: ignored(V3_DISCOVERY),
  }),
  row("discovery-keepalive-timeout", "discoveryKeepaliveTimeout", {
    group: "Clustering",
    description: "v3 discovery: keepalive timeout of its client connections.",
    default: "6s",
    parse: parseDuration,
    support: ignored(V3_DISCOVERY),
  }),
  row("discovery-insecure-transport", "discoveryInsecureTransport", bool("Clustering", "v3 discovery: connect without TLS.", true, {
    support: ignored(V3_DISCOVERY),
  })),
  row("discovery-insecure-skip-tls-verify", "discoveryInsecureSkipTlsVerify", bool("Clustering", "v3 discovery: skip the server certificate check.", false, {
    support: ignored(V3_DISCOVERY),
  })),
  ...(["cert", "key", "cacert", "user", "password"] as const).map((what) => {
    const fields = {
      cert: "discoveryCert",
      key: "discoveryKey",
      cacert: "discoveryCacert",
      user: "discoveryUser",
      password: "discoveryPassword",
    } as const;
    const descriptions = {
      cert: "v3 discovery: client TLS certificate file.",
      key: "v3 discovery: client TLS key file.",
      cacert: "v3 discovery: CA bundle that checks the discovery servers.",
      user: "v3 discovery: user name (user[:password]) for authentication.",
      password: "v3 discovery: password for authentication.",
    };
    return row(`discovery-${what}`, fields[what], {
      group: "Clustering",
      description: descriptions[what],
      default: "",
      parse: (text: string) => text.trim(),
      support: ignored(V3_DISCOVERY),
    });
  }),
  row("strict-reconfig-check", "strictReconfigCheck", bool("Clustering", "Reject reconfiguration requests that would cause quorum loss.", true)),
  row("pre-vote", "preVote", bool("Clustering", "Run Raft's Pre-Vote phase, so a member that was cut off does not disrupt the cluster when it returns.", true, {
    support: ignored("etcd-ts's Raft always runs Pre-Vote (it only avoids needless elections)", (on) => !on),
  })),
  row("auto-compaction-retention", "autoCompactionRetention", {
    group: "Clustering",
    description: "Auto compaction retention: hours or a duration (e.g. '30m') in periodic mode, revisions in revision mode; 0 disables.",
    default: "0",
    parse: (text) => parseNonEmpty(text, "a retention such as 1, 30m or 1000"),
  }),
  row("auto-compaction-mode", "autoCompactionMode", {
    group: "Clustering",
    description: "How to interpret --auto-compaction-retention: 'periodic' (time based) or 'revision' (revision count).",
    default: "periodic",
    parse: (text) => parseChoice(text, ["periodic", "revision"] as const),
  }),
  row("enable-v2", "enableV2", bool("Clustering", "Accept etcd v2 client requests (etcd 3.4/3.5).", false, {
    support: refused("etcd-ts serves the v3 API only (plus /v2/members); v2 clients need etcd"),
  })),
  row("experimental-enable-v2v3", "experimentalEnableV2v3", {
    group: "Clustering",
    description: "Serve v2 requests from the v3 store under this key prefix (etcd 3.4/3.5).",
    default: "",
    parse: verbatim,
    support: refused("etcd-ts serves the v3 API only (plus /v2/members); v2 clients need etcd", empty),
  }),
  row("v2-deprecation", "v2Deprecation", {
    group: "Clustering",
    description: "Stage of the v2 store's removal: not-yet, write-only, write-only-skip-check, write-only-drop-data or gone (etcd 3.5+).",
    default: "not-yet",
    parse: (text) => parseChoice(text, ["not-yet", "write-only", "write-only-skip-check", "write-only-drop-data", "gone"] as const),
    support: ignored("etcd-ts has no v2 store at all (membership lives in the v3 database)", NEVER),
  }),

  row("proxy", "proxy", {
    group: "v2 Proxy",
    description: "Proxy mode: 'off', 'readonly' or 'on' (etcd 3.4/3.5).",
    default: "off",
    parse: (text) => parseChoice(text, ["off", "readonly", "on"] as const),
    support: refused("etcd-ts runs only as a cluster member, never as a v2 proxy: point clients at the members (or use etcd's grpc-proxy)"),
  }),
  ...(
    [
      ["proxy-failure-wait", "proxyFailureWait", "5000", "Time (in milliseconds) an endpoint stays in a failed state."],
      ["proxy-refresh-interval", "proxyRefreshInterval", "30000", "Time (in milliseconds) between refreshes of the endpoints."],
      ["proxy-dial-timeout", "proxyDialTimeout", "1000", "Time (in milliseconds) for a dial to time out (0 disables)."],
      ["proxy-write-timeout", "proxyWriteTimeout", "5000", "Time (in milliseconds) for a write to time out (0 disables)."],
      ["proxy-read-timeout", "proxyReadTimeout", "0", "Time (in milliseconds) for a read to time out (0 disables)."],
    ] as const
  ).map(([flag, field, byDefault, description]) =>
    row(flag, field, {
      group: "v2 Proxy",
      description,
      default: byDefault,
      parse: (text: string) => parseWholeNumber(text, { min: 0, unit: "milliseconds" }),
      support: ignored(PROXY_ONLY),
    }),
  ),
];
