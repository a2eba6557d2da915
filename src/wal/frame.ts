// On-disk framing of one record:
//   u32le bodyBytes | u32le crc32c(body) | body | zero padding to 8 bytes
// body = u8 type | u8 flags | [u64le index if flags & HAS_INDEX] | data
// The 8-byte alignment means every frame starts on an aligned offset, which lets
// the reader probe for valid frames after a bad one to tell a torn tail (nothing
// valid follows) from corruption in the middle (something valid follows).
import { crc32c } from "../pkg/crc32c";
import type { WalRecord } from "./record";

export const FRAME_HEADER_BYTES = 8;
export const FRAME_ALIGN_BYTES = 8;
const BODY_FIXED_BYTES = 2;
const INDEX_BYTES = 8;
const FLAG_HAS_INDEX = 0x01;
const KNOWN_FLAGS = FLAG_HAS_INDEX;
// bodyBytes must fit the u32 length field.
const MAX_BODY_BYTES = 0xffff_ffff;

export function alignUp(bytes: number): number {
  return Math.ceil(bytes / FRAME_ALIGN_BYTES) * FRAME_ALIGN_BYTES;
}

function bodyBytesOf(record: WalRecord): number {
  return BODY_FIXED_BYTES + (record.index === undefined ? 0 : INDEX_BYTES) + record.data.length;
}

export function frameBytesOf(record: WalRecord): number {
  return FRAME_HEADER_BYTES + alignUp(bodyBytesOf(record));
}

/** Encodes records back to back into one buffer (one write for the batch). */
export function encodeRecords(records: readonly WalRecord[]): Uint8Array {
  let totalBytes = 0;
  for (const record of records) totalBytes += frameBytesOf(record);
  // Fresh buffers are zero-filled, which provides the padding.
  const out = new Uint8Array(totalBytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let offset = 0;
  for (const record of records) {
    const bodyBytes = bodyBytesOf(record);
    if (bodyBytes > MAX_BODY_BYTES) throw new RangeError(`WAL record of ${bodyBytes} bytes is too large`);
    const bodyStart = offset + FRAME_HEADER_BYTES;
    let cursor = bodyStart;
    out[cursor++] = record.type;
    if (record.index === undefined) {
      out[cursor++] = 0;
    } else {
      out[cursor++] = FLAG_HAS_INDEX;
      view.setBigUint64(cursor, record.index, true);
      cursor += INDEX_BYTES;
    }
    out.set(record.data, cursor);
    view.setUint32(offset, bodyBytes, true);
    view.setUint32(offset + 4, crc32c(out.subarray(bodyStart, bodyStart + bodyBytes)), true);
    offset += FRAME_HEADER_BYTES + alignUp(bodyBytes);
  }
  if (offset !== totalBytes) throw new Error(`frame encoder wrote ${offset} of ${totalBytes} bytes`);
  return out;
}

export type FrameCheck =
  | { kind: "ok"; bodyStart: number; bodyBytes: number; endOffset: number }
  | { kind: "incomplete"; reason: string }
  | { kind: "bad"; reason: string };

/** Validates the frame at `offset` (length, bounds, checksum) without decoding the body. */
export function checkFrame(buf: Uint8Array, offset: number): FrameCheck {
  const remainingBytes = buf.length - offset;
  if (remainingBytes < FRAME_HEADER_BYTES) {
    return { kind: "incomplete", reason: `record header cut short (${remainingBytes} of ${FRAME_HEADER_BYTES} bytes present)` };
  }
  const view = new DataView(buf.buffer, buf.byteOffset + offset, FRAME_HEADER_BYTES);
  const bodyBytes = view.getUint32(0, true);
  const expectedCrc = view.getUint32(4, true);
  if (bodyBytes < BODY_FIXED_BYTES) return { kind: "bad", reason: `impossible record length ${bodyBytes}` };
  const bodyStart = offset + FRAME_HEADER_BYTES;
  const endOffset = bodyStart + alignUp(bodyBytes);
  if (endOffset > buf.length) {
    return { kind: "incomplete", reason: `record of ${bodyBytes} bytes extends ${endOffset - buf.length} bytes past the end of the file` };
  }
  const actualCrc = crc32c(buf.subarray(bodyStart, bodyStart + bodyBytes));
  if (actualCrc !== expectedCrc) {
    return { kind: "bad", reason: `checksum mismatch (stored 0x${hex32(expectedCrc)}, computed 0x${hex32(actualCrc)})` };
  }
  return { kind: "ok", bodyStart, bodyBytes, endOffset };
}

/**
 * Decodes a body whose checksum already matched. Returns a string reason when
 * the body is well-checksummed but not understood (a format problem, never a torn write).
 * Copies `data` (also when `buf` is a Node Buffer, whose slice() is a view) so
 * returned records do not pin the whole segment buffer.
 */
export function decodeBody(buf: Uint8Array, bodyStart: number, bodyBytes: number): WalRecord | string {
  const type = buf[bodyStart];
  const flags = buf[bodyStart + 1];
  if ((flags & ~KNOWN_FLAGS) !== 0) return `record has unknown flags 0x${flags.toString(16)}`;
  let dataStart = bodyStart + BODY_FIXED_BYTES;
  const bodyEnd = bodyStart + bodyBytes;
  if ((flags & FLAG_HAS_INDEX) === 0) return { type, data: new Uint8Array(buf.subarray(dataStart, bodyEnd)) };
  if (bodyBytes < BODY_FIXED_BYTES + INDEX_BYTES) return `record flagged with an index is only ${bodyBytes} bytes`;
  const index = new DataView(buf.buffer, buf.byteOffset + dataStart, INDEX_BYTES).getBigUint64(0, true);
  dataStart += INDEX_BYTES;
  return { type, data: new Uint8Array(buf.subarray(dataStart, bodyEnd)), index };
}

/** First aligned offset >= `fromOffset` holding a frame that passes `checkFrame`, or null. */
export function findNextValidFrame(buf: Uint8Array, fromOffset: number): number | null {
  for (let offset = alignUp(fromOffset); offset + FRAME_HEADER_BYTES <= buf.length; offset += FRAME_ALIGN_BYTES) {
    if (checkFrame(buf, offset).kind === "ok") return offset;
  }
  return null;
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, "0");
}
