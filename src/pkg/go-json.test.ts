// Expected texts were taken from etcd 3.4's gateway (Go 1.19 encoding/json) with curl.
import { describe, expect, test } from "bun:test";
import { base64DecodeGo, decodeNext, goQuote, parseWhole, quoteJson } from "./go-json.ts";

const syntaxError = (text: string) => {
  try {
    const r = decodeNext(text, 0, true);
    return r.kind;
  } catch (err) {
    return (err as Error).message;
  }
};

describe("decodeNext reports Go's syntax errors", () => {
  test.each([
    ["garbage", "invalid character 'g' looking for beginning of value"],
    ['{"key" "YQ=="}', "invalid character '\"' after object key"],
    ['{"key":"YQ==" "a":1}', "invalid character '\"' after object key:value pair"],
    ["{key:1}", "invalid character 'k' looking for beginning of object key string"],
    ['{"revision":01}', "invalid character '1' after object key:value pair"],
    ["[1 2]", "invalid character '2' after array element"],
    ["tru", "unexpected EOF"],
    ["trux", "invalid character 'x' in literal true (expecting 'e')"],
    ["nul!", "invalid character '!' in literal null (expecting 'l')"],
    ['{"key":', "unexpected EOF"],
    ['"a\\qb"', "invalid character 'q' in string escape code"],
    ['"\\u12x4"', "invalid character 'x' in \\u hexadecimal character escape"],
    ["-x", "invalid character 'x' in numeric literal"],
    ["1.x", "invalid character 'x' after decimal point in numeric literal"],
    ["1ex", "invalid character 'x' in exponent of numeric literal"],
    ['"a\nb"', "invalid character '\\n' in string literal"],
    ["{'a':1}", "invalid character '\\'' looking for beginning of object key string"],
    ["é", "invalid character 'Ã' looking for beginning of value"],
  ])("%s", (text, message) => {
    expect(syntaxError(text)).toBe(message);
  });

  test("only whitespace is the end of the stream, not an error", () => {
    expect(decodeNext(" \n\t", 0, true)).toEqual({ kind: "eof" });
  });
});

describe("decodeNext reads a stream of concatenated values", () => {
  test("one value at a time, with where it ended", () => {
    const text = '{"a":1} {"b":"x"}';
    const first = decodeNext(text, 0, true);
    expect(first.kind).toBe("value");
    if (first.kind !== "value") return;
    expect(first.end).toBe(7);
    const second = decodeNext(text, first.end, true);
    expect(second.kind === "value" && second.node).toEqual({ t: "object", entries: [["b", { t: "string", value: "x", raw: "x" }]] });
  });

  test("a value cut off by the end of what arrived so far asks for more unless the input is final", () => {
    expect(decodeNext('{"a":', 0, false)).toEqual({ kind: "more" });
    expect(decodeNext("12", 0, false)).toEqual({ kind: "more" });
    expect(decodeNext("12", 0, true)).toMatchObject({ kind: "value", node: { t: "number", raw: "12" } });
  });

  test("numbers keep their source text, so 64-bit values never round through a double", () => {
    const r = decodeNext('{"ID":18446744073709551615}', 0, true);
    expect(r.kind === "value" && r.node).toEqual({ t: "object", entries: [["ID", { t: "number", raw: "18446744073709551615" }]] });
  });

  test("escapes are applied to values and kept in raw; unpaired surrogates become U+FFFD", () => {
    const r = parseWhole('"\\u0041\\n\\ud83d\\ude00\\ud800x"');
    expect(r).toEqual({ t: "string", value: "A\n\u{1f600}\ufffdx", raw: "\\u0041\\n\\ud83d\\ude00\\ud800x" });
  });
});

describe("parseWhole is json.Unmarshal's view of a text", () => {
  test.each([
    ["", "unexpected end of JSON input"],
    ["abc", "invalid character 'a' looking for beginning of value"],
    ["5 6", "invalid character '6' after top-level value"],
  ])("%j", (text, message) => {
    expect(() => parseWhole(text)).toThrow(message);
  });
  test("surrounding whitespace is fine", () => {
    expect(parseWhole(" 5 ")).toEqual({ t: "number", raw: "5" });
  });
});

describe("base64DecodeGo is Go's StdEncoding", () => {
  test.each([
    ["!!!", 0],
    ["YQ", 0],
    ["Y Q==", 1],
    ["YQ====", 4],
    ["YQ=", 3],
    ["=", 0],
    ["YWJj!", 4],
  ])("%j fails at byte %d", (text, at) => {
    expect(() => base64DecodeGo(text)).toThrow(`illegal base64 data at input byte ${at}`);
  });

  test("decodes padded input, skipping newlines, without checking the unused bits", () => {
    expect(new TextDecoder().decode(base64DecodeGo("YWJj\r\nZA=\n="))).toBe("abcd");
    expect([...base64DecodeGo("YR==")]).toEqual([0x61]);
    expect(base64DecodeGo("").length).toBe(0);
  });
});

describe("quoting", () => {
  test("quoteJson escapes as encoding/json does (HTML-safe, lowercase hex)", () => {
    expect(quoteJson('<a href="x">&\u2028\u0001\n\\')).toBe('"\\u003ca href=\\"x\\"\\u003e\\u0026\\u2028\\u0001\\n\\\\"');
    expect(quoteJson("é😀")).toBe('"é😀"');
    expect(quoteJson("\ud800")).toBe('"\\ufffd"');
  });

  test("goQuote is strconv.Quote", () => {
    expect(goQuote("\\u0041SCEND")).toBe('"\\\\u0041SCEND"');
    expect(goQuote("a\x01\t\u00ad")).toBe('"a\\x01\\t\\u00ad"');
  });
});
