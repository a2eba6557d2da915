import { afterAll, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createCertificate, createCrl } from "./tls-cert.ts";
import { CrlFile, parseCrl } from "./tls-crl.ts";
import { pemBlocks } from "./tls-der.ts";
import { readCertificate } from "./tls-x509.ts";

const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crl-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const serialOf = (pem: string) => readCertificate(new X509Certificate(pem).raw).serial;

test("a CRL's revoked serials read the same from PEM and DER, and match the certificates' serials", async () => {
  const ca = await createCertificate({ commonName: "ca", isCa: true, rsaBits: 1024 });
  const [bad, good] = await Promise.all([createCertificate({ commonName: "bad", issuer: ca, rsaBits: 1024 }), createCertificate({ commonName: "good", issuer: ca, rsaBits: 1024 })]);
  const crl = await createCrl({ issuer: ca, revokedSerials: [new X509Certificate(bad.certPem).serialNumber, "00ff", "7"] });
  const fromPem = parseCrl(Buffer.from(crl.pem));
  expect(fromPem).toEqual(parseCrl(crl.der));
  expect(fromPem.has(serialOf(bad.certPem))).toBe(true);
  expect(fromPem.has(serialOf(good.certPem))).toBe(false);
  // Leading zero bytes do not count, as with Go's big.Int.Bytes().
  expect([...fromPem].slice(1)).toEqual(["ff", "07"]);
  expect(parseCrl((await createCrl({ issuer: ca, revokedSerials: [] })).der).size).toBe(0);
});

test("what is not a CRL is refused with the reason", () => {
  expect(() => parseCrl(Buffer.from("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))).toThrow('no "X509 CRL" PEM block');
  expect(() => parseCrl(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]))).toThrow("tbsCertList");
});

test.if(fs.existsSync(`${FIXTURES}/revoke.crl`))("etcd's fixture revoke.crl (DER, long expired) revokes server-revoked.crt and nothing else there", () => {
  const revoked = parseCrl(fs.readFileSync(`${FIXTURES}/revoke.crl`));
  const serial = (f: string) => readCertificate(pemBlocks(fs.readFileSync(`${FIXTURES}/${f}`, "latin1"), "CERTIFICATE")[0]).serial;
  expect([...revoked]).toEqual([serial("server-revoked.crt")]);
  expect(revoked.has(serial("server.crt"))).toBe(false);
});

test("CrlFile: refuses listed serials with etcd's text, reads a replaced file again, fails closed when unreadable", async () => {
  const ca = await createCertificate({ commonName: "ca", isCa: true, rsaBits: 1024 });
  const file = path.join(dir, "crl.pem");
  fs.writeFileSync(file, (await createCrl({ issuer: ca, revokedSerials: ["0abc"] })).pem);
  const crl = new CrlFile(file, "--client-crl-file");
  crl.load();
  expect(crl.refusal(["1234", "0abc"])).toBe("transport: certificate serial 0abc revoked");
  expect(crl.refusal(["1234"])).toBeUndefined();

  // A new list takes effect without a restart (DER this time).
  fs.writeFileSync(file, (await createCrl({ issuer: ca, revokedSerials: ["1234", "5678"] })).der);
  expect(crl.refusal(["0abc"])).toBeUndefined();
  expect(crl.refusal(["1234"])).toBe("transport: certificate serial 1234 revoked");

  fs.writeFileSync(file, "garbage");
  expect(crl.refusal(["0abc"])).toStartWith(`Cannot read --client-crl-file '${file}': not a certificate revocation list`);
  fs.rmSync(file);
  expect(crl.refusal(["0abc"])).toBe(`Cannot read --client-crl-file '${file}': no such file`);
  expect(() => new CrlFile(file, "--peer-crl-file").load()).toThrow(`Cannot read --peer-crl-file '${file}': no such file`);
});
