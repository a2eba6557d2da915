// Real deployments' command lines and environments, run against the binary as shipped:
// - kubeadm's etcd static pod (TLS everywhere, the experimental flags kubeadm passes for etcd 3.5, and
//   the feature-gate form it passes for etcd 3.6), driven by the real etcdctl with client certificates;
// - a pod of our StatefulSet, which Kubernetes gives service-link variables named ETCD_* (one set per
//   Service with a cluster IP in the namespace): they are not settings, so etcd warns and starts.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { BINARY, ROOT, cleanup, freePort, haveEtcdctl, requireTool, serverEnv, startMember } from "./harness.ts";
import { makeTestPki, type TestPki } from "./tls-certs.ts";

const run = requireTool("etcdctl", haveEtcdctl());
const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

/**
 * The flags kubeadm writes into /etc/kubernetes/manifests/etcd.yaml for a first control-plane node
 * (kubeadm's etcd phase), with this host's addresses, ports and certificate paths filled in.
 * `gates` picks the form: kubeadm for etcd 3.5 passes the experimental flags, for etcd 3.6 the
 * feature gate and the plain flag name.
 */
function kubeadmFlags(o: { name: string; dataDir: string; pki: TestPki; client: number; peer: number; metrics: number; form: "3.5" | "3.6" }): string[] {
  const ip = "127.0.0.1";
  const feature =
    o.form === "3.5"
      ? ["--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s"]
      : ["--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s"];
  return [
    `--advertise-client-urls=https://${ip}:${o.client}`,
    `--cert-file=${o.pki.server.cert}`,
    "--client-cert-auth=true",
    `--data-dir=${o.dataDir}`,
    ...feature,
    `--initial-advertise-peer-urls=https://${ip}:${o.peer}`,
    `--initial-cluster=${o.name}=https://${ip}:${o.peer}`,
    `--key-file=${o.pki.server.key}`,
    // kubeadm lists https://127.0.0.1:2379 and the node's address; here they are one address.
    `--listen-client-urls=https://${ip}:${o.client}`,
    `--listen-metrics-urls=http://127.0.0.1:${o.metrics}`,
    `--listen-peer-urls=https://${ip}:${o.peer}`,
    `--name=${o.name}`,
    `--peer-cert-file=${o.pki.peer.cert}`,
    "--peer-client-cert-auth=true",
    `--peer-key-file=${o.pki.peer.key}`,
    `--peer-trusted-ca-file=${o.pki.ca}`,
    "--snapshot-count=10000",
    `--trusted-ca-file=${o.pki.ca}`,
  ];
}

async function waitReady(url: string, proc: ChildProcess, logs: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}:\n${logs()}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`not ready within 20 s (${url}):\n${logs()}`);
}

describe.if(run)("kubeadm's etcd static pod command line", () => {
  for (const form of ["3.5", "3.6"] as const) {
    test(`the etcd ${form} form starts, serves etcdctl over mutual TLS and answers the kubelet's probes`, async () => {
      const root = mkdtempSync(join(tmpdir(), "etcd-ts-kubeadm-"));
      roots.push(root);
      const pki = await makeTestPki(join(root, "pki"));
      const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
      const args = kubeadmFlags({ name: "cp1", dataDir: join(root, "etcd"), pki, client, peer, metrics, form });
      const proc = spawn(BINARY, args, { env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      proc.stdout!.on("data", (d) => (out += d));
      proc.stderr!.on("data", (d) => (out += d));
      try {
        // The kubelet's probes: /readyz and /livez on the plaintext metrics URL.
        await waitReady(`http://127.0.0.1:${metrics}/readyz`, proc, () => out);
        expect((await fetch(`http://127.0.0.1:${metrics}/livez`)).status).toBe(200);
        const tlsFlags = [`--endpoints=https://127.0.0.1:${client}`, `--cacert=${pki.ca}`, `--cert=${pki.client.cert}`, `--key=${pki.client.key}`];
        const put = spawnSync("etcdctl", [...tlsFlags, "put", "/registry/pods/default/web", "spec"], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } });
        expect(put.stderr).toBe("");
        expect(put.stdout).toBe("OK\n");
        const get = spawnSync("etcdctl", [...tlsFlags, "get", "/registry/", "--prefix"], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } });
        expect(get.stdout).toBe("/registry/pods/default/web\nspec\n");
        // Without a client certificate the API server's path is closed.
        const anon = spawnSync("etcdctl", [`--endpoints=https://127.0.0.1:${client}`, `--cacert=${pki.ca}`, "--command-timeout=2s", "get", "x"], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } });
        expect(anon.status).not.toBe(0);
        // Nothing in the command line was refused or ignored with a warning.
        const warnings = out.split("\n").filter((l) => l.includes('"level":"warn"') && /flag|setting|variable/i.test(l));
        expect(warnings).toEqual([]);
      } finally {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
    });
  }
});

