/**
 * A small writer of etcd's WAL format, for tests only (production code never writes etcd's WAL):
 * segments as etcd cuts them — a crc record carrying the chain, then records framed with padding
 * bits in the length field — so the reader's tests need no real etcd.
 */
import { crc32c } from "../../pkg/crc32c.ts";
import { encodeWithHeadroom } from "../../proto/encode.ts";
import { etcdserverpb, raftpb, walpb } from "../../proto/etcd.js";
import { formatSegmentName } from "../segment-name.ts";
import { EtcdRecordType, encodeLengthField, LENGTH_FIELD_BYTES } from "./format.ts";

export interface TestRecord {
  type: number;
  data: Uint8Array;
}

export const rec = {
  metadata: (memberId: bigint, clusterId: bigint): TestRecord => ({
    type: EtcdRecordType.metadata,
    data: encodeWithHeadroom(etcdserverpb.Metadata, { NodeID: memberId, ClusterID: clusterId }),
  }),
  entry: (index: number, term: number, data: Uint8Array = new Uint8Array(0), type = 0): TestRecord => ({
    type: EtcdRecordType.entry,
    data: encodeWithHeadroom(raftpb.Entry, { Index: BigInt(index), Term: BigInt(term), Type: type, Data: data }),
  }),
  state: (term: number, vote: bigint, commit: number): TestRecord => ({
    type: EtcdRecordType.state,
    data: encodeWithHeadroom(raftpb.HardState, { term: BigInt(term), vote, commit: BigInt(commit) }),
  }),
  snapshot: (index: number, term: number): TestRecord => ({
    type: EtcdRecordType.snapshot,
    data: encodeWithHeadroom(walpb.Snapshot, { index: BigInt(index), term: BigInt(term) }),
  }),
};

/** Frames records one after another, chaining the CRC from `crc` (the previous segment's last value). */
export function encodeEtcdRecords(records: TestRecord[], crc: number): { bytes: Uint8Array; crc: number; offsets: number[] } {
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = 0;
  for (const r of records) {
    let recordCrc: number;
    if (r.type === EtcdRecordType.crc) recordCrc = crc;
    else {
      crc = crc32c(r.data, crc);
      recordCrc = crc;
    }
    const body = encodeWithHeadroom(walpb.Record, { type: BigInt(r.type), crc: recordCrc, data: r.data });
    const { field, padBytes } = encodeLengthField(body.length);
    const frame = new Uint8Array(LENGTH_FIELD_BYTES + body.length + padBytes);
    new DataView(frame.buffer).setBigUint64(0, field, true);
    frame.set(body, LENGTH_FIELD_BYTES);
    offsets.push(at);
    parts.push(frame);
    at += frame.length;
  }
  return { bytes: Buffer.concat(parts), crc, offsets };
}

/** One segment: the crc record etcd opens every segment with, then `records`; optional preallocated zeros. */
export function encodeEtcdSegment(records: TestRecord[], prevCrc: number, preallocateBytes = 0): { bytes: Uint8Array; crc: number; offsets: number[] } {
  const out = encodeEtcdRecords([{ type: EtcdRecordType.crc, data: new Uint8Array(0) }, ...records], prevCrc);
  const bytes = new Uint8Array(out.bytes.length + preallocateBytes);
  bytes.set(out.bytes);
  return { bytes, crc: out.crc, offsets: out.offsets.slice(1) };
}

export const segmentName = (seq: number, firstIndex: number) => formatSegmentName({ seq: BigInt(seq), firstIndex: BigInt(firstIndex) });
