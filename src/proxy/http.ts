// HTTP/1.1 on the proxy's port and on --metrics-addr: the proxy's own Prometheus metrics (its
// grpc_server_* counters and etcd_grpc_proxy_* coalescing and cache figures) and /health, which asks
// the cluster for a key, as etcd's proxy health check does.
import type http from "node:http";
import { Errors } from "../pkg/errors.ts";
import { CONTENT_TYPE, defaultRegistry } from "../pkg/metrics.ts";
import { registerProcessMetrics } from "../pkg/process-metrics.ts";
import { rpc } from "../client/rpc.ts";
import type { Upstream } from "./upstream.ts";

/** How long /health waits for the cluster (etcd's proxy: one second). */
const HEALTH_TIMEOUT_MS = 1000;

export interface Health {
  health: "true" | "false";
  reason: string;
}

/** Healthy when a read reaches the cluster; "permission denied" counts (the cluster answered, auth is on). */
export async function checkHealth(upstream: Upstream): Promise<Health> {
  try {
    await upstream.unary(rpc.range, { key: Buffer.from("a") }, { deadline: Date.now() + HEALTH_TIMEOUT_MS });
    return { health: "true", reason: "" };
  } catch (err) {
    if (err === Errors.permissionDenied || err === Errors.userEmpty) return { health: "true", reason: "" };
    return { health: "false", reason: `GET ERROR:${(err as Error).message}` };
  }
}

/** The request handler for the proxy's HTTP side. */
export function proxyHttpHandler(upstream: Upstream): http.RequestListener {
  registerProcessMetrics(defaultRegistry);
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const known = path === "/metrics" || path === "/proxy/metrics" || path === "/health";
    if (!known) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" });
      res.end("404 page not found\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET", "content-type": "text/plain; charset=utf-8" });
      res.end("Method Not Allowed\n");
      return;
    }
    if (path === "/health") {
      void checkHealth(upstream).then((h) => {
        res.writeHead(h.health === "true" ? 200 : 503, { "content-type": "application/json" });
        res.end(JSON.stringify(h));
      });
      return;
    }
    res.writeHead(200, { "content-type": CONTENT_TYPE });
    res.end(req.method === "HEAD" ? undefined : defaultRegistry.expose());
  };
}
