import { expect, test } from "bun:test";
import { methods } from "../proto/services.ts";
import { rpc } from "./rpc.ts";

test("every client method matches the generated method table (path, request and response types)", () => {
  for (const m of Object.values(rpc)) {
    const row = methods.find((r) => r.path === m.path);
    expect(row).toBeDefined();
    expect(`etcdserverpb.${(m.request as unknown as { name: string }).name}`).toBe(row!.request);
    expect(`etcdserverpb.${(m.response as unknown as { name: string }).name}`).toBe(row!.response);
  }
});

test("retry policy follows clientv3: reads and lease calls repeatable, KV writes not", () => {
  const repeatable = Object.entries(rpc).filter(([, m]) => m.repeatable).map(([k]) => k).sort();
  expect(repeatable).toEqual(["leaseGrant", "leaseKeepAlive", "leaseLeases", "leaseRevoke", "leaseTimeToLive", "range", "watch"]);
});
