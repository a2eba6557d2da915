// /metrics of the compiled binary, on the client URL and on --listen-metrics-urls: etcd 3.4's names,
// types, help texts, labels and buckets (the list in tests/support/etcd34-metrics.ts, and the real
// etcd 3.4's own /metrics when it is installed), values that follow what the member does, and the
// peer metrics of a three-member cluster. The exposition is also read by a Prometheus text-format
// parser from npm (parse-prometheus-text-format, prom2json's output shape), as a scraper would.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import parsePrometheusTextFormat, { type PromFamily } from "parse-prometheus-text-format";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { frame } from "../../src/server/grpc/framing.ts";
import { diffWithEtcd34, ETCD34_METRICS, parseExposition } from "../support/etcd34-metrics.ts";
import { cleanup, freePort, grpcUnary, haveEtcdServer, requireTool, startMember, startRealEtcd, type Member } from "./harness.ts";

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

const put = (m: Member, key: string) =>
  grpcUnary(m, "/etcdserverpb.KV/Put", etcdserverpb.PutRequest.encode({ key: Buffer.from(key), value: Buffer.from("v") }).finish());

/** A put through the JSON gateway; the HTTP status. */
async function gatewayPut(m: Member, key: string): Promise<number> {
  const body = JSON.stringify({ key: Buffer.from(key).toString("base64"), value: Buffer.from("v").toString("base64") });
  const res = await fetch(`${m.clientUrl}/v3/kv/put`, { method: "POST", body, headers: { "content-type": "application/json" } });
  await res.arrayBuffer();
  return res.status;
}

/** A put over gRPC-web (+proto); the grpc-status of its trailer frame. */
async function grpcWebPut(m: Member, key: string): Promise<number> {
  const body = frame(etcdserverpb.PutRequest.encode({ key: Buffer.from(key), value: Buffer.from("v") }).finish());
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

  test("every family has etcd 3.4's type, help, labels and buckets", async () => {
    expect((await put(m, "k")).status).toBe(0);
    expect(diffWithEtcd34(await scrape(m.clientUrl), { withPeers: false })).toEqual([]);
  });

  test("the values follow the member: leader, id, keys, gRPC calls by method and code", async () => {
    const before = await scrape(m.clientUrl);
    const ok = 'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}';
    expect((await put(m, "new-key")).status).toBe(0);
    const after = await scrape(m.clientUrl);
    expect(value(after, ok)).toBe(value(before, ok)! + 1);
    expect(value(after, 'grpc_server_started_total{grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}')).toBeGreaterThanOrEqual(2);
    expect(value(after, "etcd_debugging_mvcc_keys_total")).toBe(value(before, "etcd_debugging_mvcc_keys_total")! + 1);
    expect(value(after, "etcd_server_has_leader")).toBe(1);
    expect(value(after, "etcd_server_is_leader")).toBe(1);
    expect(value(after, "etcd_server_leader_changes_seen_total")).toBe(1);
    expect(after).toMatch(/^etcd_server_id\{server_id="[0-9a-f]+"\} 1$/m);
    expect(value(after, "etcd_disk_wal_fsync_duration_seconds_count")).toBeGreaterThan(0);
    expect(value(after, "process_resident_memory_bytes")).toBeGreaterThan(1e6);
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
    expect(after.get("grpc_server_handled_total")!.type).toBe("COUNTER");
    // Three writes went through Raft (the refused ones never reach it).
    expect(delta("etcd_server_proposals_committed_total")).toBeGreaterThanOrEqual(3);
    expect(delta("etcd_server_proposals_applied_total")).toBeGreaterThanOrEqual(3);
    expect(sampleOf(after, "etcd_server_proposals_applied_total")).toBeLessThanOrEqual(sampleOf(after, "etcd_server_proposals_committed_total"));
    expect(delta("etcd_debugging_mvcc_keys_total")).toBe(3);
    expect(sampleOf(after, "etcd_server_has_leader")).toBe(1);

    // Histograms: per series, buckets cumulative in increasing le, the last +Inf and equal to _count.
    const histograms = [...after.values()].filter((f) => f.type === "HISTOGRAM");
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

  test("--listen-metrics-urls serves /metrics and /health", async () => {
    expect(diffWithEtcd34(await scrape(metricsUrl), { withPeers: false })).toEqual([]);
    expect(await (await fetch(`${metricsUrl}/health`)).json()).toEqual({ health: "true", reason: "" });
    // Monitoring only: the gateway is not reachable there (it would skip the client port's TLS checks).
    const gw = await fetch(`${metricsUrl}/v3/kv/range`, { method: "POST", body: '{"key":"Zm9v"}' });
    expect(gw.status).toBe(404);
  });

  describe.if(requireTool("etcd (the real etcd 3.4)", haveEtcdServer()))("against the real etcd 3.4", () => {
    let real: Member;
    beforeAll(async () => {
      real = await startRealEtcd();
    });
    afterAll(async () => {
      await real?.stop();
      if (real) cleanup(real);
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
    });

    test("every family we export that etcd shows has etcd's type, help and label names", async () => {
      const theirs = parseExposition(await scrape(real.clientUrl));
      const ours = parseExposition(await scrape(m.clientUrl));
      const problems: string[] = [];
      for (const [name, f] of ours) {
        const t = theirs.get(name);
        if (!t) continue; // the peer metrics: a lone etcd has none (checked in the list, from a cluster's output)
        if (t.type !== f.type || t.help !== f.help || t.labels.join() !== f.labels.join() || (f.type === "histogram" && t.buckets.join() !== f.buckets.join())) {
          problems.push(`${name}: ours ${f.type} [${f.labels}] '${f.help}', etcd's ${t.type} [${t.labels}] '${t.help}'`);
        }
      }
      expect(problems).toEqual([]);
      // The list the other tests use is etcd 3.4's (for the families a lone etcd shows).
      for (const [name, spec] of Object.entries(ETCD34_METRICS)) {
        const t = theirs.get(name);
        if (t) expect(`${name} ${t.type} [${t.labels}] ${t.help}`).toBe(`${name} ${spec.type} [${spec.labels}] ${spec.help}`);
      }
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

  test("peer bytes and round trips, labelled with the peers' ids, and one leader", async () => {
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
      expect(diffWithEtcd34(text, { withPeers: true })).toEqual([]);
      expect(value(text, `etcd_network_peer_sent_bytes_total{To="${ids[i]}"}`)).toBeUndefined();
      for (const [j, peer] of ids.entries()) {
        if (i === j) continue;
        expect(value(text, `etcd_network_peer_round_trip_time_seconds_count{To="${peer}"}`)).toBeGreaterThanOrEqual(1);
        // Raft traffic flows between the leader and each follower (followers do not talk to each other).
        if (i !== leader && j !== leader) continue;
        expect(value(text, `etcd_network_peer_sent_bytes_total{To="${peer}"}`)).toBeGreaterThan(0);
        expect(value(text, `etcd_network_peer_received_bytes_total{From="${peer}"}`)).toBeGreaterThan(0);
      }
    }
  });
});
