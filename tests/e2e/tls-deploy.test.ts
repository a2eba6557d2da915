// The TLS and transport flags of real deployments, black-box: the compiled binary driven by the real
// etcdctl 3.4, curl and raw TLS/HTTP/2 clients. Certificate revocation (--client-crl-file, replaced
// while running), allowed client host names, --tls-max-version, --max-concurrent-streams (HTTP/2
// SETTINGS and refusals; the JSON gateway's shared limit, as etcd's e2e TestV3Curl_MaxStreams_*),
// peers refused by --peer-cert-allowed-cn (etcd's TestEtcdPeerCNAuth), and unix socket URLs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { type CertificateAndKey, createCertificate, createCrl } from "../../src/pkg/tls-cert.ts";
import { encodeHeaderBlock } from "../../src/pkg/h2/hpack.ts";
import { BINARY, etcdctl, freePort, haveEtcdctl, requireTool, serverEnv } from "./harness.ts";

const run = requireTool("etcdctl", haveEtcdctl());
const HOSTS = ["127.0.0.1", "localhost"];

interface Proc {
  proc: ChildProcess;
  logs: () => string;
  stop(): Promise<void>;
}

/** Starts the binary with `args` in `cwd`; resolves at once (callers wait for what they need). */
function spawnEtcd(args: string[], cwd: string): Proc {
  const proc = spawn(BINARY, args, { cwd, env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  return {
    proc,
    logs: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}

async function waitUntil(what: string, cond: () => boolean, p: Proc | null, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (p && p.proc.exitCode !== null) throw new Error(`the server exited (${p.proc.exitCode}) while waiting for ${what}:\n${p.logs()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${p ? `:\n${p.logs().slice(-4000)}` : ""}`);
    await Bun.sleep(50);
  }
}

const ready = (p: Proc) => waitUntil("ready to serve client requests", () => p.logs().includes("ready to serve client requests"), p);

/** Writes a certificate and key as PEM files; returns their paths. */
function save(dir: string, name: string, c: CertificateAndKey): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  writeFileSync(cert, c.certPem);
  writeFileSync(key, c.keyPem, { mode: 0o600 });
  return { cert, key };
}

/** The real etcdctl with a CA and a client certificate. */
function ctlAs(endpoint: string, ca: string, who: { cert: string; key: string }, args: string[], timeout = "3s") {
  return etcdctl(endpoint, ["--dial-timeout", timeout, "--command-timeout", timeout, "--cacert", ca, "--cert", who.cert, "--key", who.key, ...args]);
}

/** curl against the JSON gateway; resolves with its exit code and output. */
function curl(args: string[]): { done: Promise<{ code: number | null; out: string }>; out: () => string; kill(): void } {
  const proc = spawn("curl", ["-sS", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  const done = new Promise<{ code: number | null; out: string }>((r) => proc.once("exit", (code) => r({ code, out })));
  return { done, out: () => out, kill: () => void proc.kill("SIGTERM") };
}

describe.if(run)("client port: --client-crl-file, --client-cert-allowed-hostname, --tls-max-version, --max-concurrent-streams", () => {
  let root: string;
  let ca: CertificateAndKey;
  let caFile: string;
  let crlFile: string;
  let good: { cert: string; key: string };
  let revoked: { cert: string; key: string };
  let elsewhere: { cert: string; key: string };
  let goodSerial: string;
  let member: Proc;
  let url: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "tls-deploy-client-"));
    ca = await createCertificate({ commonName: "deploy CA", isCa: true });
    caFile = join(root, "ca.pem");
    writeFileSync(caFile, ca.certPem);
    const [server, g, r, e] = await Promise.all([
      createCertificate({ commonName: "etcd", hosts: HOSTS, issuer: ca }),
      createCertificate({ commonName: "app", hosts: ["app.etcd.test"], issuer: ca }),
      createCertificate({ commonName: "app", hosts: ["app.etcd.test"], issuer: ca }),
      createCertificate({ commonName: "app.etcd.test", hosts: ["other.etcd.test"], issuer: ca }),
    ]);
    goodSerial = new X509Certificate(g.certPem).serialNumber;
    const s = save(root, "server", server);
    [good, revoked, elsewhere] = [save(root, "good", g), save(root, "revoked", r), save(root, "elsewhere", e)];
    crlFile = join(root, "revoked.crl");
    writeFileSync(crlFile, (await createCrl({ issuer: ca, revokedSerials: [new X509Certificate(r.certPem).serialNumber] })).pem);
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    // (--tls-max-version needs etcd 3.5+; --client-crl-file and --client-cert-allowed-hostname are in 3.4.)
    member = spawnEtcd(
      [
        "--name", "m", "--data-dir", join(root, "m"),
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", `http://127.0.0.1:${await freePort()}`,
        "--cert-file", s.cert, "--key-file", s.key, "--trusted-ca-file", caFile, "--client-cert-auth",
        "--client-crl-file", crlFile, "--client-cert-allowed-hostname", "app.etcd.test",
        "--tls-max-version", "TLS1.2", "--max-concurrent-streams", "3",
      ],
      root,
    );
    await ready(member);
  }, 60_000);

  afterAll(async () => {
    await member?.stop();
    rmSync(root, { recursive: true, force: true });
  }, 20_000);

  test("a revoked client certificate is refused (etcdctl fails, the log names the serial); a valid one works", async () => {
    const refused = ctlAs(url, caFile, revoked, ["put", "k", "v"], "2s");
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain("Error:");
    await waitUntil("the refusal in the log", () => /"rejected connection".*transport: certificate serial [0-9a-f]+ revoked/.test(member.logs()), member);
    expect(ctlAs(url, caFile, good, ["put", "k", "v"]).stdout).toBe("OK\n");
  });

  test("a new CRL takes effect for new connections without a restart", async () => {
    const before = readFileSync(crlFile);
    try {
      writeFileSync(crlFile, (await createCrl({ issuer: ca, revokedSerials: [goodSerial] })).der);
      expect(ctlAs(url, caFile, good, ["get", "k"], "2s").status).not.toBe(0);
      expect(ctlAs(url, caFile, revoked, ["get", "k", "--print-value-only"]).stdout).toBe("v\n");
    } finally {
      writeFileSync(crlFile, before);
    }
    expect(ctlAs(url, caFile, good, ["get", "k", "--print-value-only"]).stdout).toBe("v\n");
  });

  test("--client-cert-allowed-hostname: a certificate for another host (its CN does not count) is refused", async () => {
    const r = ctlAs(url, caFile, elsewhere, ["get", "k"], "2s");
    expect(r.status).not.toBe(0);
    const why = "client certificate authentication failed: the certificate is for other.etcd.test, --client-cert-allowed-hostname allows app.etcd.test";
    await waitUntil("the refusal in the log", () => member.logs().includes(why), member);
  });

  test("--tls-max-version TLS1.2: TLS 1.2 is spoken; a client that insists on TLS 1.3 is refused", async () => {
    const connect = (opts: tls.ConnectionOptions) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: "127.0.0.1", port: Number(new URL(url).port), ca: ca.certPem, cert: readFileSync(good.cert), key: readFileSync(good.key), ALPNProtocols: ["h2"], ...opts });
        s.once("secureConnect", () => (resolve(s.getProtocol() ?? "?"), s.destroy()));
        s.once("error", (e: Error & { code?: string }) => resolve(`error ${e.code ?? e.message}`));
      });
    expect(await connect({})).toBe("TLSv1.2");
    expect(await connect({ minVersion: "TLSv1.3" })).toMatch(/^error /);
  });

  test("--max-concurrent-streams 3 is advertised in SETTINGS; a 4th open stream is refused with REFUSED_STREAM", async () => {
    const frames = await rawH2Streams(url, { ca: ca.certPem, cert: readFileSync(good.cert), key: readFileSync(good.key) }, 4);
    expect(frames.maxConcurrentStreams).toBe(3);
    expect(frames.resets).toEqual([[7, 7]]); // stream 7, REFUSED_STREAM; streams 1, 3 and 5 stay open
  });

  test("the JSON gateway shares the limit (etcd's TestV3Curl_MaxStreams): with 3 watches open a range waits, and runs when one ends", async () => {
    const tlsArgs = ["--cacert", caFile, "--cert", good.cert, "--key", good.key];
    const watchBody = JSON.stringify({ create_request: { key: Buffer.from("foo").toString("base64"), start_revision: "1" } });
    const rangeBody = JSON.stringify({ key: Buffer.from("foo").toString("base64") });
    const watches = [0, 1].map(() => curl([...tlsArgs, "-N", "-X", "POST", `${url}/v3/watch`, "-d", watchBody]));
    try {
      await waitUntil("two watches created", () => watches.every((w) => w.out().includes('"created":true')), member);
      // Below the limit (2 of 3 in use): answered.
      expect((await curl([...tlsArgs, "-m", "10", "-X", "POST", `${url}/v3/kv/range`, "-d", rangeBody]).done).out).toContain('"revision":"');
      watches.push(curl([...tlsArgs, "-N", "-X", "POST", `${url}/v3/watch`, "-d", watchBody]));
      await waitUntil("third watch created", () => watches[2].out().includes('"created":true'), member);
      // At the limit: the range waits (curl gives up after 2 s, as etcd's test expects "Operation timed out")...
      const timedOut = await curl([...tlsArgs, "-m", "2", "-X", "POST", `${url}/v3/kv/range`, "-d", rangeBody]).done;
      expect(timedOut.code).toBe(28);
      expect(timedOut.out).toContain("Operation timed out");
      // ...and one that waits gets its answer as soon as a watch ends.
      const waiting = curl([...tlsArgs, "-m", "20", "-X", "POST", `${url}/v3/kv/range`, "-d", rangeBody]);
      watches[0].kill();
      const answered = await waiting.done;
      expect(answered.out).toContain('"revision":"');
    } finally {
      for (const w of watches) w.kill();
    }
  }, 60_000);
});

