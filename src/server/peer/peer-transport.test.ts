import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { HeldListener } from "../../pkg/held-listener.ts";
import type { LogLevel } from "../../pkg/logger.ts";
import { seededRandom } from "../../pkg/prng.ts";
import { type CertificateAndKey, createCertificate } from "../../pkg/tls-cert.ts";
import { loadTlsSide, PEER_FLAGS, type TlsSide } from "../../pkg/tls-options.ts";
import { encodeMessage } from "../../raft/codec.ts";
import { type Message, message, MessageType } from "../../raft/types.ts";
import { frameHeader } from "./frame.ts";
import { decodeHandshake, encodeHandshakeFrame } from "./handshake.ts";
import { ConnKind } from "./handshake.ts";
import { peerReceivedBytes, peerRoundTripSeconds, peerSentBytes } from "./metrics.ts";
import { peerRequest } from "./peer-request.ts";
import { PeerTransport, type PeerTransportOptions } from "./peer-transport.ts";
import type { SnapshotSource } from "./snapshot-stream.ts";

const CLUSTER = 0xcdf818194e3a8c32n;
const A = 0x8e9e05c52164694dn;
const B = 0xfd422379fda50e48n;
const C = 0x91bc3c398fb3c146n;

interface LogLine {
  level: LogLevel;
  msg: string;
  fields?: Record<string, unknown>;
}

interface Node {
  t: PeerTransport;
  id: bigint;
  url: string;
  got: Message[];
  logs: LogLine[];
  unreachable: bigint[];
  snapStatus: [bigint, boolean][];
  /** snapshots received: message and the file's bytes */
  snaps: { m: Message; path: string; bytes: Buffer }[];
  dir: string;
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function node(id: bigint, opts: Partial<PeerTransportOptions> & { url?: string } = {}): Promise<Node> {
  const n = { id, got: [] as Message[], logs: [] as LogLine[], unreachable: [] as bigint[], snapStatus: [] as [bigint, boolean][], snaps: [] as Node["snaps"] } as Node;
  n.dir = fs.mkdtempSync(path.join(os.tmpdir(), "peer-snap-"));
  cleanup.push(() => fs.rmSync(n.dir, { recursive: true, force: true }));
  n.t = new PeerTransport({
    memberId: id,
    clusterId: CLUSTER,
    listenUrls: [opts.url ?? "http://127.0.0.1:0"],
    onMessage: (m) => n.got.push(m),
    log: (level, msg, fields) => n.logs.push({ level, msg, fields }),
    onUnreachable: (p) => n.unreachable.push(p),
    onSnapshotStatus: (p, ok) => n.snapStatus.push([p, ok]),
    snapshotDir: n.dir,
    onSnapshot: (m, file) => n.snaps.push({ m, path: file, bytes: fs.readFileSync(file) }),
    probeIntervalMs: 0, // round-trip probes only where a test asks for them
    ...opts,
  });
  await n.t.start();
  n.url = n.t.listenAddresses()[0];
  cleanup.push(() => n.t.stop());
  return n;
}

function link(...nodes: Node[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.addPeer(b.id, [b.url]);
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

const hasLog = (n: Node, re: RegExp) => n.logs.some((l) => re.test(l.msg));

function app(from: bigint, to: bigint, i: number, dataBytes = 16): Message {
  return message({
    type: MessageType.App,
    from,
    to,
    term: 3,
    logTerm: 3,
    index: i,
    commit: i,
    entries: [
      { term: 3, index: i + 1, type: 0, data: Buffer.alloc(dataBytes, i & 0xff) },
      { term: 3, index: i + 2, type: 1, data: new Uint8Array([i & 0xff, 1, 2]) },
    ],
  });
}

function snapMsg(from: bigint, to: bigint): Message {
  return message({ type: MessageType.Snap, from, to, term: 4, snapshot: { data: new Uint8Array(0), meta: { index: 1000, term: 4, confState: { voters: [A, B, C], learners: [] } } } });
}

/** A database file of random bytes to ship as a snapshot. */
function snapFile(n: Node, bytes: number): SnapshotSource & { bytes: Buffer } {
  const data = Buffer.alloc(bytes);
  const rand = seededRandom(bytes);
  for (let i = 0; i + 4 <= bytes; i += 4) data.writeUInt32LE((rand() * 2 ** 32) >>> 0, i);
  const file = path.join(n.dir, `send-${bytes}.db`);
  fs.writeFileSync(file, data);
  return { path: file, size: bytes, sha256: createHash("sha256").update(data).digest(), bytes: data };
}

/** Raw connection helper: dials a transport's port. */
async function rawConnect(url: string): Promise<net.Socket> {
  const u = new URL(url);
  const s = net.connect({ host: u.hostname, port: Number(u.port) });
  await new Promise((r, j) => (s.once("connect", r), s.once("error", j)));
  s.on("error", () => {});
  s.resume(); // discard what the member answers, so its FIN is seen
  cleanup.push(() => void s.destroy());
  return s;
}

const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r())));

