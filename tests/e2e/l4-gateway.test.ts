// `etcd gateway start` (etcd's L4 TCP gateway) black-box: two independent single-member clusters
// behind it — a dist/etcd member and a real etcd 3.4 — so which one served a connection shows in the
// answer (their versions and member ids differ). The same tests run against etcd 3.4's own gateway,
// which is how the expectations were checked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { BINARY, cleanup, ctl, freePort, haveEtcdctl, haveEtcdServer, type Member, requireTool, serverEnv, startMember, startRealEtcd } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl()) && requireTool("etcd", haveEtcdServer());

interface Gateway {
  proc: ChildProcess;
  endpoint: string;
  logs: () => string;
  stop(): Promise<void>;
}

async function startGateway(binary: string, endpoints: string[], extra: string[] = []): Promise<Gateway> {
  const port = await freePort();
  // etcd's e2e suite puts the flags before "start"; so do we.
  const proc = spawn(binary, ["gateway", `--endpoints=${endpoints.join(",")}`, "start", "--listen-addr", `127.0.0.1:${port}`, ...extra], {
    env: serverEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  const deadline = Date.now() + 15_000;
  while (!out.includes("ready to proxy client requests")) {
    if (proc.exitCode !== null) throw new Error(`gateway exited with ${proc.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`gateway did not start within 15 s:\n${out}`);
    }
    await Bun.sleep(20);
  }
  return {
    proc,
    endpoint: `127.0.0.1:${port}`,
    logs: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Which cluster served one new TCP connection through the gateway: GET /version on a connection of its
 * own (etcdctl may open more than one connection per run), answered by etcd-ts or by etcd 3.4.
 */
function servedBy(gw: Gateway): Promise<"ours" | "real"> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port: Number(gw.endpoint.split(":")[1]), path: "/version", agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(JSON.parse(body)["etcd-ts"] ? "ours" : "real"));
    });
    req.on("timeout", () => req.destroy(new Error("GET /version through the gateway timed out")));
    req.on("error", reject);
  });
}

async function servedSequence(gw: Gateway, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await servedBy(gw));
  return out;
}

async function deadEndpoint(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

for (const [name, binary] of [["etcd-ts", BINARY], ["etcd 3.4", "etcd"]] as const) {
  describe.if(run)(`gateway (${name}'s) in front of two clusters`, () => {
    let ours: Member;
    let real: Member;
    const gateways: Gateway[] = [];
    beforeAll(async () => {
      ours = await startMember();
      real = await startRealEtcd();
    }, 30_000);
    afterAll(async () => {
      for (const g of gateways) await g.stop();
      for (const m of [ours, real]) {
        await m?.stop();
        if (m) cleanup(m);
      }
    }, 20_000);

    test("etcd's TestGateway: etcdctl put through the gateway", async () => {
      const gw = await startGateway(binary, [ours.clientUrl]);
      gateways.push(gw);
      expect(ctl(gw.endpoint, ["put", "foo", "bar"])).toBe("OK\n");
      expect(ctl(ours, ["get", "foo", "--print-value-only"])).toBe("bar\n");
    });

    test("connections go round-robin over the endpoints", async () => {
      const gw = await startGateway(binary, [ours.endpoint, real.endpoint]);
      gateways.push(gw);
      expect(await servedSequence(gw, 4)).toEqual(["ours", "real", "ours", "real"]);
    });

    test("an endpoint that refuses is skipped and left out until the retry delay", async () => {
      const dead = await deadEndpoint();
      const gw = await startGateway(binary, [ours.endpoint, dead, real.endpoint], ["--retry-delay", "1h"]);
      gateways.push(gw);
      expect(await servedSequence(gw, 5)).toEqual(["ours", "real", "ours", "real", "ours"]);
      expect(gw.logs()).toContain("deactivated endpoint");
      expect(gw.logs()).toContain(dead);
    });

    test("bytes pass untouched: a watch stream lives through the gateway", async () => {
      const gw = await startGateway(binary, [real.endpoint]);
      gateways.push(gw);
      const w = spawn("etcdctl", ["--endpoints", gw.endpoint, "watch", "gwkey"], { env: { ...process.env, ETCDCTL_API: "3" }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      w.stdout!.on("data", (d) => (out += d));
      try {
        for (let i = 0; i < 100 && !out.includes("gwkey"); i++) {
          ctl(real, ["put", "gwkey", `v${i}`]);
          await Bun.sleep(50);
        }
        expect(out).toMatch(/^PUT\ngwkey\nv\d+\n/);
      } finally {
        w.kill("SIGKILL");
      }
    });
  });
}

describe.if(run)("gateway (etcd-ts's) when an endpoint dies and comes back", () => {
  let ours: Member;
  let real: Member;
  let gw: Gateway;
  beforeAll(async () => {
    ours = await startMember();
    real = await startRealEtcd();
  }, 30_000);
  afterAll(async () => {
    await gw?.stop();
    for (const m of [ours, real]) {
      await m?.stop();
      if (m) cleanup(m);
    }
  }, 20_000);

  test("a member that stops is skipped; once it listens again it is dialed after --retry-delay", async () => {
    gw = await startGateway(BINARY, [real.endpoint, ours.endpoint], ["--retry-delay", "300ms"]);
    const realPort = Number(real.endpoint.split(":")[1]);
    await real.stop();
    // Every connection now lands on ours (the dead one is tried once, then left out).
    expect(await servedSequence(gw, 3)).toEqual(["ours", "ours", "ours"]);
    expect(ctl(gw.endpoint, ["put", "through", "ours"])).toBe("OK\n");
    expect(gw.logs()).toContain("deactivated endpoint");
    // A listener on the dead address brings it back: the gateway dials it and logs "activated".
    const stand = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => stand.listen(realPort, "127.0.0.1", () => r()));
    try {
      const deadline = Date.now() + 10_000;
      while (!gw.logs().includes('"msg":"activated"') && Date.now() < deadline) await Bun.sleep(50);
      expect(gw.logs()).toContain('"msg":"activated"');
    } finally {
      stand.close();
    }
  }, 30_000);

  test("the gateway refuses an endpoint that is itself", async () => {
    const port = await freePort();
    const r = spawn(BINARY, ["gateway", "start", "--listen-addr", `127.0.0.1:${port}`, "--endpoints", `localhost:${port}`], { env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    r.stdout!.on("data", (d) => (out += d));
    r.stderr!.on("data", (d) => (out += d));
    const code = await new Promise<number | null>((res) => r.once("exit", (c) => res(c)));
    expect(code).toBe(1);
    expect(out).toContain(`should not resolve to the gateway listen addr (127.0.0.1:${port})`);
  });

  test("bad flags are errors", () => {
    const bad = Bun.spawnSync([BINARY, "gateway", "start", "--retry-delay", "soon"], { env: serverEnv() as Record<string, string> });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.toString()).toBe('Error: invalid argument "soon" for "--retry-delay" flag: expected a duration with a unit, such as 500ms, 5s or 1m30s\n');
    const srv = Bun.spawnSync([BINARY, "gateway", "start", "--discovery-srv", "example.com"], { env: serverEnv() as Record<string, string> });
    expect(srv.exitCode).toBe(1);
    expect(srv.stderr.toString()).toContain("etcd-ts does not look up DNS SRV records");
  });
});
