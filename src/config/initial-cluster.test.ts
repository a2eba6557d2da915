import { describe, expect, test } from "bun:test";
import { formatInitialCluster, parseInitialCluster } from "./initial-cluster";

describe("parseInitialCluster", () => {
  test("groups repeated names, keeping order", () => {
    const cluster = parseInitialCluster("name1=http://a:2380,name1=http://a2:2380,name2=http://b:2380");
    expect([...cluster]).toEqual([
      ["name1", ["http://a:2380", "http://a2:2380"]],
      ["name2", ["http://b:2380"]],
    ]);
    expect(cluster.size).toBe(2);
    expect(cluster.get("name2")).toEqual(["http://b:2380"]);
  });

  test("skips empty pairs and spaces", () => {
    const cluster = parseInitialCluster(" n1=http://a:2380 ,, n2=http://b:2380,");
    expect([...cluster.keys()]).toEqual(["n1", "n2"]);
  });

  test("is immutable", () => {
    const cluster = parseInitialCluster("n1=http://a:2380");
    expect(Object.isFrozen(cluster)).toBe(true);
    expect(Object.isFrozen(cluster.get("n1"))).toBe(true);
    expect((cluster as unknown as Map<string, string[]>).set).toBeUndefined();
  });

  test.each([
    ["n1", "missing '='"],
    ["=http://a:2380", "no member name"],
    ["n1=a:2380", "is not a URL"],
    ["n1=http://a", "has no port"],
    ["n1=http://a:2380,n2=http://a:2380", 'listed for both "n1" and "n2"'],
    ["", "expected name=peer-url pairs"],
    [",", "expected name=peer-url pairs"],
  ])("rejects %p", (text, problem) => {
    expect(() => parseInitialCluster(text)).toThrow(problem);
  });

  test("round-trips through formatInitialCluster", () => {
    const text = "n1=http://a:2380,n1=http://a2:2380,n2=http://b:2380";
    expect(formatInitialCluster(parseInitialCluster(text))).toBe(text);
  });
});