interface ServiceDoc {
  kind: string;
  metadata: { name: string };
  spec: { clusterIP?: string; ports: { name?: string; port: number; protocol?: string }[] };
}

/**
 * The variables the kubelet gives every container for each Service with a cluster IP in its namespace
 * (Kubernetes' service-link environment, on by default): <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT,
 * <NAME>_SERVICE_PORT_<PORTNAME>, and the Docker-links style <NAME>_PORT, <NAME>_PORT_<port>_<PROTO>*.
 */
function serviceLinkEnv(services: ServiceDoc[], clusterIp: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of services) {
    if (s.spec.clusterIP === "None") continue; // headless: no variables
    const name = s.metadata.name.toUpperCase().replaceAll("-", "_");
    const [first] = s.spec.ports;
    env[`${name}_SERVICE_HOST`] = clusterIp;
    env[`${name}_SERVICE_PORT`] = String(first.port);
    env[`${name}_PORT`] = `${(first.protocol ?? "TCP").toLowerCase()}://${clusterIp}:${first.port}`;
    for (const p of s.spec.ports) {
      const proto = p.protocol ?? "TCP";
      if (p.name) env[`${name}_SERVICE_PORT_${p.name.toUpperCase().replaceAll("-", "_")}`] = String(p.port);
      const base = `${name}_PORT_${p.port}_${proto}`;
      env[base] = `${proto.toLowerCase()}://${clusterIp}:${p.port}`;
      env[`${base}_PROTO`] = proto.toLowerCase();
      env[`${base}_PORT`] = String(p.port);
      env[`${base}_ADDR`] = clusterIp;
    }
  }
  return env;
}

describe("our StatefulSet's pods get Kubernetes service-link variables", () => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, "deploy/kubernetes/statefulset.yaml"), "utf8")).map((d) => d.toJSON());
  const services = docs.filter((d) => d?.kind === "Service") as ServiceDoc[];
  const env = serviceLinkEnv(services, "10.96.0.20");

  test("the manifests give the pods ETCD_* variables that are not etcd settings", () => {
    expect(Object.keys(env)).toContain("ETCD_CLIENT_PORT");
    expect(Object.keys(env)).toContain("ETCD_CLIENT_SERVICE_HOST");
  });

  test("the member starts and serves, warning once about each variable as etcd does", async () => {
    const m = await startMember({ env });
    try {
      const res = await fetch(`${m.clientUrl}/v3/kv/put`, { method: "POST", body: JSON.stringify({ key: btoa("k"), value: btoa("v") }) });
      expect(res.status).toBe(200);
      const warned = m
        .logs()
        .split("\n")
        .filter((l) => l.includes("unrecognized environment variable"));
      for (const name of Object.keys(env)) expect(warned.filter((l) => l.includes(`${name}=`)).length).toBe(1);
    } finally {
      await m.stop();
      cleanup(m);
    }
  });
});
