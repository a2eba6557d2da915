import { test, expect } from "bun:test";
import { crc32c } from "./crc32c";

const ascii = (s: string) => new TextEncoder().encode(s);

// Bit-at-a-time reference, independent of the table code.
function crc32cReference(data: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

test("check value and published vectors (RFC 3720 B.4)", () => {
  expect(crc32c(ascii("123456789"))).toBe(0xe3069283);
  expect(crc32c(new Uint8Array(0))).toBe(0);
  expect(crc32c(ascii("a"))).toBe(0xc1d04330);
  expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
  expect(crc32c(ascending)).toBe(0x46dd794e);
  const descending = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
  expect(crc32c(descending)).toBe(0x113fdb5c);
});

test("matches the bit-at-a-time reference for every length 0..300 and odd offsets", () => {
  const buf = pseudoRandomBytes(400, 7);
  for (let length = 0; length <= 300; length++) {
    for (const offset of [0, 1, 3, 5]) {
      const view = buf.subarray(offset, offset + length);
      expect(crc32c(view)).toBe(crc32cReference(view));
    }
  }
});

test("incremental use: crc(a+b) == crc(b, crc(a)) at every split point", () => {
  const data = pseudoRandomBytes(137, 42);
  const whole = crc32c(data);
  for (let split = 0; split <= data.length; split++) {
    const first = crc32c(data.subarray(0, split));
    expect(crc32c(data.subarray(split), first)).toBe(whole);
  }
  expect(crc32c(ascii("56789"), crc32c(ascii("1234")))).toBe(0xe3069283);
});

test("rejects a seed that is not a uint32", () => {
  expect(() => crc32c(new Uint8Array(1), -1)).toThrow(RangeError);
  expect(() => crc32c(new Uint8Array(1), 2 ** 32)).toThrow(RangeError);
  expect(() => crc32c(new Uint8Array(1), 1.5)).toThrow(RangeError);
});
