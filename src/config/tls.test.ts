import { afterAll, describe, expect, test } from "bun:test";
import { configError, load, removeConfigs, writeConfig } from "./test-helpers";

afterAll(removeConfigs);

const HTTPS_CLIENT = ["--listen-client-urls", "https://127.0.0.1:2379", "--advertise-client-urls", "https://127.0.0.1:2379"];

describe("TLS settings", () => {
  test("defaults: no TLS, TLS 1.2 minimum, the library's cipher suites", () => {
    const c = load([]);
    expect([c.certFile, c.keyFile, c.trustedCaFile, c.peerCertFile, c.peerKeyFile, c.peerTrustedCaFile]).toEqual(["", "", "", "", "", ""]);
    expect([c.clientCertAuth, c.autoTls, c.peerClientCertAuth, c.peerAutoTls]).toEqual([false, false, false, false]);
    expect(c.tlsMinVersion).toBe("TLS1.2");
    expect(c.cipherSuites).toEqual([]);
  });

  test("flags, ETCD_* variables and the env file set them", () => {
    const cert = writeConfig("cert", "server.pem");
    const key = writeConfig("key", "server-key.pem");
    const ca = writeConfig("ca", "ca.pem");
    const c = load([...HTTPS_CLIENT, "--cert-file", cert, "--key-file", key, "--trusted-ca-file", ca, "--client-cert-auth", "--tls-min-version", "TLS1.3"]);
    expect([c.certFile, c.keyFile, c.trustedCaFile, c.clientCertAuth, c.tlsMinVersion]).toEqual([cert, key, ca, true, "TLS1.3"]);
    const e = load([], { ETCD_PEER_AUTO_TLS: "true", ETCD_CIPHER_SUITES: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" });
    expect(e.peerAutoTls).toBe(true);
    expect(e.cipherSuites).toEqual(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]);
    const f = load(["--config-file", writeConfig(`ETCD_PEER_CERT_FILE=${cert}\nETCD_PEER_KEY_FILE=${key}\nETCD_PEER_CLIENT_CERT_AUTH=true\nETCD_PEER_TRUSTED_CA_FILE=${ca}\n`)]);
    expect([f.peerCertFile, f.peerKeyFile, f.peerClientCertAuth, f.peerTrustedCaFile]).toEqual([cert, key, true, ca]);
  });

  test("etcd's YAML file: client-transport-security and peer-transport-security sections", () => {
    const cert = writeConfig("cert", "y.pem");
    const yaml = writeConfig(
      [
        "listen-client-urls: https://127.0.0.1:2379",
        "advertise-client-urls: https://127.0.0.1:2379",
        "client-transport-security:",
        `  cert-file: ${cert}`,
        `  key-file: ${cert}`,
        "  client-cert-auth: true",
        `  trusted-ca-file: ${cert}`,
        "  auto-tls: false",
        "peer-transport-security:",
        "  cert-file:",
        "  key-file:",
        "  client-cert-auth: false",
        "  trusted-ca-file:",
        "  auto-tls: true",
        "  allowed-cn:",
        "tls-min-version: TLS1.3",
      ].join("\n"),
      "etcd.yml",
    );
    const c = load(["--config-file", yaml]);
    expect([c.certFile, c.keyFile, c.clientCertAuth, c.trustedCaFile, c.autoTls]).toEqual([cert, cert, true, cert, false]);
    expect([c.peerCertFile, c.peerAutoTls, c.peerClientCertAuth, c.tlsMinVersion]).toEqual(["", true, false, "TLS1.3"]);
    const crl = writeConfig("client-transport-security:\n  crl-file: /etc/etcd/crl.pem\n", "etcd.yml");
    expect(configError(() => load(["--config-file", crl])).message).toContain("Unsupported setting client-transport-security.crl-file");
  });

  test("an https URL needs a certificate or auto TLS, naming the flags", () => {
    expect(configError(() => load(HTTPS_CLIENT)).message).toBe(
      "--listen-client-urls has https://127.0.0.1:2379 but no client certificate is configured: set --cert-file and --key-file, or --auto-tls, or use http://",
    );
    const peer = configError(() => load(["--listen-peer-urls", "https://127.0.0.1:2380"]));
    expect(peer.message).toContain("--listen-peer-urls has https://127.0.0.1:2380 but no peer certificate is configured: set --peer-cert-file and --peer-key-file, or --peer-auto-tls");
    expect(configError(() => load(["--listen-metrics-urls", "https://127.0.0.1:2381"])).message).toContain("--listen-metrics-urls has https://");
    expect(load([...HTTPS_CLIENT, "--auto-tls"]).autoTls).toBe(true);
  });

  test("half a pair, client-cert-auth without a CA, unreadable files, TLS 1.3 with cipher suites", () => {
    const cert = writeConfig("cert", "c.pem");
    expect(configError(() => load(["--cert-file", cert])).message).toBe("--cert-file is set but --key-file is not: client TLS needs both the certificate and its key");
    expect(configError(() => load(["--peer-key-file", cert])).message).toBe("--peer-key-file is set but --peer-cert-file is not: peer TLS needs both the certificate and its key");
    expect(configError(() => load(["--cert-file", cert, "--key-file", cert, "--client-cert-auth"])).message).toBe(
      "--client-cert-auth needs --trusted-ca-file: the CA that signs the certificates clients must present",
    );
    const missing = configError(() => load(["--cert-file", cert, "--key-file", "/nonexistent/key.pem"]));
    expect(missing.message).toBe('Cannot read --key-file "/nonexistent/key.pem": no such file');
    expect(missing.setting).toBe("--key-file");
    expect(configError(() => load(["--tls-min-version", "TLS1.3", "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])).message).toContain(
      "--cipher-suites cannot be used with --tls-min-version TLS1.3",
    );
  });

  test("unknown or refused cipher suites and TLS versions are errors naming the flag", () => {
    const unknown = configError(() => load(["--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,AES128-SHA"]));
    expect(unknown.message).toContain("--cipher-suites");
    expect(unknown.message).toContain('cipher suite "AES128-SHA": it is not a known cipher suite');
    expect(configError(() => load(["--cipher-suites", "TLS_RSA_WITH_RC4_128_SHA"])).message).toContain("RC4 is broken");
    const version = configError(() => load(["--tls-min-version", "TLS1.1"]));
    expect(version.message).toContain("--tls-min-version");
    expect(version.message).toContain("'TLS1.2' or 'TLS1.3'");
  });
});
