// node:tls options from etcd's TLS flags, for one side: clients (--cert-file, --key-file,
// --trusted-ca-file, --client-cert-auth, --client-crl-file, --client-cert-allowed-hostname) or peers
// (the --peer-* twins, and --peer-cert-allowed-cn). The files are read once here (the CRL again when
// it changes); an unreadable or unusable file is an Error naming the flag and the path.
// What node:tls cannot check during the handshake (revocation, allowed names) is checked right after
// it, by the listener (acceptRefusal) and by a dialing member (dialRefusal).
import fs from "node:fs";
import tls from "node:tls";
import { allowedNamesRefusal, type AllowedNames, hasRules, splitAllowed } from "./tls-allowed.ts";
import { ensureSelfSignedCertificate } from "./tls-cert.ts";
import { nodeTlsVersion, opensslCiphers, type TlsVersion } from "./tls-config.ts";
import { CrlFile } from "./tls-crl.ts";
import { DerError } from "./tls-der.ts";
import { type CertificateNames, readCertificate } from "./tls-x509.ts";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** "" when none: client certificates cannot be checked, servers are checked against the system's CAs. */
  trustedCaFile: string;
  /**
   * --client-cert-auth: connecting parties must present a verified certificate, and on the client
   * side its CN is the user when no token is sent. (A trusted CA alone requires certificates too, as
   * etcd, without the CN as user.)
   */
  clientCertAuth: boolean;
  /** The certificate is self-signed (auto TLS): dialers do not verify the other side, as etcd. */
  selfSigned?: boolean;
  /** --client-crl-file / --peer-crl-file: "" or absent for none. */
  crlFile?: string;
  /** --peer-cert-allowed-cn: the CNs allowed to connect; empty or absent for any. */
  allowedCns?: readonly string[];
  /** --peer-cert-allowed-hostname / --client-cert-allowed-hostname: empty or absent for any. */
  allowedHostnames?: readonly string[];
  /**
   * --peer-client-cert-file / --peer-client-key-file (etcd 3.5+): the certificate this side presents
   * when it dials, instead of certFile/keyFile; "" or absent for the same one.
   */
  clientCertFile?: string;
  clientKeyFile?: string;
}

export interface TlsPolicy {
  cipherSuites: readonly string[];
  minVersion: TlsVersion;
  /** --tls-max-version; "" or absent: the highest the TLS library speaks (1.3). */
  maxVersion?: TlsVersion | "";
}

/** Flag names for messages: { cert: "--cert-file", key: "--key-file", ca: "--trusted-ca-file", … }. */
export interface TlsFlagNames {
  cert: string;
  key: string;
  ca: string;
  crl: string;
  allowedCn: string;
  allowedHostname: string;
  clientCert: string;
  clientKey: string;
}

export const CLIENT_FLAGS: TlsFlagNames = {
  cert: "--cert-file",
  key: "--key-file",
  ca: "--trusted-ca-file",
  crl: "--client-crl-file",
  // etcd has no allowed-CN flag for clients; the name only appears in messages.
  allowedCn: "allowed CN",
  allowedHostname: "--client-cert-allowed-hostname",
  clientCert: "--client-cert-file",
  clientKey: "--client-key-file",
};
export const PEER_FLAGS: TlsFlagNames = {
  cert: "--peer-cert-file",
  key: "--peer-key-file",
  ca: "--peer-trusted-ca-file",
  crl: "--peer-crl-file",
  allowedCn: "--peer-cert-allowed-cn",
  allowedHostname: "--peer-cert-allowed-hostname",
  clientCert: "--peer-client-cert-file",
  clientKey: "--peer-client-key-file",
};

/**
 * Why a certificate was refused after the handshake: `message` for this side's log, `alert` for the
 * other side (TLS alert words, as Go prints them after "remote error: tls: ").
 */
export interface TlsRefusal {
  readonly message: string;
  readonly alert: "bad certificate" | "revoked certificate";
}

