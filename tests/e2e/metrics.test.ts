// /metrics of the compiled binary, on the client URL and on --listen-metrics-urls: etcd 3.4's names,
// types, help texts, labels and buckets (the list in tests/support/etcd34-metrics.ts, and the real
// etcd 3.4's own /metrics when it is installed), values that follow what the member does, and the
// peer metrics of a three-member cluster.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdserverpb } from "../../src/proto/etcd.js";
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

  test("--listen-metrics-urls serves /metrics and /health", async () => {
    expect(diffWithEtcd34(await scrape(metricsUrl), { withPeers: false })).toEqual([]);
    expect(await (await fetch(`${metricsUrl}/health`)).json()).toEqual({ health: "true", reason: "" });
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
