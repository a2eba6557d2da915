import { afterAll, beforeAll, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { etcdserverpb } from "../../proto/etcd.js";
import { type CertificateAndKey, createCertificate, createCrl } from "../../pkg/tls-cert.ts";
import { CLIENT_FLAGS, loadTlsSide, type TlsFiles, type TlsRefusal } from "../../pkg/tls-options.ts";
import { createClientPort } from "./client-port.ts";
import { frame } from "./framing.ts";
import { GrpcServer, type Call } from "./grpc-server.ts";
import { H2Server } from "./h2/server.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "client-port-"));
let ca: CertificateAndKey;
let alice: CertificateAndKey;
let port: net.Server;
let address: string;
const seen: (string | undefined)[] = [];
const tlsErrors: string[] = [];

beforeAll(async () => {
  ca = await createCertificate({ commonName: "ca", isCa: true });
  const server = await createCertificate({ commonName: "server", hosts: ["127.0.0.1"], issuer: ca });
  alice = await createCertificate({ commonName: "alice", issuer: ca });
  const write = (name: string, text: string) => (fs.writeFileSync(path.join(dir, name), text), path.join(dir, name));
  const side = loadTlsSide(
    { certFile: write("s.pem", server.certPem), keyFile: write("s-key.pem", server.keyPem), trustedCaFile: write("ca.pem", ca.certPem), clientCertAuth: true },
    { cipherSuites: [], minVersion: "TLS1.2" },
    CLIENT_FLAGS,
  );
  const grpc = new GrpcServer(
    {
      "/etcdserverpb.KV/Range": {
        kind: "unary",
        handle: (_req: unknown, call: Call) => {
          seen.push(call.tlsCommonName);
          return { header: {}, kvs: [], count: 0 };
        },
      },
    },
    { maxRecvBytes: 1 << 20, log: () => {} },
  );
  const h2 = new H2Server({ onStream: grpc.handleStream });
  const h1 = http.createServer((_req, res) => res.end("h1"));
  port = createClientPort(h2, h1, { tls: side, onTlsError: (e) => tlsErrors.push(e.code ?? e.message) });
  await new Promise<void>((r) => port.listen(0, "127.0.0.1", () => r()));
  address = `127.0.0.1:${(port.address() as net.AddressInfo).port}`;
});

afterAll(() => {
  port?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function range(url: string, options: http2.SecureClientSessionOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, options);
    session.on("error", reject);
    // A connection the server closes after the TLS handshake (a refused certificate) ends the session.
    session.on("close", () => reject(new Error("connection closed")));
    const req = session.request({ ":method": "POST", ":path": "/etcdserverpb.KV/Range", "content-type": "application/grpc", te: "trailers" });
    req.on("trailers", (t) => {
      resolve(Number(t["grpc-status"]));
      session.close();
    });
    req.on("error", reject);
    req.end(frame(etcdserverpb.RangeRequest.encode({ key: Buffer.from("k") }).finish()));
  });
}

test("gRPC over TLS (ALPN h2): the verified client certificate's CN reaches Call.tlsCommonName", async () => {
  expect(await range(`https://${address}`, { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem })).toBe(0);
  expect(seen).toEqual(["alice"]);
});

