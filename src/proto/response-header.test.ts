import { expect, test } from "bun:test";
import "./bigint-longs.ts";
import { etcdserverpb } from "./etcd.js";
import { RESPONSE_HEADER_BYTES_MAX, writeResponseHeader } from "./response-header.ts";

const cases: [string, etcdserverpb.ResponseHeader.$Properties][] = [
  ["all zero (proto3 leaves every field out)", { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n }],
  ["small values", { clusterId: 1n, memberId: 127n, revision: 128n, raftTerm: 2n }],
  ["ids using all 64 bits, past the safe integers", { clusterId: 0xcdef0123456789abn, memberId: 2n ** 64n - 1n, revision: 2n ** 53n, raftTerm: 2n ** 53n - 1n }],
  ["a typical header", { clusterId: 0x48276a8f75b6a87n, memberId: 0x2e1259d415f2a040n, revision: 123_456n, raftTerm: 7n }],
];

for (const [name, h] of cases) {
  test(`a hand-written ResponseHeader has protobufjs's bytes: ${name}`, () => {
    const buf = new Uint8Array(RESPONSE_HEADER_BYTES_MAX + 3).fill(0xee);
    const end = writeResponseHeader(buf, 3, h as etcdserverpb.ResponseHeader);
    expect([...buf.subarray(3, end)]).toEqual([...etcdserverpb.ResponseHeader.encode(h).finish()]);
    // Nothing written outside [pos, end).
    expect([...buf.subarray(0, 3), ...buf.subarray(end)].every((b) => b === 0xee)).toBe(true);
    expect(etcdserverpb.ResponseHeader.decode(buf.subarray(3, end))).toMatchObject(h);
  });
}
