import { Hono } from "hono";
import { registerGateway } from "./gateway/gateway.ts";
import type { HandlerTable } from "./gateway/handlers.ts";
import { type HealthBackend, registerHealth } from "./health.ts";
import { mountMetrics } from "./metrics-route.ts";
import { registerUi } from "./ui/route.ts";
import { registerV2Members } from "./v2-members.ts";

/** What the HTTP side needs from the server (an interface, so tests can use app.request without one). */
export interface HttpBackend extends HealthBackend {
  versions(): { etcdserver: string; etcdcluster: string; "etcd-ts": string };
  /**
   * The gRPC method table (`etcdHandlers(server)`): with it the app serves etcd's JSON gateway
   * (/v3/…) and the v2 member list (/v2/members) by calling the same handlers as gRPC.
   */
  handlers?: HandlerTable;
  /** The gRPC server's request message limit, which gateway requests share. */
  maxRecvBytes?: number;
  /** --cors: origins allowed; empty or "*" allows every origin (etcd's default). */
  cors?: readonly string[];
  log?: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

/** HTTP/1.1 on the client port: etcd's /health, /livez, /readyz, /metrics and /version, the JSON gateway, /v2/members. */
export function createHttpApp(b: HttpBackend): Hono {
  const app = new Hono();
  // etcd's access controller, in front of everything: CORS headers, and OPTIONS answered 200.
  const cors = new Set(b.cors ?? []);
  app.use("*", async (c, next) => {
    const origin = cors.size === 0 || cors.has("*") ? "*" : cors.has(c.req.header("origin") ?? "") ? c.req.header("origin")! : null;
    if (c.req.method === "OPTIONS") c.res = new Response(null, { status: 200 });
    else await next();
    if (origin !== null) {
      c.res.headers.append("access-control-allow-methods", "POST, GET, OPTIONS, PUT, DELETE");
      c.res.headers.append("access-control-allow-origin", origin);
      c.res.headers.append("access-control-allow-headers", "accept, content-type, authorization");
    }
  });
  app.get("/version", (c) => c.json(b.versions()));
  registerHealth(app, b); // /health, /livez, /readyz
  mountMetrics(app);
  if (b.handlers) {
    registerGateway(app, b.handlers, { maxRecvBytes: b.maxRecvBytes ?? 2 * 1024 * 1024, log: b.log });
    registerV2Members(app, b.handlers);
    registerUi(app); // the web console at /ui, a client of the gateway above
  }
  // Go's http.NotFound, as etcd answers any other path.
  app.notFound((c) => c.body("404 page not found\n", 404, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" }));
  return app;
}
