import { expect, test } from "bun:test";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "./huffman.ts";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "./huffman-table.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const dec = (b: Uint8Array) => huffmanDecode(b, 0, b.length);

test("the table is a complete prefix code of 257 symbols (Kraft sum exactly 1)", () => {
  expect(HUFFMAN_CODES.length).toBe(257);
  expect(HUFFMAN_LENGTHS.length).toBe(257);
  let sum = 0;
  for (const len of HUFFMAN_LENGTHS) sum += 2 ** -len;
  expect(sum).toBe(1);
  // EOS is 30 ones.
  expect(HUFFMAN_CODES[256]).toBe(0x3fffffff);
  expect(HUFFMAN_LENGTHS[256]).toBe(30);
});

test("RFC 7541 Appendix C.4 strings", () => {
  expect(dec(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"))).toBe("www.example.com");
  expect(dec(hex("a8eb 1064 9cbf"))).toBe("no-cache");
  expect(dec(hex("25a8 49e9 5ba9 7d7f"))).toBe("custom-key");
  expect(dec(hex("25a8 49e9 5bb8 e8b4 bf"))).toBe("custom-value");
});

test("RFC 7541 Appendix C.6 strings", () => {
  expect(dec(hex("6402"))).toBe("302");
  expect(dec(hex("aec3 771a 4b"))).toBe("private");
  expect(dec(hex("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"))).toBe("Mon, 21 Oct 2013 20:13:21 GMT");
  expect(dec(hex("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"))).toBe("https://www.example.com");
});

test("encode and decode round trip over all octets", () => {
  let all = "";
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  for (const s of ["", "a", "application/grpc", "/etcdserverpb.KV/Range", all, all.split("").reverse().join("")]) {
    const e = huffmanEncode(s);
    expect(e.length).toBe(huffmanEncodedLength(s));
    expect(dec(e)).toBe(s);
  }
  expect(Buffer.from(huffmanEncode("www.example.com")).toString("hex")).toBe("f1e3c2e5f23a6ba0ab90f4ff");
});

test("invalid padding and EOS are refused", () => {
  // "a" is 00011 (5 bits): padding with zeros instead of ones.
  expect(() => dec(new Uint8Array([0b00011000]))).toThrow("padding");
  // 8 bits of padding (a whole 0xff byte after a byte-aligned code is more than 7 bits).
  expect(() => dec(new Uint8Array([0b00011111, 0xff]))).toThrow();
  // EOS itself: 30 ones, padded with ones to 32 bits.
  expect(() => dec(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow();
});
