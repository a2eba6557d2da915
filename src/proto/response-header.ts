// etcdserverpb.ResponseHeader written by hand into a caller's buffer: every answer carries one, and
// through protobufjs its four 64-bit fields cost a writer operation, a LongBits and several BigInts
// each. Field numbers as etcd's rpc.proto: cluster_id 1, member_id 2, revision 3, raft_term 4.
import { writeVarint64 } from "./chunk-writer.ts";
import type { etcdserverpb } from "./etcd.js";

type Header = Pick<etcdserverpb.ResponseHeader, "clusterId" | "memberId" | "revision" | "raftTerm">;

/** Four fields of a one-byte tag and a varint of at most ten bytes. */
export const RESPONSE_HEADER_BYTES_MAX = 4 * 11;

/** Writes the header's fields at buf[pos…] (proto3: zeros left out); returns where they end. */
export function writeResponseHeader(buf: Uint8Array, pos: number, h: Header): number {
  pos = writeUint64Field(buf, pos, 1, h.clusterId);
  pos = writeUint64Field(buf, pos, 2, h.memberId);
  pos = writeUint64Field(buf, pos, 3, h.revision);
  return writeUint64Field(buf, pos, 4, h.raftTerm);
}

function writeUint64Field(buf: Uint8Array, pos: number, field: number, v: bigint): number {
  if (v === 0n) return pos;
  buf[pos++] = field << 3; // wire type 0: varint
  return writeVarint64(buf, pos, v);
}