/**
 * Opens `streams` gRPC Watch streams on one raw HTTP/2 connection over TLS (ALPN h2) and reports the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS and every RST_STREAM received as [stream id, error code].
 */
async function rawH2Streams(url: string, opts: tls.ConnectionOptions, streams: number): Promise<{ maxConcurrentStreams: number | undefined; resets: [number, number][] }> {
  const u = new URL(url);
  const socket = tls.connect({ host: u.hostname, port: Number(u.port), ALPNProtocols: ["h2"], ...opts });
  await new Promise<void>((resolve, reject) => socket.once("secureConnect", () => resolve()).once("error", reject));
  const frame = (type: number, flags: number, id: number, payload: Uint8Array) => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(id, 5);
    return Buffer.concat([h, payload]);
  };
  const out: { maxConcurrentStreams: number | undefined; resets: [number, number][] } = { maxConcurrentStreams: undefined, resets: [] };
  let buf = Buffer.alloc(0);
  let settingsSeen = false;
  let pong = false;
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      const [type, flags, id, payload] = [buf[3], buf[4], buf.readUInt32BE(5) & 0x7fffffff, buf.subarray(9, 9 + len)];
      buf = buf.subarray(9 + len);
      if (type === 4 && !(flags & 1)) {
        settingsSeen = true;
        for (let i = 0; i + 6 <= payload.length; i += 6) if (payload.readUInt16BE(i) === 3) out.maxConcurrentStreams = payload.readUInt32BE(i + 2);
        socket.write(frame(4, 1, 0, new Uint8Array(0))); // ACK
      }
      if (type === 3) out.resets.push([id, payload.readUInt32BE(0)]);
      if (type === 6 && flags & 1) pong = true;
    }
  });
  socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(4, 0, 0, new Uint8Array(0))]));
  await waitUntil("the server's SETTINGS", () => settingsSeen, null, 5000);
  const headers = encodeHeaderBlock([
    [":method", "POST"],
    [":scheme", "https"],
    [":path", "/etcdserverpb.Watch/Watch"],
    [":authority", u.host],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ]);
  // HEADERS with END_HEADERS only: each stream stays open (a Watch waiting for its requests).
  for (let i = 0; i < streams; i++) socket.write(frame(1, 4, 1 + 2 * i, headers));
  // A PING answered means every frame before it was read and acted on.
  socket.write(frame(6, 0, 0, Buffer.from("deploy!!")));
  await waitUntil("the PING's answer", () => pong, null, 5000);
  socket.destroy();
  return out;
}

