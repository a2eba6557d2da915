import { describe, expect, test } from "bun:test";
import { etcdserverpb } from "../../proto/etcd.js";
import { goWire, hexEscape, simpleKv } from "./kv.ts";

describe("kv printing", () => {
  test("hexEscape writes every byte as \\xNN", () => {
    expect(hexEscape(Buffer.from("fo\x00\xff", "latin1"))).toBe("\\x66\\x6f\\x00\\xff");
  });
  test("simpleKv writes raw bytes, or hex, or the value only", () => {
    const kv = { key: Buffer.from("k"), value: Buffer.from([1, 2]) };
    expect(simpleKv(kv, false)).toEqual(Buffer.from("k\n\x01\x02\n", "latin1"));
    expect(simpleKv(kv, true).toString()).toBe("\\x6b\n\\x01\\x02\n");
    expect(simpleKv(kv, false, true)).toEqual(Buffer.from("\x01\x02\n", "latin1"));
  });
  test("goWire drops zero fields that protobufjs would write", () => {
    const msg = { header: { revision: 0n, raftTerm: 2n }, kvs: [], more: false, count: 0n };
    expect(goWire("etcdserverpb.RangeResponse", msg)).toEqual({ header: { raftTerm: 2n } });
    expect(Buffer.from(etcdserverpb.RangeResponse.encode(goWire("etcdserverpb.RangeResponse", msg) as never).finish()).toString("hex")).toBe("0a022002");
  });
});
