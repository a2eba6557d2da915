// /metrics and the health endpoints of the compiled binary, on the client URL and on
// --listen-metrics-urls:
// - every family of etcd 3.4's and 3.5's lists (tests/support) with etcd's types, help texts, labels
//   and buckets; and, when the real etcd 3.4 is installed (CI=true requires it), every family the
//   real etcd shows after the same workload (but Go's runtime), and the same counts for the same
//   requests (operations, bytes, leases, revisions);
// - /health, /livez and /readyz as etcd 3.5 answers them (3.4's /health lacks the reason field);
// - values that follow what the member does, read by a Prometheus text-format parser from npm
//   (parse-prometheus-text-format, prom2json's output shape) as a scraper would;
// - the peer families of a three-member cluster.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import parsePrometheusTextFormat, { type PromFamily } from "parse-prometheus-text-format";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { frame } from "../../src/server/grpc/framing.ts";
import { diffWithList, ETCD34_METRICS, familyProblems, GO_RUNTIME, parseExposition } from "../support/etcd34-metrics.ts";
import { ETCD35_METRICS, ETCD36_ADDITIONS } from "../support/etcd35-metrics.ts";
import { cleanup, ctl, freePort, grpcUnary, haveEtcdctl, haveEtcdServer, requireTool, startMember, startRealEtcd, type Member } from "./harness.ts";

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return res.text();
}