describe.if(run)("--peer-cert-allowed-cn (etcd's TestEtcdPeerCNAuth): a member with another CN is refused and says why", () => {
  let root: string;
  const procs: Proc[] = [];
  const clientUrls: string[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "tls-deploy-peer-cn-"));
    const ca = await createCertificate({ commonName: "peer CA", isCa: true });
    const caFile = join(root, "ca.pem");
    writeFileSync(caFile, ca.certPem);
    const certs = await Promise.all(["etcd-member", "etcd-member", "intruder"].map((cn) => createCertificate({ commonName: cn, hosts: HOSTS, issuer: ca })));
    const peerPorts = [await freePort(), await freePort(), await freePort()];
    const cluster = peerPorts.map((p, i) => `e${i}=https://127.0.0.1:${p}`).join(",");
    for (let i = 0; i < 3; i++) {
      const files = save(root, `peer${i}`, certs[i]);
      clientUrls.push(`http://127.0.0.1:${await freePort()}`);
      mkdirSync(join(root, `e${i}`));
      procs.push(
        spawnEtcd(
          [
            "--name", `e${i}`, "--data-dir", join(root, `e${i}`, "data"),
            "--listen-client-urls", clientUrls[i], "--advertise-client-urls", clientUrls[i],
            "--listen-peer-urls", `https://127.0.0.1:${peerPorts[i]}`, "--initial-advertise-peer-urls", `https://127.0.0.1:${peerPorts[i]}`,
            "--initial-cluster", cluster,
            "--peer-cert-file", files.cert, "--peer-key-file", files.key, "--peer-trusted-ca-file", caFile, "--peer-client-cert-auth",
            "--peer-cert-allowed-cn", i < 2 ? "etcd-member" : "intruder",
          ],
          root,
        ),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(root, { recursive: true, force: true });
  }, 20_000);

  test("the two members with the allowed CN form a quorum and serve; the third logs etcd's TLS alert", async () => {
    await Promise.all([ready(procs[0]), ready(procs[1])]);
    expect(etcdctl(clientUrls[0], ["put", "k", "v"]).stdout).toBe("OK\n");
    expect(etcdctl(clientUrls[1], ["get", "k", "--print-value-only"]).stdout).toBe("v\n");
    await waitUntil("the refused member's log", () => procs[2].logs().includes("remote error: tls: bad certificate"), procs[2]);
    expect(procs[2].logs()).toContain("client certificate authentication failed");
    expect(procs[2].logs()).not.toContain("ready to serve client requests");
    // A member with the allowed CN says why it refused the intruder once the intruder's dial reaches
    // it (it dials both; its own refusal of their certificate may come first).
    const refusal = 'client certificate authentication failed: the certificate has CN \\"intruder\\"';
    await waitUntil("a member's log of the intruder's refused certificate", () => procs[0].logs().includes(refusal) || procs[1].logs().includes(refusal), procs[0]);
  }, 60_000);

  test("etcd's default --max-concurrent-streams (2^32-1) is what the client port advertises", async () => {
    const session = http2.connect(clientUrls[0]);
    try {
      await new Promise<void>((resolve, reject) => session.once("remoteSettings", () => resolve()).once("error", reject));
      expect(session.remoteSettings.maxConcurrentStreams).toBe(2 ** 32 - 1);
    } finally {
      session.destroy();
    }
  });
});

