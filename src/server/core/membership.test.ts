import { expect, test } from "bun:test";
import { bootstrapMembers, confContext, parseConfContext } from "./membership.ts";

test("a conf change context round-trips the member (64-bit id) and the waiter's key", () => {
  const m = { id: 0x8e9e05c52164694dn, name: "", peerURLs: ["http://localhost:2380"], clientURLs: [], isLearner: true };
  expect(parseConfContext(confContext(m, "1:8e9e:7"))).toEqual({ key: "1:8e9e:7", member: m });
  expect(parseConfContext(confContext(undefined))).toEqual({ key: undefined, member: undefined });
  expect(parseConfContext(new TextEncoder().encode("not json"))).toEqual({});
});

test("bootstrap membership has etcd's ids", () => {
  const { members, clusterId } = bootstrapMembers(new Map([["default", ["http://localhost:2380"]]]), "etcd-cluster");
  expect(members[0].id.toString(16)).toBe("8e9e05c52164694d");
  expect(clusterId.toString(16)).toBe("cdf818194e3a8c32");
});
