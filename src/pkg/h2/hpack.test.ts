import { expect, test } from "bun:test";
import { huffmanEncode } from "./huffman.ts";
import { encodeHeaderBlock, HpackDecoder, STATIC_TABLE } from "./hpack.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

type Step = { block: string; headers: [string, string][]; table: [string, string][]; size: number };

function series(tableSize: number, steps: Step[]): void {
  const d = new HpackDecoder(tableSize);
  for (const step of steps) {
    const r = d.decode(hex(step.block));
    expect(r.tooLarge).toBe(false);
    expect(Object.entries(r.headers)).toEqual(step.headers);
    expect(Array.from({ length: d.tableCount }, (_, i) => d.tableEntry(i))).toEqual(step.table);
    expect(d.tableSize).toBe(step.size);
  }
}

const REQ1: [string, string][] = [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]];
const REQ2: [string, string][] = [...REQ1, ["cache-control", "no-cache"]];
const REQ3: [string, string][] = [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]];
const T1: [string, string][] = [[":authority", "www.example.com"]];
const T2: [string, string][] = [["cache-control", "no-cache"], ...T1];
const T3: [string, string][] = [["custom-key", "custom-value"], ...T2];

test("RFC 7541 C.3: requests without Huffman coding", () => {
  series(4096, [
    { block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", headers: REQ1, table: T1, size: 57 },
    { block: "8286 84be 5808 6e6f 2d63 6163 6865", headers: REQ2, table: T2, size: 110 },
    { block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", headers: REQ3, table: T3, size: 164 },
  ]);
});

test("RFC 7541 C.4: requests with Huffman coding", () => {
  series(4096, [
    { block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", headers: REQ1, table: T1, size: 57 },
    { block: "8286 84be 5886 a8eb 1064 9cbf", headers: REQ2, table: T2, size: 110 },
    { block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", headers: REQ3, table: T3, size: 164 },
  ]);
});

const DATE1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC = "https://www.example.com";
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const RESP1: [string, string][] = [[":status", "302"], ["cache-control", "private"], ["date", DATE1], ["location", LOC]];
const RESP2: [string, string][] = [[":status", "307"], ["cache-control", "private"], ["date", DATE1], ["location", LOC]];
const RESP3: [string, string][] = [[":status", "200"], ["cache-control", "private"], ["date", DATE2], ["location", LOC], ["content-encoding", "gzip"], ["set-cookie", COOKIE]];
const RT1: [string, string][] = [["location", LOC], ["date", DATE1], ["cache-control", "private"], [":status", "302"]];
const RT2: [string, string][] = [[":status", "307"], ["location", LOC], ["date", DATE1], ["cache-control", "private"]];
const RT3: [string, string][] = [["set-cookie", COOKIE], ["content-encoding", "gzip"], ["date", DATE2]];

test("RFC 7541 C.5: responses with evictions (table size 256), no Huffman", () => {
  series(256, [
    {
      block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768
              7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
      headers: RESP1, table: RT1, size: 222,
    },
    { block: "4803 3330 37c1 c0bf", headers: RESP2, table: RT2, size: 222 },
    {
      block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153
              444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
      headers: RESP3, table: RT3, size: 215,
    },
  ]);
});

test("RFC 7541 C.6: responses with evictions (table size 256), Huffman", () => {
  series(256, [
    {
      block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8
              e9ae 82ae 43d3`,
      headers: RESP1, table: RT1, size: 222,
    },
    { block: "4883 640e ffc1 c0bf", headers: RESP2, table: RT2, size: 222 },
    {
      block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b
              3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
      headers: RESP3, table: RT3, size: 215,
    },
  ]);
});

test("C.2 single fields: never indexed, without indexing, indexed; integers across bytes (C.1.2)", () => {
  const d = new HpackDecoder();
  expect({ ...d.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74")).headers }).toEqual({ password: "secret" });
  expect({ ...d.decode(hex("040c 2f73 616d 706c 652f 7061 7468")).headers }).toEqual({ ":path": "/sample/path" });
  expect({ ...d.decode(hex("82")).headers }).toEqual({ ":method": "GET" });
  expect(d.tableCount).toBe(0);
  // A multi-byte integer (as in C.1.2) as a 4-bit-prefix name index: 15 + 0x1a + 0x0a * 128 = 1321, not in the table.
  expect(() => d.decode(hex("0f9a0a 00"))).toThrow("not in the table");
});

test("dynamic table size updates: to 0 empties the table; above the limit or after a field is an error", () => {
  const d = new HpackDecoder(4096);
  d.decode(hex("418c f1e3 c2e5 f23a 6ba0 ab90 f4ff")); // :authority: www.example.com, indexed
  expect(d.tableCount).toBe(1);
  d.decode(hex("20"));
  expect(d.tableCount).toBe(0);
  expect(d.tableSize).toBe(0);
  d.decode(hex("3fe11f")); // back to 4096 (31 + 0x61 + 0x1f*128 = 4096)
  expect(() => d.decode(hex("3fe21f"))).toThrow("exceeds");
  expect(() => d.decode(hex("82 20"))).toThrow("size update after");
});

test("errors: index 0, index past the table, truncated string and integer, bad Huffman", () => {
  const d = new HpackDecoder();
  expect(() => d.decode(hex("80"))).toThrow();
  expect(() => d.decode(hex("be"))).toThrow("not in the table"); // 62: the empty dynamic table
  expect(() => d.decode(hex("0005 6162"))).toThrow();
  expect(() => d.decode(hex("0fff"))).toThrow("truncated");
  expect(() => d.decode(hex("00 81 00 00"))).toThrow(); // Huffman name with zero padding
  expect(() => d.decode(hex("0f ffffffff0f"))).toThrow("too large");
});

test("header list size limit: the list is cut but the table stays in step", () => {
  const d = new HpackDecoder(4096, 100);
  const big = "x".repeat(80);
  // literal with incremental indexing, new name "a", value of 80 chars: 32 + 1 + 80 = 113 > 100
  const block = Buffer.concat([Buffer.from([0x40, 0x01, 0x61, 0x50]), Buffer.from(big)]);
  const r = d.decode(block);
  expect(r.tooLarge).toBe(true);
  expect(d.tableCount).toBe(1);
  const r2 = d.decode(hex("be"));
  expect(r2.tooLarge).toBe(true);
  expect(d.decode(hex("82")).headers[":method"]).toBe("GET");
});

test("malformed requests: uppercase names, pseudo-headers after regular ones, duplicate pseudo-headers", () => {
  const d = new HpackDecoder();
  const lit = (n: string, v: string) => Buffer.concat([Buffer.from([0x00, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)]);
  expect(d.decode(lit("Foo", "x")).malformed).toMatch(/invalid header name/);
  expect(d.decode(Buffer.concat([lit("foo", "x"), hex("82")])).malformed).toMatch(/after regular/);
  expect(d.decode(hex("8283")).malformed).toMatch(/duplicate/);
  const ok = d.decode(Buffer.concat([hex("83"), lit("te", "trailers"), lit("foo", "a"), lit("foo", "b")]));
  expect(ok.malformed).toBeNull();
  expect(ok.headers.foo).toBe("a, b");
  // "__proto__" is an ordinary header name, not a way into Object.prototype.
  expect(d.decode(lit("__proto__", "x")).headers["__proto__"]).toBe("x");
});

test("the encoder's blocks decode back; exact static matches are one byte", () => {
  const fields: [string, string][] = [
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-status", "3"],
    ["grpc-message", "x".repeat(300)],
  ];
  const block = encodeHeaderBlock(fields);
  expect(block[0]).toBe(0x88);
  const d = new HpackDecoder();
  expect(Object.entries(d.decode(block).headers)).toEqual(fields);
  expect(d.tableCount).toBe(0);
  expect(STATIC_TABLE[7]).toEqual([":status", "200"]);
  // Huffman-coded literals from another encoder decode too.
  const name = huffmanEncode("grpc-timeout");
  const value = huffmanEncode("4999m");
  const b2 = Buffer.concat([Buffer.from([0x40, 0x80 | name.length]), name, Buffer.from([0x80 | value.length]), value]);
  expect(d.decode(b2).headers["grpc-timeout"]).toBe("4999m");
  expect(d.decode(hex("be")).headers["grpc-timeout"]).toBe("4999m");
});
