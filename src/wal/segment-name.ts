// Segment files are named like etcd's: `${seq}-${firstIndex}.wal`, both as 16
// lowercase hex digits, so lexical order equals sequence order.
import { isUint64 } from "./record";

export type SegmentId = { seq: bigint; firstIndex: bigint };

const NAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

export function formatSegmentName({ seq, firstIndex }: SegmentId): string {
  if (!isUint64(seq) || !isUint64(firstIndex)) throw new RangeError(`segment seq/firstIndex out of range: ${seq}/${firstIndex}`);
  return `${hex64(seq)}-${hex64(firstIndex)}.wal`;
}

/** null for names that are not WAL segments (other files in the dir are ignored). */
export function parseSegmentName(name: string): SegmentId | null {
  const match = NAME_PATTERN.exec(name);
  if (match === null) return null;
  return { seq: BigInt(`0x${match[1]}`), firstIndex: BigInt(`0x${match[2]}`) };
}

function hex64(value: bigint): string {
  return value.toString(16).padStart(16, "0");
}