test("two members: messages with 64-bit ids and entries arrive intact and in order, both ways", async () => {
  const a = await node(A);
  const b = await node(B);
  link(a, b);
  const toB: Message[] = [];
  for (let i = 0; i < 300; i++) toB.push(app(A, B, i, i % 50 === 0 ? 100_000 : 16));
  const toA = Array.from({ length: 100 }, (_, i) => message({ type: MessageType.AppResp, from: B, to: A, term: 3, index: i, rejectHint: i }));
  // Several send() calls, some in the same turn (batched), some across turns.
  a.t.send(toB.slice(0, 100));
  a.t.send(toB.slice(100, 151));
  b.t.send(toA);
  await Bun.sleep(1);
  a.t.send(toB.slice(151));
  await waitFor("all messages", () => b.got.length === toB.length && a.got.length === toA.length);
  expect(b.got).toEqual(toB);
  expect(a.got).toEqual(toA);
  const s = a.t.stats().get(B)!;
  expect(s).toMatchObject({ connected: true, sentMsgs: toB.length, droppedMsgs: 0, queuedBytes: 0, queuedMsgs: 0 });
  expect(b.t.stats().get(A)!.receivedMsgs).toBe(toB.length);
  expect(hasLog(a, /^peer became active$/)).toBe(true);
});

