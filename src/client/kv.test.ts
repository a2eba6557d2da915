import { expect, test } from "bun:test";
import { etcdserverpb } from "../proto/etcd.js";
import { deleteRequest, getResult, int64, keyRange, prefixEnd, putRequest, rangeRequest } from "./kv.ts";
import { compare, op, Txn, txnResult } from "./txn.ts";

const b = (s: string) => Buffer.from(s);
/** Encodes and decodes, so the tests see what goes on the wire. */
const wire = <T>(type: { encode(m: T): { finish(): Uint8Array }; decode(b: Uint8Array): T }, m: T) => type.decode(type.encode(m).finish());

test("prefixEnd increments the last byte below 0xff and drops trailing 0xff (clientv3's GetPrefixRangeEnd)", () => {
  expect(prefixEnd(b("abc"))).toEqual(b("abd"));
  expect(prefixEnd(Buffer.from([0x61, 0xff, 0xff]))).toEqual(b("b"));
  expect(prefixEnd(Buffer.from([0xff, 0xff]))).toEqual(Buffer.from([0]));
  expect(prefixEnd(Buffer.alloc(0))).toEqual(Buffer.from([0]));
});

test("key ranges: one key, prefix, from-key, explicit end; empty prefix means every key", () => {
  expect(keyRange("k")).toEqual({ key: b("k") });
  expect(keyRange("k", { prefix: true })).toEqual({ key: b("k"), rangeEnd: b("l") });
  expect(keyRange("k", { fromKey: true })).toEqual({ key: b("k"), rangeEnd: Buffer.from([0]) });
  expect(keyRange("a", { rangeEnd: "c" })).toEqual({ key: b("a"), rangeEnd: b("c") });
  expect(keyRange("", { prefix: true })).toEqual({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
  expect(keyRange(new Uint8Array([1, 2]))).toEqual({ key: Buffer.from([1, 2]) });
  expect(() => keyRange("a", { prefix: true, rangeEnd: "b" })).toThrow("Cannot combine");
});

test("a get's options reach the wire; ascending by key is sent as the default order", () => {
  const r = wire(etcdserverpb.RangeRequest, rangeRequest("k", { prefix: true, limit: 10, revision: 7n, keysOnly: true, countOnly: true, serializable: true, sort: { target: "mod", order: "descend" } }));
  expect([r.limit, r.revision, r.keysOnly, r.countOnly, r.serializable]).toEqual([10n, 7n, true, true, true]);
  expect([r.sortTarget, r.sortOrder]).toEqual([etcdserverpb.RangeRequest.SortTarget.MOD, etcdserverpb.RangeRequest.SortOrder.DESCEND]);
  const k = rangeRequest("k", { sort: { target: "key" } });
  expect([k.sortTarget, k.sortOrder]).toEqual([etcdserverpb.RangeRequest.SortTarget.KEY, etcdserverpb.RangeRequest.SortOrder.NONE]);
});

test("put and delete requests carry lease, prevKv and ranges; 64-bit lease ids survive", () => {
  const p = wire(etcdserverpb.PutRequest, putRequest("k", new Uint8Array([0, 255]), { lease: { id: 0x694d8e9e05c52164n }, prevKv: true }));
  expect([p.key, p.value, p.lease, p.prevKv]).toEqual([b("k"), Buffer.from([0, 255]), 0x694d8e9e05c52164n, true]);
  const d = wire(etcdserverpb.DeleteRangeRequest, deleteRequest("dir/", { prefix: true, prevKv: true }));
  expect([d.key, d.rangeEnd, d.prevKv]).toEqual([b("dir/"), b("dir0"), true]);
  expect(() => int64(2 ** 60)).toThrow("not a safe integer");
});

test("compare builders set target, result and the matching union member", () => {
  const C = etcdserverpb.Compare;
  const cases = [
    [compare.value("k", "=", "v"), C.CompareTarget.VALUE, C.CompareResult.EQUAL, "value", b("v")],
    [compare.version("k", "!=", 0), C.CompareTarget.VERSION, C.CompareResult.NOT_EQUAL, "version", 0n],
    [compare.create("k", ">", 5n), C.CompareTarget.CREATE, C.CompareResult.GREATER, "createRevision", 5n],
    [compare.mod("k", "<", 9), C.CompareTarget.MOD, C.CompareResult.LESS, "modRevision", 9n],
    [compare.lease("k", "=", 0x7000000000000001n), C.CompareTarget.LEASE, C.CompareResult.EQUAL, "lease", 0x7000000000000001n],
  ] as const;
  for (const [cmp, target, result, field, value] of cases) {
    const w = wire(C, cmp);
    expect([w.key, w.target, w.result, w.targetUnion, (w as any)[field]]).toEqual([b("k"), target, result, field, value]);
  }
  expect(() => compare.value("k", "==" as any, "v")).toThrow("Cannot compare with '=='");
});

test("a txn is built if → then → else, each once; awaiting it without commit() fails loudly", async () => {
  let sent: etcdserverpb.TxnRequest.$Properties | null = null;
  const t = new Txn(async (req) => ((sent = req), { header: {} as any, succeeded: true, responses: [] }));
  t.if(compare.value("a", "=", "1")).then(op.put("a", "2"), op.get("a")).else(op.delete("a"));
  expect(() => t.if()).toThrow("at most once");
  await t.commit();
  const w = etcdserverpb.TxnRequest.decode(etcdserverpb.TxnRequest.encode(sent!).finish());
  expect([w.compare.length, w.success.length, w.failure.length]).toEqual([1, 2, 1]);
  expect([w.success[0].request, w.success[1].request, w.failure[0].request]).toEqual(["requestPut", "requestRange", "requestDeleteRange"]);
  expect(() => new Txn(async () => ({}) as any).then().then()).toThrow("at most once");
  await expect((async () => await (new Txn(async () => ({}) as any) as any))()).rejects.toThrow("A Txn is not a promise");
});

test("txn and range responses become plain results", () => {
  const res = wire(etcdserverpb.TxnResponse, {
    header: { revision: 5n },
    succeeded: true,
    responses: [
      { responseRange: { kvs: [{ key: b("a"), value: b("1"), modRevision: 4n, createRevision: 2n, version: 3n }], count: 1n } },
      { responsePut: { prevKv: { key: b("a"), value: b("0") } } },
      { responseDeleteRange: { deleted: 2n } },
    ],
  });
  const r = txnResult(res);
  expect(r.succeeded).toBe(true);
  expect(r.header.revision).toBe(5n);
  expect(r.responses.map((x) => x.type)).toEqual(["get", "put", "delete"]);
  const g = r.responses[0] as Extract<(typeof r.responses)[0], { type: "get" }>;
  expect([g.kvs[0].value.toString(), g.kvs[0].modRevision, g.kvs[0].lease, g.count, g.more]).toEqual(["1", 4n, 0n, 1n, false]);
  expect(getResult(wire(etcdserverpb.RangeResponse, {})).kvs).toEqual([]);
});
