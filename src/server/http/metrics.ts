// The HTTP side's metrics, under etcd's names, help texts, types and labels: the health checks
// (etcd 3.4 etcdserver/api/etcdhttp/metrics.go; 3.5's per-check livez/readyz counters), the
// exposition's own counters (client_golang's promhttp), and etcd's v2 HTTP API counters
// (etcdserver/api/v2http/metrics.go).
import { defaultRegistry, exponentialBuckets } from "../../pkg/metrics.ts";

export const healthSuccess = defaultRegistry.counter({ name: "etcd_server_health_success", help: "The total number of successful health checks" });
export const healthFailed = defaultRegistry.counter({ name: "etcd_server_health_failures", help: "The total number of failed health checks" });

/** etcd 3.5: the last result of each /livez and /readyz check (1 ok, 0 failed), by type (livez, readyz) and check name. */
export const healthCheckResult = defaultRegistry.gaugeVec({
  name: "etcd_server_healthcheck",
  help: "The result of each kind of healthcheck.",
  labelNames: ["type", "name"],
});
/** etcd 3.5: every /livez and /readyz check run, by type, name and status (success, error). */
export const healthChecks = defaultRegistry.counterVec({
  name: "etcd_server_healthchecks_total",
  help: "The total number of each kind of healthcheck.",
  labelNames: ["type", "name", "status"],
});

/** Scrapes of /metrics by HTTP status code, and those being answered now (promhttp's own). */
export const scrapes = defaultRegistry.counterVec({
  name: "promhttp_metric_handler_requests_total",
  help: "Total number of scrapes by HTTP status code.",
  labelNames: ["code"],
});
// As promhttp: the codes a scrape can end with exist from the start.
for (const code of ["200", "500", "503"]) scrapes.with(code);
export const scrapesInFlight = defaultRegistry.gauge({ name: "promhttp_metric_handler_requests_in_flight", help: "Current number of scrapes being served." });

// etcd's v2 HTTP API (/v2/keys). etcd-ts has no v2 key space and serves no v2 key request, so these
// have no series, exactly as on an etcd member that was never sent one.
defaultRegistry.counterVec({
  name: "etcd_http_received_total",
  help: "Counter of requests received into the system (successfully parsed and authd).",
  labelNames: ["method"],
});
defaultRegistry.counterVec({
  name: "etcd_http_failed_total",
  help: "Counter of handle failures of requests (non-watches), by method (GET/PUT etc.) and code (400, 500 etc.).",
  labelNames: ["method", "code"],
});
defaultRegistry.histogramVec({
  name: "etcd_http_successful_duration_seconds",
  help: "Bucketed histogram of processing time (s) of successfully handled requests (non-watches), by method (GET/PUT etc.).",
  buckets: exponentialBuckets(0.0005, 2, 13),
  labelNames: ["method"],
});
