import { expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import { createCertificate } from "./tls-cert.ts";
import { DerError, pemBlocks } from "./tls-der.ts";
import { readCertificate } from "./tls-x509.ts";

const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";

test("reads serial, CN and SANs (DNS names and 4- and 16-byte IPs) from a certificate's DER", async () => {
  const made = await createCertificate({ commonName: "member-1", hosts: ["127.0.0.1", "::1", "localhost", "*.etcd.example"], rsaBits: 1024 });
  const x = new X509Certificate(made.certPem);
  const c = readCertificate(x.raw);
  expect(c.commonName).toBe("member-1");
  expect(c.dnsNames).toEqual(["localhost", "*.etcd.example"]);
  expect(c.ipAddresses.map((b) => Buffer.from(b).toString("hex"))).toEqual(["7f000001", "00000000000000000000000000000001"]);
  // node:crypto prints the serial in upper-case hex; ours is the magnitude's bytes, lower case.
  expect(c.serial).toBe(x.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ""));
  expect(readCertificate(pemBlocks(made.certPem, "CERTIFICATE")[0])).toEqual(c);
});

test("a certificate without SANs or CN reads as empty lists and an empty CN", async () => {
  const made = await createCertificate({ commonName: "", rsaBits: 1024 });
  const c = readCertificate(new X509Certificate(made.certPem).raw);
  expect(c).toMatchObject({ commonName: "", dnsNames: [], ipAddresses: [] });
});

test("malformed DER is a DerError, not a crash", () => {
  expect(() => readCertificate(new Uint8Array([0x30, 0x05, 0x02, 0x01]))).toThrow(DerError);
  expect(() => readCertificate(new Uint8Array([0x04, 0x00]))).toThrow("certificate: expected tag 0x30");
  expect(() => readCertificate(new Uint8Array([0x30, 0x80, 0x00, 0x00]))).toThrow("unsupported DER length form");
});

test.if(fs.existsSync(`${FIXTURES}/server.crt`))("etcd's own fixture certificate reads as openssl shows it", () => {
  const [der] = pemBlocks(fs.readFileSync(`${FIXTURES}/server.crt`, "latin1"), "CERTIFICATE");
  const c = readCertificate(der);
  expect(c).toMatchObject({ serial: "3cc1fcf0491d8ba24fabee7bd37faa1851fb5663", commonName: "example.com", dnsNames: ["localhost"] });
  expect(c.ipAddresses.map((b) => [...b].join("."))).toEqual(["127.0.0.1"]);
});
