import { describe, expect, test } from "bun:test";
import { parseDuration } from "./duration";
import { InvalidValueError } from "./errors";
import { parseBool, parseChoice, parseList, parseMemberName, parseWholeNumber } from "./values";

describe("parseDuration", () => {
  test("reads Go durations as milliseconds", () => {
    expect(parseDuration("5s")).toBe(5_000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration("100ms")).toBe(100);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("1.1s")).toBe(1_100);
    expect(parseDuration("250us")).toBe(0.25);
    expect(parseDuration("0")).toBe(0);
  });

  test.each(["", "5", "-5s", "5 s", "5d", "s", "1h30", "abc"])("rejects %p", (text) => {
    expect(() => parseDuration(text)).toThrow(InvalidValueError);
    expect(() => parseDuration(text)).toThrow("such as 500ms, 5s, 2h or 1m30s");
  });
});

describe("parseBool", () => {
  test("accepts Go's spellings", () => {
    for (const t of ["1", "t", "T", "true", "TRUE", "True"]) expect(parseBool(t)).toBe(true);
    for (const f of ["0", "f", "F", "false", "FALSE", "False"]) expect(parseBool(f)).toBe(false);
  });

  test("rejects anything else", () => {
    expect(() => parseBool("yes")).toThrow("expected true or false");
  });
});

describe("parseWholeNumber", () => {
  test("accepts digits within range", () => {
    expect(parseWholeNumber("100", { min: 1 })).toBe(100);
    expect(parseWholeNumber(" 0 ", { min: 0 })).toBe(0);
  });

  test("names the unit and the lower bound", () => {
    expect(() => parseWholeNumber("abc", { min: 1, unit: "milliseconds" })).toThrow("expected a whole number of milliseconds");
    expect(() => parseWholeNumber("1.5", { min: 1 })).toThrow("expected a whole number");
    expect(() => parseWholeNumber("-1", { min: 0 })).toThrow("expected a whole number");
    expect(() => parseWholeNumber("0", { min: 1, unit: "bytes" })).toThrow("expected a whole number of bytes greater than 0");
    expect(() => parseWholeNumber("99999999999999999999", { min: 0 })).toThrow("no larger than");
  });
});

test("parseChoice lists the allowed values", () => {
  expect(parseChoice("existing", ["new", "existing"])).toBe("existing");
  expect(() => parseChoice("old", ["new", "existing"])).toThrow("expected 'new' or 'existing'");
  expect(() => parseChoice("x", ["a", "b", "c"])).toThrow("expected 'a', 'b' or 'c'");
});

test("parseList trims and drops empty entries", () => {
  expect(parseList(" a, b,,c ,")).toEqual(["a", "b", "c"]);
  expect(parseList("")).toEqual([]);
});

test("parseMemberName refuses characters --initial-cluster cannot carry", () => {
  expect(parseMemberName("etcd-2")).toBe("etcd-2");
  expect(() => parseMemberName("")).toThrow("expected a member name");
  expect(() => parseMemberName("a=b")).toThrow("without ',' or '='");
  expect(() => parseMemberName("a,b")).toThrow("without ',' or '='");
});
