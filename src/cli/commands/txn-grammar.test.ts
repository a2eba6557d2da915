import { describe, expect, test } from "bun:test";
import { etcdserverpb } from "../../proto/etcd.js";
import { argify, flagUsages, parseCompare, parseRequest, scanCompare } from "./txn-grammar.ts";

describe("argify", () => {
  test("should split words, unquote Go literals and keep single-quoted text", () => {
    expect(argify(`put k "a b\\tc" 'x y' --prev-kv`)).toEqual(["put", "k", "a b\tc", "x y", "--prev-kv"]);
  });
  test("should keep \\xNN as one byte (a binary string)", () => {
    expect(argify(`put "\\xff" v`)[1]).toBe("\xff");
  });
});

describe("parseCompare", () => {
  const T = etcdserverpb.Compare.CompareTarget;
  test("should read each target and operator", () => {
    expect(parseCompare(`mod("k") > "5"`)).toMatchObject({ target: T.MOD, modRevision: 5n, result: etcdserverpb.Compare.CompareResult.GREATER });
    expect(parseCompare(`ver("k") != "1"`)).toMatchObject({ target: T.VERSION, version: 1n });
    expect(parseCompare(`c("k") < "3"`)).toMatchObject({ target: T.CREATE, createRevision: 3n });
    expect(parseCompare(`value("k") = "v"`).value).toEqual(Buffer.from("v"));
  });
  test("should fail with etcdctl's words and exit code 3", () => {
    const message = (line: string) => {
      try {
        parseCompare(line);
      } catch (e) {
        return [(e as { code: number }).code, (e as Error).message];
      }
      return null;
    };
    expect(message("bad")).toEqual([3, "malformed comparison: bad"]);
    expect(message(`ver("a" = "x"`)).toEqual([3, `malformed comparison: ver("a" = "x"; got ver("a")  ""`]);
    expect(message(`ver("a") = x`)).toEqual([3, `malformed comparison: ver("a") = x; got ver("a") = ""`]);
    expect(message(`xx("a") = "1"`)).toEqual([3, `malformed comparison: xx("a") = "1" (unknown target xx)`]);
    expect(message(`ver("a") = "x"`)).toEqual([3, `invalid txn compare request: ver("a") = "x"`]);
  });
  test("scanCompare counts what fmt.Sscanf read", () => {
    expect(scanCompare(`"k") = "v"`)).toEqual({ n: 3, key: "k", op: "=", val: "v" });
    expect(scanCompare(`k) = "v"`).n).toBe(0);
  });
});

describe("parseRequest", () => {
  test("should build get, put and del ops, by unique prefix too", async () => {
    expect((await parseRequest("put k v --prev-kv")).requestPut).toMatchObject({ key: Buffer.from("k"), value: Buffer.from("v"), prevKv: true });
    expect((await parseRequest("g k --prefix")).requestRange).toMatchObject({ key: Buffer.from("k"), rangeEnd: Buffer.from("l") });
    expect((await parseRequest("del k")).requestDeleteRange).toMatchObject({ key: Buffer.from("k") });
  });
  test("should refuse unknown commands and flags as an invalid txn request", async () => {
    await expect(parseRequest("foo bar")).rejects.toThrow("invalid txn request: foo bar");
    await expect(parseRequest("get k -w json")).rejects.toThrow("invalid txn request: get k -w json");
    await expect(parseRequest("get")).rejects.toThrow("invalid txn compare request: get");
  });
  test("flagUsages aligns like pflag", () => {
    expect(flagUsages([{ name: "prefix", type: "bool", usage: "p" }, { name: "lease", type: "string", default: "0", usage: "l" }])).toBe(
      `      --lease string   l (default "0")\n      --prefix         p\n`,
    );
  });
});
