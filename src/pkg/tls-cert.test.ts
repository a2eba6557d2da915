import { afterAll, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createCertificate, ensureSelfSignedCertificate } from "./tls-cert.ts";
import { CLIENT_FLAGS, loadTlsSide, prepareTlsSide } from "./tls-options.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tls-cert-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("a CA signs a leaf for IPs and names; the chain and the validity period check out", async () => {
  const ca = await createCertificate({ commonName: "test CA", isCa: true });
  const notAfter = new Date(Date.now() + 3600_000);
  const leaf = await createCertificate({ commonName: "member-1", hosts: ["127.0.0.1", "::1", "localhost"], issuer: ca, notAfter });
  const caCert = new X509Certificate(ca.certPem);
  const leafCert = new X509Certificate(leaf.certPem);
  expect(caCert.ca).toBe(true);
  expect(leafCert.ca).toBe(false);
  expect(leafCert.checkIssued(caCert)).toBe(true);
  expect(leafCert.verify(caCert.publicKey)).toBe(true);
  expect(leafCert.subject).toBe("CN=member-1");
  expect(leafCert.subjectAltName).toBe("IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost");
  expect(Math.abs(Date.parse(leafCert.validTo) - notAfter.getTime())).toBeLessThan(1000);
  expect(leafCert.checkPrivateKey((await import("node:crypto")).createPrivateKey(leaf.keyPem))).toBe(true);
});

test("auto TLS: made once into the directory, reused while valid for the hosts, remade for new hosts", async () => {
  const d = path.join(dir, "fixtures", "client");
  const first = await ensureSelfSignedCertificate(d, ["127.0.0.1", "localhost"]);
  expect(first.created).toBe(true);
  expect((fs.statSync(first.keyFile).mode & 0o777).toString(8)).toBe("600");
  const pem = fs.readFileSync(first.certFile, "utf8");
  const again = await ensureSelfSignedCertificate(d, ["127.0.0.1"]);
  expect(again.created).toBe(false);
  expect(fs.readFileSync(again.certFile, "utf8")).toBe(pem);
  const more = await ensureSelfSignedCertificate(d, ["127.0.0.1", "10.0.0.7"]);
  expect(more.created).toBe(true);
  expect(new X509Certificate(fs.readFileSync(more.certFile)).subjectAltName).toContain("IP Address:10.0.0.7");
});

test("loading names the flag and file that cannot be read or used; self-signed turns verification off", async () => {
  const files = { certFile: path.join(dir, "nope.pem"), keyFile: path.join(dir, "nope-key.pem"), trustedCaFile: "", clientCertAuth: false };
  const policy = { cipherSuites: [], minVersion: "TLS1.2" as const };
  expect(() => loadTlsSide(files, policy, CLIENT_FLAGS)).toThrow(`Cannot read --cert-file '${files.certFile}': no such file`);
  const garbage = path.join(dir, "garbage.pem");
  fs.writeFileSync(garbage, "not a certificate");
  expect(() => loadTlsSide({ ...files, certFile: garbage, keyFile: garbage }, policy, CLIENT_FLAGS)).toThrow(`Cannot use --cert-file '${garbage}' with --key-file '${garbage}'`);
  const auto = await prepareTlsSide(
    { ...files, certFile: "", keyFile: "", clientCertAuth: true, autoTls: true, autoTlsDir: path.join(dir, "auto"), hosts: ["127.0.0.1"] },
    policy,
    CLIENT_FLAGS,
  );
  expect(auto!.side.client.rejectUnauthorized).toBe(false);
  // etcd ignores --client-cert-auth with a self-signed certificate
  expect(auto!.side.clientCertAuth).toBe(false);
  expect(await prepareTlsSide({ ...files, certFile: "", keyFile: "", autoTls: false, autoTlsDir: "", hosts: [] }, policy, CLIENT_FLAGS)).toBeNull();
});
