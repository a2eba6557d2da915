import { expect, test } from "bun:test";
import { encodeWithHeadroom } from "./encode.ts";
import { etcdserverpb } from "./etcd.js";

test("encodes exactly as the generated encoder, after the headroom", () => {
  const msg = { put: { key: Buffer.from("k"), value: Buffer.alloc(300, 7) }, header: { ID: 0x8e9e05c52164694dn } };
  const plain = etcdserverpb.InternalRaftRequest.encode(msg).finish();
  const framed = encodeWithHeadroom(etcdserverpb.InternalRaftRequest, msg, 5);
  expect(framed.length).toBe(plain.length + 5);
  expect(Buffer.from(framed.subarray(5)).equals(Buffer.from(plain))).toBe(true);
});

test("the shared writer does not leak bytes between messages of different sizes", () => {
  const big = encodeWithHeadroom(etcdserverpb.PutRequest, { key: Buffer.from("big"), value: Buffer.alloc(100_000, 1) });
  const small = encodeWithHeadroom(etcdserverpb.PutRequest, { key: Buffer.from("s") });
  expect(etcdserverpb.PutRequest.decode(big).value.length).toBe(100_000);
  expect(etcdserverpb.PutRequest.decode(small).key.toString()).toBe("s");
  expect(small.length).toBe(3);
});
