import { expect, test } from "bun:test";
import { GrpcCode } from "../../pkg/errors.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { decodeGrpcMessage, encodeFrame, FrameDecoder, grpcTimeout } from "./framing.ts";

test("a frame is the flag, the big-endian length and the encoded message", () => {
  const msg = { key: Buffer.from("k"), value: Buffer.from("v"), lease: 0x7fffffffffffffffn };
  const f = encodeFrame(etcdserverpb.PutRequest, msg);
  const plain = Buffer.from(etcdserverpb.PutRequest.encode(msg).finish());
  expect(f[0]).toBe(0);
  expect(f.readUInt32BE(1)).toBe(plain.length);
  expect(f.subarray(5).equals(plain)).toBe(true);
  expect(etcdserverpb.PutRequest.decode(f.subarray(5)).lease).toBe(0x7fffffffffffffffn);
});

test("the decoder reassembles messages split anywhere and splits messages sharing a chunk", () => {
  const frames = [0, 1, 300, 70_000].map((n) => encodeFrame(etcdserverpb.PutRequest, { key: Buffer.from(`k${n}`), value: Buffer.alloc(n, 7) }));
  const all = Buffer.concat(frames);
  for (const step of [1, 3, 5, 64, 1000, all.length]) {
    const d = new FrameDecoder(1 << 20);
    const got: Buffer[] = [];
    for (let i = 0; i < all.length; i += step) got.push(...d.push(all.subarray(i, i + step)));
    expect(got.map((m) => etcdserverpb.PutRequest.decode(m).value.length)).toEqual([0, 1, 300, 70_000]);
    expect(d.pendingBytes).toBe(0);
  }
});

test("the decoder refuses an oversized message from its header alone, and compressed messages", () => {
  const big = Buffer.from([0, 0, 0, 4, 1]);
  expect(() => new FrameDecoder(1024).push(big)).toThrow(expect.objectContaining({ code: GrpcCode.ResourceExhausted }));
  expect(() => new FrameDecoder(1024).push(Buffer.from([1, 0, 0, 0, 0]))).toThrow(expect.objectContaining({ code: GrpcCode.Internal }));
});

test("a truncated message stays pending", () => {
  const f = encodeFrame(etcdserverpb.PutRequest, { key: Buffer.from("abc") });
  const d = new FrameDecoder(1024);
  expect(d.push(f.subarray(0, f.length - 1))).toEqual([]);
  expect(d.pendingBytes).toBe(f.length - 1);
});

test("grpc-timeout uses at most 8 digits", () => {
  expect(grpcTimeout(1500)).toBe("1500m");
  expect(grpcTimeout(0.2)).toBe("1m");
  expect(grpcTimeout(-5)).toBe("1m");
  expect(grpcTimeout(1e9)).toBe("1000000S");
  expect(grpcTimeout(1e12)).toBe("277778H");
  expect(grpcTimeout(1e18)).toBe("99999999H");
});

test("grpc-message is percent-decoded; malformed escapes are kept as sent", () => {
  expect(decodeGrpcMessage("etcdserver: key not found")).toBe("etcdserver: key not found");
  expect(decodeGrpcMessage("caf%C3%A9 %25")).toBe("café %");
  expect(decodeGrpcMessage("100%")).toBe("100%");
});
