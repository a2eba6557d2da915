import { describe, expect, test } from "bun:test";
import { PermType, UserPerms } from "./perms.ts";

const b = (s: string) => new TextEncoder().encode(s);
const perm = (permType: number, key: string, rangeEnd = "") => ({ permType, key: b(key), rangeEnd: b(rangeEnd) });
const ALL = "\0";

describe("UserPerms (etcd's range permission check)", () => {
  test("a single key grants that key only", () => {
    const p = new UserPerms([perm(PermType.READ, "k1")]);
    expect(p.permits("read", b("k1"))).toBe(true);
    expect(p.permits("read", b("k10"))).toBe(false);
    expect(p.permits("read", b("k"))).toBe(false);
    expect(p.permits("write", b("k1"))).toBe(false);
    // A range starting at the key is more than the key.
    expect(p.permits("read", b("k1"), b("k2"))).toBe(false);
  });

  test("a range [key, end) grants keys and sub-ranges inside it, not beyond", () => {
    const p = new UserPerms([perm(PermType.WRITE, "w1", "w5")]);
    expect(p.permits("write", b("w1"))).toBe(true);
    expect(p.permits("write", b("w4zzz"))).toBe(true);
    expect(p.permits("write", b("w5"))).toBe(false);
    expect(p.permits("write", b("w2"), b("w5"))).toBe(true);
    expect(p.permits("write", b("w2"), b("w6"))).toBe(false);
    expect(p.permits("write", b("w0"), b("w3"))).toBe(false);
    expect(p.permits("read", b("w2"))).toBe(false);
  });

  test("a prefix (end = prefix with its last byte + 1) and from-key (end \\0)", () => {
    const p = new UserPerms([perm(PermType.READWRITE, "p/", "p0"), perm(PermType.READ, "z", ALL)]);
    expect(p.permits("read", b("p/a"))).toBe(true);
    expect(p.permits("write", b("p/a/b"))).toBe(true);
    expect(p.permits("read", b("p/"), b("p0"))).toBe(true);
    expect(p.permits("read", b("p"))).toBe(false);
    expect(p.permits("read", b("zzzz"))).toBe(true);
    expect(p.permits("read", b("z"), b(ALL))).toBe(true);
    expect(p.permits("read", b("y"), b(ALL))).toBe(false);
    expect(p.permits("write", b("zz"))).toBe(false);
  });

  test("every key: etcdctl's --prefix '' is [\\0, \\0)", () => {
    const p = new UserPerms([perm(PermType.READ, ALL, ALL)]);
    expect(p.permits("read", b(ALL), b(ALL))).toBe(true);
    expect(p.permits("read", b("anything"))).toBe(true);
    expect(p.permits("write", b("anything"))).toBe(false);
  });

  test("adjacent and overlapping grants (also from different roles) cover a range together", () => {
    const p = new UserPerms([perm(PermType.READ, "a", "c"), perm(PermType.READWRITE, "b", "e"), perm(PermType.READ, "e", "f")]);
    expect(p.permits("read", b("a"), b("f"))).toBe(true);
    expect(p.permits("read", b("a"), b("g"))).toBe(false);
    expect(p.permits("write", b("a"), b("d"))).toBe(false);
    expect(p.permits("write", b("b"), b("e"))).toBe(true);
    // A gap between grants is not covered.
    const gap = new UserPerms([perm(PermType.READ, "a", "b"), perm(PermType.READ, "c", "d")]);
    expect(gap.permits("read", b("a"), b("d"))).toBe(false);
    expect(gap.permits("read", b("c"))).toBe(true);
  });

  test("no permissions: nothing; an inverted grant grants nothing", () => {
    expect(new UserPerms([]).permits("read", b("k"))).toBe(false);
    expect(new UserPerms([perm(PermType.READ, "b", "a")]).permits("read", b("b"))).toBe(false);
  });

  test("bytes compare unsigned (0xff sorts last)", () => {
    const p = new UserPerms([{ permType: PermType.READ, key: Uint8Array.of(0x7f), rangeEnd: Uint8Array.of(0xff) }]);
    expect(p.permits("read", Uint8Array.of(0x80))).toBe(true);
    expect(p.permits("read", Uint8Array.of(0xff))).toBe(false);
  });
});
