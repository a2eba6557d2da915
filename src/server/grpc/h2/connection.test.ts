import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import http2 from "node:http2";
import net from "node:net";
import {
  CONNECTION_PREFACE,
  encodeFrame,
  encodeSettings,
  encodeWindowUpdate,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  Setting,
} from "../../../pkg/h2/frames.ts";
import { encodeHeaderBlock, HpackDecoder } from "../../../pkg/h2/hpack.ts";
import { H2Server, type H2ServerOptions } from "./server.ts";
import type { H2Stream } from "./stream.ts";

// ---------------------------------------------------------------- a test server

type OnStream = (s: H2Stream) => void;

interface TestServer {
  port: number;
  h2: H2Server;
  errors: Error[];
  close(): Promise<void>;
}

async function startServer(onStream: OnStream, limits: Partial<H2ServerOptions> = {}): Promise<TestServer> {
  const errors: Error[] = [];
  const h2 = new H2Server({ ...limits, onStream: (s) => onStream(s), onError: (e) => errors.push(e) });
  const server = net.createServer({ noDelay: true }, (socket) => h2.handleConnection(socket));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    h2,
    errors,
    close: async () => {
      server.close();
      await h2.close(500);
    },
  };
}

const OK_HEADERS = encodeHeaderBlock([
  [":status", "200"],
  ["content-type", "application/grpc"],
]);
const OK_TRAILERS = encodeHeaderBlock([["grpc-status", "0"]]);

/** Echo: collects the request body, answers it back with headers and trailers. */
const echo: OnStream = (s) => {
  const chunks: Buffer[] = [];
  s.sink = {
    onData(c) {
      chunks.push(Buffer.from(c));
      s.release(c.length);
    },
    onEnd() {
      s.respond(OK_HEADERS);
      s.write(Buffer.concat(chunks));
      s.end(OK_TRAILERS);
    },
    onClose() {},
  };
};

// ---------------------------------------------------------------- a raw client

interface RawFrame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

class RawClient {
  readonly socket: net.Socket;
  readonly frames: RawFrame[] = [];
  readonly hpack = new HpackDecoder();
  closed = false;
  #reader = new FrameReader(1 << 24);
  #waiters: (() => void)[] = [];

  constructor(port: number, opts: { preface?: boolean } = {}) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.on("data", (c: Buffer) => {
      this.#reader.push(c, (type, flags, id, payload) => this.frames.push({ type, flags, id, payload: Buffer.from(payload) }));
      this.#notify();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.#notify();
    });
    this.socket.on("error", () => {});
    if (opts.preface !== false) this.send(CONNECTION_PREFACE, encodeSettings([]));
  }

  #notify() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  send(...bufs: Uint8Array[]): void {
    for (const b of bufs) this.socket.write(b);
  }

  /** Waits until a frame matching `pred` has arrived (searching from the start) and returns it. */
  async waitFor(pred: (f: RawFrame) => boolean, what = "frame", ms = 2000): Promise<RawFrame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.frames.find(pred);
      if (f) return f;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${this.frames.map((f) => f.type).join(",")}`);
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  async waitClosed(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("connection not closed");
      await new Promise<void>((r) => {
        this.#waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  goaway(): { lastId: number; code: number } | null {
    const f = this.frames.find((f) => f.type === FrameType.GOAWAY);
    return f ? { lastId: f.payload.readUInt32BE(0), code: f.payload.readUInt32BE(4) } : null;
  }

  dataOf(id: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === FrameType.DATA && f.id === id).map((f) => f.payload));
  }

  destroy() {
    this.socket.destroy();
  }
}

const REQ = (path = "/echo", extra: [string, string][] = []) =>
  encodeHeaderBlock([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ...extra,
  ]);

const headersFrame = (id: number, block: Uint8Array, flags: number = Flag.END_HEADERS) => encodeFrame(FrameType.HEADERS, flags, id, block);
const dataFrame = (id: number, data: Uint8Array | string, flags: number = 0) =>
  encodeFrame(FrameType.DATA, flags, id, typeof data === "string" ? Buffer.from(data) : data);
const rstFrame = (id: number, code: number) => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return encodeFrame(FrameType.RST_STREAM, 0, id, p);
};

const servers: TestServer[] = [];
const clients: RawClient[] = [];
async function server(onStream: OnStream, limits: Partial<H2ServerOptions> = {}) {
  const s = await startServer(onStream, limits);
  servers.push(s);
  return s;
}
function raw(port: number, opts?: { preface?: boolean }) {
  const c = new RawClient(port, opts);
  clients.push(c);
  return c;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
});

// ---------------------------------------------------------------- with node:http2 as the client

describe("with node:http2 as the client", () => {
  let srv: TestServer;
  let session: http2.ClientHttp2Session;
  beforeAll(async () => {
    srv = await startServer(echo);
    session = http2.connect(`http://127.0.0.1:${srv.port}`);
  });
  afterAll(async () => {
    session.close();
    await srv.close();
  });

  function call(body: Buffer): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": "/echo", "content-type": "application/grpc", te: "trailers" });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      req.on("response", (h) => (headers = h));
      req.on("trailers", (t) => (trailers = t));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", reject);
      req.on("close", () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
      req.end(body);
    });
  }

  test("request and answer with headers, data and trailers", async () => {
    const r = await call(Buffer.from("hello"));
    expect(Number(r.headers[":status"])).toBe(200);
    expect(r.headers["content-type"]).toBe("application/grpc");
    expect(r.trailers["grpc-status"]).toBe("0");
    expect(r.body.toString()).toBe("hello");
  });

  test("200 concurrent calls on one connection", async () => {
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => call(Buffer.from(`m${i}`))));
    rs.forEach((r, i) => expect(r.body.toString()).toBe(`m${i}`));
  });

  test("a 5 MB upload and answer pass both directions of flow control", async () => {
    const big = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
    const [a, b] = await Promise.all([call(big), call(big)]);
    expect(a.body.equals(big)).toBe(true);
    expect(b.body.equals(big)).toBe(true);
    expect(a.trailers["grpc-status"]).toBe("0");
  }, 20_000);
});

