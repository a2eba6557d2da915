import { expect, test } from "bun:test";
import { methods } from "../proto/services.ts";
import { rpc } from "./rpc.ts";

test("every client method matches the generated method table (path, request and response types)", () => {
  for (const m of Object.values(rpc)) {
    const row = methods.find((r) => r.path === m.path);
    expect(row).toBeDefined();
    const pkg = row!.service.split(".")[0];
    expect(`${pkg}.${(m.request as unknown as { name: string }).name}`).toBe(row!.request);
    expect(`${pkg}.${(m.response as unknown as { name: string }).name}`).toBe(row!.response);
  }
});

test("retry policy follows clientv3/retry.go: reads, lease calls and maintenance reads repeatable, writes not", () => {
  const repeatable = Object.entries(rpc).filter(([, m]) => m.repeatable).map(([k]) => k).sort();
  expect(repeatable).toEqual([
    "alarm", "authRoleGet", "authRoleList", "authStatus", "authUserGet", "authUserList", "hash", "hashKV",
    "leaseGrant", "leaseKeepAlive", "leaseLeases", "leaseRevoke", "leaseTimeToLive", "memberList", "moveLeader",
    "range", "snapshot", "status", "watch",
  ]);
});
