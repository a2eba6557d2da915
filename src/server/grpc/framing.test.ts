import { expect, test } from "bun:test";
import { encodeGrpcMessage, frame, MessageReader, parseGrpcTimeoutMs, SERVER_DEADLINE_GRACE_MS, serverDeadlineMs } from "./framing.ts";

test("messages split across and joined within chunks are reassembled", () => {
  const a = frame(new Uint8Array([1, 2, 3]));
  const b = frame(new Uint8Array(0));
  const c = frame(new Uint8Array(300).fill(7));
  const all = Buffer.concat([a, b, c]);
  const r = new MessageReader(1000);
  const got: Uint8Array[] = [];
  for (let i = 0; i < all.length; i += 4) got.push(...r.push(all.subarray(i, i + 4)));
  expect(got.map((m) => m.length)).toEqual([3, 0, 300]);
  expect(r.pendingBytes).toBe(0);
});

test("an oversized message is refused from its header alone", () => {
  const r = new MessageReader(10);
  const head = Buffer.from([0, 0, 0, 0, 11]);
  expect(() => r.push(head)).toThrow("grpc: received message larger than max (11 vs. 10)");
});

test("grpc-timeout units", () => {
  expect(parseGrpcTimeoutMs("5S")).toBe(5000);
  expect(parseGrpcTimeoutMs("100m")).toBe(100);
  expect(parseGrpcTimeoutMs("2H")).toBe(7_200_000);
  expect(parseGrpcTimeoutMs("bogus")).toBeUndefined();
});

test("grpc-message percent-encoding", () => {
  expect(encodeGrpcMessage("etcdserver: key is not provided")).toBe("etcdserver: key is not provided");
  expect(encodeGrpcMessage("100% é")).toBe("100%25 %C3%A9");
});

test("a server's own deadline comes after the client's (clientv3 re-sends a call answered DeadlineExceeded early)", () => {
  expect(serverDeadlineMs("100m")).toBe(100 + SERVER_DEADLINE_GRACE_MS);
  expect(serverDeadlineMs("3S")).toBe(3000 + SERVER_DEADLINE_GRACE_MS);
  expect(serverDeadlineMs(undefined)).toBeUndefined();
  expect(SERVER_DEADLINE_GRACE_MS).toBeGreaterThanOrEqual(100);
});