test("three members: each peer gets its own messages in order", async () => {
  const [a, b, c] = [await node(A), await node(B), await node(C)];
  link(a, b, c);
  const sent = new Map<bigint, Message[]>([[B, []], [C, []]]);
  for (let round = 0; round < 20; round++) {
    const batch: Message[] = [];
    for (let i = 0; i < 10; i++) {
      const to = (round + i) % 3 === 0 ? C : B;
      const m = message({ type: MessageType.Heartbeat, from: A, to, term: round, commit: round * 10 + i });
      batch.push(m);
      sent.get(to)!.push(m);
    }
    a.t.send(batch);
    c.t.send([message({ type: MessageType.HeartbeatResp, from: C, to: B, term: round })]);
    if (round % 5 === 0) await Bun.sleep(1);
  }
  await waitFor("delivery", () => b.got.length === sent.get(B)!.length + 20 && c.got.length === sent.get(C)!.length);
  expect(b.got.filter((m) => m.from === A)).toEqual(sent.get(B)!);
  expect(b.got.filter((m) => m.from === C).map((m) => m.term)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  expect(c.got).toEqual(sent.get(C)!);
});

test("a peer that is down is reported unreachable; when it comes back (same port) later messages arrive", async () => {
  const a = await node(A, { dialTimeoutMs: 300 });
  let b = await node(B);
  const url = b.url;
  link(a, b);
  a.t.send([app(A, B, 1)]);
  await waitFor("first message", () => b.got.length === 1);
  await b.t.stop();
  // The broken stream is noticed and reported without any send.
  await waitFor("unreachable report", () => a.unreachable.includes(B));
  // A snapshot sent while B is down fails when the dial is refused.
  a.t.send([app(A, B, 2)]);
  a.t.sendSnapshot(snapMsg(A, B), snapFile(a, 1024));
  await waitFor("snapshot failure", () => a.snapStatus.some(([id, ok]) => id === B && !ok));
  expect(hasLog(a, /^peer became inactive/)).toBe(true);
  expect(a.t.stats().get(B)!.connected).toBe(false);
  // Reports are throttled: a burst of sends while down does not produce a burst of reports.
  for (let i = 0; i < 50; i++) a.t.send([app(A, B, 100 + i)]);
  await Bun.sleep(100);
  expect(a.unreachable.length).toBeLessThan(5);

  b = await node(B, { url });
  // Raft keeps sending (heartbeats); once the backoff allows a dial, they get through.
  for (let i = 0; i < 200 && !b.got.some((m) => m.index === 999); i++) {
    a.t.send([app(A, B, 999)]);
    await Bun.sleep(20);
  }
  expect(b.got.some((m) => m.index === 999)).toBe(true);
  expect(a.t.stats().get(B)!.connected).toBe(true);
  expect(hasLog(a, /^peer became active$/)).toBe(true);
});

test("a peer that calls us is up again: our dials to it resume at once instead of after the backoff", async () => {
  const a = await node(A, { backoffMinMs: 3000, backoffMaxMs: 3000, dialTimeoutMs: 300 });
  let b = await node(B);
  const url = b.url;
  link(a, b);
  await b.t.stop();
  a.t.send([app(A, B, 1)]);
  await waitFor("the failed dial", () => a.unreachable.includes(B));
  b = await node(B, { url });
  b.t.addPeer(A, [a.url]);
  b.t.send([app(B, A, 1)]); // B dials A: A learns that B is back
  await waitFor("B's message", () => a.got.length === 1);
  const sentAt = performance.now();
  a.t.send([app(A, B, 2)]);
  await waitFor("A's message despite a 3 s backoff", () => b.got.some((m) => m.index === 2), 1000);
  expect(performance.now() - sentAt).toBeLessThan(1000);
});

test("a wrong cluster id is refused and logged on both sides; a wrong member id too", async () => {
  const a = await node(A, { clusterId: 0x1111n });
  const b = await node(B);
  a.t.addPeer(B, [b.url]);
  a.t.send([app(A, B, 1)]);
  await waitFor("cluster ID mismatch logs", () => hasLog(a, /^cluster ID mismatch$/) && hasLog(b, /^cluster ID mismatch$/));
  const line = b.logs.find((l) => l.msg === "cluster ID mismatch")!;
  expect(line.fields).toMatchObject({ "local-member-cluster-id": "cdf818194e3a8c32", "remote-peer-cluster-id": "1111", "remote-peer-id": "8e9e05c52164694d" });
  await waitFor("unreachable", () => a.unreachable.includes(B));
  expect(b.got).toEqual([]);

  // c believes member 0x99 listens at b's URL.
  const c = await node(C);
  c.t.addPeer(0x99n, [b.url]);
  c.t.send([message({ type: MessageType.Heartbeat, from: C, to: 0x99n })]);
  await waitFor("member mismatch logs", () => hasLog(b, /^message for member 99 received by member fd422379fda50e48$/) && hasLog(c, /belongs to member fd422379fda50e48, not member 99/));
  expect(b.got).toEqual([]);
});

test("a slow peer's full queue drops its messages only; another peer keeps receiving", async () => {
  // The slow peer answers the handshake and then never reads.
  const slowId = 0x5105n;
  const slowSockets: net.Socket[] = [];
  const slow = net.createServer((s) => {
    slowSockets.push(s);
    s.once("data", (d: Buffer) => {
      const h = decodeHandshake(d.subarray(4));
      if (typeof h !== "string") s.write(encodeHandshakeFrame({ clusterId: CLUSTER, from: slowId, to: h.from }));
      s.pause();
    });
  });
  await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
  cleanup.push(() => new Promise<void>((r) => (slowSockets.forEach((s) => s.destroy()), slow.close(() => r()))));

  const a = await node(A, { maxQueueBytes: 1 << 20 });
  const c = await node(C);
  a.t.addPeer(slowId, [`http://127.0.0.1:${(slow.address() as net.AddressInfo).port}`]);
  a.t.addPeer(C, [c.url]);
  const toC: Message[] = [];
  for (let round = 0; round < 120; round++) {
    const m = app(A, C, round);
    toC.push(m);
    a.t.send([app(A, slowId, round, 256 * 1024), m]);
    await Bun.sleep(0);
  }
  await waitFor("C receives everything", () => c.got.length === toC.length);
  expect(c.got).toEqual(toC);
  const st = a.t.stats();
  expect(st.get(C)!.droppedMsgs).toBe(0);
  expect(st.get(slowId)!.droppedMsgs).toBeGreaterThan(0);
  expect(st.get(slowId)!.queuedBytes).toBeLessThanOrEqual(1 << 20);
  expect(st.get(slowId)!.connected).toBe(true);
  expect(hasLog(a, /sending buffer is full/)).toBe(true);
});

test("a snapshot far larger than the message frame limit travels in chunks on its own connection while messages keep flowing", async () => {
  const a = await node(A, { maxFrameBytes: 256 * 1024 });
  const b = await node(B, { maxFrameBytes: 256 * 1024 });
  link(a, b);
  const src = snapFile(a, 9 * 1024 * 1024 + 3); // not a multiple of the chunk size
  a.t.sendSnapshot(snapMsg(A, B), src);
  a.t.sendSnapshot(snapMsg(A, B), src); // while one is in flight, a second request is ignored
  for (let i = 0; i < 20; i++) a.t.send([message({ type: MessageType.Heartbeat, from: A, to: B, term: 4, commit: i })]);
  await waitFor("snapshot verdict", () => a.snapStatus.length > 0, 10_000);
  expect(a.snapStatus).toEqual([[B, true]]);
  expect(b.snaps.length).toBe(1);
  const got = b.snaps[0];
  expect(got.m).toMatchObject({ type: MessageType.Snap, from: A, to: B, term: 4 });
  expect(got.m.snapshot!.meta).toEqual({ index: 1000, term: 4, confState: { voters: [A, B, C], learners: [] } });
  expect(got.bytes.equals(src.bytes)).toBe(true);
  expect(path.dirname(got.path)).toBe(b.dir);
  expect(b.got.filter((m) => m.type === MessageType.Heartbeat).length).toBe(20);
  expect(fs.readdirSync(b.dir).filter((f) => f.endsWith(".part"))).toEqual([]);
  // A Snap message on the Raft stream is refused outright: it would come unverified, without a file.
  a.t.send([snapMsg(A, B)]);
  await waitFor("refusal", () => a.snapStatus.length === 2);
  expect(a.snapStatus[1]).toEqual([B, false]);
});

test("a damaged or interrupted snapshot is reported failed and leaves no file behind", async () => {
  const a = await node(A);
  const b = await node(B);
  link(a, b);
  const src = snapFile(a, 3 * 1024 * 1024);
  a.t.sendSnapshot(snapMsg(A, B), { ...src, sha256: Buffer.alloc(32) });
  await waitFor("verdict", () => a.snapStatus.length === 1, 10_000);
  expect(a.snapStatus).toEqual([[B, false]]);
  expect(hasLog(a, /^failed to send database snapshot$/)).toBe(true);
  expect(b.logs.find((l) => l.msg === "failed to receive database snapshot")?.fields?.error).toBe("sha256 mismatch: the snapshot arrived damaged");
  // Interrupted: the receiver goes away mid-transfer (a file of 40 MiB takes a while).
  const big = snapFile(a, 40 * 1024 * 1024);
  a.t.sendSnapshot(snapMsg(A, B), big);
  await waitFor("transfer under way", () => fs.readdirSync(b.dir).some((f) => f.endsWith(".part")), 10_000);
  await b.t.stop();
  await waitFor("second verdict", () => a.snapStatus.length === 2, 10_000);
  expect(a.snapStatus[1]).toEqual([B, false]);
  expect(b.snaps).toEqual([]);
  await waitFor("partial file removed", () => fs.readdirSync(b.dir).filter((f) => f.startsWith("receiving-") || f.startsWith("received-")).length === 0);
});

test("requests: members ask each other, a joiner without ids may ask, another cluster may not", async () => {
  const asked: { from: bigint; clusterId: bigint; body: string }[] = [];
  const onRequest = (r: { from: bigint; clusterId: bigint; body: Buffer }) => {
    asked.push({ ...r, body: r.body.toString() });
    return Buffer.from(`answer to ${r.body.toString()}`);
  };
  const a = await node(A);
  const b = await node(B, { onRequest });
  link(a, b);
  expect((await a.t.request(B, Buffer.from("hash?"), 2000)).toString()).toBe("answer to hash?");
  expect(asked[0]).toEqual({ from: A, clusterId: CLUSTER, body: "hash?" });
  // A member that is joining knows neither the cluster id nor its own id yet.
  const joiner = await peerRequest({ url: b.url, clusterId: 0n, from: 0n, to: 0n }, Buffer.from("members?"), 2000);
  expect(joiner.toString()).toBe("answer to members?");
  expect(asked[1]).toMatchObject({ from: 0n, body: "members?" });
  // Another cluster is refused in the handshake, and the handler never sees it.
  await expect(peerRequest({ url: b.url, clusterId: 0x1111n, from: C, to: B }, Buffer.from("x"), 2000)).rejects.toThrow("cluster ID mismatch");
  await waitFor("refusal logged", () => hasLog(b, /^cluster ID mismatch$/));
  expect(asked.length).toBe(2);
  // A member without a request handler refuses requests; the caller hears of it at once.
  await expect(b.t.request(A, Buffer.from("x"), 2000)).rejects.toThrow();
  // A removed member is told so.
  b.t.removePeer(A);
  const err = await a.t.request(B, Buffer.from("y"), 2000).catch((e) => e);
  expect(err.message).toContain("removed from the cluster");
  expect(ConnKind.Request).toBe(2);
});

test("garbage on the peer port is logged and disconnected; the member keeps working", async () => {
  const a = await node(A);
  const b = await node(B, { maxFrameBytes: 1 << 20 });
  link(a, b);

  // 1. not a handshake at all (an HTTP request), 2. random bytes.
  const http = await rawConnect(b.url);
  http.write("GET /raft/stream HTTP/1.1\r\nHost: x\r\n\r\n");
  await closed(http);
  const junk = await rawConnect(b.url);
  const rand = seededRandom(3);
  junk.write(Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rand() * 256))));
  await closed(junk);
  // 3. a valid handshake, then a frame that is not a raft message.
  const bad = await rawConnect(b.url);
  bad.write(encodeHandshakeFrame({ clusterId: CLUSTER, from: C, to: B }));
  bad.write(Buffer.concat([frameHeader(8), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]));
  await closed(bad);
  // 4. a valid handshake, then a frame over the limit.
  const big = await rawConnect(b.url);
  big.write(encodeHandshakeFrame({ clusterId: CLUSTER, from: C, to: B }));
  big.write(frameHeader(2 << 20));
  await closed(big);
  // 5. a handshake cut short, then silence: the handshake timeout is covered by stop() below.

  expect(hasLog(b, /not an etcd-ts peer handshake/)).toBe(true);
  expect(hasLog(b, /failed to decode raft message/)).toBe(true);
  expect(hasLog(b, /peer frame too large/)).toBe(true);
  expect(b.got).toEqual([]);
  a.t.send([app(A, B, 7)]);
  await waitFor("a real message after the garbage", () => b.got.length === 1);
  expect(b.got[0].index).toBe(7);
});

