// Peer TLS checks after the handshake (--peer-cert-allowed-cn, --peer-cert-allowed-hostname,
// --peer-crl-file) between real PeerTransports, and peers on unix sockets (unix://, unixs://).
import { afterAll, afterEach, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type CertificateAndKey, createCertificate, createCrl } from "../../pkg/tls-cert.ts";
import { loadTlsSide, PEER_FLAGS, type TlsFiles, type TlsSide } from "../../pkg/tls-options.ts";
import { type Message, message, MessageType } from "../../raft/types.ts";
import { PeerTransport } from "./peer-transport.ts";

const CLUSTER = 0x1000n;
const [A, B, C] = [0xan, 0xbn, 0xcn];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "peer-tls-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Member {
  id: bigint;
  url: string;
  t: PeerTransport;
  got: Message[];
  /** every log line's message and error field, "msg | error" */
  logs: string[];
}

async function member(id: bigint, url: string, tls?: TlsSide): Promise<Member> {
  const m = { id, url, got: [] as Message[], logs: [] as string[] } as Member;
  m.t = new PeerTransport({
    memberId: id,
    clusterId: CLUSTER,
    listenUrls: [url],
    tls,
    onMessage: (msg) => m.got.push(msg),
    log: (_level, msg, fields) => m.logs.push(`${msg} | ${String(fields?.error ?? "")}`),
    probeIntervalMs: 0,
  });
  await m.t.start();
  if (url.endsWith(":0")) m.url = m.t.listenAddresses()[0];
  cleanup.push(() => m.t.stop());
  return m;
}

const ping = (from: bigint, to: bigint): Message => message({ type: MessageType.Heartbeat, from, to, term: 1 });

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

let ca: CertificateAndKey;
async function side(commonName: string, extra: Partial<TlsFiles> = {}, hosts = ["127.0.0.1", "localhost"]): Promise<{ tls: TlsSide; cert: CertificateAndKey }> {
  ca ??= await createCertificate({ commonName: "peer-ca", isCa: true, rsaBits: 1024 });
  const cert = await createCertificate({ commonName, hosts, issuer: ca, rsaBits: 1024 });
  const base = path.join(dir, `${commonName}-${Math.random().toString(36).slice(2)}`);
  const files: TlsFiles = { certFile: `${base}.pem`, keyFile: `${base}-key.pem`, trustedCaFile: path.join(dir, "ca.pem"), clientCertAuth: true, ...extra };
  fs.writeFileSync(files.certFile, cert.certPem);
  fs.writeFileSync(files.keyFile, cert.keyPem);
  fs.writeFileSync(files.trustedCaFile, ca.certPem);
  return { tls: loadTlsSide(files, { cipherSuites: [], minVersion: "TLS1.2" }, PEER_FLAGS), cert };
}

const REMOTE_BAD = /remote error: tls: bad certificate/;

test("--peer-cert-allowed-cn: members with an allowed CN talk; a refused member is told, and logs etcd's TLS alert", async () => {
  const a = await member(A, "https://127.0.0.1:0", (await side("etcd-member", { allowedCns: ["etcd-member"] })).tls);
  const b = await member(B, "https://127.0.0.1:0", (await side("etcd-member", { allowedCns: ["etcd-member"] })).tls);
  a.t.addPeer(B, [b.url]);
  a.t.send([ping(A, B)]);
  await waitFor("a reaches b", () => b.got.length === 1);

  // c accepts b's certificate, but b does not accept c's CN: b refuses after the handshake, c learns why.
  const c = await member(C, "https://127.0.0.1:0", (await side("intruder", { allowedCns: ["etcd-member"] })).tls);
  c.t.addPeer(B, [b.url]);
  c.t.send([ping(C, B)]);
  await waitFor("c logs the alert", () => c.logs.some((l) => REMOTE_BAD.test(l)));
  await waitFor("b logs the refusal", () => b.logs.some((l) => l.includes('client certificate authentication failed: the certificate has CN "intruder"')));
  expect(b.got.length).toBe(1);

  // The other way round: d dials b but does not accept b's CN; d refuses b, and b is told.
  const d = await member(0xdn, "https://127.0.0.1:0", (await side("etcd-member", { allowedCns: ["someone-else"] })).tls);
  d.t.addPeer(B, [b.url]);
  d.t.send([ping(0xdn, B)]);
  await waitFor("d logs its own check", () => d.logs.some((l) => l.includes('client certificate authentication failed: the certificate has CN "etcd-member", --peer-cert-allowed-cn allows "someone-else"')));
  await waitFor("b logs that the dialer refused it", () => b.logs.some((l) => l.startsWith("rejected a peer connection: the dialing member refused") && REMOTE_BAD.test(l)));
  expect(b.got.length).toBe(1);
});

