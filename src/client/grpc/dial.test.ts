// The byte streams under the HTTP/2 client: Bun.connect for cleartext (bytes written before the
// connection is up, writes larger than the kernel takes at once), node:tls with ALPN for TLS.
import { afterAll, beforeAll, expect, test } from "bun:test";
import net from "node:net";
import tls from "node:tls";
import { type CertificateAndKey, createCertificate } from "../../pkg/tls-cert.ts";
import { type ByteStream, dial, type DialTarget, NOT_H2_ALPN } from "./dial.ts";

let ca: CertificateAndKey;
let server: CertificateAndKey;
beforeAll(async () => {
  ca = await createCertificate({ commonName: "ca", isCa: true, rsaBits: 1024 });
  server = await createCertificate({ commonName: "server", hosts: ["127.0.0.1"], issuer: ca, rsaBits: 1024 });
});

const listeners: net.Server[] = [];
afterAll(() => {
  for (const l of listeners) l.close();
});

async function listen(s: net.Server): Promise<number> {
  listeners.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as net.AddressInfo).port;
}

/** Dials and records the events; `opened` / `closed` resolve on onOpen / onClose. */
function open(target: DialTarget) {
  const got: Buffer[] = [];
  let drains = 0;
  let onOpen = () => {};
  let onClose = (_: Error | null) => {};
  const opened = new Promise<void>((r) => (onOpen = r));
  const closed = new Promise<Error | null>((r) => (onClose = r));
  let closes = 0;
  const stream: ByteStream = dial(target, {
    onOpen,
    onData: (c) => got.push(c),
    onDrain: () => drains++,
    onClose: (err) => {
      closes++;
      onClose(err);
    },
  });
  return { stream, got, opened, closed, drains: () => drains, closes: () => closes };
}

test("cleartext: bytes written before the connection is up and a 32 MB write arrive whole, in order", async () => {
  const received: Buffer[] = [];
  let done = () => {};
  const all = new Promise<void>((r) => (done = r));
  const port = await listen(
    net.createServer((s) => {
      s.write("hi");
      s.on("data", (d: Buffer) => received.push(d));
      s.on("end", () => {
        s.end();
        done();
      });
    }),
  );
  const c = open({ host: "127.0.0.1", port, tls: null });
  expect(c.stream.write(Buffer.from("early "))).toBe(true);
  await c.opened;
  for (let i = 0; i < 100 && c.got.length === 0; i++) await Bun.sleep(5);
  const big = Buffer.alloc(32 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
  c.stream.write(big); // more than the kernel takes at once: the rest is held and sent on drain
  c.stream.end();
  await all;
  const body = Buffer.concat(received);
  expect(body.subarray(0, 6).toString()).toBe("early ");
  expect(body.subarray(6).equals(big)).toBe(true);
  expect(await c.closed).toBeNull();
  expect(Buffer.concat(c.got).toString()).toBe("hi");
  expect(c.closes()).toBe(1);
});

test("cleartext: a refused connection closes with its error, once", async () => {
  const port = await listen(net.createServer());
  listeners.pop()!.close();
  await Bun.sleep(10);
  const c = open({ host: "127.0.0.1", port, tls: null });
  const err = await c.closed;
  expect(err?.message ?? "").toMatch(/ECONNREFUSED|refused/i);
  await Bun.sleep(20);
  expect(c.closes()).toBe(1);
});

test("destroy closes at once and reports the close once", async () => {
  const port = await listen(net.createServer((s) => s.on("error", () => {})));
  const c = open({ host: "127.0.0.1", port, tls: null });
  await c.opened;
  c.stream.destroy();
  expect(await c.closed).toBeNull();
  await Bun.sleep(20);
  expect(c.closes()).toBe(1);
});

test("TLS: opens once the server chose h2; a server that did not choose it fails clearly", async () => {
  const opts = { key: server.keyPem, cert: server.certPem };
  const h2 = await listen(tls.createServer({ ...opts, ALPNProtocols: ["h2"] }, (s) => s.end("hi")));
  const plain = await listen(tls.createServer(opts, (s) => s.on("error", () => {})));
  const target = (port: number): DialTarget => ({ host: "127.0.0.1", port, tls: { ca: ca.certPem, ALPNProtocols: ["h2"] } });

  const good = open(target(h2));
  await good.opened;
  expect(await good.closed).toBeNull();
  expect(Buffer.concat(good.got).toString()).toBe("hi");

  const bad = open(target(plain));
  expect((await bad.closed)?.message).toBe(NOT_H2_ALPN);
});