test("stop() closes listeners and connections; sends afterwards are ignored", async () => {
  const a = await node(A);
  const b = await node(B);
  link(a, b);
  a.t.send([app(A, B, 1)]);
  b.t.send([app(B, A, 1)]);
  await waitFor("connected both ways", () => a.got.length === 1 && b.got.length === 1);
  const half = await rawConnect(b.url); // a connection that never sends its handshake
  half.write(encodeHandshakeFrame({ clusterId: CLUSTER, from: C, to: B }).subarray(0, 10));
  await waitFor("accepted", () => b.t.inboundConnections === 2);

  await a.t.stop();
  await b.t.stop();
  await closed(half);
  expect(b.t.inboundConnections).toBe(0);
  const u = new URL(b.url);
  const refused = await new Promise<string>((r) => net.connect({ host: u.hostname, port: Number(u.port) }).once("error", (e: Error & { code?: string }) => r(e.code ?? "")).once("connect", () => r("connected")));
  expect(refused).toBe("ECONNREFUSED");
  a.t.send([app(A, B, 2)]);
  expect(a.t.stats().get(B)!.queuedMsgs).toBe(0);
  expect(a.snapStatus).toEqual([]);
  await a.t.stop(); // idempotent
});

test("listeners bound before start(): a peer that dials early waits, and its messages arrive once start() takes them", async () => {
  const held = await HeldListener.listen({ host: "127.0.0.1", port: 0 }, { noDelay: true });
  const url = `http://127.0.0.1:${held.address().port}`;
  const a = await node(A, { dialTimeoutMs: 5000 });
  a.t.addPeer(B, [url]);
  a.t.send([app(A, B, 1)]);
  // Accepted by the kernel and held, unread: B's member id is not known yet (its data dir is not open).
  await waitFor("the early connection to be held", () => held.waiting === 1);
  const b = await node(B, { url, bound: [held] });
  expect(b.url).toBe(url);
  await waitFor("the early message", () => b.got.length === 1);
  expect(b.got[0].index).toBe(1);
  expect(a.unreachable).toEqual([]);
  await b.t.stop();
  // stop() closed the listener it was handed: the port is free again.
  const again = await HeldListener.listen({ host: "127.0.0.1", port: held.address().port });
  again.close();
});

