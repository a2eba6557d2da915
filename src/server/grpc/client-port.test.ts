import { afterAll, beforeAll, expect, test } from "bun:test";
import fs from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { etcdserverpb } from "../../proto/etcd.js";
import { type CertificateAndKey, createCertificate } from "../../pkg/tls-cert.ts";
import { CLIENT_FLAGS, loadTlsSide } from "../../pkg/tls-options.ts";
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
  port = createClientPort(h2, h1, { tls: side.server, onTlsError: (e) => tlsErrors.push(e.code ?? e.message) });
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
