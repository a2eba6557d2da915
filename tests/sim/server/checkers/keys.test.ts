import { expect, test } from "bun:test";
import { compareBytes, inRange, keysInRange } from "./keys.ts";

test("keys compare by their UTF-8 bytes, as etcd orders them", () => {
  const utf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  const samples = ["", "a", "ab", "b", "k0", "k10", "k2", "\u00e9", "\ue000", "\uffff", "\u{10000}", "\u{1f600}", "a\u{1f600}", "a\uffff", "\0"];
  for (const a of samples) for (const b of samples) expect(Math.sign(compareBytes(a, b))).toBe(utf8(a, b));
});

test("ranges: a single key, [key, end), and every key from key on", () => {
  expect(inRange("a", "a")).toBe(true);
  expect(inRange("ab", "a")).toBe(false);
  expect(inRange("b", "a", "c")).toBe(true);
  expect(inRange("c", "a", "c")).toBe(false);
  expect(inRange("zzz", "k", "\0")).toBe(true);
  expect(keysInRange(["a", "b", "c", "d"], "b", "d")).toEqual(["b", "c"]);
  expect(keysInRange(["a", "b", "c", "d"], "b", "\0")).toEqual(["b", "c", "d"]);
  expect(keysInRange(["a", "b"], "c")).toEqual([]);
});
