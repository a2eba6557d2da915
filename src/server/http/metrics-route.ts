// GET /metrics in Prometheus' text format, as etcd serves it on its client URLs and on
// --listen-metrics-urls. What is exposed is defined where it is measured (*/metrics.ts).
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import http from "node:http";
import { CONTENT_TYPE, defaultRegistry, type Registry } from "../../pkg/metrics.ts";
import { registerProcessMetrics } from "../../pkg/process-metrics.ts";

/** Adds GET /metrics to app (with the process_* metrics). */
export function mountMetrics(app: Hono, registry: Registry = defaultRegistry): void {
  registerProcessMetrics(registry);
  app.get("/metrics", () => new Response(registry.expose(), { headers: { "content-type": CONTENT_TYPE } }));
}

/**
 * Serves `fetch` (the client port's HTTP app: /metrics and /health, as etcd's metrics listener) on each
 * --listen-metrics-urls URL. Resolves once all listen; rejects, naming the URL, if one cannot.
 */
export async function listenMetrics(
  urls: readonly { url: string; protocol: string; hostname: string; port: number }[],
  fetch: (req: Request) => Response | Promise<Response>,
  log: (level: "info", msg: string, fields?: Record<string, unknown>) => void,
): Promise<http.Server[]> {
  const servers: http.Server[] = [];
  try {
    for (const u of urls) {
      if (u.protocol === "https") throw new Error(`--listen-metrics-urls ${u.url}: TLS arrives with the security issue; use http:// meanwhile.`);
      const server = http.createServer(getRequestListener(fetch));
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
