// node:tls options from etcd's TLS flags, for one side: clients (--cert-file, --key-file,
// --trusted-ca-file, --client-cert-auth) or peers (the --peer-* twins). The files are read once here;
// an unreadable or unusable file is an Error naming the flag and the path.
import fs from "node:fs";
import tls from "node:tls";
import { ensureSelfSignedCertificate } from "./tls-cert.ts";
import { nodeTlsVersion, opensslCiphers, type TlsVersion } from "./tls-config.ts";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** "" when none: client certificates cannot be checked, servers are checked against the system's CAs. */
  trustedCaFile: string;
  /** Require and verify a certificate from every connecting party (signed by trustedCaFile). */
  clientCertAuth: boolean;
  /** The certificate is self-signed (auto TLS): dialers do not verify the other side, as etcd. */
  selfSigned?: boolean;
}

export interface TlsPolicy {
  cipherSuites: readonly string[];
  minVersion: TlsVersion;
}

/** Flag names for messages: { cert: "--cert-file", key: "--key-file", ca: "--trusted-ca-file" }. */
export interface TlsFlagNames {
  cert: string;
  key: string;
  ca: string;
}

export const CLIENT_FLAGS: TlsFlagNames = { cert: "--cert-file", key: "--key-file", ca: "--trusted-ca-file" };
export const PEER_FLAGS: TlsFlagNames = { cert: "--peer-cert-file", key: "--peer-key-file", ca: "--peer-trusted-ca-file" };

/** One side's TLS: what its listeners take, and what it dials with (peers dial each other). */
export interface TlsSide {
  readonly server: tls.TlsOptions;
  readonly client: tls.ConnectionOptions;
  /** Connecting parties must present a verified certificate. */
  readonly clientCertAuth: boolean;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.message;
    throw new Error(`Cannot read ${flag} '${file}': ${why}`);
  }
}

export function loadTlsSide(files: TlsFiles, policy: TlsPolicy, flags: TlsFlagNames): TlsSide {
  const cert = readPem(files.certFile, flags.cert);
  const key = readPem(files.keyFile, flags.key);
  const ca = files.trustedCaFile ? readPem(files.trustedCaFile, flags.ca) : undefined;
  const common: tls.SecureContextOptions = {
    cert,
    key,
    ca,
    minVersion: nodeTlsVersion(policy.minVersion),
    ciphers: opensslCiphers(policy.cipherSuites),
  };
  try {
    tls.createSecureContext(common);
  } catch (e) {
    throw new Error(`Cannot use ${flags.cert} '${files.certFile}' with ${flags.key} '${files.keyFile}'${ca ? ` and ${flags.ca} '${files.trustedCaFile}'` : ""}: ${(e as Error).message}`);
  }
  const clientCertAuth = files.clientCertAuth && !files.selfSigned;
  return Object.freeze({
    server: { ...common, requestCert: clientCertAuth, rejectUnauthorized: clientCertAuth },
    client: { ...common, rejectUnauthorized: !files.selfSigned },
    clientCertAuth,
  });
}

/** The common name of the certificate a connecting party presented and that was verified; else undefined. */
export function verifiedCommonName(socket: tls.TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN as string | string[] | undefined;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return name ? name : undefined;
}

export interface TlsSideSettings extends TlsFiles {
  /** --auto-tls / --peer-auto-tls: used when no certificate file is given. */
  autoTls: boolean;
  /** Where the self-signed certificate is kept (etcd: <data-dir>/fixtures/client or /peer). */
  autoTlsDir: string;
  /** Host names and IPs the self-signed certificate is made for (the URLs' hosts). */
  hosts: readonly string[];
}

/**
 * One side's TLS from its settings: the given files, else a self-signed certificate when auto TLS is
 * on (made once, reused), else null (no TLS configured; https:// URLs were refused by the config).
 */
export async function prepareTlsSide(s: TlsSideSettings, policy: TlsPolicy, flags: TlsFlagNames): Promise<{ side: TlsSide; selfSignedCreated?: string } | null> {
  if (s.certFile !== "" && s.keyFile !== "") return { side: loadTlsSide(s, policy, flags) };
  if (!s.autoTls) return null;
  const { certFile, keyFile, created } = await ensureSelfSignedCertificate(s.autoTlsDir, s.hosts);
  const side = loadTlsSide({ ...s, certFile, keyFile, selfSigned: true }, policy, flags);
  return { side, selfSignedCreated: created ? certFile : undefined };
}
