import { expect, test } from "bun:test";
import { goDurationString, hexId, hexId16, parseHexId } from "./cluster-shared.ts";

test("parseHexId reads ids as strconv.ParseUint(s, 16, 64), with its errors", () => {
  expect(parseHexId("8e9e05c52164694d")).toBe(10276657743932975437n);
  expect(parseHexId("FFFFFFFFFFFFFFFF")).toBe((1n << 64n) - 1n);
  expect(() => parseHexId("")).toThrow('strconv.ParseUint: parsing "": invalid syntax');
  expect(() => parseHexId("0x12")).toThrow('strconv.ParseUint: parsing "0x12": invalid syntax');
  expect(() => parseHexId("-1")).toThrow('strconv.ParseUint: parsing "-1": invalid syntax');
  expect(() => parseHexId("1_0")).toThrow("invalid syntax");
  expect(() => parseHexId("10000000000000000")).toThrow('strconv.ParseUint: parsing "10000000000000000": value out of range');
  // The first fault read decides: out of range before the bad digit.
  expect(() => parseHexId("10000000000000000zz")).toThrow("value out of range");
});

test("hexId is %x, hexId16 is %16x (space-padded)", () => {
  expect(hexId(0x2943212f5e2cf73n)).toBe("2943212f5e2cf73");
  expect(hexId16(0x2943212f5e2cf73n)).toBe(" 2943212f5e2cf73");
  expect(hexId16(0x8e9e05c52164694dn)).toBe("8e9e05c52164694d");
});

test("goDurationString is Go's Duration.String", () => {
  const cases: [bigint, string][] = [
    [0n, "0s"],
    [951n, "951ns"],
    [1500n, "1.5µs"],
    [951_200n, "951.2µs"],
    [4_951_471n, "4.951471ms"],
    [5_000_856_812n, "5.000856812s"],
    [2_000_000_000n, "2s"],
    [61_500_000_000n, "1m1.5s"],
    [3_600_000_000_000n, "1h0m0s"],
  ];
  for (const [ns, s] of cases) expect(goDurationString(ns)).toBe(s);
});
