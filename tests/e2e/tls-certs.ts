// Test certificates, made at test time (nothing to install): a CA with server, peer and client
// certificates for 127.0.0.1/localhost, a second CA for the "wrong CA" cases, and an expired client
// certificate. Written as PEM files into a temp dir for etcd's and etcdctl's flags.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CertificateAndKey, createCertificate } from "../../src/pkg/tls-cert.ts";

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** the CA's certificate file (--trusted-ca-file, --cacert) */
  ca: string;
  /** a second CA, trusted by nobody */
  otherCa: string;
  server: CertFiles;
  peer: CertFiles;
  /** CN "root": the user name with --client-cert-auth */
  client: CertFiles;
  /** signed by the other CA */
  wrongCaPeer: CertFiles;
  wrongCaClient: CertFiles;
  /** signed by the CA, but valid only until yesterday */
  expiredClient: CertFiles;
}

const HOSTS = ["127.0.0.1", "localhost", "::1"];

function save(dir: string, name: string, c: CertificateAndKey): CertFiles {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  writeFileSync(cert, c.certPem);
  writeFileSync(key, c.keyPem, { mode: 0o600 });
  return { cert, key };
}

export async function makeTestPki(dir: string): Promise<TestPki> {
  mkdirSync(dir, { recursive: true });
  const ca = await createCertificate({ commonName: "etcd-ts test CA", isCa: true });
  const otherCa = await createCertificate({ commonName: "another CA", isCa: true });
  const day = 24 * 3600 * 1000;
  const [server, peer, client, wrongCaPeer, wrongCaClient, expiredClient] = await Promise.all([
    createCertificate({ commonName: "etcd-server", hosts: HOSTS, issuer: ca }),
    createCertificate({ commonName: "etcd-peer", hosts: HOSTS, issuer: ca }),
    createCertificate({ commonName: "root", hosts: HOSTS, issuer: ca }),
    createCertificate({ commonName: "intruder", hosts: HOSTS, issuer: otherCa }),
    createCertificate({ commonName: "root", hosts: HOSTS, issuer: otherCa }),
    createCertificate({ commonName: "root", hosts: HOSTS, issuer: ca, notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) }),
  ]);
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, ca.certPem);
  const otherCaFile = join(dir, "other-ca.pem");
  writeFileSync(otherCaFile, otherCa.certPem);
  return {
    dir,
    ca: caFile,
    otherCa: otherCaFile,
    server: save(dir, "server", server),
    peer: save(dir, "peer", peer),
    client: save(dir, "client", client),
    wrongCaPeer: save(dir, "wrong-ca-peer", wrongCaPeer),
    wrongCaClient: save(dir, "wrong-ca-client", wrongCaClient),
    expiredClient: save(dir, "expired-client", expiredClient),
  };
}
