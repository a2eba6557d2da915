import { test, expect } from "bun:test";
import { checkFrame, decodeBody, encodeRecords, FRAME_ALIGN_BYTES, findNextValidFrame, frameBytesOf } from "./frame";
import { MAX_UINT64, type WalRecord } from "./record";
import { formatSegmentName, parseSegmentName } from "./segment-name";

function decodeAll(buf: Uint8Array): WalRecord[] {
  const out: WalRecord[] = [];
  for (let offset = 0; offset < buf.length; ) {
    const frame = checkFrame(buf, offset);
    if (frame.kind !== "ok") throw new Error(frame.reason);
    const record = decodeBody(buf, frame.bodyStart, frame.bodyBytes);
    if (typeof record === "string") throw new Error(record);
    out.push(record);
    offset = frame.endOffset;
  }
  return out;
}

test("frames are 8-byte aligned, zero padded, and round trip with and without index", () => {
  const records: WalRecord[] = [
    { type: 0, data: new Uint8Array(0) },
    { type: 255, data: new Uint8Array([1, 2, 3]), index: 0n },
    { type: 7, data: new Uint8Array(13).fill(9), index: MAX_UINT64 },
    { type: 1, data: new Uint8Array(6).fill(5) },
  ];
  const buf = encodeRecords(records);
  for (const record of records) expect(frameBytesOf(record) % FRAME_ALIGN_BYTES).toBe(0);
  expect(buf.length).toBe(records.reduce((sum, r) => sum + frameBytesOf(r), 0));
  // First frame: 8-byte header + 2-byte body padded to 8.
  expect(Array.from(buf.subarray(0, 16))).toEqual([2, 0, 0, 0, ...buf.subarray(4, 8), 0, 0, 0, 0, 0, 0, 0, 0]);
  expect(decodeAll(buf)).toEqual(records);
});

test("checkFrame tells incomplete frames from bad ones", () => {
  const buf = encodeRecords([{ type: 1, data: new Uint8Array(20).fill(1), index: 5n }]);
  expect(checkFrame(buf, 0).kind).toBe("ok");
  expect(checkFrame(buf.subarray(0, 5), 0).kind).toBe("incomplete");
  expect(checkFrame(buf.subarray(0, buf.length - 1), 0).kind).toBe("incomplete");
  expect(checkFrame(new Uint8Array(16), 0).kind).toBe("bad");
  const flipped = buf.slice();
  flipped[12] ^= 0x10;
  const check = checkFrame(flipped, 0);
  expect(check.kind).toBe("bad");
  expect(check.kind === "bad" && check.reason).toContain("checksum mismatch");
});

test("findNextValidFrame finds an intact frame after garbage and nothing in zeros", () => {
  const record = encodeRecords([{ type: 3, data: new Uint8Array([4, 5, 6]) }]);
  const buf = new Uint8Array(64 + record.length);
  buf.fill(0xab, 0, 40);
  buf.set(record, 64);
  expect(findNextValidFrame(buf, 1)).toBe(64);
  expect(findNextValidFrame(new Uint8Array(256), 0)).toBeNull();
});

test("segment names use 16 hex digits each and parse back", () => {
  const name = formatSegmentName({ seq: 10n, firstIndex: 0xabcn });
  expect(name).toBe("000000000000000a-0000000000000abc.wal");
  expect(parseSegmentName(name)).toEqual({ seq: 10n, firstIndex: 0xabcn });
  expect(parseSegmentName("000000000000000a-0000000000000abc.wal.tmp")).toBeNull();
  expect(parseSegmentName("0a-0abc.wal")).toBeNull();
  expect(() => formatSegmentName({ seq: -1n, firstIndex: 0n })).toThrow(RangeError);
});