describe.if(run)("unix sockets: peers on unix:// URLs (etcd's TestEtcdUnixPeers), a 3-member cluster, etcdctl over unix://", () => {
  let root: string;
  const procs: Proc[] = [];

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "tls-deploy-unix-"));
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    rmSync(root, { recursive: true, force: true });
  }, 20_000);

  test("three members whose peer URLs are unix sockets in the working directory form a cluster; one serves clients on a unix socket", async () => {
    // As etcd: unix://e1.unix:1 is the socket file "e1.unix:1" in the working directory.
    const peer = (i: number) => `unix://e${i}.unix:${i}`;
    const cluster = [1, 2, 3].map((i) => `e${i}=${peer(i)}`).join(",");
    const clientUrls = [`unix://e1.client:2379`, `http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    for (const i of [1, 2, 3]) {
      procs.push(
        spawnEtcd(
          [
            "--name", `e${i}`, "--data-dir", `e${i}.etcd`,
            "--listen-peer-urls", peer(i), "--initial-advertise-peer-urls", peer(i), "--initial-cluster", cluster,
            "--listen-client-urls", clientUrls[i - 1], "--advertise-client-urls", clientUrls[i - 1],
          ],
          root,
        ),
      );
    }
    await Promise.all(procs.map(ready));
    expect(etcdctl(clientUrls[1], ["put", "over", "unix"]).stdout).toBe("OK\n");
    // The real etcdctl dials unix://e1.client:2379 as the file "e1.client:2379" in its working directory.
    const r = Bun.spawnSync(["etcdctl", "--endpoints", clientUrls[0], "get", "over", "--print-value-only"], { cwd: root, env: { ...process.env, ETCDCTL_API: "3" } });
    expect([r.exitCode, r.stdout.toString(), r.stderr.toString()]).toEqual([0, "unix\n", ""]);
    const members = etcdctl(clientUrls[2], ["member", "list"]).stdout;
    for (const i of [1, 2, 3]) expect(members).toContain(peer(i));
  }, 60_000);
});
