// TLS on client and peer URLs, black-box: the compiled binary with certificates made at test time,
// driven by the real etcdctl 3.4 (--cacert/--cert/--key), our etcdctl and client library, and raw
// node:tls / node:https / node:http2 clients for the attacks (plaintext, wrong CA, expired
// certificate, a TLS 1.2-only client against --tls-min-version TLS1.3).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { Client } from "../../src/client/index.ts";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { frame } from "../../src/server/grpc/framing.ts";
import { BINARY, etcdctl, freePort, haveEtcdctl, requireTool } from "./harness.ts";
import { makeTestPki, type CertFiles, type TestPki } from "./tls-certs.ts";

const run = requireTool("etcdctl", haveEtcdctl());

interface TlsMember {
  name: string;
  proc: ChildProcess;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logs: () => string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** node:tls options for a client of a test server: the CA, and a client certificate if given. */
function clientTls(pki: TestPki, cert: CertFiles | null = pki.client): tls.ConnectionOptions {
  return { ca: readFileSync(pki.ca), ...(cert ? { cert: readFileSync(cert.cert), key: readFileSync(cert.key) } : {}) };
}

/** One HTTPS request (HTTP/1.1); resolves with status, headers and body, rejects on a TLS failure. */
function httpsRequest(
  url: string,
  opts: tls.ConnectionOptions & { method?: string; headers?: Record<string, string>; body?: Uint8Array | string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const { method, headers, body, ...tlsOpts } = opts;
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: method ?? "GET", headers, ...tlsOpts, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

/** Spawns dist/etcd with `args` and waits for /health over HTTPS (or for the process to exit). */
async function launch(name: string, dataDir: string, clientUrl: string, peerUrl: string, args: string[], healthTls: tls.ConnectionOptions | null): Promise<TlsMember> {
  const proc = spawn(
    BINARY,
    ["--name", name, "--data-dir", dataDir, "--listen-client-urls", clientUrl, "--advertise-client-urls", clientUrl, "--listen-peer-urls", peerUrl, ...args],
    { env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_"))), stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  const m: TlsMember = {
    name,
    proc,
    clientUrl,
    peerUrl,
    dataDir,
    logs: () => out,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
  if (healthTls === null) return m;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode} at start:\n${out}`);
    try {
      const res = await httpsRequest(`${clientUrl}/health`, healthTls);
      if (res.status === 200) return m;
    } catch {}
    await Bun.sleep(100);
  }
  await m.stop();
  throw new Error(`${name} did not become healthy within 20 s:\n${out}`);
}

/** The real etcdctl against an https endpoint with the test CA and the client certificate (or `cert`). */
function ctlTls(pki: TestPki, endpoint: string, args: string[], cert: CertFiles | null = pki.client): ReturnType<typeof etcdctl> {
  const tlsArgs = ["--cacert", pki.ca, ...(cert ? ["--cert", cert.cert, "--key", cert.key] : [])];
  return etcdctl(endpoint, [...tlsArgs, ...args]);
}

/** etcdctl expected to fail: a refused handshake shows as a timeout, so keep it short. */
function ctlRefused(endpoint: string, args: string[]): ReturnType<typeof etcdctl> {
  return etcdctl(endpoint, ["--dial-timeout", "2s", "--command-timeout", "2s", ...args]);
}

function ok(r: ReturnType<typeof etcdctl>): string {
  if (r.status !== 0) throw new Error(`etcdctl exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

describe.if(run)("TLS: three members, TLS on every client and peer URL, mutual peer auth, client-cert-auth", () => {
  let root: string;
  let pki: TestPki;
  let members: TlsMember[] = [];
  const extra: TlsMember[] = [];
  const names = ["tls1", "tls2", "tls3"];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "tls-trio-"));
    pki = await makeTestPki(join(root, "pki"));
    const clients = [await freePort(), await freePort(), await freePort()];
    const peers = [await freePort(), await freePort(), await freePort()];
    const cluster = names.map((n, i) => `${n}=https://127.0.0.1:${peers[i]}`).join(",");
    members = await Promise.all(
      names.map((n, i) =>
        launch(
          n,
          join(root, n),
          `https://127.0.0.1:${clients[i]}`,
          `https://127.0.0.1:${peers[i]}`,
          [
            "--initial-advertise-peer-urls", `https://127.0.0.1:${peers[i]}`,
            "--initial-cluster", cluster,
            "--initial-cluster-token", "tls-trio",
            "--cert-file", pki.server.cert, "--key-file", pki.server.key, "--trusted-ca-file", pki.ca, "--client-cert-auth",
            "--peer-cert-file", pki.peer.cert, "--peer-key-file", pki.peer.key, "--peer-trusted-ca-file", pki.ca, "--peer-client-cert-auth",
            "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
          ],
          clientTls(pki),
        ),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    for (const m of [...members, ...extra]) await m.stop();
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  test("the cluster forms over TLS: member list shows https URLs, a put on one member is read on each", () => {
    const list = ok(ctlTls(pki, members[0].clientUrl, ["member", "list"])).trim().split("\n").sort();
    expect(list).toHaveLength(3);
    for (const m of members) {
      expect(list.some((l) => l.endsWith(`, started, ${m.name}, ${m.peerUrl}, ${m.clientUrl}, false`))).toBe(true);
    }
    for (const [i, m] of members.entries()) expect(ok(ctlTls(pki, m.clientUrl, ["put", `k${i}`, `v${i}`]))).toBe("OK\n");
    for (const m of members) expect(ok(ctlTls(pki, m.clientUrl, ["get", "k", "--prefix", "--print-value-only"]))).toBe("v0\nv1\nv2\n");
    // etcdctl's endpoint list form (several https endpoints) too
    const all = members.map((m) => m.clientUrl).join(",");
    const health = ctlTls(pki, all, ["endpoint", "health"]);
    expect(health.status).toBe(0);
    // etcdctl 3.4 prints the health lines on stderr
    for (const m of members) expect(health.stderr).toContain(`${m.clientUrl} is healthy`);
  }, 60_000);

  test("--client-cert-auth: the real etcdctl without a client certificate fails, with one it works", () => {
    const without = ctlRefused(members[0].clientUrl, ["--cacert", pki.ca, "get", "k0"]);
    expect(without.status).not.toBe(0);
    expect(ok(ctlTls(pki, members[0].clientUrl, ["get", "k0", "--print-value-only"]))).toBe("v0\n");
  }, 60_000);

  test("an expired client certificate and one from another CA are refused; the server keeps serving", async () => {
    for (const cert of [pki.expiredClient, pki.wrongCaClient]) {
      const r = ctlRefused(members[1].clientUrl, ["--cacert", pki.ca, "--cert", cert.cert, "--key", cert.key, "get", "k0"]);
      expect(r.status).not.toBe(0);
      // The same with node:https: the handshake is refused.
      await expect(httpsRequest(`${members[1].clientUrl}/health`, clientTls(pki, cert))).rejects.toThrow();
    }
    expect(ok(ctlTls(pki, members[1].clientUrl, ["get", "k0", "--print-value-only"]))).toBe("v0\n");
    // A server certificate from a CA the client does not trust is refused by the client.
    const r = ctlRefused(members[1].clientUrl, ["--cacert", pki.otherCa, "--cert", pki.client.cert, "--key", pki.client.key, "get", "k0"]);
    expect(r.status).not.toBe(0);
  }, 60_000);

  test("plaintext gRPC and HTTP/1.1 to the TLS port fail cleanly; the server keeps serving", async () => {
    const url = new URL(members[2].clientUrl);
    // HTTP/1.1 in clear text: the TLS handshake fails, the connection closes, no answer.
    const plain = await new Promise<string>((resolve) => {
      const req = http.get(`http://127.0.0.1:${url.port}/health`, { timeout: 5000 }, (res) => resolve(`answered ${res.statusCode}`));
      req.on("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      req.on("timeout", () => req.destroy(new Error("timeout")));
    });
    expect(plain).not.toStartWith("answered");
    expect(plain).not.toBe("timeout");
    // gRPC with prior knowledge (h2c) in clear text.
    const grpc = await new Promise<string>((resolve) => {
      const session = http2.connect(`http://127.0.0.1:${url.port}`);
      session.on("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      const req = session.request({ ":method": "POST", ":path": "/etcdserverpb.KV/Range", "content-type": "application/grpc", te: "trailers" });
      req.on("response", () => resolve("answered"));
      req.on("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      // The server answers the preface with a TLS alert and closes: the call ends without a response.
      req.on("close", () => resolve("closed"));
      req.end(frame(etcdserverpb.RangeRequest.encode({ key: Buffer.from("k0") }).finish()));
      setTimeout(() => resolve("timeout"), 5000);
    });
    expect(grpc).not.toBe("answered");
    expect(grpc).not.toBe("timeout");
    // Garbage bytes: refused too.
    const garbage = await new Promise<string>((resolve) => {
      const s = net.connect(Number(url.port), "127.0.0.1", () => s.write(Buffer.alloc(64, 0x41)));
      s.on("data", () => {});
      s.on("close", () => resolve("closed"));
      s.on("error", () => {});
      setTimeout(() => resolve("still open"), 5000);
    });
    expect(garbage).toBe("closed");
    expect(ok(ctlTls(pki, members[2].clientUrl, ["get", "k2", "--print-value-only"]))).toBe("v2\n");
    expect(members[2].proc.exitCode).toBeNull();
  }, 60_000);

  test("/health, the JSON gateway and gRPC-web are served over HTTPS on the same port", async () => {
    const base = members[0].clientUrl;
    const health = await httpsRequest(`${base}/health`, clientTls(pki));
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body.toString())).toEqual({ health: "true", reason: "" });

    const gw = await httpsRequest(`${base}/v3/kv/range`, { ...clientTls(pki), method: "POST", body: JSON.stringify({ key: Buffer.from("k1").toString("base64") }) });
    expect(gw.status).toBe(200);
    expect(Buffer.from(JSON.parse(gw.body.toString()).kvs[0].value, "base64").toString()).toBe("v1");

    const web = await httpsRequest(`${base}/etcdserverpb.KV/Range`, {
      ...clientTls(pki),
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      body: frame(etcdserverpb.RangeRequest.encode({ key: Buffer.from("k2") }).finish()),
    });
    expect(web.status).toBe(200);
    // Data frame (flag 0) with the RangeResponse, then the trailer frame (flag 0x80) with grpc-status 0.
    expect(web.body[0]).toBe(0);
    const len = web.body.readUInt32BE(1);
    const res = etcdserverpb.RangeResponse.decode(web.body.subarray(5, 5 + len));
    expect(Buffer.from(res.kvs[0].value!).toString()).toBe("v2");
    expect(web.body.subarray(5 + len).toString()).toContain("grpc-status:0");
  }, 60_000);

  test("--cipher-suites: a TLS 1.2 client offering only other suites is refused, one offering a listed suite gets in", async () => {
    const url = new URL(members[0].clientUrl);
    const attempt = (ciphers: string) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ ...clientTls(pki), host: "127.0.0.1", port: Number(url.port), maxVersion: "TLSv1.2", ciphers }, () => {
          resolve(`ok ${s.getCipher().name}`);
          s.destroy();
        });
        s.on("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      });
    expect(await attempt("ECDHE-RSA-CHACHA20-POLY1305")).not.toStartWith("ok");
    expect(await attempt("ECDHE-RSA-AES256-GCM-SHA384")).toBe("ok ECDHE-RSA-AES256-GCM-SHA384");
  }, 60_000);

  test("our client library and etcdctl speak TLS: https endpoints with CA, certificate and key", async () => {
    const c = new Client({
      endpoints: members.map((m) => m.clientUrl),
      tls: { ca: readFileSync(pki.ca), cert: readFileSync(pki.client.cert), key: readFileSync(pki.client.key) },
    });
    try {
      await c.put("lib", "tls");
      expect((await c.get("lib")).kvs[0].value.toString()).toBe("tls");
    } finally {
      c.close();
    }
    const ours = spawnSync(BINARY, ["ctl", "--endpoints", members[1].clientUrl, "--cacert", pki.ca, "--cert", pki.client.cert, "--key", pki.client.key, "get", "lib", "--print-value-only"], { encoding: "utf8" });
    expect(ours.stderr).toBe("");
    expect(ours.stdout).toBe("tls\n");
    const noCert = spawnSync(BINARY, ["ctl", "--endpoints", members[1].clientUrl, "--cacert", pki.ca, "--dial-timeout", "2s", "get", "lib"], { encoding: "utf8" });
    expect(noCert.status).not.toBe(0);
    expect(noCert.stderr).toMatch(/CERTIFICATE_REQUIRED|certificate/i);
  }, 60_000);

  test("a member whose peer certificate comes from another CA is refused: it cannot join, and the log says why", async () => {
    const port = await freePort();
    const peerPort = await freePort();
    const peerUrl = `https://127.0.0.1:${peerPort}`;
    const added = ok(ctlTls(pki, members[0].clientUrl, ["member", "add", "intruder", "--peer-urls", peerUrl]));
    const cluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(added)![1];
    const intruder = await launch(
      "intruder",
      join(root, "intruder"),
      `https://127.0.0.1:${port}`,
      peerUrl,
      [
        "--initial-advertise-peer-urls", peerUrl,
        "--initial-cluster", cluster,
        "--initial-cluster-state", "existing",
        "--cert-file", pki.server.cert, "--key-file", pki.server.key,
        // It trusts the cluster's CA, but its own certificate is signed by another CA.
        "--peer-cert-file", pki.wrongCaPeer.cert, "--peer-key-file", pki.wrongCaPeer.key, "--peer-trusted-ca-file", pki.ca, "--peer-client-cert-auth",
      ],
      null,
    );
    extra.push(intruder);
    const code = await Promise.race([intruder.exited, Bun.sleep(40_000).then(() => "still running")]);
    expect(code).not.toBe(0);
    expect(code).not.toBe("still running");
    expect(intruder.logs()).toContain("cannot join the existing cluster");
    // The members say why: the TLS handshake failed on the certificate.
    await waitUntil("a member logs the refused peer", () => members.some((m) => m.logs().includes("rejected a peer connection: TLS handshake failed")), 5000);
    const line = members.map((m) => m.logs()).join("\n").split("\n").find((l) => l.includes("rejected a peer connection"))!;
    expect(JSON.parse(line).error).toMatch(/certificate|verify/i);
    // The intruder never became a started member; removing it leaves the three serving.
    const list = ok(ctlTls(pki, members[0].clientUrl, ["member", "list"]));
    const row = list.split("\n").find((l) => l.includes(peerUrl))!;
    expect(row).toContain(", unstarted, ");
    ok(ctlTls(pki, members[0].clientUrl, ["member", "remove", row.split(",")[0]]));
    expect(ok(ctlTls(pki, members[2].clientUrl, ["put", "after", "intruder"]))).toBe("OK\n");
  }, 60_000);
});

describe.if(run)("TLS: --auto-tls and --peer-auto-tls, --tls-min-version TLS1.3", () => {
  let root: string;
  let m: TlsMember;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "tls-auto-"));
    const clientUrl = `https://127.0.0.1:${await freePort()}`;
    const peerUrl = `https://127.0.0.1:${await freePort()}`;
    m = await launch(
      "auto",
      join(root, "auto"),
      clientUrl,
      peerUrl,
      ["--initial-advertise-peer-urls", peerUrl, "--initial-cluster", `auto=${peerUrl}`, "--auto-tls", "--peer-auto-tls", "--tls-min-version", "TLS1.3"],
      { rejectUnauthorized: false },
    );
  }, 60_000);

  afterAll(async () => {
    await m?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("self-signed certificates are generated under <data-dir>/fixtures, valid for the URLs' hosts", () => {
    for (const side of ["client", "peer"]) {
      expect(existsSync(join(m.dataDir, "fixtures", side, "cert.pem"))).toBe(true);
      expect(existsSync(join(m.dataDir, "fixtures", side, "key.pem"))).toBe(true);
    }
    const cert = new X509Certificate(readFileSync(join(m.dataDir, "fixtures", "client", "cert.pem")));
    expect(cert.subjectAltName).toContain("IP Address:127.0.0.1");
    expect(m.logs()).toContain("generated a self-signed client certificate");
  }, 60_000);

  test("the real etcdctl with --insecure-skip-tls-verify works; without it the unknown certificate is refused", () => {
    const skip = etcdctl(m.clientUrl, ["--insecure-skip-tls-verify", "--insecure-transport=false", "put", "auto", "tls"]);
    expect(skip.stderr).toBe("");
    expect(skip.stdout).toBe("OK\n");
    expect(ctlRefused(m.clientUrl, ["--insecure-transport=false", "get", "auto"]).status).not.toBe(0);
    const ours = spawnSync(BINARY, ["ctl", "--endpoints", m.clientUrl, "--insecure-skip-tls-verify", "get", "auto", "--print-value-only"], { encoding: "utf8" });
    expect(ours.stdout).toBe("tls\n");
  }, 60_000);

  test("--tls-min-version TLS1.3 refuses a TLS 1.2-only client, serves a TLS 1.3 one", async () => {
    const url = new URL(m.clientUrl);
    const attempt = (maxVersion: tls.SecureVersion) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: "127.0.0.1", port: Number(url.port), rejectUnauthorized: false, maxVersion }, () => {
          resolve(`ok ${s.getProtocol()}`);
          s.destroy();
        });
        s.on("error", (e: Error & { code?: string }) => resolve(e.code ?? e.message));
      });
    expect(await attempt("TLSv1.2")).not.toStartWith("ok");
    expect(await attempt("TLSv1.3")).toBe("ok TLSv1.3");
    expect(m.proc.exitCode).toBeNull();
  }, 60_000);
});

describe("TLS: configuration errors name the flags and files", () => {
  const start = (args: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), "tls-cfg-"));
    try {
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")));
      return spawnSync(BINARY, ["--data-dir", dir, ...args], { encoding: "utf8", timeout: 10_000, env });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  test("an https client URL without a certificate, a missing file, an unknown cipher suite", () => {
    const noCert = start(["--listen-client-urls", "https://127.0.0.1:0", "--advertise-client-urls", "https://127.0.0.1:2379"]);
    expect(noCert.status).toBe(2);
    expect(noCert.stderr).toContain("--listen-client-urls has https://127.0.0.1:0 but no client certificate is configured: set --cert-file and --key-file, or --auto-tls");

    const missing = start(["--cert-file", "/nonexistent/server.pem", "--key-file", "/nonexistent/server-key.pem"]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("Cannot read --cert-file \"/nonexistent/server.pem\": no such file");

    const cipher = start(["--cipher-suites", "TLS_RSA_WITH_RC4_128_SHA"]);
    expect(cipher.status).toBe(2);
    expect(cipher.stderr).toContain("--cipher-suites");
    expect(cipher.stderr).toContain("RC4");
  }, 60_000);
});
