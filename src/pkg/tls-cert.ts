// X.509 certificates made here: --auto-tls / --peer-auto-tls (a self-signed certificate in the data
// dir, as etcd's transport.SelfCert) and the test suites' CAs and certificates. node:crypto makes the
// RSA keys; node-forge (pure JS, no dependencies) encodes and signs the certificate, which node:crypto
// cannot. It is loaded on first use, so a server without auto-TLS never evaluates it.
import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import fs from "node:fs";
import { isIP } from "node:net";
import path from "node:path";

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