test("--peer-cert-allowed-hostname: the certificate must be valid for the allowed host (SANs), both ways", async () => {
  const rule = { allowedHostnames: ["m.etcd.example"] };
  const a = await member(A, "https://127.0.0.1:0", (await side("a", rule, ["127.0.0.1", "m.etcd.example"])).tls);
  const b = await member(B, "https://127.0.0.1:0", (await side("b", rule, ["127.0.0.1", "m.etcd.example"])).tls);
  const c = await member(C, "https://127.0.0.1:0", (await side("m.etcd.example", rule, ["127.0.0.1"])).tls);
  a.t.addPeer(B, [b.url]);
  a.t.send([ping(A, B)]);
  await waitFor("a reaches b", () => b.got.length === 1);
  c.t.addPeer(B, [b.url]);
  c.t.send([ping(C, B)]);
  // b's certificate is valid for m.etcd.example, so c dials it; c's own is not (its CN does not count).
  await waitFor("c logs the alert", () => c.logs.some((l) => REMOTE_BAD.test(l)));
  expect(b.logs.some((l) => l.includes("client certificate authentication failed: the certificate is for 127.0.0.1, --peer-cert-allowed-hostname allows m.etcd.example"))).toBe(true);
  expect(b.got.length).toBe(1);
});

test("--peer-crl-file: a member with a revoked certificate is refused; a new CRL without it lets it in, no restart", async () => {
  const revoked = await side("c");
  const crlFile = path.join(dir, "peers.crl");
  const serial = new X509Certificate(revoked.cert.certPem).serialNumber;
  fs.writeFileSync(crlFile, (await createCrl({ issuer: ca, revokedSerials: [serial] })).pem);
  const b = await member(B, "https://127.0.0.1:0", (await side("b", { crlFile })).tls);
  const c = await member(C, "https://127.0.0.1:0", revoked.tls);
  c.t.addPeer(B, [b.url]);
  c.t.send([ping(C, B)]);
  await waitFor("c logs the alert", () => c.logs.some((l) => /remote error: tls: revoked certificate/.test(l)));
  expect(b.logs.some((l) => l.includes(`transport: certificate serial ${serial.toLowerCase().replace(/^(00)+/, "")} revoked`))).toBe(true);
  expect(b.got.length).toBe(0);

  fs.writeFileSync(crlFile, (await createCrl({ issuer: ca, revokedSerials: [] })).der);
  await waitFor("c gets through once the CRL no longer lists it", () => {
    if (b.got.length === 0) c.t.send([ping(C, B)]);
    return b.got.length > 0;
  }, 10_000);
});

test("unix:// and unixs:// peers: the socket file is the URL's rest; frames and TLS are as over TCP", async () => {
  const sock = (name: string) => path.join(dir, name);
  const a = await member(A, `unix://${sock("a.sock")}`);
  const b = await member(B, `unix://${sock("b:2380")}`);
  expect(fs.statSync(sock("b:2380")).isSocket()).toBe(true);
  a.t.addPeer(B, [b.url]);
  a.t.send([ping(A, B)]);
  await waitFor("a reaches b over a unix socket", () => b.got.length === 1);

  const s1 = await member(0x51n, `unixs://${sock("s1.sock")}`, (await side("s1")).tls);
  const s2 = await member(0x52n, `unixs://${sock("s2.sock")}`, (await side("s2")).tls);
  s1.t.addPeer(0x52n, [s2.url]);
  s1.t.send([ping(0x51n, 0x52n)]);
  await waitFor("s1 reaches s2 over TLS on a unix socket", () => s2.got.length === 1);
  await s2.t.stop();
  expect(fs.existsSync(sock("s2.sock"))).toBe(false); // removed when the listener closes
});
