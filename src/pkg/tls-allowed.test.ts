import { expect, test } from "bun:test";
import { allowedNamesRefusal, parseIp, splitAllowed, verifyHostname } from "./tls-allowed.ts";
import type { CertificateNames } from "./tls-x509.ts";

const ip = (s: string) => {
  const b = parseIp(s)!;
  // Certificates carry IPv4 SANs as 4 bytes.
  return s.includes(":") ? b : b.subarray(12);
};
const cert = (o: Partial<CertificateNames>): CertificateNames => ({ serial: "01", commonName: "", dnsNames: [], ipAddresses: [], ...o });
const flags = { cnFlag: "--peer-cert-allowed-cn", hostnameFlag: "--peer-cert-allowed-hostname" };

test("hostnames match Go's VerifyHostname: IPs against IP SANs, names against DNS SANs, one-label wildcards", () => {
  const c = cert({ commonName: "node.example", dnsNames: ["Member-1.Etcd.Local", "*.peers.example", "under_score.example"], ipAddresses: [ip("10.0.0.7"), ip("fd00::7")] });
  const yes = ["10.0.0.7", "::ffff:10.0.0.7", "fd00::7", "[fd00::7]", "FD00:0:0:0:0:0:0:7", "member-1.etcd.local", "MEMBER-1.ETCD.LOCAL.", "a.peers.example", "under_score.example"];
  const no = ["10.0.0.8", "fd00::8", "peers.example", "a.b.peers.example", "node.example", "member-1.etcd", "", "*.peers.example."];
  for (const h of yes) expect([h, verifyHostname(c, h)]).toEqual([h, true]);
  for (const h of no) expect([h, verifyHostname(c, h)]).toEqual([h, false]);
  // An IP never matches a DNS SAN that spells it, nor the CN (Go ignores the CN for host names).
  expect(verifyHostname(cert({ dnsNames: ["127.0.0.1"], commonName: "127.0.0.1" }), "127.0.0.1")).toBe(false);
});

test("allowed CNs are exact; any one of several is enough; the refusal says what was presented and what is allowed", () => {
  const a = { ...flags, commonNames: ["etcd-peer", "etcd-peer-2"], hostnames: [] };
  expect(allowedNamesRefusal(cert({ commonName: "etcd-peer-2" }), a)).toBeUndefined();
  expect(allowedNamesRefusal(cert({ commonName: "Etcd-Peer" }), a)).toBe(
    'client certificate authentication failed: the certificate has CN "Etcd-Peer", --peer-cert-allowed-cn allows "etcd-peer", "etcd-peer-2"',
  );
  expect(allowedNamesRefusal(cert({}), a)).toContain("the certificate has no CN");
});

test("allowed hostnames: a certificate valid for any of them passes; without SANs it names none", () => {
  const a = { ...flags, commonNames: [], hostnames: ["member-2.etcd.local", "10.0.0.7"] };
  expect(allowedNamesRefusal(cert({ ipAddresses: [ip("10.0.0.7")] }), a)).toBeUndefined();
  expect(allowedNamesRefusal(cert({ dnsNames: ["*.etcd.local"] }), a)).toBeUndefined();
  expect(allowedNamesRefusal(cert({ dnsNames: ["localhost"], ipAddresses: [ip("127.0.0.1"), ip("::1")] }), a)).toBe(
    "client certificate authentication failed: the certificate is for localhost, 127.0.0.1, ::1, --peer-cert-allowed-hostname allows member-2.etcd.local, 10.0.0.7",
  );
  expect(allowedNamesRefusal(cert({ commonName: "member-2.etcd.local" }), a)).toContain("no host (no DNS or IP SAN)");
  // No rule: everyone verified is allowed.
  expect(allowedNamesRefusal(cert({}), { ...flags, commonNames: [], hostnames: [] })).toBeUndefined();
});

test("values split on commas as etcd 3.6 does; IPs parse to 16 bytes", () => {
  expect(splitAllowed(" a.example, ,b.example,")).toEqual(["a.example", "b.example"]);
  expect(Buffer.from(parseIp("::ffff:1.2.3.4")!).toString("hex")).toBe("00000000000000000000ffff01020304");
  expect(Buffer.from(parseIp("1.2.3.4")!).toString("hex")).toBe("00000000000000000000ffff01020304");
  expect(Buffer.from(parseIp("2001:db8::1:0:0:1")!).toString("hex")).toBe("20010db8000000000001000000000001");
  expect(parseIp("fe80::1%eth0")).toBeNull();
  expect(parseIp("example.com")).toBeNull();
});
