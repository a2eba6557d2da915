import { parseDuration } from "./duration";
import { InvalidValueError } from "./errors";
import { bool, ignored, refused, row, type Setting } from "./setting";
import { urlList } from "./urls";
import { parseChoice, parseNonEmptyList, parseWholeNumber } from "./values";

// Logging, and profiling and monitoring (etcd's groups of those names).

const NO_TRACING = "etcd-ts has no OpenTelemetry tracing";

/** etcd hands this to its log rotator; checked for shape although rotation itself is refused. */
function parseRotationJson(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidValueError(`expected a JSON object such as {"maxsize": 100, "maxage": 0, "maxbackups": 0}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidValueError(`expected a JSON object such as {"maxsize": 100, "maxage": 0, "maxbackups": 0}`);
  }
  return text.trim();
}

export const LOGGING: readonly Setting[] = [
  row("logger", "logger", {
    group: "Logging",
    description: "Logger implementation: 'zap' (structured), or etcd 3.4's 'capnslog'.",
    default: "zap",
    parse: (text) => parseChoice(text, ["zap", "capnslog"] as const),
    support: ignored("etcd-ts always logs as zap does (JSON lines)", (logger) => logger !== "zap"),
  }),
  row("log-outputs", "logOutputs", {
    group: "Logging",
    description: "Comma-separated log targets: 'default', 'stdout', 'stderr' or file paths.",
    aliases: ["log-output"],
    default: "default",
    list: true,
    parse: (text) => parseNonEmptyList(text, "log output, such as default, stderr or a file path"),
  }),
  row("log-level", "logLevel", {
    group: "Logging",
    description: "Log level: debug, info, warn, error, panic or fatal.",
    default: "info",
    parse: (text) => parseChoice(text, ["debug", "info", "warn", "error", "panic", "fatal"] as const),
  }),
  row("debug", "debug", bool("Logging", "Enable debug-level logging (same as --log-level=debug).", false)),
  row("log-format", "logFormat", {
    group: "Logging",
    description: "Log format: 'json' or 'console' (etcd 3.6+).",
    default: "json",
    parse: (text) => parseChoice(text, ["json", "console"] as const),
    support: ignored("etcd-ts writes JSON lines only"),
  }),
  row("enable-log-rotation", "enableLogRotation", bool("Logging", "Rotate the log file named by --log-outputs (etcd 3.5+).", false, {
    support: refused("etcd-ts does not rotate its logs: rotate the file with logrotate (copytruncate), or log to stderr/journald"),
  })),
  row("log-rotation-config-json", "logRotationConfigJson", {
    group: "Logging",
    description: "Log rotation settings as JSON: maxsize (MB), maxage (days), maxbackups, localtime, compress.",
    default: `{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}`,
    parse: parseRotationJson,
    support: ignored("only used with --enable-log-rotation, which etcd-ts refuses"),
  }),
  row("log-package-levels", "logPackageLevels", {
    group: "Logging",
    description: "Per-package log levels of etcd 3.4's capnslog logger, such as 'etcdserver=WARNING'.",
    default: "",
    parse: (text) => text.trim(),
    support: ignored("etcd-ts has one log level for everything (--log-level)"),
  }),
  row("warning-apply-duration", "warningApplyDuration", {
    group: "Logging",
    description: "Log a warning when applying one request takes longer than this.",
    aliases: ["experimental-warning-apply-duration"],
    default: "100ms",
    parse: parseDuration,
  }),
  row("warning-unary-request-duration", "warningUnaryRequestDuration", {
    group: "Logging",
    description: "Log a warning when one unary request takes longer than this.",
    aliases: ["experimental-warning-unary-request-duration"],
    default: "300ms",
    parse: parseDuration,
    support: ignored("etcd-ts does not log slow requests"),
  }),
];

export const MONITORING: readonly Setting[] = [
  row("enable-pprof", "enablePprof", bool("Profiling and monitoring", "Enable runtime profiling data via HTTP.", false, {
    support: refused("Go's pprof does not exist here; profile with `bun --inspect` on a source checkout"),
  })),
  row("metrics", "metrics", {
    group: "Profiling and monitoring",
    description: "Detail of the exported metrics: 'basic', or 'extensive' to add gRPC latency histograms.",
    default: "basic",
    parse: (text) => parseChoice(text, ["basic", "extensive"] as const),
    support: ignored("etcd-ts exports the basic metrics only"),
  }),
  row("listen-metrics-urls", "listenMetricsUrls", {
    group: "Profiling and monitoring",
    description: "List of additional URLs to listen on for the metrics and health endpoints.",
    default: "",
    list: true,
    parse: urlList("http://10.0.0.1:2381", { allowEmpty: true, listening: true }),
  }),
  row("enable-grpc-gateway", "enableGrpcGateway", bool("Profiling and monitoring", "Serve the JSON gateway (HTTP/JSON access to the v3 API) on the client URLs.", true, {
    support: ignored("etcd-ts always serves the JSON gateway; its requests pass the same authentication as gRPC"),
  })),
  row("enable-distributed-tracing", "enableDistributedTracing", bool("Profiling and monitoring", "Send OpenTelemetry traces to --distributed-tracing-address.", false, {
    aliases: ["experimental-enable-distributed-tracing"],
    support: ignored(NO_TRACING),
  })),
  row("distributed-tracing-address", "distributedTracingAddress", {
    group: "Profiling and monitoring",
    description: "Address of the OpenTelemetry collector.",
    aliases: ["experimental-distributed-tracing-address"],
    default: "localhost:4317",
    parse: (text) => text.trim(),
    support: ignored(NO_TRACING),
  }),
  row("distributed-tracing-service-name", "distributedTracingServiceName", {
    group: "Profiling and monitoring",
    description: "Service name in the traces (the same on every member).",
    aliases: ["experimental-distributed-tracing-service-name"],
    default: "etcd",
    parse: (text) => text.trim(),
    support: ignored(NO_TRACING),
  }),
  row("distributed-tracing-instance-id", "distributedTracingInstanceId", {
    group: "Profiling and monitoring",
    description: "Service instance id in the traces (unique per member).",
    aliases: ["experimental-distributed-tracing-instance-id"],
    default: "",
    parse: (text) => text.trim(),
    support: ignored(NO_TRACING),
  }),
  row("distributed-tracing-sampling-rate", "distributedTracingSamplingRate", {
    group: "Profiling and monitoring",
    description: "Spans sampled per million (0 to 1000000).",
    aliases: ["experimental-distributed-tracing-sampling-rate"],
    default: "0",
    parse: (text) => {
      const n = parseWholeNumber(text, { min: 0 });
      if (n > 1_000_000) throw new InvalidValueError("expected a number of samples per million from 0 to 1000000");
      return n;
    },
    support: ignored(NO_TRACING),
  }),
];