function value(text: string, sample: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

const enc = (s: string) => Buffer.from(s);
const put = (m: Member, key: string) => grpcUnary(m, "/etcdserverpb.KV/Put", etcdserverpb.PutRequest.encode({ key: enc(key), value: enc("v") }).finish());

/** A put through the JSON gateway; the HTTP status. */
async function gatewayPut(m: Member, key: string): Promise<number> {
  const body = JSON.stringify({ key: Buffer.from(key).toString("base64"), value: Buffer.from("v").toString("base64") });
  const res = await fetch(`${m.clientUrl}/v3/kv/put`, { method: "POST", body, headers: { "content-type": "application/json" } });
  await res.arrayBuffer();
  return res.status;
}

/** A put over gRPC-web (+proto); the grpc-status of its trailer frame. */
async function grpcWebPut(m: Member, key: string): Promise<number> {
  const body = frame(etcdserverpb.PutRequest.encode({ key: enc(key), value: enc("v") }).finish());
  const res = await fetch(`${m.clientUrl}/etcdserverpb.KV/Put`, { method: "POST", body, headers: { "content-type": "application/grpc-web+proto" } });
  const text = Buffer.from(await res.arrayBuffer()).toString("latin1");
  return Number(/grpc-status:(\d+)/.exec(text)?.[1] ?? -1);
}

/** The families of an exposition by name, as the npm parser reads them. */
async function parsed(url: string): Promise<Map<string, PromFamily>> {
  return new Map(parsePrometheusTextFormat(await scrape(url)).map((f) => [f.name, f]));
}

/** The value of the one series of `name` whose labels are exactly `labels`. */
function sampleOf(families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  const f = families.get(name);
  if (!f) throw new Error(`no family ${name}`);
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = f.metrics.filter((x) => JSON.stringify(Object.entries(x.labels ?? {}).sort()) === want);
  if (found.length !== 1) throw new Error(`${name}${want}: ${found.length} series`);
  return Number(found[0].value);
}

const putSeries = { grpc_type: "unary", grpc_service: "etcdserverpb.KV", grpc_method: "Put" };

/** The real etcdctl, bounded in time (a watch runs until killed: it is cancelled when it times out). */
function etcdctlFor(m: Member, args: string[], timeoutMs = 10_000): string {
  const r = spawnSync("etcdctl", ["--endpoints", m.endpoint, ...args], { encoding: "utf8", timeout: timeoutMs, env: { ...process.env, ETCDCTL_API: "3" } });
  return r.stdout;
}

/**
 * What an operator does to a member in a day, through the real etcdctl and curl-like requests: keys,
 * a txn, a watch, a lease, compaction, defrag, hashes, a snapshot, members, alarms, health checks.
 */
async function workload(m: Member, dir: string): Promise<void> {
  ctl(m, ["put", "a", "1"]);
  ctl(m, ["put", "b", "2"]);
  ctl(m, ["get", "a"]);
  ctl(m, ["get", "--prefix", ""]);
  ctl(m, ["txn"], 'value("a") = "1"\n\nput c 3\n\nput d 4\n\n');
  ctl(m, ["del", "b"]);
  const lease = /lease ([0-9a-f]+) granted/.exec(ctl(m, ["lease", "grant", "100"]))![1];
  ctl(m, ["put", "--lease", lease, "l", "1"]);
  ctl(m, ["lease", "keep-alive", "--once", lease]);
  ctl(m, ["lease", "timetolive", "--keys", lease]);
  ctl(m, ["lease", "revoke", lease]);
  etcdctlFor(m, ["watch", "a", "--rev", "1"], 1500);
  ctl(m, ["compact", "3", "--physical"]);
  ctl(m, ["defrag"]);
  ctl(m, ["endpoint", "status"]);
  ctl(m, ["endpoint", "hashkv"]);
  ctl(m, ["member", "list"]);
  ctl(m, ["alarm", "list"]);
  ctl(m, ["snapshot", "save", join(dir, `snap-${m.endpoint.replace(/\W/g, "-")}.db`)]);
  for (const path of ["/health", "/livez", "/readyz", "/readyz/linearizable_read"]) await (await fetch(`${m.clientUrl}${path}`)).arrayBuffer();
}

describe("one member", () => {
  let m: Member;
  let metricsUrl: string;

  beforeAll(async () => {
    metricsUrl = `http://127.0.0.1:${await freePort()}`;
    m = await startMember({ args: ["--listen-metrics-urls", metricsUrl] });
  });

  afterAll(async () => {
    await m?.stop();
    if (m) cleanup(m);
  });

  test("every family of etcd 3.4, 3.5 and 3.6's additions that a lone member shows, with etcd's type, help, labels and buckets", async () => {
    expect((await put(m, "k")).status).toBe(0);
    await (await fetch(`${m.clientUrl}/readyz`)).arrayBuffer();
    expect((await grpcUnary(m, "/etcdserverpb.KV/Range", etcdserverpb.RangeRequest.encode({ key: enc("k") }).finish())).status).toBe(0);
    const happened = (event: string) => ["a client request", "a /livez or /readyz request", "a Range request"].includes(event);
    const text = await scrape(m.clientUrl);
    expect(diffWithList(text, ETCD34_METRICS, "etcd 3.4", happened).filter((p) => !GO_RUNTIME.test(p))).toEqual([]);
    expect(diffWithList(text, ETCD35_METRICS, "etcd 3.5", happened).filter((p) => !GO_RUNTIME.test(p))).toEqual([]);
    expect(diffWithList(text, ETCD36_ADDITIONS, "etcd 3.6", happened).filter((p) => !p.startsWith("etcd_server_feature_enabled"))).toEqual([]);
    // No Go runtime families: there is no Go runtime to describe.
    expect([...parseExposition(text).keys()].filter((n) => GO_RUNTIME.test(n))).toEqual([]);
  });

  test("the values follow the member: leader, id, keys, gRPC calls by method and code", async () => {
    const before = await scrape(m.clientUrl);
    const ok = 'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}';
    expect((await put(m, "new-key")).status).toBe(0);
    const after = await scrape(m.clientUrl);
    expect(value(after, ok)).toBe(value(before, ok)! + 1);
    expect(value(after, 'grpc_server_started_total{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}')).toBeGreaterThanOrEqual(2);
    expect(value(after, 'grpc_server_msg_received_total{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}')).toBe(
      value(before, 'grpc_server_msg_received_total{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}')! + 1,
    );
    expect(value(after, "etcd_debugging_mvcc_keys_total")).toBe(value(before, "etcd_debugging_mvcc_keys_total")! + 1);
    expect(value(after, "etcd_mvcc_put_total")).toBe(value(before, "etcd_mvcc_put_total")! + 1);
    // A raw HTTP/2 client sends no client-api-version header.
    expect(value(after, 'etcd_server_client_requests_total{client_api_version="unknown",type="unary"}')).toBe(
      value(before, 'etcd_server_client_requests_total{client_api_version="unknown",type="unary"}')! + 1,
    );
    expect(value(after, "etcd_server_has_leader")).toBe(1);
    expect(value(after, "etcd_server_is_leader")).toBe(1);
    expect(value(after, "etcd_server_leader_changes_seen_total")).toBe(1);
    expect(after).toMatch(/^etcd_server_id\{server_id="[0-9a-f]+"\} 1$/m);
    expect(after).toMatch(/^etcd_server_go_version\{server_go_version="bun\d+\.\d+\.\d+"\} 1$/m);
    expect(value(after, "etcd_disk_wal_fsync_duration_seconds_count")).toBeGreaterThan(0);
    expect(value(after, "process_resident_memory_bytes")).toBeGreaterThan(1e6);
    expect(value(after, "process_max_fds")).toBe(value(after, "os_fd_limit"));
    expect(value(after, "promhttp_metric_handler_requests_in_flight")).toBe(1); // this scrape
    expect(value(after, 'promhttp_metric_handler_requests_total{code="200"}')).toBe(value(before, 'promhttp_metric_handler_requests_total{code="200"}')! + 1);
  });

  test("a Prometheus text-format parser reads it: counters move with puts, whichever way they come", async () => {
    const before = await parsed(m.clientUrl);
    // One put each through gRPC, the JSON gateway and gRPC-web; then an empty key through the last two.
    expect((await put(m, "parsed-grpc")).status).toBe(0);
    expect(await gatewayPut(m, "parsed-gateway")).toBe(200);
    expect(await grpcWebPut(m, "parsed-grpc-web")).toBe(0);
    expect(await gatewayPut(m, "")).toBe(400);
    expect(await grpcWebPut(m, "")).toBe(3);
    const after = await parsed(m.clientUrl);
    const delta = (name: string, labels: Record<string, string> = {}) => sampleOf(after, name, labels) - sampleOf(before, name, labels);

    // etcd counts gateway calls under the gRPC method they go through; gRPC-web calls are gRPC calls.
    expect(delta("grpc_server_started_total", putSeries)).toBe(5);
    expect(delta("grpc_server_handled_total", { ...putSeries, grpc_code: "OK" })).toBe(3);
    expect(delta("grpc_server_handled_total", { ...putSeries, grpc_code: "InvalidArgument" })).toBe(2);
    // go-grpc-prometheus: a unary call's request is received as it starts, its answer sent only when OK.
    expect(delta("grpc_server_msg_received_total", putSeries)).toBe(5);
    expect(delta("grpc_server_msg_sent_total", putSeries)).toBe(3);
    expect(after.get("grpc_server_handled_total")!.type).toBe("COUNTER");
    // Three writes went through Raft (the refused ones never reach it).
    expect(delta("etcd_server_proposals_committed_total")).toBeGreaterThanOrEqual(3);
    expect(delta("etcd_server_proposals_applied_total")).toBeGreaterThanOrEqual(3);
    expect(sampleOf(after, "etcd_server_proposals_applied_total")).toBeLessThanOrEqual(sampleOf(after, "etcd_server_proposals_committed_total"));
    expect(delta("etcd_debugging_mvcc_keys_total")).toBe(3);
    expect(delta("etcd_mvcc_put_total")).toBe(3);
    expect(sampleOf(after, "etcd_server_has_leader")).toBe(1);

    // Histograms: per series, buckets cumulative in increasing le, the last +Inf and equal to _count.
    // (This parser reads the sum and count of unlabelled histograms only; the labelled ones are
    // checked against etcd's output by our own parser above.)
    const histograms = [...after.values()].filter((f) => f.type === "HISTOGRAM" && f.metrics.every((s) => s.count !== undefined));
    expect(histograms.map((f) => f.name)).toEqual(expect.arrayContaining(["etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"]));
    for (const f of histograms) {
      for (const series of f.metrics) {
        const buckets = Object.entries(series.buckets!)
          .map(([le, v]) => [le === "+Inf" ? Infinity : Number(le), Number(v)] as const)
          .sort((a, b) => a[0] - b[0]);
        expect(buckets.length).toBeGreaterThan(1);
        expect(buckets.at(-1)![0]).toBe(Infinity);
        expect(buckets.every(([le, v], i) => Number.isFinite(v) && (i === 0 || (le > buckets[i - 1][0] && v >= buckets[i - 1][1])))).toBe(true);
        expect(buckets.at(-1)![1]).toBe(Number(series.count));
        expect(Number(series.sum)).toBeGreaterThanOrEqual(0);
      }
    }
    const fsync = after.get("etcd_disk_wal_fsync_duration_seconds")!.metrics[0];
    expect(Number(fsync.count)).toBeGreaterThan(Number(before.get("etcd_disk_wal_fsync_duration_seconds")!.metrics[0].count));
    expect(Number(fsync.sum)).toBeGreaterThan(0);
  });

  test("/health, /livez and /readyz answer as etcd 3.5's, on the client URL and on --listen-metrics-urls", async () => {
    for (const url of [m.clientUrl, metricsUrl]) {
      const health = await fetch(`${url}/health`);
      expect([health.status, health.headers.get("content-type"), await health.text()]).toEqual([200, "text/plain; charset=utf-8", '{"health":"true","reason":""}']);
      const serializable = await fetch(`${url}/health?serializable=true&exclude=NOSPACE`);
      expect(await serializable.text()).toBe('{"health":"true","reason":""}');
      const livez = await fetch(`${url}/livez?verbose`);
      expect([livez.status, await livez.text()]).toEqual([200, "[+]serializable_read ok\nok\n"]);
      const readyz = await fetch(`${url}/readyz?verbose`);
      expect([readyz.status, await readyz.text()]).toEqual([200, "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n"]);
      const one = await fetch(`${url}/readyz/linearizable_read`);
      expect([one.status, await one.text()]).toEqual([200, "ok\n"]);
    }
    const text = await scrape(metricsUrl);
    expect(value(text, 'etcd_server_healthcheck{name="linearizable_read",type="readyz"}')).toBe(1);
    expect(value(text, 'etcd_server_healthchecks_total{name="linearizable_read",status="success",type="readyz"}')).toBeGreaterThanOrEqual(4);
    expect(value(text, "etcd_server_health_success")).toBeGreaterThanOrEqual(4);
    // Monitoring only: the gateway is not reachable there (it would skip the client port's TLS checks).
    const gw = await fetch(`${metricsUrl}/v3/kv/range`, { method: "POST", body: '{"key":"Zm9v"}' });
    expect(gw.status).toBe(404);
  });

  describe.if(requireTool("etcd (the real etcd 3.4)", haveEtcdServer()) && requireTool("etcdctl", haveEtcdctl()))("against the real etcd 3.4", () => {
    let real: Member;
    let fresh: Member;
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "metrics-e2e-"));
      [real, fresh] = await Promise.all([startRealEtcd(), startMember()]);
    }, 30_000);
    afterAll(async () => {
      await Promise.all([real?.stop(), fresh?.stop()]);
      for (const x of [real, fresh]) if (x) cleanup(x);
      rmSync(dir, { recursive: true, force: true });
    });

    test("etcd counts JSON gateway calls under the gRPC method too, with their status code", async () => {
      const before = await parsed(real.clientUrl);
      expect(await gatewayPut(real, "gateway-counted")).toBe(200);
      expect(await gatewayPut(real, "")).toBe(400);
      const after = await parsed(real.clientUrl);
      const delta = (name: string, labels: Record<string, string>) => sampleOf(after, name, labels) - sampleOf(before, name, labels);
      expect(delta("grpc_server_started_total", putSeries)).toBe(2);
      expect(delta("grpc_server_handled_total", { ...putSeries, grpc_code: "OK" })).toBe(1);
      expect(delta("grpc_server_handled_total", { ...putSeries, grpc_code: "InvalidArgument" })).toBe(1);
      expect(delta("grpc_server_msg_received_total", putSeries)).toBe(2);
      expect(delta("grpc_server_msg_sent_total", putSeries)).toBe(1);
    });

    test("after the same workload, every family etcd 3.4 shows is here too, as etcd defines it (Go's runtime aside)", async () => {
      await Promise.all([workload(real, dir), workload(fresh, dir)]);
      const theirs = parseExposition(await scrape(real.clientUrl));
      const ours = parseExposition(await scrape(fresh.clientUrl));
      const problems: string[] = [];
      for (const [name, t] of theirs) {
        if (GO_RUNTIME.test(name)) continue;
        const f = ours.get(name);
        if (!f) problems.push(`${name}: missing (etcd 3.4 shows it)`);
        else problems.push(...familyProblems(name, f, { type: t.type as "gauge", help: t.help, labels: t.labels, buckets: t.buckets.length ? t.buckets : undefined }, "etcd 3.4"));
      }
      expect(problems).toEqual([]);
      // The checked-in list is etcd 3.4's: whatever the real one shows is in it, as it shows it.
      for (const [name, t] of theirs) {
        if (GO_RUNTIME.test(name)) continue;
        expect(familyProblems(name, t, ETCD34_METRICS[name] ?? { type: "gauge", help: "(not in the list)", labels: [] }, "the list")).toEqual([]);
      }
    }, 60_000);

    test("the same requests move the counters as they move etcd's: operations, txns, put bytes, keys, revisions, leases, request bytes", async () => {
      const names = [
        "etcd_mvcc_put_total",
        "etcd_mvcc_delete_total",
        "etcd_mvcc_range_total",
        "etcd_mvcc_txn_total",
        "etcd_debugging_mvcc_put_total",
        "etcd_debugging_mvcc_delete_total",
        "etcd_debugging_mvcc_range_total",
        "etcd_debugging_mvcc_txn_total",
        "etcd_debugging_mvcc_total_put_size_in_bytes",
        "etcd_debugging_mvcc_keys_total",
        "etcd_debugging_mvcc_current_revision",
        "etcd_debugging_lease_granted_total",
        "etcd_debugging_lease_revoked_total",
        "etcd_debugging_lease_ttl_total_sum",
        "etcd_network_client_grpc_received_bytes_total",
        'grpc_server_msg_received_total{grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"}',
        'grpc_server_msg_sent_total{grpc_method="DeleteRange",grpc_service="etcdserverpb.KV",grpc_type="unary"}',
        'etcd_server_client_requests_total{client_api_version="unknown",type="unary"}',
      ];
      const requests: [string, Uint8Array][] = [
        ["/etcdserverpb.KV/Put", etcdserverpb.PutRequest.encode({ key: enc("d1"), value: enc("v") }).finish()],
        ["/etcdserverpb.KV/Put", etcdserverpb.PutRequest.encode({ key: enc("d2"), value: enc("value"), prevKv: true }).finish()],
        ["/etcdserverpb.KV/Range", etcdserverpb.RangeRequest.encode({ key: enc("d1") }).finish()],
        ["/etcdserverpb.KV/Range", etcdserverpb.RangeRequest.encode({ key: enc("d"), rangeEnd: enc("e"), serializable: true }).finish()],
        [
          "/etcdserverpb.KV/Txn",
          etcdserverpb.TxnRequest.encode({
            compare: [{ key: enc("d1"), target: 3, result: 0, value: enc("v") }],
            success: [{ requestPut: { key: enc("d3"), value: enc("3") } }],
            failure: [{ requestRange: { key: enc("d1") } }],
          }).finish(),
        ],
        ["/etcdserverpb.KV/Txn", etcdserverpb.TxnRequest.encode({ success: [{ requestRange: { key: enc("d1") } }, { requestRange: { key: enc("d2") } }] }).finish()],
        ["/etcdserverpb.KV/DeleteRange", etcdserverpb.DeleteRangeRequest.encode({ key: enc("d2") }).finish()],
        ["/etcdserverpb.KV/DeleteRange", etcdserverpb.DeleteRangeRequest.encode({ key: enc("nothing-here") }).finish()],
        ["/etcdserverpb.Lease/LeaseGrant", etcdserverpb.LeaseGrantRequest.encode({ TTL: 60n, ID: 0x1234n }).finish()],
        ["/etcdserverpb.Lease/LeaseRevoke", etcdserverpb.LeaseRevokeRequest.encode({ ID: 0x1234n }).finish()],
      ];
      const deltas = async (x: Member) => {
        const before = await scrape(x.clientUrl);
        for (const [path, body] of requests) expect(`${path} ${(await grpcUnary(x, path, body)).status}`).toBe(`${path} 0`);
        const after = await scrape(x.clientUrl);
        return names.map((n) => `${n} ${(value(after, n) ?? 0) - (value(before, n) ?? 0)}`);
      };
      const [theirs, ours] = [await deltas(real), await deltas(fresh)];
      expect(ours).toEqual(theirs);
    });

    test("/health: etcd 3.5's body is 3.4's plus the reason; other methods are refused byte for byte alike", async () => {
      const [t, o] = await Promise.all([fetch(`${real.clientUrl}/health`), fetch(`${fresh.clientUrl}/health`)]);
      expect([t.status, t.headers.get("content-type")]).toEqual([o.status, o.headers.get("content-type")]);
      expect(await t.text()).toBe('{"health":"true"}');
      expect(await o.text()).toBe('{"health":"true","reason":""}');
      const refused = async (x: Member) => {
        const r = await fetch(`${x.clientUrl}/health`, { method: "POST" });
        return [r.status, r.headers.get("allow"), r.headers.get("content-type"), r.headers.get("x-content-type-options"), await r.text()];
      };
      expect(await refused(fresh)).toEqual(await refused(real));
    });
  });
});

