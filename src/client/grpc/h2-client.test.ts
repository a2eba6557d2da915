// The HTTP/2 client connection against a scripted server that speaks raw frames (limits, GOAWAY,
// resets, pings, HPACK's dynamic table, protocol errors) and against node:http2 (flow control both ways).
import { afterEach, expect, test } from "bun:test";
import http2 from "node:http2";
import net from "node:net";
import {
  CONNECTION_PREFACE,
  encodeFrame,
  encodeGoaway,
  encodeHeaders,
  encodeRstStream,
  encodeSettings,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  Setting,
  SETTINGS_ACK_FRAME,
} from "../../pkg/h2/frames.ts";
import { encodeHeaderBlock, HpackDecoder, type HeaderMap } from "../../pkg/h2/hpack.ts";
import { huffmanEncode } from "../../pkg/h2/huffman.ts";
import { dial } from "./dial.ts";
import { H2ClientConnection, type ResponseSink, type StreamEnd } from "./h2-client.ts";

interface Frame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/** One accepted connection of the scripted server: the frames the client sent, and a way to answer. */
class Peer {
  readonly frames: Frame[] = [];
  readonly hpack = new HpackDecoder();
  #waiters: Array<() => void> = [];
  constructor(readonly socket: net.Socket) {}

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** Waits (bounded) until a frame the predicate accepts has arrived; returns it. */
  async next(pred: (f: Frame) => boolean, timeoutMs = 2000): Promise<Frame> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (Date.now() > end) throw new Error("frame not seen in time");
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 20);
      });
    }
  }

  headersOf(f: Frame): HeaderMap {
    return this.hpack.decode(f.payload).headers;
  }

  got(f: Frame): void {
    this.frames.push(f);
    for (const w of this.#waiters.splice(0)) w();
  }
}

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** A server that reads the preface, acks SETTINGS, sends `settings` first, and hands each connection to the test. */
async function scripted(settings: Array<[Setting, number]> = []): Promise<{ port: number; peer: () => Promise<Peer> }> {
  const peers: Peer[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    const peer = new Peer(socket);
    peers.push(peer);
    const reader = new FrameReader();
    let preface = Buffer.alloc(0);
    socket.write(encodeSettings(settings));
    socket.on("data", (chunk: Buffer) => {
      if (preface.length < CONNECTION_PREFACE.length) {
        preface = Buffer.concat([preface, chunk]);
        if (preface.length < CONNECTION_PREFACE.length) return;
        chunk = preface.subarray(CONNECTION_PREFACE.length);
        preface = CONNECTION_PREFACE;
      }
      reader.push(chunk, (type, flags, id, payload) => {
        if (type === FrameType.SETTINGS && !(flags & Flag.ACK)) socket.write(SETTINGS_ACK_FRAME);
        peer.got({ type, flags, id, payload: Buffer.from(payload) });
      });
    });
    socket.on("error", () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    peer: async () => {
      for (let i = 0; i < 100 && peers.length === 0; i++) await Bun.sleep(10);
      return peers.shift()!;
    },
  };
}

/** A sink that records what a stream heard. */
function recorder() {
  const heard: { headers: HeaderMap[]; data: Buffer[]; end: StreamEnd | null } = { headers: [], data: [], end: null };
  let done: (e: StreamEnd) => void = () => {};
  const closed = new Promise<StreamEnd>((r) => (done = r));
  const sink: ResponseSink = {
    onHeaders: (h) => heard.headers.push(h),
    onData: (d) => heard.data.push(Buffer.from(d)),
    onClose: (e) => {
      heard.end = e;
      done(e);
    },
  };
  return { heard, sink, closed };
}

const REQUEST: Array<[string, string]> = [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/x"],
  [":authority", "test"],
];

const conns: H2ClientConnection[] = [];
afterEach(() => {
  for (const c of conns.splice(0)) c.destroy();
});

/** A connection over dial.ts (Bun.connect here), resolved once it is up. */
async function connect(port: number, onClose: (err: Error | null) => void = () => {}): Promise<H2ClientConnection> {
  let opened = () => {};
  const open = new Promise<void>((r) => (opened = r));
  const conn = new H2ClientConnection((events) => dial({ host: "127.0.0.1", port, tls: null }, events), { onOpen: opened, onClose });
  conns.push(conn);
  await open;
  return conn;
}

const ok200 = (id: number, end = false) => encodeHeaders(id, encodeHeaderBlock([[":status", "200"]]), end, 16384);
const trailers = (id: number) => encodeHeaders(id, encodeHeaderBlock([["grpc-status", "0"]]), true, 16384);

test("the preface, our SETTINGS and the request leave first; a response with trailers closes the stream", async () => {
  const srv = await scripted();
  const conn = await connect(srv.port);
  const r = recorder();
  const s = conn.request(REQUEST, r.sink);
  s.write(Buffer.from("hello"));
  s.end();
  const peer = await srv.peer();
  const h = await peer.next((f) => f.type === FrameType.HEADERS);
  expect(peer.frames[0].type).toBe(FrameType.SETTINGS);
  expect(peer.headersOf(h)[":path"]).toBe("/x");
  const d = await peer.next((f) => f.type === FrameType.DATA && (f.flags & Flag.END_STREAM) !== 0);
  expect(peer.frames.filter((f) => f.type === FrameType.DATA).map((f) => f.payload.toString()).join("")).toBe("hello");
  expect(d.id).toBe(1);
  peer.send(ok200(1), encodeFrame(FrameType.DATA, 0, 1, Buffer.from("world")), trailers(1));
  const end = await r.closed;
  expect(end).toEqual({ rstCode: null, unprocessed: false, reason: null });
  expect(r.heard.headers.map((x) => x[":status"] ?? x["grpc-status"])).toEqual(["200", "0"]);
  expect(Buffer.concat(r.heard.data).toString()).toBe("world");
  // The server's SETTINGS were acknowledged.
  await peer.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
  conn.destroy();
});

test("streams beyond the server's MAX_CONCURRENT_STREAMS wait for a slot and start in order", async () => {
  const srv = await scripted([[Setting.MAX_CONCURRENT_STREAMS, 1]]);
  const conn = await connect(srv.port);
  const peer = await srv.peer();
  await peer.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0); // our ack: its limit is known
  const calls = [recorder(), recorder(), recorder()];
  for (const c of calls) {
    const s = conn.request(REQUEST, c.sink);
    s.write(Buffer.from("m"));
    s.end();
  }
  expect(conn.streamCount).toBe(3);
  await peer.next((f) => f.type === FrameType.HEADERS && f.id === 1);
  await Bun.sleep(50);
  expect(peer.frames.filter((f) => f.type === FrameType.HEADERS).map((f) => f.id)).toEqual([1]);
  peer.send(ok200(1), trailers(1));
  await calls[0].closed;
  await peer.next((f) => f.type === FrameType.HEADERS && f.id === 3);
  peer.send(ok200(3), trailers(3));
  await peer.next((f) => f.type === FrameType.HEADERS && f.id === 5);
  // The queued stream's request body followed its HEADERS.
  await peer.next((f) => f.type === FrameType.DATA && f.id === 5 && (f.flags & Flag.END_STREAM) !== 0);
  peer.send(ok200(5), trailers(5));
  for (const c of calls) expect((await c.closed).rstCode).toBeNull();
  conn.destroy();
});