// ---------------------------------------------------------------- raw frames

describe("raw frames", () => {
  test("the server opens with SETTINGS and a connection WINDOW_UPDATE, and ACKs the client's SETTINGS", async () => {
    const srv = await server(echo);
    const c = raw(srv.port);
    const first = await c.waitFor(() => true);
    expect(first.type).toBe(FrameType.SETTINGS);
    const settings = new Map<number, number>();
    for (let at = 0; at < first.payload.length; at += 6) settings.set(first.payload.readUInt16BE(at), first.payload.readUInt32BE(at + 2));
    expect(settings.get(Setting.MAX_CONCURRENT_STREAMS)).toBeGreaterThanOrEqual(1000);
    expect(settings.get(Setting.INITIAL_WINDOW_SIZE)).toBe(16 * 1024 * 1024);
    const wu = await c.waitFor((f) => f.type === FrameType.WINDOW_UPDATE && f.id === 0);
    expect(wu.payload.readUInt32BE(0)).toBe(16 * 1024 * 1024 - 65535);
    await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0, "SETTINGS ACK");
  });

  test("PING is answered with the same payload; unknown frames and PRIORITY are ignored", async () => {
    const srv = await server(echo);
    const c = raw(srv.port);
    c.send(encodeFrame(0xbb, 0, 0, Buffer.from("whatever")), encodeFrame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])));
    c.send(encodeFrame(FrameType.PING, 0, 0, Buffer.from("12345678")));
    const ack = await c.waitFor((f) => f.type === FrameType.PING, "PING ACK");
    expect(ack.flags & Flag.ACK).toBe(Flag.ACK);
    expect(ack.payload.toString()).toBe("12345678");
    expect(c.goaway()).toBeNull();
  });

  test("padded HEADERS with priority, CONTINUATION, padded DATA: a trailers-only answer and an echo", async () => {
    const srv = await server((s) => {
      if (s.headers[":path"] === "/nothing") {
        s.respond(encodeHeaderBlock([[":status", "200"], ["content-type", "application/grpc"], ["grpc-status", "12"]]), true);
        return;
      }
      echo(s);
    });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ("/nothing"), Flag.END_HEADERS | Flag.END_STREAM));
    const block = REQ("/echo", [["x-long", "y".repeat(100)]]);
    const padded = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 16]), block.subarray(0, 10), Buffer.alloc(4)]);
    c.send(
      encodeFrame(FrameType.HEADERS, Flag.PADDED | Flag.PRIORITY, 3, padded),
      encodeFrame(FrameType.CONTINUATION, 0, 3, block.subarray(10, 50)),
      encodeFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, block.subarray(50)),
      encodeFrame(FrameType.DATA, Flag.PADDED, 3, Buffer.concat([Buffer.from([3]), Buffer.from("abc"), Buffer.alloc(3)])),
      dataFrame(3, "def", Flag.END_STREAM),
    );
    const h1 = await c.waitFor((f) => f.type === FrameType.HEADERS && f.id === 1);
    expect(h1.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
    expect(c.hpack.decode(h1.payload).headers["grpc-status"]).toBe("12");
    const trailers = await c.waitFor((f) => f.type === FrameType.HEADERS && f.id === 3 && (f.flags & Flag.END_STREAM) !== 0);
    expect(c.dataOf(3).toString()).toBe("abcdef");
    expect(c.hpack.decode(c.frames.find((f) => f.type === FrameType.HEADERS && f.id === 3)!.payload).headers[":status"]).toBe("200");
    expect(c.hpack.decode(trailers.payload).headers["grpc-status"]).toBe("0");
  });

  test("send flow control: the stream window is respected, WINDOW_UPDATE and SETTINGS resume the answer", async () => {
    const body = Buffer.alloc(1000, 0x61);
    const srv = await server((s) => {
      s.sink = { onData: (c) => s.release(c.length), onEnd() {}, onClose() {} };
      s.respond(OK_HEADERS);
      s.write(body);
      s.end(OK_TRAILERS);
    });
    const c = raw(srv.port, { preface: false });
    c.send(CONNECTION_PREFACE, encodeSettings([[Setting.INITIAL_WINDOW_SIZE, 100]]));
    c.send(headersFrame(1, REQ(), Flag.END_HEADERS | Flag.END_STREAM));
    await c.waitFor((f) => f.type === FrameType.DATA);
    await Bun.sleep(50);
    expect(c.dataOf(1).length).toBe(100);
    c.send(encodeWindowUpdate(1, 300));
    await Bun.sleep(50);
    expect(c.dataOf(1).length).toBe(400);
    // Raising the initial window applies to the open stream: +500 → window 500 more.
    c.send(encodeSettings([[Setting.INITIAL_WINDOW_SIZE, 600]]));
    await Bun.sleep(50);
    expect(c.dataOf(1).length).toBe(900);
    expect(c.frames.some((f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0)).toBe(false);
    c.send(encodeWindowUpdate(1, 1000));
    await c.waitFor((f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0, "trailers");
    expect(c.dataOf(1).equals(body)).toBe(true);
  });

  test("send flow control: the connection window is respected across streams", async () => {
    const body = Buffer.alloc(50_000, 0x62);
    const srv = await server((s) => {
      s.respond(OK_HEADERS);
      s.write(body);
      s.end(OK_TRAILERS);
    });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ(), Flag.END_HEADERS | Flag.END_STREAM), headersFrame(3, REQ(), Flag.END_HEADERS | Flag.END_STREAM));
    await c.waitFor((f) => f.type === FrameType.DATA);
    await Bun.sleep(50);
    expect(c.dataOf(1).length + c.dataOf(3).length).toBe(65535);
    c.send(encodeWindowUpdate(0, 100_000 - 65535));
    await c.waitFor((f) => f.type === FrameType.HEADERS && f.id === 3 && (f.flags & Flag.END_STREAM) !== 0, "trailers of 3");
    await c.waitFor((f) => f.type === FrameType.HEADERS && f.id === 1 && (f.flags & Flag.END_STREAM) !== 0, "trailers of 1");
    expect(c.dataOf(1).equals(body)).toBe(true);
    expect(c.dataOf(3).equals(body)).toBe(true);
  });

  test("write() reports a full queue and waitWritable() resolves once the peer reads", async () => {
    const events: string[] = [];
    const srv = await server(async (s) => {
      s.respond(OK_HEADERS);
      const ok = s.write(Buffer.alloc(1024 * 1024));
      events.push(`write ${ok}`);
      await s.waitWritable();
      events.push("writable");
      s.end(OK_TRAILERS);
    });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ(), Flag.END_HEADERS | Flag.END_STREAM));
    await c.waitFor((f) => f.type === FrameType.DATA);
    await Bun.sleep(30);
    expect(events).toEqual(["write false"]);
    c.send(encodeWindowUpdate(0, 2 * 1024 * 1024), encodeWindowUpdate(1, 2 * 1024 * 1024));
    await c.waitFor((f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0, "trailers");
    expect(events).toEqual(["write false", "writable"]);
    expect(c.dataOf(1).length).toBe(1024 * 1024);
  });

  test("RST_STREAM from the client closes the stream (onClose) and drops its queued data", async () => {
    let closed = 0;
    const srv = await server((s) => {
      s.sink = { onData: (c) => s.release(c.length), onEnd() {}, onClose: () => closed++ };
      s.respond(OK_HEADERS);
      s.write(Buffer.alloc(200_000));
    });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ()));
    await c.waitFor((f) => f.type === FrameType.DATA);
    c.send(rstFrame(1, ErrorCode.CANCEL));
    c.send(encodeWindowUpdate(0, 1_000_000), dataFrame(1, "late data is ignored"));
    c.send(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await c.waitFor((f) => f.type === FrameType.PING);
    expect(closed).toBe(1);
    expect(c.dataOf(1).length).toBe(65535);
    expect(c.goaway()).toBeNull();
  });

  test("an early answer to a request still being sent ends with RST_STREAM NO_ERROR", async () => {
    const srv = await server((s) => {
      s.respond(encodeHeaderBlock([[":status", "200"], ["content-type", "application/grpc"], ["grpc-status", "8"]]), true);
    });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ()), dataFrame(1, "more"));
    const rst = await c.waitFor((f) => f.type === FrameType.RST_STREAM);
    expect(rst.id).toBe(1);
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.NO_ERROR);
    c.send(dataFrame(1, "still more", Flag.END_STREAM), encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await c.waitFor((f) => f.type === FrameType.PING);
    expect(c.goaway()).toBeNull();
  });

  test("more DATA than the stream window: RST_STREAM FLOW_CONTROL_ERROR; the connection lives", async () => {
    // A sink that never releases: the stream window is not replenished.
    const srv = await server((s) => (s.sink = { onData() {}, onEnd() {}, onClose() {} }), { initialWindowSize: 65535 });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ()));
    for (let i = 0; i < 5; i++) c.send(dataFrame(1, Buffer.alloc(16384)));
    const rst = await c.waitFor((f) => f.type === FrameType.RST_STREAM);
    expect(rst.id).toBe(1);
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    c.send(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await c.waitFor((f) => f.type === FrameType.PING);
    expect(c.goaway()).toBeNull();
  });

  test("streams over MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM", async () => {
    const srv = await server(() => {}, { maxConcurrentStreams: 2 });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ()), headersFrame(3, REQ()), headersFrame(5, REQ()));
    const rst = await c.waitFor((f) => f.type === FrameType.RST_STREAM);
    expect(rst.id).toBe(5);
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.REFUSED_STREAM);
  });

  test("a header list over MAX_HEADER_LIST_SIZE is refused with RST_STREAM; the connection lives", async () => {
    let seen = 0;
    const srv = await server(() => seen++, { maxHeaderListSize: 1024 });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ("/echo", [["big", "z".repeat(2000)]]), Flag.END_HEADERS | Flag.END_STREAM));
    const rst = await c.waitFor((f) => f.type === FrameType.RST_STREAM);
    expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    c.send(headersFrame(3, REQ(), Flag.END_HEADERS | Flag.END_STREAM), encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    await c.waitFor((f) => f.type === FrameType.PING);
    expect(seen).toBe(1);
  });

  test("graceful close: GOAWAY, the open stream finishes, then the connection ends", async () => {
    const streams: H2Stream[] = [];
    const srv = await server((s) => void streams.push(s));
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ(), Flag.END_HEADERS | Flag.END_STREAM));
    await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
    while (!streams.length) await Bun.sleep(5);
    const closing = srv.h2.close(2000);
    const ga = await c.waitFor((f) => f.type === FrameType.GOAWAY);
    expect(ga.payload.readUInt32BE(0)).toBe(1);
    expect(ga.payload.readUInt32BE(4)).toBe(ErrorCode.NO_ERROR);
    // A new stream after GOAWAY is refused.
    c.send(headersFrame(3, REQ(), Flag.END_HEADERS | Flag.END_STREAM));
    await c.waitFor((f) => f.type === FrameType.RST_STREAM && f.id === 3);
    expect(c.closed).toBe(false);
    streams[0].respond(OK_HEADERS);
    streams[0].end(OK_TRAILERS);
    await c.waitClosed();
    await closing;
    expect(srv.h2.connectionCount).toBe(0);
  });

  test("a GOAWAY from the client ends the connection once its streams are done", async () => {
    const srv = await server(echo);
    const c = raw(srv.port);
    c.send(encodeFrame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8)));
    await c.waitClosed();
  });
});