describe("three members", () => {
  let root: string;
  let members: Member[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "metrics-cluster-"));
    const names = ["m1", "m2", "m3"];
    const clients = [await freePort(), await freePort(), await freePort()];
    const peers = [await freePort(), await freePort(), await freePort()];
    const cluster = names.map((n, j) => `${n}=http://127.0.0.1:${peers[j]}`).join(",");
    members = await Promise.all(
      names.map((n, i) =>
        startMember({
          dataDir: join(root, n),
          port: clients[i],
          peerPort: peers[i],
          args: ["--name", n, "--initial-advertise-peer-urls", `http://127.0.0.1:${peers[i]}`, "--initial-cluster", cluster],
        }),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
    rmSync(root, { recursive: true, force: true });
  });

  test("peer bytes, round trips and connections, labelled with the members' ids, and one leader", async () => {
    expect((await put(members[0], "k")).status).toBe(0);
    // Every pair's round trip is measured a second after start, whether or not they exchange messages.
    const deadline = Date.now() + 10_000;
    let texts: string[] = [];
    for (;;) {
      texts = await Promise.all(members.map((m) => scrape(m.clientUrl)));
      const counts = texts.flatMap((t) => [...t.matchAll(/^etcd_network_peer_round_trip_time_seconds_count\{To="[0-9a-f]+"\} (\d+)$/gm)].map((x) => Number(x[1])));
      if ((counts.length === 6 && counts.every((c) => c >= 1)) || Date.now() > deadline) break;
      await Bun.sleep(100);
    }
    const ids = texts.map((t) => /^etcd_server_id\{server_id="([0-9a-f]+)"\} 1$/m.exec(t)![1]);
    expect(new Set(ids).size).toBe(3);
    const leaders = texts.map((t) => value(t, "etcd_server_is_leader"));
    expect(leaders.filter((x) => x === 1).length).toBe(1);
    const leader = leaders.indexOf(1);
    for (const [i, text] of texts.entries()) {
      const happened = (event: string) => event === "a peer" || (i === 0 && event === "a client request");
      expect(diffWithList(text, ETCD34_METRICS, "etcd 3.4", happened).filter((p) => !GO_RUNTIME.test(p))).toEqual([]);
      expect(value(text, `etcd_network_peer_sent_bytes_total{To="${ids[i]}"}`)).toBeUndefined();
      for (const [j, peer] of ids.entries()) {
        expect(value(text, `etcd_network_known_peers{Local="${ids[i]}",Remote="${peer}"}`)).toBe(1);
        if (i === j) continue;
        expect(value(text, `etcd_network_peer_round_trip_time_seconds_count{To="${peer}"}`)).toBeGreaterThanOrEqual(1);
        // Raft traffic flows between the leader and each follower (followers do not talk to each other).
        if (i !== leader && j !== leader) continue;
        expect(value(text, `etcd_network_active_peers{Local="${ids[i]}",Remote="${peer}"}`)).toBe(1);
        expect(value(text, `etcd_network_peer_sent_bytes_total{To="${peer}"}`)).toBeGreaterThan(0);
        expect(value(text, `etcd_network_peer_received_bytes_total{From="${peer}"}`)).toBeGreaterThan(0);
      }
    }
  });
});
