import { expect, test } from "bun:test";
import {
  encodeFrame,
  encodeGoaway,
  encodeHeaders,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  H2ConnectionError,
  Setting,
  unpad,
} from "./frames.ts";

type F = { type: number; flags: number; id: number; payload: Buffer };
const collect = (r: FrameReader, chunk: Buffer, out: F[]) =>
  r.push(chunk, (type, flags, id, payload) => out.push({ type, flags, id, payload: Buffer.from(payload) }));

test("frame header layout: 24-bit length, type, flags, 31-bit stream id (reserved bit cleared)", () => {
  const f = encodeFrame(FrameType.DATA, Flag.END_STREAM, 0x7fffffff, Buffer.from("hello"));
  expect(f.subarray(0, 9).toString("hex")).toBe("00000500017fffffff");
  expect(f.subarray(9).toString()).toBe("hello");
  expect(encodeWindowUpdate(3, 0x12345).toString("hex")).toBe("000004080000000003" + "00012345");
  expect(encodeRstStream(5, ErrorCode.CANCEL).toString("hex")).toBe("000004030000000005" + "00000008");
  expect(encodeSettings([[Setting.INITIAL_WINDOW_SIZE, 65535]]).toString("hex")).toBe("000006040000000000" + "00040000ffff");
  expect(encodeGoaway(7, ErrorCode.PROTOCOL_ERROR, "x").toString("hex")).toBe("000009070000000000" + "00000007" + "00000001" + "78");
});

test("frames split at every byte boundary and joined in one chunk are read back", () => {
  const frames = [
    encodeFrame(FrameType.SETTINGS, 0, 0),
    encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(300, 7)),
    encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8, 1)),
    encodeFrame(0xfa, 0xff, 9, Buffer.from("unknown")),
  ];
  const all = Buffer.concat(frames);
  for (const step of [1, 2, 5, 9, 10, 100, all.length]) {
    const r = new FrameReader();
    const got: F[] = [];
    for (let i = 0; i < all.length; i += step) collect(r, all.subarray(i, i + step), got);
    expect(got.map((f) => [f.type, f.flags, f.id, f.payload.length])).toEqual([
      [FrameType.SETTINGS, 0, 0, 0],
      [FrameType.DATA, 0, 1, 300],
      [FrameType.PING, 0, 0, 8],
      [0xfa, 0xff, 9, 7],
    ]);
    expect(r.pendingBytes).toBe(0);
  }
});

test("a frame over the maximum size is refused from its header alone (FRAME_SIZE_ERROR)", () => {
  const r = new FrameReader(16384);
  const head = Buffer.from("004001000000000001", "hex"); // 16385 bytes of DATA
  try {
    r.push(head, () => {});
    throw new Error("no error");
  } catch (err) {
    expect(err).toBeInstanceOf(H2ConnectionError);
    expect((err as H2ConnectionError).code).toBe(ErrorCode.FRAME_SIZE_ERROR);
  }
});

test("padding: removed, and a pad length past the frame is a PROTOCOL_ERROR", () => {
  const p = Buffer.from([3, 0x61, 0x62, 0, 0, 0]);
  expect(unpad(p, Flag.PADDED, 0, 1).toString()).toBe("ab");
  expect(unpad(Buffer.from("ab"), 0, 0, 1).toString()).toBe("ab");
  // HEADERS with PRIORITY: 5 bytes of priority data after the pad length.
  const h = Buffer.from([1, 0, 0, 0, 3, 16, 0x82, 0]);
  expect([...unpad(h, Flag.PADDED | Flag.PRIORITY, 5, 1)]).toEqual([0x82]);
  expect(() => unpad(Buffer.from([5, 1, 2]), Flag.PADDED, 0, 1)).toThrow(H2ConnectionError);
  expect(() => unpad(Buffer.alloc(0), Flag.PADDED, 0, 1)).toThrow(H2ConnectionError);
});

test("header blocks over the frame size are split into HEADERS + CONTINUATION", () => {
  const block = Buffer.alloc(40000, 0x82);
  const out = encodeHeaders(3, block, true, 16384);
  const got: F[] = [];
  collect(new FrameReader(), out, got);
  expect(got.map((f) => [f.type, f.flags, f.id, f.payload.length])).toEqual([
    [FrameType.HEADERS, Flag.END_STREAM, 3, 16384],
    [FrameType.CONTINUATION, 0, 3, 16384],
    [FrameType.CONTINUATION, Flag.END_HEADERS, 3, 40000 - 32768],
  ]);
  const small = encodeHeaders(3, Buffer.from([0x88]), false, 16384);
  expect(small.toString("hex")).toBe("000001010400000003" + "88");
});