describe("protocol errors end the connection with GOAWAY", () => {
  const cases: [string, (c: RawClient) => void, ErrorCode][] = [
    ["a frame larger than MAX_FRAME_SIZE", (c) => c.send(encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(20000))), ErrorCode.FRAME_SIZE_ERROR],
    ["DATA on an idle stream", (c) => c.send(dataFrame(7, "x")), ErrorCode.PROTOCOL_ERROR],
    ["HEADERS on an even stream", (c) => c.send(headersFrame(2, REQ())), ErrorCode.PROTOCOL_ERROR],
    ["a PING of 7 bytes", (c) => c.send(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(7))), ErrorCode.FRAME_SIZE_ERROR],
    ["a broken HPACK block", (c) => c.send(headersFrame(1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]))), ErrorCode.COMPRESSION_ERROR],
    ["a frame between HEADERS and CONTINUATION", (c) => c.send(headersFrame(1, REQ(), 0), encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8))), ErrorCode.PROTOCOL_ERROR],
    ["WINDOW_UPDATE overflowing the connection window", (c) => c.send(encodeWindowUpdate(0, 0x7fffffff)), ErrorCode.FLOW_CONTROL_ERROR],
    ["SETTINGS_MAX_FRAME_SIZE too small", (c) => c.send(encodeSettings([[Setting.MAX_FRAME_SIZE, 100]])), ErrorCode.PROTOCOL_ERROR],
  ];
  for (const [name, act, code] of cases) {
    test(name, async () => {
      const srv = await server((s) => (s.sink = { onData() {}, onEnd() {}, onClose() {} }));
      const c = raw(srv.port);
      await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
      act(c);
      await c.waitClosed();
      expect(c.goaway()?.code).toBe(code);
      expect(srv.errors.length).toBeGreaterThan(0);
    });
  }

  test("a connection that does not start with the preface", async () => {
    const srv = await server(echo);
    const c = raw(srv.port, { preface: false });
    c.send(Buffer.from("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"));
    await c.waitClosed();
    expect(c.goaway()?.code).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  test("held request bodies over maxHeldBytes: ENHANCE_YOUR_CALM", async () => {
    const srv = await server((s) => (s.sink = { onData() {}, onEnd() {}, onClose() {} }), { maxHeldBytes: 100_000 });
    const c = raw(srv.port);
    c.send(headersFrame(1, REQ()));
    for (let i = 0; i < 10; i++) c.send(dataFrame(1, Buffer.alloc(16000)));
    await c.waitClosed();
    expect(c.goaway()?.code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });
});

test("garbage after a valid start never throws out of the server", async () => {
  const srv = await server(echo);
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const valid = [
    headersFrame(1, REQ(), Flag.END_HEADERS),
    dataFrame(1, "abc"),
    encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)),
    encodeSettings([[Setting.INITIAL_WINDOW_SIZE, 1000]]),
    encodeWindowUpdate(1, 10),
    rstFrame(1, 8),
  ];
  for (let round = 0; round < 60; round++) {
    const c = raw(srv.port);
    const bytes = Buffer.concat(valid.slice(0, 1 + Math.floor(rand() * valid.length)));
    // Flip some bytes, or append random ones.
    for (let i = 0; i < 1 + rand() * 6; i++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    c.send(bytes, Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256))));
    await Bun.sleep(2);
    c.destroy();
  }
  // The server still serves.
  const c = raw(srv.port);
  c.send(headersFrame(1, REQ()), dataFrame(1, "alive", Flag.END_STREAM));
  await c.waitFor((f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0);
  expect(c.dataOf(1).toString()).toBe("alive");
  expect(srv.errors.filter((e) => !("code" in e)).map(String)).toEqual([]);
});
