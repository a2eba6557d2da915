import { describe, expect, test } from "bun:test";
import { Errors } from "../pkg/errors.ts";
import { prefixEnd } from "../client/kv.ts";
import { Namespace } from "./namespace.ts";
import { intersects, RangeCache } from "./range-cache.ts";

const b = (s: string) => Buffer.from(s);
const answer = (tag: string) => ({ header: { revision: 1n }, kvs: [{ key: b(tag), value: b(tag) }], count: 1n });

describe("range cache (etcd's grpcproxy cache)", () => {
  test("a serializable request finds the answer filed for the same request, linearizable or not", () => {
    const c = new RangeCache();
    c.add({ key: b("k") }, answer("k"));
    expect(c.get({ key: b("k"), serializable: true })?.kvs?.[0].value).toEqual(b("k"));
    expect(c.get({ key: b("k"), serializable: true, limit: 1n })).toBeUndefined();
    expect(c.get({ key: b("other"), serializable: true })).toBeUndefined();
  });

  test("a write drops exactly the answers whose range it touches", () => {
    const c = new RangeCache();
    c.add({ key: b("a") }, answer("a"));
    c.add({ key: b("b"), rangeEnd: b("d") }, answer("b-d"));
    c.add({ key: b("x"), rangeEnd: b("\0") }, answer("x-"));
    c.add({ key: b("c"), revision: 5n }, answer("c@5"));
    c.invalidate(b("c"), null);
    // [b, d) holds c; a history read at revision 5 cannot change; a and [x, ∞) do not hold c.
    expect(c.get({ key: b("b"), rangeEnd: b("d"), serializable: true })).toBeUndefined();
    expect(c.get({ key: b("c"), revision: 5n, serializable: true })).toBeDefined();
    expect(c.get({ key: b("a"), serializable: true })).toBeDefined();
    expect(c.get({ key: b("x"), rangeEnd: b("\0"), serializable: true })).toBeDefined();
    c.invalidate(b("zz"), null);
    expect(c.get({ key: b("x"), rangeEnd: b("\0"), serializable: true })).toBeUndefined();
    c.invalidate(b("0"), b("\0"));
    expect(c.get({ key: b("a"), serializable: true })).toBeUndefined();
  });

  test("least recently used answers go first past the limit", () => {
    const c = new RangeCache(2);
    c.add({ key: b("1") }, answer("1"));
    c.add({ key: b("2") }, answer("2"));
    c.get({ key: b("1"), serializable: true });
    c.add({ key: b("3") }, answer("3"));
    expect(c.size).toBe(2);
    expect(c.get({ key: b("2"), serializable: true })).toBeUndefined();
    expect(c.get({ key: b("1"), serializable: true })).toBeDefined();
  });

  test("a revision below the compacted one is etcd's compacted error, cached or not", () => {
    const c = new RangeCache();
    c.add({ key: b("k"), revision: 3n }, answer("k@3"));
    c.compact(10n);
    expect(() => c.get({ key: b("k"), revision: 3n, serializable: true })).toThrow(Errors.compacted);
    expect(() => c.get({ key: b("nothing"), revision: 9n, serializable: true })).toThrow(Errors.compacted);
    c.add({ key: b("k"), revision: 10n }, answer("k@10"));
    expect(c.get({ key: b("k"), revision: 10n, serializable: true })).toBeUndefined();
  });

  test("intersects", () => {
    expect(intersects(b("a"), null, b("a"), null)).toBe(true);
    expect(intersects(b("a"), null, b("b"), null)).toBe(false);
    expect(intersects(b("a"), b("c"), b("b"), null)).toBe(true);
    expect(intersects(b("a"), b("c"), b("c"), null)).toBe(false);
    expect(intersects(b("a"), b("c"), b("b"), b("\0"))).toBe(true);
    expect(intersects(b("c"), null, b("a"), b("c"))).toBe(false);
    expect(intersects(b(""), b("\0"), b("anything"), null)).toBe(true);
  });
});

describe("namespace (etcd's clientv3/namespace)", () => {
  const ns = new Namespace("/t/");

  test("keys and ranges go under the prefix; '\\0' ends at the prefix's end", () => {
    expect(ns.range({ key: b("a"), rangeEnd: b("b") })).toMatchObject({ key: b("/t/a"), rangeEnd: b("/t/b") });
    expect(ns.range({ key: b("a"), rangeEnd: b("\0") })).toMatchObject({ key: b("/t/a"), rangeEnd: b("/t0") });
    expect(ns.range({ key: b("a") }).rangeEnd).toBeUndefined();
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });

  test("an empty key is refused outside a txn, as etcd's namespace KV", () => {
    expect(() => ns.put({ key: b(""), value: b("v") })).toThrow(Errors.emptyKey);
    expect(ns.txn({ success: [{ requestRange: { key: b("") } }] }).success?.[0].requestRange?.key).toEqual(b("/t/"));
  });

  test("txn compares and operations, and answers come back without the prefix", () => {
    const t = ns.txn({ compare: [{ key: b("k"), rangeEnd: b("\0") }], success: [{ requestPut: { key: b("k"), value: b("v") } }], failure: [{ requestDeleteRange: { key: b("a"), rangeEnd: b("b") } }] });
    expect(t.compare?.[0]).toMatchObject({ key: b("/t/k"), rangeEnd: b("/t0") });
    expect(t.success?.[0].requestPut?.key).toEqual(b("/t/k"));
    expect(t.failure?.[0].requestDeleteRange).toMatchObject({ key: b("/t/a"), rangeEnd: b("/t/b") });
    const res = ns.txnResponse({ succeeded: true, responses: [{ responseRange: { kvs: [{ key: b("/t/k") }] } as never }] });
    expect(res.responses?.[0].responseRange?.kvs?.[0].key).toEqual(b("k"));
  });

  test("lease keys outside the namespace are left out", () => {
    expect(ns.leaseKeys([b("/t/a"), b("/u/b"), b("/t/")]).map((k) => Buffer.from(k).toString())).toEqual(["a", ""]);
  });
});
