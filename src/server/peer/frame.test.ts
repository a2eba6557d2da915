import { expect, test } from "bun:test";
import { seededRandom } from "../../pkg/prng.ts";
import { Backoff } from "./backoff.ts";
import { FrameReader, FrameTooLargeError, frameHeader } from "./frame.ts";
import { ConnKind, decodeHandshake, encodeHandshakeFrame, HANDSHAKE_BYTES } from "./handshake.ts";
import { parsePeerUrl } from "./url.ts";

function frames(payloads: Buffer[]): Buffer {
  return Buffer.concat(payloads.flatMap((p) => [frameHeader(p.length), p]));
}

test("frames reassemble intact however the stream is cut", () => {
  const rand = seededRandom(7);
  const payloads = Array.from({ length: 200 }, (_, i) => Buffer.alloc(Math.floor(rand() * (i % 10 === 0 ? 40_000 : 300)), i));
  payloads.push(Buffer.alloc(0));
  const wire = frames(payloads);
  for (const maxCut of [1, 7, 4096, 1 << 20]) {
    const reader = new FrameReader(1 << 20);
    const got: Buffer[] = [];
    for (let off = 0; off < wire.length; ) {
      const n = 1 + Math.floor(rand() * maxCut);
      reader.push(wire.subarray(off, off + n), (p) => (got.push(p), true));
      off += n;
    }
    expect(got.length).toBe(payloads.length);
    for (let i = 0; i < got.length; i++) expect(got[i].equals(payloads[i])).toBe(true);
    expect(reader.bufferedBytes).toBe(0);
  }
});

test("payloads are copies: reusing the socket chunk does not change them", () => {
  const wire = frames([Buffer.from("abc"), Buffer.from("def")]);
  const got: Buffer[] = [];
  new FrameReader(100).push(wire, (p) => (got.push(p), true));
  wire.fill(0);
  expect(got.map(String)).toEqual(["abc", "def"]);
});

test("a header announcing more than the limit throws; onFrame false stops and discards", () => {
  const r = new FrameReader(10);
  expect(() => r.push(frames([Buffer.alloc(11)]).subarray(0, 4), () => true)).toThrow(FrameTooLargeError);
  const seen: string[] = [];
  const r2 = new FrameReader(10);
  r2.push(frames([Buffer.from("a"), Buffer.from("b")]), (p) => (seen.push(String(p)), false));
  expect(seen).toEqual(["a"]);
  expect(r2.bufferedBytes).toBe(0);
});

test("handshake record round-trips 64-bit ids and the connection kind, and rejects anything else", () => {
  const h = { kind: ConnKind.Snapshot, clusterId: 0xcdf818194e3a8c32n, from: 0x8e9e05c52164694dn, to: 0xfd422379fda50e48n };
  const frame = encodeHandshakeFrame(h);
  expect(frame.readUInt32BE(0)).toBe(HANDSHAKE_BYTES);
  expect(frame.subarray(4, 18).toString()).toBe("etcd-ts-peer/2");
  expect(decodeHandshake(frame.subarray(4))).toEqual(h);
  expect(decodeHandshake(encodeHandshakeFrame({ ...h, kind: undefined }).subarray(4))).toEqual({ ...h, kind: ConnKind.Stream });
  expect(typeof decodeHandshake(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456"))).toBe("string");
  const wrongMagic = Buffer.from(frame.subarray(4));
  wrongMagic[13] = 0x31; // etcd-ts-peer/1, the previous protocol
  expect(typeof decodeHandshake(wrongMagic)).toBe("string");
  const wrongKind = Buffer.from(frame.subarray(4));
  wrongKind[14] = 9;
  expect(decodeHandshake(wrongKind)).toBe("unknown peer connection kind 9");
});

test("backoff doubles from 50 ms to 2 s with at most 25 % jitter, replays from its seed, resets", () => {
  const a = new Backoff(42);
  const delays = Array.from({ length: 12 }, () => a.next());
  const bases = [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000, 2000, 2000];
  delays.forEach((d, i) => {
    expect(d).toBeLessThanOrEqual(bases[i]);
    expect(d).toBeGreaterThanOrEqual(bases[i] * 0.75);
  });
  const b = new Backoff(42);
  expect(Array.from({ length: 12 }, () => b.next())).toEqual(delays);
  expect(new Set(delays.slice(6)).size).toBeGreaterThan(1); // jittered at the cap too
  a.reset();
  expect(a.next()).toBeLessThanOrEqual(50);
});

test("peer URLs: http and https (TLS), unix and unixs sockets named by the rest of the URL, a clear error otherwise", () => {
  expect(parsePeerUrl("http://127.0.0.1:2380", "dial")).toEqual({ host: "127.0.0.1", port: 2380, secure: false });
  expect(parsePeerUrl("http://[::1]:2380", "dial")).toEqual({ host: "::1", port: 2380, secure: false });
  expect(parsePeerUrl("http://127.0.0.1:0", "listen").port).toBe(0);
  expect(parsePeerUrl("https://127.0.0.1:2380", "listen")).toEqual({ host: "127.0.0.1", port: 2380, secure: true });
  expect(parsePeerUrl("unix://etcd.unix:1", "dial")).toEqual({ host: "etcd.unix", port: 0, secure: false, path: "etcd.unix:1" });
  expect(parsePeerUrl("unixs:///run/etcd/peer.sock", "listen")).toEqual({ host: "localhost", port: 0, secure: true, path: "/run/etcd/peer.sock" });
  expect(() => parsePeerUrl("ftp://x:1", "dial")).toThrow("unsupported scheme");
  expect(() => parsePeerUrl("http://127.0.0.1", "dial")).toThrow("no port");
});
