import { expect, test } from "bun:test";
import { checkCipherSuites, nodeTlsVersion, opensslCiphers, supportedCipherSuites } from "./tls-config.ts";

test("Go's cipher suite names map to OpenSSL's; TLS 1.3 suites stay on", () => {
  expect(opensslCiphers([])).toBeUndefined();
  expect(opensslCiphers(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"])).toBe(
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305",
  );
  // Only TLS 1.3 names: nothing to restrict.
  expect(opensslCiphers(["TLS_AES_128_GCM_SHA256"])).toBeUndefined();
});

test("names are checked: duplicates dropped, unknown and weak ones refused with the reason", () => {
  expect(checkCipherSuites([" TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", ""])).toEqual(["TLS_RSA_WITH_AES_128_GCM_SHA256"]);
  expect(() => checkCipherSuites(["ECDHE-RSA-AES128-GCM-SHA256"])).toThrow('cipher suite "ECDHE-RSA-AES128-GCM-SHA256": it is not a known cipher suite');
  expect(() => checkCipherSuites(["TLS_ECDHE_RSA_WITH_RC4_128_SHA"])).toThrow("RC4 is broken");
  expect(() => checkCipherSuites(["TLS_RSA_WITH_3DES_EDE_CBC_SHA"])).toThrow("3DES");
  expect(supportedCipherSuites()).toContain("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
});

test("every mapped suite is one the TLS library knows", async () => {
  const tls = await import("node:tls");
  const known = new Set(tls.getCiphers().map((c) => c.toUpperCase()));
  for (const name of supportedCipherSuites()) {
    const openssl = opensslCiphers([name])!.split(":").at(-1)!;
    expect(known.has(openssl)).toBe(true);
  }
});

test("--tls-min-version → node:tls", () => {
  expect(nodeTlsVersion("TLS1.2")).toBe("TLSv1.2");
  expect(nodeTlsVersion("TLS1.3")).toBe("TLSv1.3");
});
