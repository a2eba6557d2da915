// `etcd grpc-proxy start` black-box: the compiled binary in front of dist/etcd members (and of the
// real etcd 3.4 where that is cheap), driven by the real etcdctl 3.4 and our client library. Between
// the proxy and the member sits a tap, a byte-for-byte HTTP/2 relay that counts the Watch create and
// cancel requests the proxy sends, so "one upstream watch for 1,000 watchers" is seen from outside.
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Client, EtcdError, GrpcCode, rpc } from "../../src/client/index.ts";
import { createCertificate } from "../../src/pkg/tls-cert.ts";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { BINARY, cleanup, ctl, etcdctl, freePort, haveEtcdctl, haveEtcdServer, type Member, parseJsonExact, requireTool, serverEnv, startMember, startRealEtcd, startTrio } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());

interface Proxy {
  proc: ChildProcess;
  endpoint: string;
  logs: () => string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Starts `etcd grpc-proxy start` and waits for etcd's readiness line (or its exit). */
async function startProxy(args: string[], opts: { listenPort?: number } = {}): Promise<Proxy> {
  const port = opts.listenPort ?? (await freePort());
  const proc = spawn(BINARY, ["grpc-proxy", "start", "--listen-addr", `127.0.0.1:${port}`, ...args], { env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const p: Proxy = {
    proc,
    endpoint: `127.0.0.1:${port}`,
    logs: () => out,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
  const deadline = Date.now() + 20_000;
  while (!out.includes("started gRPC proxy")) {
    if (proc.exitCode !== null) throw new Error(`grpc-proxy exited with ${proc.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`grpc-proxy did not start within 20 s:\n${out}`);
    }
    await Bun.sleep(20);
  }
  return p;
}

/** Runs the binary to completion (flag errors); bounded. */
function runBinary(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(BINARY, args, { encoding: "utf8", env: serverEnv(), timeout: 20_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/**
 * The tap (grpc-tap.ts) runs in its own process: the tests call etcdctl synchronously, which would
 * stop a relay running in this one.
 */
class TapProcess {
  endpoint = "";
  readonly #proc: ChildProcess;
  readonly #ready: Promise<void>;

  constructor(target: string) {
    this.#proc = spawn(process.execPath, [join(import.meta.dir, "grpc-tap.ts"), target], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    this.#ready = new Promise((resolve) => {
      this.#proc.stdout!.on("data", (d) => {
        out += d;
        const m = /listening (\S+)\n/.exec(out);
        if (m && !this.endpoint) {
          this.endpoint = m[1];
          resolve();
        }
      });
    });
  }

  async listen(): Promise<void> {
    await Promise.race([this.#ready, Bun.sleep(10_000).then(() => Promise.reject(new Error("the tap did not start")))]);
  }

  /** The Watch requests it has relayed so far (asked over HTTP/2, so everything before is counted). */
  async counts(): Promise<{ creates: number; cancels: number; streams: number }> {
    const session = http2.connect(`http://${this.endpoint}`);
    try {
      return await new Promise((resolve, reject) => {
        const req = session.request({ ":method": "GET", ":path": "/tap/counts" });
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => resolve(JSON.parse(body)));
        req.on("error", reject);
        req.end();
      });
    } finally {
      session.close();
    }
  }

  close(): void {
    this.#proc.kill("SIGKILL");
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** A metric's value in a Prometheus text exposition (the series whose line starts with `series`). */
function metric(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A background etcdctl (watch, keep-alive) whose output is read as it comes. */
class Background {
  readonly proc: ChildProcess;
  out = "";
  err = "";
  readonly exited: Promise<number | null>;
  constructor(endpoint: string, args: string[]) {
    this.proc = spawn("etcdctl", ["--endpoints", endpoint, ...args], { env: { ...process.env, ETCDCTL_API: "3" }, stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.on("data", (d) => (this.out += d));
    this.proc.stderr!.on("data", (d) => (this.err += d));
    this.exited = new Promise((r) => this.proc.once("exit", (code) => r(code)));
  }
  until(what: string, cond: (out: string) => boolean): Promise<void> {
    return until(`${what}; output so far:\n${this.out}\nstderr:\n${this.err}`, () => cond(this.out));
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
    await this.exited;
  }
}

/** 1,000 watchers of one key through the proxy (10 clients, 100 each); resolves once all are created. */
async function thousandWatchers(proxyEndpoint: string, key: string) {
  const clients = Array.from({ length: 10 }, () => new Client({ endpoints: [proxyEndpoint] }));
  const watchers = clients.flatMap((c) => Array.from({ length: 100 }, () => c.watch(key)));
  await Promise.all(watchers.map((w) => w.ready));
  return { clients, watchers };
}

describe.if(run)("grpc-proxy in front of an etcd-ts member", () => {
  let m: Member;
  let tap: TapProcess;
  let proxy: Proxy;
  let metricsUrl: string;
  beforeAll(async () => {
    m = await startMember();
    tap = new TapProcess(m.endpoint);
    await tap.listen();
    metricsUrl = `http://127.0.0.1:${await freePort()}`;
    proxy = await startProxy(["--endpoints", tap.endpoint, "--metrics-addr", metricsUrl]);
  }, 30_000);
  afterAll(async () => {
    await proxy?.stop();
    tap?.close();
    await m?.stop();
    if (m) cleanup(m);
  }, 20_000);

  test("etcd's readiness lines, in etcd's zap JSON", () => {
    const lines = proxy.logs().trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.find((l) => l.msg === "listening for gRPC proxy client requests")).toMatchObject({ level: "info", address: proxy.endpoint });
    expect(lines.find((l) => l.msg === "started gRPC proxy")).toMatchObject({ level: "info", address: proxy.endpoint });
  });

  test("etcdctl put, get, del and txn through the proxy answer as the member does", () => {
    expect(ctl(proxy.endpoint, ["put", "p/a", "1"])).toBe("OK\n");
    expect(ctl(proxy.endpoint, ["put", "p/b", "2"])).toBe("OK\n");
    expect(ctl(proxy.endpoint, ["get", "p/", "--prefix"])).toBe("p/a\n1\np/b\n2\n");
    const viaProxy = parseJsonExact(ctl(proxy.endpoint, ["get", "p/a", "-w", "json"]));
    const direct = parseJsonExact(ctl(m, ["get", "p/a", "-w", "json"]));
    expect(viaProxy).toEqual(direct);
    expect(ctl(proxy.endpoint, ["txn"], 'value("p/a") = "1"\n\nput p/a 10\n\nput p/a 20\n\n')).toBe("SUCCESS\n\nOK\n");
    expect(ctl(m, ["get", "p/a", "--print-value-only"])).toBe("10\n");
    expect(ctl(proxy.endpoint, ["del", "p/", "--prefix", "--prev-kv"])).toBe("2\np/a\n10\np/b\n2\n");
    expect(ctl(m, ["get", "p/", "--prefix"])).toBe("");
  });

  test("a write through the proxy is seen by its next serializable read (the range cache is invalidated)", () => {
    ctl(proxy.endpoint, ["put", "cached", "v1"]);
    expect(ctl(proxy.endpoint, ["get", "cached", "--consistency=s", "--print-value-only"])).toBe("v1\n");
    ctl(proxy.endpoint, ["put", "cached", "v2"]);
    expect(ctl(proxy.endpoint, ["get", "cached", "--consistency=s", "--print-value-only"])).toBe("v2\n");
  });

  test("the member's errors come back with their code and text", async () => {
    const future = etcdctl(proxy.endpoint, ["get", "x", "--rev", "99999999"]);
    expect(future.status).not.toBe(0);
    expect(future.stderr).toContain("etcdserver: mvcc: required revision is a future revision");
    const lease = etcdctl(proxy.endpoint, ["lease", "revoke", "1234abcd"]);
    expect(lease.stderr).toContain("etcdserver: requested lease not found");
    const c = new Client({ endpoints: [proxy.endpoint] });
    try {
      const err = await c.lease.revoke(0x1234abcdn).catch((e) => e);
      expect(err).toBeInstanceOf(EtcdError);
      expect(err.code).toBe(GrpcCode.NotFound);
      const empty = await c.put("", "v").catch((e) => e);
      expect(empty.message).toBe("etcdserver: key is not provided");
      expect(empty.code).toBe(GrpcCode.InvalidArgument);
    } finally {
      c.close();
    }
  });

  test("etcdctl watch through the proxy: live events with --prev-kv, and history from --rev", async () => {
    ctl(proxy.endpoint, ["put", "w/k", "old"]);
    const rev = parseJsonExact(ctl(proxy.endpoint, ["get", "w/k", "-w", "json"])).header.revision;
    const live = new Background(proxy.endpoint, ["watch", "w/k", "--prev-kv"]);
    const hist = new Background(proxy.endpoint, ["watch", "w/", "--prefix", "--rev", String(rev)]);
    try {
      await hist.until("the history event", (o) => o.includes("old"));
      // etcdctl's watch is registered once a write shows up in it.
      for (let i = 0; i < 100 && !live.out.includes("marker"); i++) {
        ctl(proxy.endpoint, ["put", "w/k", `marker${i}`]);
        await Bun.sleep(50);
      }
      live.out = "";
      ctl(proxy.endpoint, ["put", "w/k", "new"]);
      ctl(proxy.endpoint, ["del", "w/k"]);
      await live.until("put and delete", (o) => o.includes("DELETE"));
      expect(live.out).toMatch(/^PUT\nw\/k\nmarker\d+\nw\/k\nnew\nDELETE\nw\/k\nnew\n/);
      await hist.until("the delete", (o) => o.includes("DELETE"));
      expect(hist.out.startsWith("PUT\nw/k\nold\n")).toBe(true);
    } finally {
      await live.stop();
      await hist.stop();
    }
  });

  test("leases: grant, keep-alive, time-to-live with keys, revoke", async () => {
    const granted = ctl(proxy.endpoint, ["lease", "grant", "30"]);
    const id = /lease ([0-9a-f]+) granted with TTL\(30s\)/.exec(granted)![1];
    ctl(proxy.endpoint, ["put", "leased", "v", "--lease", id]);
    const ka = new Background(proxy.endpoint, ["lease", "keep-alive", id]);
    try {
      await ka.until("a keep-alive answer", (o) => o.includes(`lease ${id} keepalived with TTL(30)`));
    } finally {
      await ka.stop();
    }
    expect(ctl(proxy.endpoint, ["lease", "keep-alive", "--once", id])).toBe(`lease ${id} keepalived with TTL(30)\n`);
    expect(ctl(proxy.endpoint, ["lease", "timetolive", id, "--keys"])).toMatch(new RegExp(`^lease ${id} granted with TTL\\(30s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased\\]\\)\n$`));
    expect(ctl(proxy.endpoint, ["lease", "list"])).toContain(id);
    expect(ctl(proxy.endpoint, ["lease", "revoke", id])).toBe(`lease ${id} revoked\n`);
    expect(ctl(m, ["get", "leased"])).toBe("");
  });

  test("member list names the proxy itself (its --advertise-client-url, etcd's default 127.0.0.1:23790)", () => {
    expect(ctl(proxy.endpoint, ["member", "list"])).toBe(`0, started, ${hostname()}, , 127.0.0.1:23790, false\n`);
  });

  test("etcdctl lock, and the Election service, through the proxy", async () => {
    expect(ctl(proxy.endpoint, ["lock", "proxy-lock", "--", "echo", "held"])).toBe("held\n");
    const c = new Client({ endpoints: [proxy.endpoint] });
    try {
      const lease = await c.lease.grant(30);
      const won = await c.call(rpc.electionCampaign, { name: Buffer.from("e1"), lease: lease.id, value: Buffer.from("me") });
      expect(Buffer.from(won.leader!.name!).toString()).toBe("e1");
      const leader = await c.call(rpc.electionLeader, { name: Buffer.from("e1") });
      expect(Buffer.from(leader.kv!.value!).toString()).toBe("me");
      await c.call(rpc.electionResign, { leader: won.leader });
      const none = await c.call(rpc.electionLeader, { name: Buffer.from("e1") }).catch((e) => e);
      expect(none.message).toBe("election: no leader");
    } finally {
      c.close();
    }
  });

  test("1,000 identical watchers through the proxy make ONE upstream watch, and every one gets the event", async () => {
    const before = await tap.counts();
    const { clients, watchers } = await thousandWatchers(proxy.endpoint, "hot");
    try {
      expect((await tap.counts()).creates - before.creates).toBe(1);
      ctl(m, ["put", "hot", "news"]);
      const got = await Promise.all(watchers.map(async (w) => (await w[Symbol.asyncIterator]().next()).value));
      expect(got.every((e) => e.type === "put" && Buffer.from(e.kv.value).toString() === "news")).toBe(true);
      expect(new Set(got.map((e) => e.revision)).size).toBe(1);
      const text = await (await fetch(`${metricsUrl}/metrics`)).text();
      expect(metric(text, "etcd_ts_grpc_proxy_upstream_watches")).toBe(1);
      expect(metric(text, "etcd_ts_grpc_proxy_client_watchers")).toBe(1000);
      expect(metric(text, "etcd_grpc_proxy_watchers_coalescing_total")).toBe(999);
      expect(metric(text, "etcd_grpc_proxy_events_coalescing_total")).toBeGreaterThanOrEqual(999);
    } finally {
      for (const c of clients) c.close();
    }
    // The upstream watch ends with the last of its watchers.
    await until("the upstream cancel", async () => {
      const c = await tap.counts();
      return c.creates - c.cancels === 0;
    });
  }, 60_000);

  test("etcd's Watch stream protocol through the proxy answers as the member does (ids, refusals, cancel, progress)", async () => {
    const script: etcdserverpb.IWatchRequest[] = [
      { createRequest: { key: Buffer.from("proto/a"), watchId: 5n } },
      { createRequest: { key: Buffer.from("proto/b"), watchId: 5n } },
      { createRequest: { key: Buffer.from("proto/c") } },
      { createRequest: { key: Buffer.from("proto/z"), rangeEnd: Buffer.from("proto/a") } },
      { progressRequest: {} },
      { cancelRequest: { watchId: 5n } },
      { cancelRequest: { watchId: 42n } },
      { createRequest: { key: Buffer.from("proto/d") } },
    ];
    const shape = (r: etcdserverpb.WatchResponse) => ({ watchId: String(r.watchId), created: r.created, canceled: r.canceled, cancelReason: r.cancelReason, events: r.events.length });
    const run = async (endpoint: string) => {
      const client = new grpc.Client(endpoint, grpc.credentials.createInsecure());
      const call = client.makeBidiStreamRequest<etcdserverpb.IWatchRequest, etcdserverpb.WatchResponse>(
        "/etcdserverpb.Watch/Watch",
        (m) => Buffer.from(etcdserverpb.WatchRequest.encode(m).finish()),
        (b) => etcdserverpb.WatchResponse.decode(b),
      );
      const got: etcdserverpb.WatchResponse[] = [];
      call.on("data", (r: etcdserverpb.WatchResponse) => got.push(r));
      call.on("error", () => {});
      try {
        // One request at a time; the cancel of an unknown id gets no answer (as etcd), so it is not waited for.
        for (const req of script) {
          const want = got.length + (req.cancelRequest?.watchId === 42n ? 0 : 1);
          call.write(req);
          await until(`an answer to ${JSON.stringify(Object.keys(req))}`, () => got.length >= want);
        }
        return got.map(shape);
      } finally {
        call.cancel();
        client.close();
      }
    };
    const direct = await run(m.endpoint);
    const proxied = await run(proxy.endpoint);
    expect(proxied).toEqual(direct);
    expect(direct.map((r) => r.cancelReason).filter(Boolean)).toEqual(["mvcc: duplicate watch ID provided on the WatchStream", "mvcc: watcher range is empty"]);
  });

  test("/metrics and /health on --metrics-addr and on the proxy's own port", async () => {
    for (const base of [metricsUrl, `http://${proxy.endpoint}`]) {
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(metric(text, 'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}')).toBeGreaterThan(0);
      expect(text).toContain("# TYPE grpc_server_started_total counter");
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ health: "true", reason: "" });
      expect((await fetch(`${base}/nothing`)).status).toBe(404);
    }
  });
});

describe.if(run)("grpc-proxy options", () => {
  let m: Member;
  const proxies: Proxy[] = [];
  beforeAll(async () => {
    m = await startMember();
  }, 20_000);
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await m?.stop();
    if (m) cleanup(m);
  }, 20_000);

  test("--advertise-client-url '' forwards MemberList to the cluster", async () => {
    const p = await startProxy(["--endpoints", m.endpoint, "--advertise-client-url", ""]);
    proxies.push(p);
    expect(ctl(p.endpoint, ["member", "list"])).toBe(ctl(m, ["member", "list"]));
  });

  test("--namespace keeps every key under the prefix, and hands them back without it", async () => {
    const p = await startProxy(["--endpoints", m.endpoint, "--namespace", "/tenant1/"]);
    proxies.push(p);
    const watch = new Background(p.endpoint, ["watch", "", "--prefix"]);
    try {
      ctl(p.endpoint, ["put", "a", "1"]);
      ctl(p.endpoint, ["put", "b", "2"]);
      expect(ctl(m, ["get", "/tenant1/", "--prefix"])).toBe("/tenant1/a\n1\n/tenant1/b\n2\n");
      ctl(m, ["put", "/outside", "x"]);
      expect(ctl(p.endpoint, ["get", "", "--prefix"])).toBe("a\n1\nb\n2\n");
      expect(ctl(p.endpoint, ["del", "a", "--prev-kv"])).toBe("1\na\n1\n");
      await watch.until("the namespaced events", (o) => o.includes("DELETE"));
      expect(watch.out).toContain("PUT\nb\n2\n");
      expect(watch.out).not.toContain("tenant1");
      expect(watch.out).not.toContain("outside");
      expect(ctl(p.endpoint, ["lock", "nslock", "--", "echo", "ok"])).toBe("ok\n");
    } finally {
      await watch.stop();
    }
  });

  test("--max-send-bytes: a larger request is refused with grpc-go's text", async () => {
    const p = await startProxy(["--endpoints", m.endpoint, "--max-send-bytes", "1024"]);
    proxies.push(p);
    const r = etcdctl(p.endpoint, ["put", "big", "x".repeat(2048)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("grpc: trying to send message larger than max (");
    expect(ctl(p.endpoint, ["put", "small", "x"])).toBe("OK\n");
  });

  test("--max-recv-bytes: a larger answer from the cluster is refused with grpc-go's text", async () => {
    const p = await startProxy(["--endpoints", m.endpoint, "--max-recv-bytes", "512"]);
    proxies.push(p);
    ctl(m, ["put", "bigvalue", "y".repeat(4096)]);
    const r = etcdctl(p.endpoint, ["get", "bigvalue"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("grpc: received message larger than max (");
    expect(ctl(p.endpoint, ["get", "small", "--print-value-only"])).toBe("x\n");
  });

  test("--auto-tls: a self-signed certificate under --data-dir, served over TLS", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "proxy-autotls-"));
    try {
      const p = await startProxy(["--endpoints", m.endpoint, "--auto-tls", "--data-dir", dataDir]);
      proxies.push(p);
      expect(p.logs()).toContain("generated a self-signed certificate for the proxy (auto TLS)");
      const c = new Client({ endpoints: [`https://${p.endpoint}`], tls: { insecureSkipVerify: true } });
      try {
        await c.put("autotls", "ok");
        expect((await c.get("autotls")).kvs.map((kv) => Buffer.from(kv.value).toString())).toEqual(["ok"]);
      } finally {
        c.close();
      }
      // Plaintext gRPC to the TLS port is refused.
      expect(etcdctl(p.endpoint, ["--command-timeout=2s", "get", "autotls"]).status).not.toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe.if(run)("grpc-proxy with auth enabled on the cluster: each caller's token goes with its calls", () => {
  let m: Member;
  let proxy: Proxy;
  beforeAll(async () => {
    m = await startMember();
    ctl(m, ["user", "add", "root", "--new-user-password=rootpw"]);
    ctl(m, ["user", "add", "bob", "--new-user-password=bobpw"]);
    ctl(m, ["auth", "enable"]);
    proxy = await startProxy(["--endpoints", m.endpoint]);
  }, 30_000);
  afterAll(async () => {
    await proxy?.stop();
    await m?.stop();
    if (m) cleanup(m);
  }, 20_000);

  test("etcdctl --user through the proxy; without a user the member's error comes back", () => {
    expect(ctl(proxy.endpoint, ["--user", "root:rootpw", "put", "secret", "s1"])).toBe("OK\n");
    expect(ctl(proxy.endpoint, ["--user", "root:rootpw", "get", "secret", "--print-value-only"])).toBe("s1\n");
    const anon = etcdctl(proxy.endpoint, ["put", "secret", "s2"]);
    expect(anon.status).not.toBe(0);
    expect(anon.stderr).toContain("etcdserver: user name is empty");
    const bob = etcdctl(proxy.endpoint, ["--user", "bob:bobpw", "get", "secret"]);
    expect(bob.stderr).toContain("etcdserver: permission denied");
  });

  test("a user who may not read a key cannot join another user's watch of it", async () => {
    const root = new Client({ endpoints: [proxy.endpoint], username: "root", password: "rootpw" });
    const bob = new Client({ endpoints: [proxy.endpoint], username: "bob", password: "bobpw" });
    try {
      const rootWatch = root.watch("secret");
      await rootWatch.ready;
      const bobWatch = bob.watch("secret");
      const err = await bobWatch.ready.catch((e) => e);
      expect(err.message).toBe("rpc error: code = PermissionDenied desc = etcdserver: permission denied");
      await root.put("secret", "s3");
      const ev = (await rootWatch[Symbol.asyncIterator]().next()).value;
      expect(Buffer.from(ev.kv.value).toString()).toBe("s3");
    } finally {
      root.close();
      bob.close();
    }
  });
});

describe.if(run)("grpc-proxy failover across a 3-member cluster", () => {
  let members: Member[] = [];
  let root = "";
  let proxy: Proxy;
  beforeAll(async () => {
    ({ members, root } = await startTrio("pxf"));
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    for (const m of members) await m.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 30_000);

  test("when the member the proxy uses dies, requests and watches go on through the next one", async () => {
    // The proxy talks to its first endpoint: make it a follower, so no election is involved.
    const status = members.map((m) => parseJsonExact(ctl(m, ["endpoint", "status", "-w", "json"]))[0].Status);
    const followers = members.filter((_, i) => status[i].leader !== status[i].header.member_id);
    const leader = members.find((_, i) => status[i].leader === status[i].header.member_id)!;
    const [first, second] = [followers[0], followers[1] ?? leader];
    proxy = await startProxy(["--endpoints", [first, second, leader].filter((x, i, a) => a.indexOf(x) === i).map((m) => m.endpoint).join(",")]);
    const c = new Client({ endpoints: [proxy.endpoint] });
    try {
      const w = c.watch("fo/", { prefix: true });
      await w.ready;
      await c.put("fo/1", "before");
      await first.stop("SIGKILL");
      // The proxy notices on its next call and fails over; the write must not fail.
      expect(ctl(proxy.endpoint, ["put", "fo/2", "after"])).toBe("OK\n");
      await c.put("fo/3", "again");
      const seen: string[] = [];
      for await (const e of w) {
        seen.push(`${Buffer.from(e.kv.key).toString()}=${Buffer.from(e.kv.value).toString()}`);
        if (seen.length === 3) break;
      }
      expect(seen).toEqual(["fo/1=before", "fo/2=after", "fo/3=again"]);
      expect(ctl(proxy.endpoint, ["get", "fo/", "--prefix", "--keys-only"])).toBe("fo/1\n\nfo/2\n\nfo/3\n\n");
      expect(proxy.logs()).toContain("resuming the watches on the next endpoint");
    } finally {
      c.close();
    }
  }, 60_000);
});

describe.if(run && haveEtcdServer())("grpc-proxy in front of etcd 3.4", () => {
  let m: Member;
  let proxy: Proxy;
  beforeAll(async () => {
    m = await startRealEtcd();
    proxy = await startProxy(["--endpoints", m.endpoint]);
  }, 30_000);
  afterAll(async () => {
    await proxy?.stop();
    await m?.stop();
    if (m) cleanup(m);
  }, 20_000);

  test("etcdctl through the proxy to etcd 3.4", () => {
    expect(ctl(proxy.endpoint, ["put", "k", "v"])).toBe("OK\n");
    expect(ctl(proxy.endpoint, ["get", "k"])).toBe("k\nv\n");
  });

  test("1,000 identical watchers: etcd 3.4 counts one watcher (etcd_debugging_mvcc_watcher_total)", async () => {
    const { clients, watchers } = await thousandWatchers(proxy.endpoint, "hot34");
    try {
      const text = await (await fetch(`${m.clientUrl}/metrics`)).text();
      expect(metric(text, "etcd_debugging_mvcc_watcher_total")).toBe(1);
      ctl(m, ["put", "hot34", "v"]);
      const got = await Promise.all(watchers.map(async (w) => (await w[Symbol.asyncIterator]().next()).value));
      expect(got.every((e) => Buffer.from(e.kv.value).toString() === "v")).toBe(true);
    } finally {
      for (const c of clients) c.close();
    }
    await until("etcd to drop the watcher", async () => metric(await (await fetch(`${m.clientUrl}/metrics`)).text(), "etcd_debugging_mvcc_watcher_total") === 0);
  }, 60_000);
});

describe.if(run)("grpc-proxy TLS towards clients and towards the cluster", () => {
  const dir = mkdtempSync(join(tmpdir(), "proxy-tls-"));
  const files: Record<string, string> = {};
  let member: { proc: ChildProcess; endpoint: string; out: () => string } | null = null;
  let proxy: Proxy;
  beforeAll(async () => {
    const hosts = ["127.0.0.1", "localhost"];
    const ca = await createCertificate({ commonName: "proxy test CA", isCa: true });
    const made = {
      server: await createCertificate({ commonName: "member", hosts, issuer: ca }),
      proxyServer: await createCertificate({ commonName: "proxy", hosts, issuer: ca }),
      // Towards the cluster the proxy's certificate must have no CN (members would take it as the user).
      nocn: await createCertificate({ commonName: "", hosts, issuer: ca }),
      user: await createCertificate({ commonName: "alice", hosts, issuer: ca }),
    };
    writeFileSync((files.ca = join(dir, "ca.pem")), ca.certPem);
    for (const [name, c] of Object.entries(made)) {
      writeFileSync((files[`${name}.crt`] = join(dir, `${name}.pem`)), c.certPem);
      writeFileSync((files[`${name}.key`] = join(dir, `${name}-key.pem`)), c.keyPem);
    }
    const port = await freePort();
    const peer = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const proc = spawn(
      BINARY,
      ["--data-dir", join(dir, "data"), "--listen-client-urls", url, "--advertise-client-urls", url, "--listen-peer-urls", `http://127.0.0.1:${peer}`,
        "--cert-file", files["server.crt"], "--key-file", files["server.key"], "--trusted-ca-file", files.ca, "--client-cert-auth"],
      { env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    proc.stdout!.on("data", (d) => (out += d));
    proc.stderr!.on("data", (d) => (out += d));
    member = { proc, endpoint: `127.0.0.1:${port}`, out: () => out };
    await until(`the TLS member; output:\n${out}`, () => out.includes("ready to serve client requests") || proc.exitCode !== null, 20_000);
    if (proc.exitCode !== null) throw new Error(`member exited:\n${out}`);
    proxy = await startProxy([
      "--endpoints", `https://${member.endpoint}`, "--cert", files["nocn.crt"], "--key", files["nocn.key"], "--cacert", files.ca,
      "--cert-file", files["proxyServer.crt"], "--key-file", files["proxyServer.key"], "--trusted-ca-file", files.ca,
      "--listen-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ]);
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    if (member && member.proc.exitCode === null) {
      member.proc.kill("SIGTERM");
      await new Promise((r) => member!.proc.once("exit", r));
    }
    rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  const tlsArgs = () => ["--cacert", files.ca, "--cert", files["user.crt"], "--key", files["user.key"]];

  test("a client with a certificate from the trusted CA is served over TLS, end to end", () => {
    expect(ctl(proxy.endpoint, [...tlsArgs(), "put", "secure", "yes"])).toBe("OK\n");
    expect(ctl(`https://${member!.endpoint}`, [...tlsArgs(), "get", "secure", "--print-value-only"])).toBe("yes\n");
  });

  test("a client without a certificate, or speaking plaintext, is refused", () => {
    const noCert = etcdctl(proxy.endpoint, ["--command-timeout=2s", "--cacert", files.ca, "get", "secure"]);
    expect(noCert.status).not.toBe(0);
    const plain = etcdctl(proxy.endpoint, ["--command-timeout=2s", "get", "secure"]);
    expect(plain.status).not.toBe(0);
  });

  test("a certificate with a CN towards the cluster stops the proxy with etcd's error", async () => {
    const r = runBinary(["grpc-proxy", "start", "--listen-addr", `127.0.0.1:${await freePort()}`, "--endpoints", `https://${member!.endpoint}`, "--cert", files["user.crt"], "--key", files["user.key"], "--cacert", files.ca]);
    expect(r.status).toBe(1);
    expect(r.out).toContain("cert has non empty Common Name (alice)");
  });
});

describe.if(run)("grpc-proxy and gateway command lines", () => {
  test("unknown and unsupported flags are errors naming the flag and what to do", () => {
    const unknown = runBinary(["grpc-proxy", "start", "--bogus"]);
    expect(unknown.status).toBe(1);
    expect(unknown.out).toBe("Error: unknown flag: --bogus; run 'etcd grpc-proxy start --help' to list the flags\n");
    const srv = runBinary(["grpc-proxy", "start", "--discovery-srv", "example.com"]);
    expect(srv.status).toBe(1);
    expect(srv.out).toContain("--discovery-srv is not supported by etcd-ts: it does not look up DNS SRV records");
    const pprof = runBinary(["grpc-proxy", "start", "--enable-pprof"]);
    expect(pprof.out).toContain("--enable-pprof is not supported by etcd-ts");
    const cipher = runBinary(["grpc-proxy", "start", "--cipher-suites", "x"]);
    expect(cipher.out).toContain("the proxy's flag is --listen-cipher-suites");
    const gw = runBinary(["gateway", "start", "--endpoints", "nohost"]);
    expect(gw.status).toBe(1);
    expect(gw.out).toContain('error parsing endpoint "nohost"');
  });

  test("help, as cobra prints it", () => {
    const group = runBinary(["gateway"]);
    expect(group.status).toBe(0);
    expect(group.out).toContain("Available Commands:\n  start       start the gateway");
    const start = runBinary(["grpc-proxy", "start", "--help"]);
    expect(start.status).toBe(0);
    expect(start.out).toContain("Usage:\n  etcd grpc-proxy start [flags]");
    expect(start.out).toContain("--advertise-client-url string");
  });

  test("a cluster that cannot be reached within the dial timeout stops the proxy, naming the endpoints", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const r = runBinary(["grpc-proxy", "start", "--listen-addr", `127.0.0.1:${await freePort()}`, "--endpoints", dead]);
    expect(r.status).toBe(1);
    expect(r.out).toContain(`cannot reach the cluster at ${dead} within 5s (--endpoints)`);
  }, 30_000);
});
