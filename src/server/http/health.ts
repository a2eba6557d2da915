// etcd 3.5's health endpoints, byte for byte (server/etcdserver/api/etcdhttp/health.go of the 3.5
// releases that have /livez and /readyz, 3.5.12 on):
// - /health: alarms (?exclude=NOSPACE skips one), then the leader (skipped with ?serializable=true),
//   then a one-key keys-only read as root (serializable on request). 200 `{"health":"true","reason":""}`
//   or 503 `{"health":"false","reason":"..."}` + "\n" (Go's http.Error). etcd 3.4 answered
//   `{"health":"true"}` without the reason; we claim 3.5, so we answer as 3.5.
// - /livez (serializable_read) and /readyz (data_corruption, serializable_read, linearizable_read,
//   non_learner), each check also on its own path (/readyz/linearizable_read): "ok\n", with
//   ?verbose the lines "[+]name ok" first; on failure 503 with "[-]name failed: reason" lines.
//   ?exclude=name skips a check. etcd runs the checks in Go's random map order; we run them in the
//   order above, so verbose output is stable.
// Anything but GET is 405 "Method Not Allowed", with Allow: GET.
import type { Context, Hono } from "hono";
import { healthCheckResult, healthChecks, healthFailed, healthSuccess } from "./metrics.ts";

/** What the health checks need from the server. */
export interface HealthBackend {
  hasLeader(): boolean;
  /** Active alarms by name ("NOSPACE", "CORRUPT"), in the order the cluster raised them. */
  alarms(): string[];
  /**
   * A keys-only read of one key as root, linearizable unless `serializable` (etcd's health read);
   * rejects with the server's error. Without it the read check always passes (tests of the routes).
   */
  healthRead?(serializable: boolean): Promise<unknown>;
  isLearner?(): boolean;
}

type Check = () => Promise<void> | void;

const TEXT = "text/plain; charset=utf-8";

/** Go's http.Error: the text and a newline, plain text, not to be sniffed. */
function httpError(text: string, status: number, extra: Record<string, string> = {}): Response {
  return new Response(`${text}\n`, { status, headers: { "content-type": TEXT, "x-content-type-options": "nosniff", ...extra } });
}

const methodNotAllowed = () => httpError("Method Not Allowed", 405, { allow: "GET" });

/** A query parameter's non-empty values (Go's r.URL.Query()[name], empty ones dropped as etcd does). */
function querySet(c: Context, name: string): Set<string> {
  return new Set((c.req.queries(name) ?? []).filter((v) => v !== ""));
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function registerHealth(app: Hono, b: HealthBackend): void {
  app.all("/health", async (c) => {
    if (c.req.method !== "GET") return methodNotAllowed();
    const h = await health(b, querySet(c, "exclude"), c.req.query("serializable") === "true");
    (h.health === "true" ? healthSuccess : healthFailed).inc();
    // Go's encoding/json of etcd's Health{Health, Reason}; the 200 body is sniffed as text by Go.
    const body = JSON.stringify({ health: h.health, reason: h.reason });
    if (h.health !== "true") return httpError(body, 503);
    return new Response(body, { status: 200, headers: { "content-type": TEXT } });
  });

  const read = (serializable: boolean) => async () => {
    await b.healthRead?.(serializable);
  };
  registerChecks(app, "livez", [["serializable_read", read(true)]]);
  registerChecks(app, "readyz", [
    [
      "data_corruption",
      () => {
        if (b.alarms().includes("CORRUPT")) throw new Error("alarm activated: CORRUPT");
      },
    ],
    ["serializable_read", read(true)],
    ["linearizable_read", read(false)],
    [
      "non_learner",
      () => {
        if (b.isLearner?.()) throw new Error("not supported for learner");
      },
    ],
  ]);
}

async function health(b: HealthBackend, excluded: Set<string>, serializable: boolean): Promise<{ health: "true" | "false"; reason: string }> {
  for (const alarm of b.alarms()) {
    if (excluded.has(alarm)) continue;
    const reason = alarm === "NOSPACE" || alarm === "CORRUPT" ? `ALARM ${alarm}` : "ALARM UNKNOWN";
    return { health: "false", reason };
  }
  if (!serializable && !b.hasLeader()) return { health: "false", reason: "RAFT NO LEADER" };
  try {
    await b.healthRead?.(serializable);
  } catch (err) {
    return { health: "false", reason: `RANGE ERROR:${errorText(err)}` };
  }
  return { health: "true", reason: "" };
}

/** /<type> running every check (less ?exclude), and /<type>/<name> running one. */
function registerChecks(app: Hono, type: "livez" | "readyz", checks: [string, Check][]): void {
  const byName = new Map(checks);
  const serve = async (c: Context, names: string[]): Promise<Response> => {
    if (c.req.method !== "GET") return methodNotAllowed();
    let reason = "";
    let failed = false;
    for (const name of names) {
      try {
        await byName.get(name)!();
        reason += `[+]${name} ok\n`;
        record(type, name, true);
      } catch (err) {
        reason += `[-]${name} failed: ${errorText(err)}\n`;
        record(type, name, false);
        failed = true;
      }
    }
    if (failed) return httpError(reason, 503);
    const verbose = c.req.queries("verbose") !== undefined;
    return new Response(`${verbose ? reason : ""}ok\n`, { status: 200, headers: { "content-type": TEXT, "x-content-type-options": "nosniff" } });
  };
  app.all(`/${type}`, (c) => {
    const excluded = querySet(c, "exclude");
    return serve(
      c,
      checks.map(([name]) => name).filter((name) => !excluded.has(name)),
    );
  });
  for (const [name] of checks) app.all(`/${type}/${name}`, (c) => serve(c, [name]));
}

function record(type: string, name: string, ok: boolean): void {
  healthCheckResult.with(type, name).set(ok ? 1 : 0);
  healthChecks.with(type, name, ok ? "success" : "error").inc();
}