test("GOAWAY: streams above its last id fail unprocessed, those below finish, new ones are refused", async () => {
  const srv = await scripted();
  const conn = await connect(srv.port);
  const peer = await srv.peer();
  const a = recorder();
  const b = recorder();
  conn.request(REQUEST, a.sink).end();
  conn.request(REQUEST, b.sink).end();
  await peer.next((f) => f.type === FrameType.HEADERS && f.id === 3);
  peer.send(encodeGoaway(1, ErrorCode.NO_ERROR));
  expect(await b.closed).toMatchObject({ rstCode: null, unprocessed: true });
  expect(conn.closed).toBe(true);
  const c = recorder();
  conn.request(REQUEST, c.sink);
  expect(await c.closed).toMatchObject({ unprocessed: true });
  peer.send(ok200(1), trailers(1));
  expect(await a.closed).toEqual({ rstCode: null, unprocessed: false, reason: null });
  // With its last stream done, the client closes its side.
  await new Promise((r) => (peer.socket.readableEnded ? r(null) : peer.socket.once("end", r)));
});

test("RST_STREAM: REFUSED_STREAM is unprocessed, other codes are not; cancel sends CANCEL", async () => {
  const srv = await scripted();
  const conn = await connect(srv.port);
  const peer = await srv.peer();
  const refused = recorder();
  const reset = recorder();
  const mine = recorder();
  conn.request(REQUEST, refused.sink);
  conn.request(REQUEST, reset.sink);
  const s = conn.request(REQUEST, mine.sink);
  await peer.next((f) => f.type === FrameType.HEADERS && f.id === 5);
  peer.send(encodeRstStream(1, ErrorCode.REFUSED_STREAM), encodeRstStream(3, ErrorCode.INTERNAL_ERROR));
  expect(await refused.closed).toEqual({ rstCode: ErrorCode.REFUSED_STREAM, unprocessed: true, reason: null });
  expect(await reset.closed).toEqual({ rstCode: ErrorCode.INTERNAL_ERROR, unprocessed: false, reason: null });
  s.reset();
  expect(mine.heard.end?.rstCode).toBe(ErrorCode.CANCEL);
  const rst = await peer.next((f) => f.type === FrameType.RST_STREAM && f.id === 5);
  expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.CANCEL);
  // Frames for a stream we closed are dropped, the connection lives.
  peer.send(ok200(5), trailers(5));
  const after = recorder();
  conn.request(REQUEST, after.sink).end();
  await peer.next((f) => f.type === FrameType.HEADERS && f.id === 7);
  peer.send(ok200(7), trailers(7));
  expect((await after.closed).rstCode).toBeNull();
  conn.destroy();
});

