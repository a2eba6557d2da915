/**
 * etcd's WAL framing (etcd 3.4 and 3.5 write the same bytes), as read when adopting an etcd data dir:
 *
 *   u64le length field | walpb.Record {type, crc, data} | zero padding to 8 bytes
 *
 * The length field's low 56 bits are the record's size; when padding follows, its top byte is
 * 0x80 | padding bytes. Each record's crc is the CRC-32C of its data chained from the previous
 * record's (across segments: every segment opens with a crc record carrying the chain's value so
 * far). A length field of zero is the preallocated end of a segment.
 *
 * Record types: 1 metadata (etcdserverpb.Metadata), 2 entry (raftpb.Entry), 3 state
 * (raftpb.HardState), 4 crc, 5 snapshot (walpb.Snapshot).
 */
export const EtcdRecordType = { metadata: 1, entry: 2, state: 3, crc: 4, snapshot: 5 } as const;

export const LENGTH_FIELD_BYTES = 8;
/** A torn write leaves whole sectors of zeros; etcd checks the record's data sector by sector. */
export const SECTOR_BYTES = 512;
/** etcd 3.4/3.5 refuse records this large (its decoder's limit, 10 MiB). */
export const MAX_RECORD_BYTES = 10 * 1024 * 1024;

const SIZE_MASK = (1n << 56n) - 1n;

export function decodeLengthField(field: bigint): { recordBytes: number; padBytes: number } {
  const recordBytes = Number(field & SIZE_MASK);
  // A negative int64 (top bit set) says padding follows; its count is in the low 3 bits of the top byte.
  const padBytes = field >> 63n === 1n ? Number((field >> 56n) & 7n) : 0;
  return { recordBytes, padBytes };
}

export function encodeLengthField(recordBytes: number): { field: bigint; padBytes: number } {
  const padBytes = (8 - (recordBytes % 8)) % 8;
  let field = BigInt(recordBytes);
  if (padBytes !== 0) field |= BigInt(0x80 | padBytes) << 56n;
  return { field, padBytes };
}

/**
 * Whether a record that failed to decode or check was a write cut short by a crash: some 512-byte
 * sector of it (counted from the file's sector boundaries) is all zeros. `fileOffset` is where the
 * record's bytes (after the length field) start in the file.
 */
export function looksTorn(data: Uint8Array, fileOffset: number): boolean {
  let at = 0;
  let off = fileOffset;
  while (at < data.length) {
    const len = Math.min(SECTOR_BYTES - (off % SECTOR_BYTES), data.length - at);
    let zero = true;
    for (let i = at; i < at + len; i++) {
      if (data[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return true;
    at += len;
    off += len;
  }
  return false;
}
