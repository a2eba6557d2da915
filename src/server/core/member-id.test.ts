import { expect, test } from "bun:test";
import { computeClusterId, computeMemberId, hexId } from "./member-id.ts";

test("etcd's default single member has etcd's well-known ids", () => {
  const member = computeMemberId(["http://localhost:2380"], "etcd-cluster");
  expect(hexId(member)).toBe("8e9e05c52164694d");
  expect(hexId(computeClusterId([member]))).toBe("cdf818194e3a8c32");
});

test("peer URL order does not change the id", () => {
  expect(computeMemberId(["http://b:2380", "http://a:2380"], "t")).toBe(computeMemberId(["http://a:2380", "http://b:2380"], "t"));
});
