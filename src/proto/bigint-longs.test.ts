import { expect, test } from "bun:test";
import { etcdserverpb, mvccpb } from "./etcd.js";

test("64-bit fields round-trip as bigint, including ids that use the top bit", () => {
  const id = 0x8e9e05c52164694dn; // etcd's default member id: above 2^63
  const bytes = etcdserverpb.ResponseHeader.encode({ clusterId: 0xcdf818194e3a8c32n, memberId: id, revision: 5n, raftTerm: 2n }).finish();
  const h = etcdserverpb.ResponseHeader.decode(bytes);
  expect(h.memberId).toBe(id);
  expect(h.clusterId).toBe(0xcdf818194e3a8c32n);
  expect(h.revision).toBe(5n);
});

test("negative int64 and absent fields", () => {
  const kv = mvccpb.KeyValue.decode(mvccpb.KeyValue.encode({ key: new Uint8Array([1]), lease: -1n }).finish());
  expect(kv.lease).toBe(-1n);
  expect(kv.version).toBe(0n);
  expect(kv.modRevision).toBe(0n);
});

test("zero values are not written (canonical proto3 encoding)", () => {
  expect(etcdserverpb.ResponseHeader.encode({ revision: 0n }).finish().length).toBe(0);
});

test("64-bit values round-trip on both sides of the safe-integer fast paths", () => {
  const values = [1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -1n, -(2n ** 53n), -(2n ** 63n)];
  for (const v of values) {
    const kv = mvccpb.KeyValue.decode(mvccpb.KeyValue.encode({ key: new Uint8Array([1]), lease: v, modRevision: v }).finish());
    expect([v, kv.lease, kv.modRevision]).toEqual([v, v, v]);
    const unsigned = BigInt.asUintN(64, v);
    expect(etcdserverpb.ResponseHeader.decode(etcdserverpb.ResponseHeader.encode({ memberId: unsigned }).finish()).memberId).toBe(unsigned);
  }
});
