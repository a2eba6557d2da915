import { Hono } from "hono";

/** What the HTTP side needs from the server (an interface, so tests can use app.request without one). */
export interface HttpBackend {
  hasLeader(): boolean;
  alarms(): string[];
  versions(): { etcdserver: string; etcdcluster: string; "etcd-ts": string };
}

/** HTTP/1.1 on the client port: etcd's /health and /version shapes (the JSON gateway comes later). */
export function createHttpApp(b: HttpBackend): Hono {
  const app = new Hono();
  app.get("/version", (c) => c.json(b.versions()));
  const health = (c: any) => {
    const alarms = b.alarms();
    if (!b.hasLeader()) return c.json({ health: "false", reason: "RAFT NO LEADER" }, 503);
    if (alarms.length) return c.json({ health: "false", reason: `ALARM ${alarms.join(",")}` }, 503);
    return c.json({ health: "true", reason: "" });
  };
  app.get("/health", health);
  app.get("/livez", (c) => c.text("ok"));
  app.get("/readyz", (c) => (b.hasLeader() ? c.text("ok") : c.text("not ready: no leader", 503)));
  app.notFound((c) => c.text("404 page not found\n", 404));
  return app;
}