test("a server's PING is answered with the same bytes; our PING's ACK calls back", async () => {
  const srv = await scripted();
  const conn = await connect(srv.port);
  const peer = await srv.peer();
  const opaque = Buffer.from("01234567");
  peer.send(encodeFrame(FrameType.PING, 0, 0, opaque));
  const ack = await peer.next((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0);
  expect(ack.payload.toString()).toBe("01234567");
  let acked = false;
  conn.ping(() => (acked = true));
  const ping = await peer.next((f) => f.type === FrameType.PING && !(f.flags & Flag.ACK));
  peer.send(encodeFrame(FrameType.PING, Flag.ACK, 0, ping.payload));
  for (let i = 0; i < 100 && !acked; i++) await Bun.sleep(5);
  expect(acked).toBe(true);
  conn.destroy();
});

test("response headers: HPACK dynamic table, Huffman strings and CONTINUATION frames", async () => {
  const srv = await scripted();
  const conn = await connect(srv.port);
  const peer = await srv.peer();
  const r = recorder();
  conn.request(REQUEST, r.sink).end();
  await peer.next((f) => f.type === FrameType.HEADERS);
  // :status 200 (static 8), then "grpc-encoding: identity" with incremental indexing and a Huffman value.
  const value = huffmanEncode("identity");
  const block = Buffer.concat([Buffer.from([0x88, 0x40, 13]), Buffer.from("grpc-encoding"), Buffer.from([0x80 | value.length]), value]);
  // Split in two: HEADERS without END_HEADERS, then CONTINUATION.
  peer.send(encodeFrame(FrameType.HEADERS, 0, 1, block.subarray(0, 5)), encodeFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(5)));
  // Trailers name the table entry by index (62 = the newest dynamic entry).
  peer.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.concat([Buffer.from([0xbe]), encodeHeaderBlock([["grpc-status", "0"]])])));
  await r.closed;
  expect(r.heard.headers).toEqual([
    { ":status": "200", "grpc-encoding": "identity" },
    { "grpc-encoding": "identity", "grpc-status": "0" },
  ]);
  conn.destroy();
});

test("a protocol error from the server ends the connection with GOAWAY; open streams hear why", async () => {
  const srv = await scripted();
  let closedWith: Error | null | undefined;
  const conn = await connect(srv.port, (err) => (closedWith = err));
  const peer = await srv.peer();
  const r = recorder();
  conn.request(REQUEST, r.sink);
  await peer.next((f) => f.type === FrameType.HEADERS);
  peer.send(encodeFrame(FrameType.DATA, 0, 9, Buffer.from("x"))); // stream 9 was never opened
  const end = await r.closed;
  expect(end.unprocessed).toBe(false);
  expect(end.reason).toContain("DATA on idle stream 9");
  expect(closedWith?.message).toContain("protocol error");
  const goaway = await peer.next((f) => f.type === FrameType.GOAWAY);
  expect(goaway.payload.readUInt32BE(4)).toBe(ErrorCode.PROTOCOL_ERROR);
  expect(conn.closed).toBe(true);
});

test("a server that does not speak HTTP/2 fails the connection clearly", async () => {
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  let closedWith: Error | null | undefined;
  const conn = await connect((server.address() as net.AddressInfo).port, (err) => (closedWith = err));
  const r = recorder();
  conn.request(REQUEST, r.sink);
  await r.closed;
  expect(closedWith?.message).toContain("did not start with SETTINGS");
});

// ---------------------------------------------------------------- flow control, with node:http2 as the server

test("flow control: 20 MB down and 3 MB up stream through the windows of both sides", async () => {
  const big = Buffer.alloc(20 * 1024 * 1024, 7);
  const server = http2.createServer(); // its windows stay at the default 64 KiB
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    if (headers[":path"] === "/down") {
      stream.respond({ ":status": 200 }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(big);
      stream.resume();
    } else {
      let n = 0;
      stream.on("data", (d: Buffer) => (n += d.length));
      stream.on("end", () => {
        stream.respond({ ":status": 200 }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", received: String(n) }));
        stream.end();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    // One after the other: node:http2 refuses new streams (ENHANCE_YOUR_CALM) while a 20 MB response
    // it holds exceeds its session memory limit.
    const conn = await connect((server.address() as net.AddressInfo).port);
    const up = recorder();
    const s = conn.request([...REQUEST.slice(0, 2), [":path", "/up"], REQUEST[3]], up.sink);
    for (let i = 0; i < 3; i++) s.write(Buffer.alloc(1024 * 1024, i));
    s.end();
    expect((await up.closed).rstCode).toBeNull();
    expect(up.heard.headers.at(-1)?.received).toBe(String(3 * 1024 * 1024));
    const down = recorder();
    conn.request([...REQUEST.slice(0, 2), [":path", "/down"], REQUEST[3]], down.sink).end();
    expect((await down.closed).rstCode).toBeNull();
    expect(down.heard.data.reduce((n, d) => n + d.length, 0)).toBe(big.length);
    conn.destroy();
  } finally {
    server.close();
  }
});
