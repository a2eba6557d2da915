// X.509 certificates made here: --auto-tls / --peer-auto-tls (a self-signed certificate in the data
// dir, as etcd's transport.SelfCert) and the test suites' CAs and certificates. node:crypto makes the
// RSA keys; node-forge (pure JS, no dependencies) encodes and signs the certificate, which node:crypto
// cannot. It is loaded on first use, so a server without auto-TLS never evaluates it.
import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import fs from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import type forgeTypes from "node-forge";

export interface CertificateSpec {
  commonName: string;
  /** subjectAltName entries: IP addresses and DNS names (a leading "*." is allowed). */
  hosts?: readonly string[];
  /** A CA certificate (basicConstraints cA, keyCertSign) rather than a leaf. */
  isCa?: boolean;
  /** Default: now minus one minute (clock skew between members). */
  notBefore?: Date;
  /** Default: one year after notBefore. */
  notAfter?: Date;
  /** Signs the new certificate; absent: self-signed. */
  issuer?: CertificateAndKey;
  /** Default 2048. */
  rsaBits?: number;
}

export interface CertificateAndKey {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/** Makes an RSA key and a certificate for it (server and client use both allowed, as etcd's SelfCert). */
export async function createCertificate(spec: CertificateSpec): Promise<CertificateAndKey> {
  const { default: forge } = await import("node-forge");
  const keys = generateKeyPairSync("rsa", {
    modulusLength: spec.rsaBits ?? 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKey);
  // A positive 127-bit serial: the high bit of the first byte clear, so DER needs no sign byte.
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  cert.serialNumber = serial.toString("hex");
  const notBefore = spec.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = spec.notAfter ?? new Date(notBefore.getTime() + ONE_YEAR_MS);
  const subject = [{ name: "commonName", value: spec.commonName }];
  cert.setSubject(subject);
  const issuerCert = spec.issuer ? forge.pki.certificateFromPem(spec.issuer.certPem) : null;
  cert.setIssuer(issuerCert ? issuerCert.subject.attributes : subject);
  const extensions: object[] = [
    { name: "basicConstraints", cA: spec.isCa === true, critical: true },
    spec.isCa
      ? { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
      : { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ];
  if (!spec.isCa) extensions.push({ name: "extKeyUsage", serverAuth: true, clientAuth: true });
  const hosts = spec.hosts ?? [];
  if (hosts.length > 0) {
    extensions.push({ name: "subjectAltName", altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) });
  }
  cert.setExtensions(extensions);
  const signer = forge.pki.privateKeyFromPem(spec.issuer ? spec.issuer.keyPem : keys.privateKey);
  cert.sign(signer, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKey };
}

/**
 * --auto-tls / --peer-auto-tls: cert.pem and key.pem in `dir` (etcd: <data-dir>/fixtures/client and
 * /peer), made once and reused while they are valid for another day and name every host asked for.
 * Returns the two paths.
 */
export async function ensureSelfSignedCertificate(dir: string, hosts: readonly string[], commonName = "etcd-ts"): Promise<{ certFile: string; keyFile: string; created: boolean }> {
  const certFile = path.join(dir, "cert.pem");
  const keyFile = path.join(dir, "key.pem");
  if (fs.existsSync(certFile) && fs.existsSync(keyFile) && stillGood(fs.readFileSync(certFile, "utf8"), hosts)) {
    return { certFile, keyFile, created: false };
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const made = await createCertificate({ commonName, hosts: [...new Set(hosts)] });
  fs.writeFileSync(keyFile, made.keyPem, { mode: 0o600 });
  fs.writeFileSync(certFile, made.certPem, { mode: 0o644 });
  return { certFile, keyFile, created: true };
}

function stillGood(pem: string, hosts: readonly string[]): boolean {
  try {
    const c = new X509Certificate(pem);
    if (Date.parse(c.validTo) < Date.now() + 24 * 3600 * 1000) return false;
    const names = (c.subjectAltName ?? "").split(",").map((s) => s.trim().replace(/^(DNS|IP Address):/, ""));
    return hosts.every((h) => names.includes(h));
  } catch {
    return false;
  }
}

export interface CrlSpec {
  /** The CA that signs the list. */
  issuer: CertificateAndKey;
  /** Serial numbers revoked, as hex (a certificate's serial as node:crypto's X509Certificate prints it). */
  revokedSerials: readonly string[];
  /** Default: now minus one minute. */
  thisUpdate?: Date;
  /** Default: a week after thisUpdate. */
  nextUpdate?: Date;
}

/**
 * A certificate revocation list (X.509 v2 CRL, sha256WithRSA) signed by `issuer`, as PEM and DER: for
 * --client-crl-file / --peer-crl-file in tests and for operators' scripts. node-forge has no CRL
 * support, so the structure is written with its ASN.1 helpers (RFC 5280 section 5.1).
 */
export async function createCrl(spec: CrlSpec): Promise<{ pem: string; der: Buffer }> {
  const { default: forge } = await import("node-forge");
  const { asn1 } = forge;
  const C = asn1.Class.UNIVERSAL;
  const T = asn1.Type;
  const seq = (items: unknown[]) => asn1.create(C, T.SEQUENCE, true, items as forgeTypes.asn1.Asn1[]);
  const time = (d: Date) => asn1.create(C, T.UTCTIME, false, asn1.dateToUtcTime(d));
  const integer = (hex: string) => {
    let bytes = forge.util.hexToBytes(hex.length % 2 ? `0${hex}` : hex);
    if (bytes.charCodeAt(0) & 0x80) bytes = `\x00${bytes}`; // keep it positive
    return asn1.create(C, T.INTEGER, false, bytes);
  };
  const sha256WithRsa = seq([asn1.create(C, T.OID, false, asn1.oidToDer("1.2.840.113549.1.1.11").getBytes()), asn1.create(C, T.NULL, false, "")]);
  const issuerCert = forge.pki.certificateFromPem(spec.issuer.certPem);
  const thisUpdate = spec.thisUpdate ?? new Date(Date.now() - 60_000);
  const nextUpdate = spec.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * 24 * 3600 * 1000);
  const fields: unknown[] = [
    asn1.create(C, T.INTEGER, false, "\x01"), // v2
    sha256WithRsa,
    forge.pki.distinguishedNameToAsn1(issuerCert.subject),
    time(thisUpdate),
    time(nextUpdate),
  ];
  if (spec.revokedSerials.length > 0) fields.push(seq(spec.revokedSerials.map((s) => seq([integer(s.toLowerCase()), time(thisUpdate)]))));
  const tbs = seq(fields);
  const md = forge.md.sha256.create();
  md.update(asn1.toDer(tbs).getBytes());
  const signature = (forge.pki.privateKeyFromPem(spec.issuer.keyPem) as forgeTypes.pki.rsa.PrivateKey).sign(md);
  const crl = seq([tbs, sha256WithRsa, asn1.create(C, T.BITSTRING, false, `\x00${signature}`)]);
  const der = Buffer.from(asn1.toDer(crl).getBytes(), "binary");
  const b64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  return { pem: `-----BEGIN X509 CRL-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END X509 CRL-----\n`, der };
}
