// GET /metrics in Prometheus' text format, as etcd serves it on its client URLs and on
// --listen-metrics-urls. What is exposed is defined where it is measured (*/metrics.ts).
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import http from "node:http";
import https from "node:https";
import { CONTENT_TYPE, defaultRegistry, type Registry } from "../../pkg/metrics.ts";
import { registerProcessMetrics } from "../../pkg/process-metrics.ts";
import { scrapes, scrapesInFlight } from "./metrics.ts";

/** Adds GET /metrics to app (with the process_* and os_fd_* metrics), counting scrapes as promhttp does. */
export function mountMetrics(app: Hono, registry: Registry = defaultRegistry): void {
  registerProcessMetrics(registry);
  app.get("/metrics", () => {
    // A scrape sees itself in flight, and is counted once answered (as promhttp's instrumentation).
    scrapesInFlight.inc();
    try {
      const body = registry.expose();
      scrapes.with("200").inc();
      return new Response(body, { headers: { "content-type": CONTENT_TYPE } });
    } catch (err) {
      scrapes.with("500").inc();
      throw err;
    } finally {
      scrapesInFlight.dec();
    }
  });
}

/** What a metrics listener answers, as etcd's: monitoring only. */
export const METRICS_PATHS: ReadonlySet<string> = new Set(["/metrics", "/health", "/livez", "/readyz"]);
/** ...and each health check on its own path (/livez/serializable_read, /readyz/linearizable_read, ...). */
const CHECK_PATH = /^\/(livez|readyz)\/[a-z_]+$/;

/**
 * Only the monitoring paths of `fetch`: a metrics URL is often plaintext and without client
 * certificates, so the JSON gateway, gRPC-web or the console behind it would skip --client-cert-auth.
 */
export function metricsOnly(fetch: (req: Request) => Response | Promise<Response>): (req: Request) => Response | Promise<Response> {
  return (req) => {
    const path = new URL(req.url).pathname;
    return METRICS_PATHS.has(path) || CHECK_PATH.test(path) ? fetch(req) : new Response("404 page not found\n", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
  };
}

/**
 * Serves the monitoring paths of `fetch` (the client port's HTTP app) on each --listen-metrics-urls
 * URL, as etcd's metrics listener. Resolves once all listen; rejects, naming the URL, if one cannot.
 */
export async function listenMetrics(
  urls: readonly { url: string; protocol: string; hostname: string; port: number }[],
  fetch: (req: Request) => Response | Promise<Response>,
  log: (level: "info", msg: string, fields?: Record<string, unknown>) => void,
  /** For https:// URLs: the client port's TLS (--cert-file, --key-file, ...), as etcd. */
  tlsOptions?: https.ServerOptions,
): Promise<http.Server[]> {
  const servers: http.Server[] = [];
  try {
    for (const u of urls) {
      if (u.protocol === "https" && !tlsOptions) {
        throw new Error(`--listen-metrics-urls ${u.url} is https:// but no client certificate is configured: set --cert-file and --key-file (or --auto-tls), or use http://`);
      }
      const listener = getRequestListener(metricsOnly(fetch));
      const server = u.protocol === "https" ? https.createServer(tlsOptions!, listener) : http.createServer(listener);
      servers.push(server);
      const host = u.hostname === "localhost" ? "127.0.0.1" : u.hostname;
      await new Promise<void>((resolve, reject) => {
        server.once("error", (err: NodeJS.ErrnoException) =>
          reject(new Error(`Cannot listen on ${u.url} (--listen-metrics-urls): ${err.code === "EADDRINUSE" ? "the address is already in use" : err.message}`)),
        );
        server.listen(u.port, host, () => resolve());
      });
      log("info", "serving metrics", { address: `${host}:${u.port}` });
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  return servers;
}
