// Every segment opens with one header record so a stray or renamed file is
// recognised before its contents are trusted.
// data = magic "etcd-ts-wal\0" | u32le version | u64le seq | u64le firstIndex
import { encodeRecords } from "./frame";
import type { WalRecord } from "./record";
import type { SegmentId } from "./segment-name";

export const HEADER_RECORD_TYPE = 0xff;
export const WAL_FORMAT_VERSION = 1;
const MAGIC = new TextEncoder().encode("etcd-ts-wal\0");
const HEADER_DATA_BYTES = MAGIC.length + 4 + 8 + 8;

export function encodeSegmentHeader(id: SegmentId): Uint8Array {
  const data = new Uint8Array(HEADER_DATA_BYTES);
  const view = new DataView(data.buffer);
  data.set(MAGIC, 0);
  view.setUint32(MAGIC.length, WAL_FORMAT_VERSION, true);
  view.setBigUint64(MAGIC.length + 4, id.seq, true);
  view.setBigUint64(MAGIC.length + 12, id.firstIndex, true);
  return encodeRecords([{ type: HEADER_RECORD_TYPE, data }]);
}

export const SEGMENT_HEADER_BYTES = encodeSegmentHeader({ seq: 0n, firstIndex: 0n }).length;

/** Returns null when `record` is a valid header for `expected`, else the reason it is not. */
export function checkSegmentHeader(record: WalRecord, expected: SegmentId): string | null {
  const { data } = record;
  const magicMatches = data.length >= MAGIC.length && MAGIC.every((byte, i) => data[i] === byte);
  if (record.type !== HEADER_RECORD_TYPE || record.index !== undefined || !magicMatches) {
    return "file does not start with an etcd-ts WAL header (wrong magic); if it is a stray file, move it out of the WAL directory";
  }
  if (data.length !== HEADER_DATA_BYTES) return `segment header is ${data.length} bytes, expected ${HEADER_DATA_BYTES}`;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = view.getUint32(MAGIC.length, true);
  if (version !== WAL_FORMAT_VERSION) {
    return `segment has WAL format version ${version}; this build reads version ${WAL_FORMAT_VERSION}`;
  }
  const seq = view.getBigUint64(MAGIC.length + 4, true);
  const firstIndex = view.getBigUint64(MAGIC.length + 12, true);
  if (seq !== expected.seq || firstIndex !== expected.firstIndex) {
    return `header says seq ${seq} firstIndex ${firstIndex} but the file name says seq ${expected.seq} firstIndex ${expected.firstIndex} (renamed file?)`;
  }
  return null;
}
