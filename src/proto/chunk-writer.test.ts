import { expect, test } from "bun:test";
import { ChunkWriter, varint64Bytes } from "./chunk-writer.ts";

test("finishWithPrefix puts the prefix right before the bytes written, in the first chunk, across chunk changes", () => {
  const w = new ChunkWriter(8);
  const big = new Uint8Array(100_000).fill(7); // a value big enough to go in as its own chunk
  w.bytesField(1, new Uint8Array([1, 2, 3]));
  w.raw(big);
  w.int64Field(2, 5n);
  const chunks = w.finishWithPrefix(new Uint8Array([0xaa, 0xbb, 0xcc]));
  const all = Buffer.concat(chunks);
  expect([...all.subarray(0, 8)]).toEqual([0xaa, 0xbb, 0xcc, 0x0a, 3, 1, 2, 3]);
  expect(all.length).toBe(3 + w.length);
  expect(all.subarray(8, 8 + big.length).every((b) => b === 7)).toBe(true);
  expect([...all.subarray(8 + big.length)]).toEqual([0x10, 5]);
});

test("a prefix longer than the headroom is refused", () => {
  const w = new ChunkWriter(2);
  expect(() => w.finishWithPrefix(new Uint8Array(3))).toThrow("assertion failed");
});

test("varint64Bytes counts the bytes of int64 varints on both sides of the safe-integer fast path", () => {
  const cases: [bigint, number][] = [[0n, 1], [127n, 1], [128n, 2], [2n ** 53n - 1n, 8], [2n ** 53n, 8], [2n ** 56n, 9], [2n ** 63n - 1n, 9], [-1n, 10]];
  for (const [v, bytes] of cases) expect([v, varint64Bytes(v)]).toEqual([v, bytes]);
});