/** One side's TLS: what its listeners take, and what it dials with (peers dial each other). */
export interface TlsSide {
  readonly server: tls.TlsOptions;
  readonly client: tls.ConnectionOptions;
  /** --client-cert-auth in effect: a verified certificate's CN names the user (client side). */
  readonly clientCertAuth: boolean;
  /**
   * After a listener's handshake: why the connecting party is refused (a revoked certificate, a name
   * the allowed-CN/hostname flags do not allow), or undefined to serve it.
   */
  acceptRefusal(socket: tls.TLSSocket): TlsRefusal | undefined;
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
    ...(policy.maxVersion ? { maxVersion: nodeTlsVersion(policy.maxVersion) } : {}),
    ciphers: opensslCiphers(policy.cipherSuites),
  };
  try {
    tls.createSecureContext(common);
  } catch (e) {
    throw new Error(`Cannot use ${flags.cert} '${files.certFile}' with ${flags.key} '${files.keyFile}'${ca ? ` and ${flags.ca} '${files.trustedCaFile}'` : ""}: ${(e as Error).message}`);
  }
  const crl = files.crlFile ? new CrlFile(files.crlFile, flags.crl) : null;
  crl?.load();
  const allowed: AllowedNames = {
    commonNames: (files.allowedCns ?? []).flatMap(splitAllowed),
    hostnames: (files.allowedHostnames ?? []).flatMap(splitAllowed),
    cnFlag: flags.allowedCn,
    hostnameFlag: flags.allowedHostname,
  };
  if (allowed.commonNames.length > 0 && allowed.hostnames.length > 0) {
    // etcd refuses the pair too: each alone says who may connect.
    throw new Error(`${flags.allowedCn} and ${flags.allowedHostname} cannot be used together: set one of them`);
  }
  const dialCert = files.clientCertFile && files.clientKeyFile ? dialCertificate(files, common, flags) : {};
  const clientCertAuth = files.clientCertAuth && !files.selfSigned;
  // As etcd: a trusted CA file asks every connecting party for a certificate signed by it, with or
  // without --client-cert-auth (which adds the CN as user). A self-signed side has no CA to check with.
  const requireCert = !files.selfSigned && (files.clientCertAuth || ca !== undefined);
  return Object.freeze({
    server: { ...common, requestCert: requireCert, rejectUnauthorized: requireCert },
    client: {
      ...common,
      ...dialCert,
      rejectUnauthorized: !files.selfSigned,
      // As etcd, the allowed names hold for the members this one dials too: their server certificate
      // must match, after the usual check against the URL's host. (A self-signed side verifies nothing.)
      ...(hasRules(allowed) && !files.selfSigned ? { checkServerIdentity: (host: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(host, cert) ?? namesError(cert, allowed) } : {}),
    },
    clientCertAuth,
    acceptRefusal(socket: tls.TLSSocket): TlsRefusal | undefined {
      if (!requireCert || (crl === null && !hasRules(allowed))) return undefined;
      return refusalOf(socket, crl, allowed);
    },
  });
}

/** The --peer-client-cert-file pair, read and checked as the main one. */
function dialCertificate(files: TlsFiles, common: tls.SecureContextOptions, flags: TlsFlagNames): { cert: Buffer; key: Buffer } {
  const cert = readPem(files.clientCertFile!, flags.clientCert);
  const key = readPem(files.clientKeyFile!, flags.clientKey);
  try {
    tls.createSecureContext({ ...common, cert, key });
  } catch (e) {
    throw new Error(`Cannot use ${flags.clientCert} '${files.clientCertFile}' with ${flags.clientKey} '${files.clientKeyFile}': ${(e as Error).message}`);
  }
  return { cert, key };
}

/** checkServerIdentity's answer for the allowed names: an Error when the certificate does not match. */
function namesError(cert: tls.PeerCertificate, allowed: AllowedNames): Error | undefined {
  let why: string | undefined;
  try {
    why = allowedNamesRefusal(readCertificate(cert.raw), allowed);
  } catch (e) {
    why = `cannot read the server's certificate: ${e instanceof DerError ? e.message : String(e)}`;
  }
  return why === undefined ? undefined : new Error(why);
}

/** The other party's certificate chain as DER, leaf first (the CA it was verified with included). */
function peerChain(socket: tls.TLSSocket): Buffer[] {
  const out: Buffer[] = [];
  let c: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate;
  while (c?.raw && out.length < 16) {
    out.push(c.raw);
    if (c.issuerCertificate === c || !c.issuerCertificate) break;
    c = c.issuerCertificate;
  }
  return out;
}

function refusalOf(socket: tls.TLSSocket, crl: CrlFile | null, allowed: AllowedNames): TlsRefusal | undefined {
  const chain = peerChain(socket);
  if (chain.length === 0) return undefined; // no certificate: the handshake rules already decided
  let names: CertificateNames[];
  try {
    names = chain.map(readCertificate);
  } catch (e) {
    const why = e instanceof DerError ? e.message : String(e);
    return { message: `cannot read the presented certificate: ${why}`, alert: "bad certificate" };
  }
  const revoked = crl?.refusal(names.map((n) => n.serial));
  if (revoked) return { message: revoked, alert: "revoked certificate" };
  // Names are only matched on a verified certificate (an unverified one was refused in the handshake).
  if (!socket.authorized) return undefined;
  const notAllowed = allowedNamesRefusal(names[0], allowed);
  return notAllowed ? { message: notAllowed, alert: "bad certificate" } : undefined;
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