test("start() refuses an https listen URL without a peer certificate, naming the flags", async () => {
  const t = new PeerTransport({ memberId: A, clusterId: CLUSTER, listenUrls: ["https://127.0.0.1:0"], onMessage: () => {}, log: () => {} });
  expect(t.start()).rejects.toThrow("--peer-cert-file and --peer-key-file, or --peer-auto-tls");
  await t.stop();
});

/** A CA, and members' certificates for 127.0.0.1 signed by it (or by another CA). */
async function peerTls(ca: CertificateAndKey, cn: string, trusted: CertificateAndKey = ca): Promise<TlsSide> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "peer-tls-"));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const leaf = await createCertificate({ commonName: cn, hosts: ["127.0.0.1"], issuer: ca });
  const files = { certFile: path.join(dir, "cert.pem"), keyFile: path.join(dir, "key.pem"), trustedCaFile: path.join(dir, "ca.pem"), clientCertAuth: true };
  fs.writeFileSync(files.certFile, leaf.certPem);
  fs.writeFileSync(files.keyFile, leaf.keyPem);
  fs.writeFileSync(files.trustedCaFile, trusted.certPem);
  return loadTlsSide(files, { cipherSuites: [], minVersion: "TLS1.2" }, PEER_FLAGS);
}

test("https peers: Raft messages, requests and a snapshot over mutual TLS; a certificate from another CA is refused and logged", async () => {
  const ca = await createCertificate({ commonName: "peer-ca", isCa: true });
  const otherCa = await createCertificate({ commonName: "other-ca", isCa: true });
  const a = await node(A, { url: "https://127.0.0.1:0", tls: await peerTls(ca, "a") });
  const b = await node(B, { url: "https://127.0.0.1:0", tls: await peerTls(ca, "b"), onRequest: () => Buffer.from("pong") });
  expect(a.url.startsWith("https://")).toBe(true);
  link(a, b);
  a.t.send([app(A, B, 2)]);
  await waitFor("b receives over TLS", () => b.got.length === 1);
  expect((await a.t.request(B, Buffer.from("ping"), 2000)).toString()).toBe("pong");
  const src = snapFile(a, 3 * 1024 * 1024 + 1);
  a.t.sendSnapshot(snapMsg(A, B), src);
  await waitFor("snapshot verdict over TLS", () => a.snapStatus.length > 0, 10_000);
  expect(a.snapStatus).toEqual([[B, true]]);
  expect(b.snaps[0].bytes.equals(src.bytes)).toBe(true);

  // c trusts the cluster's CA, but its own certificate comes from another CA: b refuses it.
  const c = await node(C, { url: "https://127.0.0.1:0", tls: await peerTls(otherCa, "c", ca) });
  c.t.addPeer(B, [b.url]);
  c.t.send([app(C, B, 2)]);
  await waitFor("b logs the refused handshake", () => b.logs.some((l) => l.msg === "rejected a peer connection: TLS handshake failed"));
  expect(b.got.length).toBe(1);
  expect(String(b.logs.find((l) => l.msg.startsWith("rejected a peer connection"))!.fields!.error)).toMatch(/certificate|verify/i);
  await waitFor("c counts b unreachable", () => c.unreachable.includes(B));
});

