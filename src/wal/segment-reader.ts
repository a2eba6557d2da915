// Decodes one segment file image. Distinguishes the only damage a crash can
// cause (a torn tail of the last segment) from corruption, which it reports by
// throwing rather than skipping anything.
import { WalCorruptError } from "./errors";
import { checkFrame, decodeBody, FRAME_HEADER_BYTES, findNextValidFrame } from "./frame";
import type { WalRecord } from "./record";
import { checkSegmentHeader } from "./segment-header";
import type { SegmentId } from "./segment-name";

export type SegmentReadResult = {
  records: WalRecord[];
  /** Offset just past the last good frame; equals the file size when nothing is torn. */
  validEndBytes: number;
  /** Set when the last segment ends with a partial/damaged frame that may be truncated. */
  tornTail: null | { offsetBytes: number; reason: string };
};

export function readSegment(
  bytes: Uint8Array,
  opts: { path: string; id: SegmentId; isLast: boolean },
): SegmentReadResult {
  const records: WalRecord[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const frame = checkFrame(bytes, offset);
    if (frame.kind !== "ok") {
      const tornTail = classifyBadFrame(bytes, offset, frame.reason, opts);
      return { records, validEndBytes: offset, tornTail };
    }
    const record = decodeBody(bytes, frame.bodyStart, frame.bodyBytes);
    // A checksummed body we cannot decode was written that way: never torn.
    if (typeof record === "string") throw new WalCorruptError(opts.path, offset, record);
    if (offset === 0) {
      const headerProblem = checkSegmentHeader(record, opts.id);
      if (headerProblem !== null) throw new WalCorruptError(opts.path, 0, headerProblem);
    } else {
      records.push(record);
    }
    offset = frame.endOffset;
  }
  // An empty last segment means a crash right after the file was created.
  if (bytes.length === 0 && opts.isLast) {
    return { records, validEndBytes: 0, tornTail: { offsetBytes: 0, reason: "segment is empty (no header)" } };
  }
  if (bytes.length === 0) throw new WalCorruptError(opts.path, 0, "segment that is not the last one is empty");
  return { records, validEndBytes: bytes.length, tornTail: null };
}

/** Returns the torn tail to repair, or throws when the bad frame cannot be a torn write. */
function classifyBadFrame(
  bytes: Uint8Array,
  offset: number,
  reason: string,
  opts: { path: string; isLast: boolean },
): { offsetBytes: number; reason: string } {
  if (!opts.isLast) {
    throw new WalCorruptError(opts.path, offset, `${reason}, in a segment that is not the last one`);
  }
  // A crash can only damage the end of what was being written. If any intact
  // frame exists after this one, the damage is in the middle of acknowledged
  // data. Probing starts right after the bad frame's 8-byte header because its
  // length field itself may be what got damaged.
  const nextValidOffset = findNextValidFrame(bytes, offset + FRAME_HEADER_BYTES);
  if (nextValidOffset !== null) {
    throw new WalCorruptError(
      opts.path,
      offset,
      `${reason}, but an intact record follows at offset ${nextValidOffset}`,
    );
  }
  return { offsetBytes: offset, reason };
}
