// /health, /livez and /readyz answer as etcd 3.5's, byte for byte: bodies, statuses, content types,
// the checks' order and options (exclude, serializable, verbose), 405 for other methods, and the
// health check counters.
import { expect, test } from "bun:test";
import { Hono } from "hono";
import { type Counter, defaultRegistry, type Gauge } from "../../pkg/metrics.ts";
import { type HealthBackend, registerHealth } from "./health.ts";

function app(b: Partial<HealthBackend> = {}): Hono {
  const a = new Hono();
  registerHealth(a, { hasLeader: () => true, alarms: () => [], ...b });
  return a;
}

async function answer(a: Hono, path: string, init?: RequestInit) {
  const res = await a.request(path, init);
  return { status: res.status, type: res.headers.get("content-type"), nosniff: res.headers.get("x-content-type-options"), allow: res.headers.get("allow"), body: await res.text() };
}

const counter = (name: string, ...labels: string[]) => (defaultRegistry.get(name)!.with(...labels) as Counter).value;

test("healthy: 200 and etcd 3.5's body, sniffed by Go as text; a success counted", async () => {
  const before = counter("etcd_server_health_success");
  expect(await answer(app(), "/health")).toEqual({ status: 200, type: "text/plain; charset=utf-8", nosniff: null, allow: null, body: '{"health":"true","reason":""}' });
  expect(counter("etcd_server_health_success")).toBe(before + 1);
});

test("unhealthy: 503 with the reason, as Go's http.Error writes it; a failure counted", async () => {
  const before = counter("etcd_server_health_failures");
  const noLeader = await answer(app({ hasLeader: () => false }), "/health");
  expect(noLeader).toEqual({ status: 503, type: "text/plain; charset=utf-8", nosniff: "nosniff", allow: null, body: '{"health":"false","reason":"RAFT NO LEADER"}\n' });
  expect((await answer(app({ alarms: () => ["NOSPACE"] }), "/health")).body).toBe('{"health":"false","reason":"ALARM NOSPACE"}\n');
  expect((await answer(app({ alarms: () => ["CORRUPT", "NOSPACE"] }), "/health")).body).toBe('{"health":"false","reason":"ALARM CORRUPT"}\n');
  const failingRead = app({ healthRead: () => Promise.reject(new Error("etcdserver: request timed out")) });
  expect((await answer(failingRead, "/health")).body).toBe('{"health":"false","reason":"RANGE ERROR:etcdserver: request timed out"}\n');
  expect(counter("etcd_server_health_failures")).toBe(before + 4);
});

test("?exclude=ALARM skips that alarm; ?serializable=true skips the leader and reads serializably", async () => {
  const reads: boolean[] = [];
  const a = app({ alarms: () => ["NOSPACE"], hasLeader: () => false, healthRead: async (s) => void reads.push(s) });
  expect((await answer(a, "/health?exclude=NOSPACE")).body).toBe('{"health":"false","reason":"RAFT NO LEADER"}\n');
  expect((await answer(a, "/health?exclude=NOSPACE&serializable=true")).body).toBe('{"health":"true","reason":""}');
  expect((await answer(a, "/health?exclude=CORRUPT&exclude=NOSPACE&serializable=false")).status).toBe(503);
  expect(reads).toEqual([true]);
});

test("anything but GET is 405 with Allow: GET", async () => {
  for (const path of ["/health", "/livez", "/readyz", "/readyz/non_learner"]) {
    for (const method of ["POST", "PUT", "HEAD"]) {
      const r = await answer(app(), path, { method });
      expect({ status: r.status, allow: r.allow, type: r.type }).toEqual({ status: 405, allow: "GET", type: "text/plain; charset=utf-8" });
      if (method !== "HEAD") expect(r.body).toBe("Method Not Allowed\n");
    }
  }
});

test("/livez and /readyz: ok, or each check's line and 503; ?verbose lists them when all pass", async () => {
  const reads: boolean[] = [];
  const ok = app({ healthRead: async (s) => void reads.push(s) });
  expect(await answer(ok, "/livez")).toEqual({ status: 200, type: "text/plain; charset=utf-8", nosniff: "nosniff", allow: null, body: "ok\n" });
  expect(reads).toEqual([true]);
  expect((await answer(ok, "/readyz?verbose")).body).toBe("[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n");
  expect(reads).toEqual([true, true, false]);

  const sick = app({ alarms: () => ["CORRUPT"], isLearner: () => true, healthRead: async (s) => {
    if (!s) throw new Error("etcdserver: no leader");
  } });
  expect(await answer(sick, "/readyz")).toEqual({
    status: 503,
    type: "text/plain; charset=utf-8",
    nosniff: "nosniff",
    allow: null,
    body: "[-]data_corruption failed: alarm activated: CORRUPT\n[+]serializable_read ok\n[-]linearizable_read failed: etcdserver: no leader\n[-]non_learner failed: not supported for learner\n\n",
  });
  // One check on its own path; ?exclude leaves checks out of the whole list (unknown names are ignored).
  expect((await answer(sick, "/readyz/serializable_read")).body).toBe("ok\n");
  expect((await answer(sick, "/readyz/linearizable_read")).status).toBe(503);
  expect((await answer(sick, "/readyz?exclude=data_corruption&exclude=linearizable_read&exclude=non_learner&exclude=nope&verbose")).body).toBe("[+]serializable_read ok\nok\n");
});

test("each /livez and /readyz check is recorded by type, name and status", async () => {
  const gauge = (type: string, name: string) => (defaultRegistry.get("etcd_server_healthcheck")!.with(type, name) as Gauge).value;
  const runs = (status: string) => counter("etcd_server_healthchecks_total", "readyz", "data_corruption", status);
  let alarms: string[] = [];
  const a = app({ alarms: () => alarms });
  const [ok, err] = [runs("success"), runs("error")];
  await answer(a, "/readyz");
  expect(gauge("readyz", "data_corruption")).toBe(1);
  alarms = ["CORRUPT"];
  await answer(a, "/readyz/data_corruption");
  expect(gauge("readyz", "data_corruption")).toBe(0);
  expect([runs("success") - ok, runs("error") - err]).toEqual([1, 1]);
});
