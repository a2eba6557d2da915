import { describe, expect, test } from "bun:test";
import { compare, utf8 } from "./bytes.ts";
import { listChildren, type RangeKeys } from "./tree.ts";

/** An in-memory key space answering ranges as etcd does (sorted, limit, more), counting reads. */
function keySpace(names: string[]) {
  const keys = names.map(utf8).sort(compare);
  const reads: { limit: number; count: number }[] = [];
  const range: RangeKeys = async (key, end, limit) => {
    const toEnd = end.length === 1 && end[0] === 0;
    const inRange = keys.filter((k) => compare(k, key) >= 0 && (toEnd || compare(k, end) < 0));
    reads.push({ limit, count: Math.min(limit, inRange.length) });
    return { keys: inRange.slice(0, limit), more: inRange.length > limit };
  };
  return { range, reads };
}

const names = (page: { children: { name: Uint8Array }[] }) => page.children.map((c) => new TextDecoder().decode(c.name));

describe("listChildren", () => {
  test("should list leaves and directories of one level, in key order", async () => {
    const { range } = keySpace(["a", "a.b", "a/x", "a/y/z", "b/1", "c", "d/"]);
    const page = await listChildren(range, new Uint8Array(0));
    expect(names(page)).toEqual(["a", "a.b", "a/", "b/", "c", "d/"]);
    expect(page.next).toBeNull();
  });

  test("should list inside a prefix, with the key equal to the prefix as an empty name", async () => {
    const { range } = keySpace(["a/", "a/x", "a/y/z", "b"]);
    const page = await listChildren(range, utf8("a/"));
    expect(names(page)).toEqual(["", "x", "y/"]);
  });

  test("should read a huge directory once, not key by key", async () => {
    const all = ["big/" + "0".repeat(3)];
    for (let i = 0; i < 5000; i++) all.push(`big/${String(i).padStart(5, "0")}`);
    all.push("small");
    const { range, reads } = keySpace(all);
    const page = await listChildren(range, new Uint8Array(0), { pageSize: 50 });
    expect(names(page)).toEqual(["big/", "small"]);
    expect(reads.length).toBe(2);
    expect(reads.every((r) => r.limit <= 50)).toBe(true);
  });

  test("should page by children and resume from next", async () => {
    const all = Array.from({ length: 25 }, (_, i) => `k${String(i).padStart(2, "0")}`);
    const { range } = keySpace(all);
    const first = await listChildren(range, new Uint8Array(0), { pageSize: 10 });
    expect(names(first)).toEqual(all.slice(0, 10));
    const second = await listChildren(range, new Uint8Array(0), { pageSize: 10, from: first.next });
    expect(names(second)).toEqual(all.slice(10, 20));
    const third = await listChildren(range, new Uint8Array(0), { pageSize: 10, from: second.next });
    expect(names(third)).toEqual(all.slice(20));
    expect(third.next).toBeNull();
  });

  test("should stop after requestsMax reads and offer where to continue", async () => {
    const all: string[] = [];
    for (let d = 0; d < 30; d++) for (let i = 0; i < 20; i++) all.push(`d${String(d).padStart(2, "0")}/${i}`);
    const { range, reads } = keySpace(all);
    const page = await listChildren(range, new Uint8Array(0), { pageSize: 10, requestsMax: 5 });
    expect(reads.length).toBe(5);
    expect(names(page)).toEqual(["d00/", "d01/", "d02/", "d03/", "d04/"]);
    const rest = await listChildren(range, new Uint8Array(0), { pageSize: 100, from: page.next });
    expect(names(rest)[0]).toBe("d05/");
    expect(rest.children.length).toBe(25);
  });

  test("should handle keys that are not UTF-8 and 0xff bytes", async () => {
    const keys = [new Uint8Array([0xff, 0x2f, 1]), new Uint8Array([0xff, 0x2f, 2]), new Uint8Array([0xff, 0xff])];
    const sorted = keys.sort(compare);
    const range: RangeKeys = async (key, end, limit) => {
      const toEnd = end.length === 1 && end[0] === 0;
      const r = sorted.filter((k) => compare(k, key) >= 0 && (toEnd || compare(k, end) < 0));
      return { keys: r.slice(0, limit), more: r.length > limit };
    };
    const page = await listChildren(range, new Uint8Array(0), { pageSize: 1 });
    expect(page.children[0].dir).toBe(true);
    const rest = await listChildren(range, new Uint8Array(0), { pageSize: 1, from: page.next });
    expect(Array.from(rest.children[0].path)).toEqual([0xff, 0xff]);
  });
});
