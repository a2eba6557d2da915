import { expect, test } from "bun:test";
import { Hono } from "hono";
import { Registry } from "../../pkg/metrics.ts";
import { listenMetrics, mountMetrics } from "./metrics-route.ts";

test("GET /metrics answers the registry in Prometheus' text format, with the process metrics", async () => {
  const registry = new Registry();
  registry.counter({ name: "etcd_server_leader_changes_seen_total", help: "The number of leader changes seen." }).inc();
  const app = new Hono();
  mountMetrics(app, registry);
  const res = await app.request("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const body = await res.text();
  expect(body).toContain("# TYPE etcd_server_leader_changes_seen_total counter\netcd_server_leader_changes_seen_total 1\n");
  expect(body).toContain("# TYPE process_resident_memory_bytes gauge\n");
});

test("listenMetrics serves the app on each metrics URL, and names the URL it cannot listen on", async () => {
  const app = new Hono();
  mountMetrics(app, new Registry());
  app.post("/v3/kv/range", () => new Response("secret"));
  const [server] = await listenMetrics([{ url: "http://127.0.0.1:0", protocol: "http", hostname: "127.0.0.1", port: 0 }], app.fetch, () => {});
  try {
    const port = (server.address() as { port: number }).port;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(await res.text()).toContain("process_open_fds ");
    // Only monitoring: the gateway (and anything else of the app) stays behind the client port's TLS.
    const gw = await fetch(`http://127.0.0.1:${port}/v3/kv/range`, { method: "POST", body: "{}" });
    expect(gw.status).toBe(404);
    expect(await gw.text()).not.toContain("secret");
    const taken = { url: `http://127.0.0.1:${port}`, protocol: "http", hostname: "127.0.0.1", port };
    await expect(listenMetrics([taken], app.fetch, () => {})).rejects.toThrow(`Cannot listen on http://127.0.0.1:${port} (--listen-metrics-urls): the address is already in use`);
    const tls = { url: "https://127.0.0.1:1", protocol: "https", hostname: "127.0.0.1", port: 1 };
    await expect(listenMetrics([tls], app.fetch, () => {})).rejects.toThrow("--listen-metrics-urls https://127.0.0.1:1 is https:// but no client certificate is configured");
  } finally {
    server.close();
  }
});
