/** One WAL entry. The WAL never interprets `type` or `data`. */
export type WalRecord = {
  type: number;
  data: Uint8Array;
  /** Raft log index the caller attaches; names segments and drives purge. */
  index?: bigint;
};

export const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;

export function isUint64(value: bigint): boolean {
  return value >= 0n && value <= MAX_UINT64;
}

/** Throws a TypeError/RangeError describing the first problem with `record`. */
export function assertValidRecord(record: WalRecord): void {
  if (record === null || typeof record !== "object") throw new TypeError("WAL record must be an object");
  if (!Number.isInteger(record.type) || record.type < 0 || record.type > 255) {
    throw new RangeError(`WAL record type must be an integer 0..255, got ${record.type}`);
  }
  if (!(record.data instanceof Uint8Array)) throw new TypeError("WAL record data must be a Uint8Array");
  if (record.index !== undefined) {
    if (typeof record.index !== "bigint") throw new TypeError("WAL record index must be a bigint");
    if (!isUint64(record.index)) throw new RangeError(`WAL record index must be a uint64, got ${record.index}`);
  }
}
