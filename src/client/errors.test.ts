import { expect, test } from "bun:test";
import { EtcdError, Errors, GrpcCode } from "../pkg/errors.ts";
import { isEndpointUnhealthy, retryableRead, retryableWrite, statusError, TransportError, WatchCompactedError } from "./errors.ts";

test("every etcd wire error maps back to the same value (as clientv3's rpctypes)", () => {
  for (const e of Object.values(Errors)) expect(statusError(e.code, e.message)).toBe(e);
});

test("an unknown text, or a known text with another code, is a new EtcdError with the code and text", () => {
  const e = statusError(GrpcCode.PermissionDenied, "etcdserver: permission denied");
  expect(e).toBeInstanceOf(EtcdError);
  expect([e.code, e.message]).toEqual([GrpcCode.PermissionDenied, "etcdserver: permission denied"]);
  const odd = statusError(GrpcCode.Internal, Errors.compacted.message);
  expect(odd).not.toBe(Errors.compacted);
  expect(odd.code).toBe(GrpcCode.Internal);
  expect(statusError(99, "x").code).toBe(GrpcCode.Unknown);
});

test("reads retry on any Unavailable; writes only when the request surely never left", () => {
  const refused = new TransportError("h:1", "connection refused", false);
  const broken = new TransportError("h:1", "stream reset", true);
  expect([refused, broken, Errors.noLeader, Errors.timeout].map(retryableRead)).toEqual([true, true, true, true]);
  expect([Errors.compacted, Errors.keyNotFound].map(retryableRead)).toEqual([false, false]);
  expect([refused, broken, Errors.noLeader, Errors.leaderChanged].map(retryableWrite)).toEqual([true, false, false, false]);
});

test("connection failures and no-leader answers move to another endpoint; other errors do not", () => {
  expect([new TransportError("h:1", "x", true), Errors.noLeader, Errors.leaderChanged, Errors.stopped].map(isEndpointUnhealthy)).toEqual([true, true, true, true]);
  expect([Errors.compacted, Errors.timeout, Errors.leaseNotFound].map(isEndpointUnhealthy)).toEqual([false, false, false]);
});

test("a compacted watch carries the compact revision and etcd's compacted text", () => {
  const e = new WatchCompactedError(42n);
  expect([e.code, e.message, e.compactRevision]).toEqual([Errors.compacted.code, Errors.compacted.message, 42n]);
  expect(e).toBeInstanceOf(EtcdError);
});