test("without a client certificate the handshake is refused and reported; plaintext too; the port keeps serving", async () => {
  await expect(range(`https://${address}`, { ca: ca.certPem })).rejects.toThrow();
  await new Promise<void>((resolve) => {
    const s = net.connect(Number(address.split(":")[1]), "127.0.0.1", () => s.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    s.on("data", () => {});
    s.on("error", () => {});
    s.on("close", () => resolve());
  });
  expect(tlsErrors.length).toBeGreaterThanOrEqual(2);
  expect(tlsErrors.some((e) => /CERTIFICATE/.test(e))).toBe(true);
  expect(tlsErrors.some((e) => /HTTP_REQUEST|WRONG_VERSION/.test(e))).toBe(true);
  expect(await range(`https://${address}`, { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem })).toBe(0);
});

/** Another TLS client port with `extra` settings; the CNs its calls saw, the refusals it reported. */
async function portWith(extra: Partial<TlsFiles>): Promise<{ url: string; seen: (string | undefined)[]; refused: TlsRefusal[] }> {
  const server = await createCertificate({ commonName: "server", hosts: ["127.0.0.1"], issuer: ca, rsaBits: 1024 });
  const write = (name: string, text: string) => (fs.writeFileSync(path.join(dir, name), text), path.join(dir, name));
  const side = loadTlsSide(
    { certFile: write("s2.pem", server.certPem), keyFile: write("s2-key.pem", server.keyPem), trustedCaFile: write("ca.pem", ca.certPem), clientCertAuth: true, ...extra },
    { cipherSuites: [], minVersion: "TLS1.2" },
    CLIENT_FLAGS,
  );
  const out = { url: "", seen: [] as (string | undefined)[], refused: [] as TlsRefusal[] };
  const grpc = new GrpcServer(
    { "/etcdserverpb.KV/Range": { kind: "unary", handle: (_req: unknown, call: Call) => (out.seen.push(call.tlsCommonName), { header: {}, kvs: [], count: 0 }) } },
    { maxRecvBytes: 1 << 20, log: () => {} },
  );
  const p = createClientPort(new H2Server({ onStream: grpc.handleStream }), http.createServer(), { tls: side, onRefused: (r) => out.refused.push(r) });
  await new Promise<void>((r) => p.listen(0, "127.0.0.1", () => r()));
  more.push(p);
  out.url = `https://127.0.0.1:${(p.address() as net.AddressInfo).port}`;
  return out;
}
const more: net.Server[] = [];
afterAll(() => more.forEach((p) => p.close()));

test("--client-crl-file: a revoked client certificate is refused after the handshake and reported; others are served", async () => {
  const revoked = await createCertificate({ commonName: "mallory", issuer: ca, rsaBits: 1024 });
  const crl = await createCrl({ issuer: ca, revokedSerials: [new X509Certificate(revoked.certPem).serialNumber] });
  const crlFile = path.join(dir, "revoked.crl");
  fs.writeFileSync(crlFile, crl.der);
  const p = await portWith({ crlFile });
  await expect(range(p.url, { ca: ca.certPem, cert: revoked.certPem, key: revoked.keyPem })).rejects.toThrow();
  expect(p.refused.map((r) => [r.alert, r.message.replace(/[0-9a-f]{20,}/, "<serial>")])).toEqual([["revoked certificate", "transport: certificate serial <serial> revoked"]]);
  expect(await range(p.url, { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem })).toBe(0);
  expect(p.seen).toEqual(["alice"]);
});

test("--client-cert-allowed-hostname: only certificates valid for an allowed host are served", async () => {
  const forHost = await createCertificate({ commonName: "bob", hosts: ["client.etcd.example"], issuer: ca, rsaBits: 1024 });
  const p = await portWith({ allowedHostnames: ["client.etcd.example"] });
  await expect(range(p.url, { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem })).rejects.toThrow();
  expect(p.refused.map((r) => r.message)).toEqual(["client certificate authentication failed: the certificate is for no host (no DNS or IP SAN), --client-cert-allowed-hostname allows client.etcd.example"]);
  expect(await range(p.url, { ca: ca.certPem, cert: forHost.certPem, key: forHost.keyPem })).toBe(0);
  expect(p.seen).toEqual(["bob"]);
});

test("a trusted CA without --client-cert-auth still requires a client certificate (as etcd), but its CN is no user", async () => {
  const p = await portWith({ clientCertAuth: false });
  await expect(range(p.url, { ca: ca.certPem })).rejects.toThrow();
  expect(await range(p.url, { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem })).toBe(0);
  expect(p.seen).toEqual([undefined]);
});