test("metrics: bytes each way and round trips per peer, labelled with its id in hex; probes log nothing", async () => {
  const a = await node(A, { probeIntervalMs: 50 });
  const b = await node(B);
  link(a, b);
  const [toB, fromA] = [B.toString(16), A.toString(16)];
  const sent = peerSentBytes.with(toB).value;
  const received = peerReceivedBytes.with(fromA).value;
  const rtts = peerRoundTripSeconds.with(toB).count;
  const m = app(A, B, 1);
  a.t.send([m]);
  await waitFor("delivered", () => b.got.length === 1);
  const frameBytes = encodeMessage(m).length + 4;
  expect(peerSentBytes.with(toB).value - sent).toBe(frameBytes);
  expect(peerReceivedBytes.with(fromA).value - received).toBe(frameBytes);
  // The stream's handshake, then a probe every 50 ms on a connection of its own.
  await waitFor("probed", () => peerRoundTripSeconds.with(toB).count >= rtts + 3);
  expect(peerRoundTripSeconds.with(toB).sum).toBeLessThan(1);
  const noisy = (n: Node) => n.logs.filter((l) => l.level === "warn" || l.level === "error");
  expect([...noisy(a), ...noisy(b)]).toEqual([]);
  expect(b.got.length).toBe(1);
});
