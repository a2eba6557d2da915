/**
 * Reads the segments of an etcd WAL directory (never writes to it) into checked records, as etcd's
 * decoder does: CRCs chained across segments, a zero length field ends a segment (preallocated
 * space), and the only damage accepted is a torn tail of the last segment — a record cut short by
 * the end of the file, or one that fails to decode or check and holds a sector of zeros. That tail
 * is reported, not repaired (the directory is someone else's); everything else is an error naming
 * the file and offset.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { crc32c } from "../../pkg/crc32c.ts";
import { walpb } from "../../proto/etcd.js";
import { parseSegmentName } from "../segment-name.ts";
import { decodeLengthField, EtcdRecordType, LENGTH_FIELD_BYTES, looksTorn, MAX_RECORD_BYTES } from "./format.ts";

export interface EtcdWalSegment {
  name: string;
  path: string;
  seq: bigint;
  /** The raft index of the first entry the segment was cut for (from its name). */
  firstIndex: bigint;
}

export interface EtcdWalRecord {
  type: number;
  data: Uint8Array;
  /** Position in `segments`. */
  segment: number;
  /** Byte offset of the record's length field in its segment. */
  offset: number;
}

export interface EtcdWalContents {
  segments: EtcdWalSegment[];
  records: EtcdWalRecord[];
  /** A torn last record in the last segment, left out of `records`. */
  torn: null | { path: string; offset: number; reason: string };
}

export class EtcdWalError extends Error {
  override readonly name = "EtcdWalError";
  constructor(
    readonly path: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`etcd WAL segment ${path} is damaged at byte offset ${offset}: ${reason}`);
  }
}

/** etcd's segment files in sequence order (other files in the directory are ignored, as etcd does). */
export function listEtcdWalSegments(dir: string): EtcdWalSegment[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const id = parseSegmentName(name);
      return id ? [{ name, path: join(dir, name), seq: id.seq, firstIndex: id.firstIndex }] : [];
    })
    .sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
}

/**
 * Whether `bytes` (the start of a segment) opens the way etcd opens every segment: a framed
 * walpb.Record of the crc type. Tells etcd's WAL from etcd-ts's, whose segments start differently.
 */
export function startsLikeEtcdSegment(bytes: Uint8Array): boolean {
  if (bytes.length < LENGTH_FIELD_BYTES) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { recordBytes, padBytes } = decodeLengthField(view.getBigUint64(0, true));
  const end = LENGTH_FIELD_BYTES + recordBytes;
  if (recordBytes === 0 || recordBytes > 64 || end + padBytes > bytes.length || (recordBytes + padBytes) % 8 !== 0) return false;
  try {
    return Number(walpb.Record.decode(bytes.subarray(LENGTH_FIELD_BYTES, end)).type) === EtcdRecordType.crc;
  } catch {
    return false;
  }
}

export function readEtcdWal(dir: string): EtcdWalContents {
  const segments = listEtcdWalSegments(dir);
  const records: EtcdWalRecord[] = [];
  let crc = 0;
  let torn: EtcdWalContents["torn"] = null;
  for (const [i, seg] of segments.entries()) {
    const file = new SegmentBytes(seg.path);
    const isLast = i === segments.length - 1;
    let offset = 0;
    // A problem that a crash can leave at the end of the last segment, or an error anywhere else.
    // Returns when it is a torn tail (reading stops there); throws otherwise.
    const cut = (reason: string, tornIf: boolean): void => {
      if (!(isLast && tornIf)) throw new EtcdWalError(seg.path, offset, reason);
      torn = { path: seg.path, offset, reason };
    };
    try {
      while (file.has(offset + 1)) {
        if (!file.has(offset + LENGTH_FIELD_BYTES)) {
          cut(`the file ends inside a record's length field (${file.sizeBytes - offset} of ${LENGTH_FIELD_BYTES} bytes)`, true);
          break;
        }
        const field = file.u64le(offset);
        if (field === 0n) break; // preallocated space: the rest of this segment is unused
        const { recordBytes, padBytes } = decodeLengthField(field);
        if (recordBytes >= MAX_RECORD_BYTES - padBytes) {
          throw new EtcdWalError(seg.path, offset, `record length ${recordBytes} exceeds etcd's limit of ${MAX_RECORD_BYTES} bytes (etcd refuses it too)`);
        }
        const start = offset + LENGTH_FIELD_BYTES;
        const end = start + recordBytes + padBytes;
        if (!file.has(end)) {
          cut(`a record of ${recordBytes} bytes runs ${end - file.sizeBytes} bytes past the end of the file`, true);
          break;
        }
        const framed = file.slice(start, end);
        let rec: walpb.Record;
        try {
          rec = walpb.Record.decode(framed.subarray(0, recordBytes));
        } catch (err) {
          cut(`the record is not a walpb.Record (${(err as Error).message})`, looksTorn(framed, start));
          break;
        }
        const type = Number(rec.type);
        const data = new Uint8Array(rec.data ?? new Uint8Array(0));
        if (type === EtcdRecordType.crc) {
          // The chain's value at the end of the previous segment (0 when reading starts here).
          if (crc !== 0 && rec.crc !== crc) {
            throw new EtcdWalError(seg.path, offset, `crc record says the chain was 0x${hex32(rec.crc)}, but the previous segment ended at 0x${hex32(crc)}`);
          }
          crc = rec.crc;
        } else {
          const next = crc32c(data, crc);
          if (next !== rec.crc) {
            cut(`checksum mismatch (record says 0x${hex32(rec.crc)}, data hashes to 0x${hex32(next)})`, looksTorn(framed, start));
            break;
          }
          crc = next;
        }
        records.push({ type, data, segment: i, offset });
        offset = end;
      }
    } finally {
      file.close();
    }
  }
  return { segments, records, torn };
}

/**
 * A segment read from the front as far as needed: etcd preallocates 64 MB segments, and reading
 * stops at the first zero length field, so the unused zeros are never read.
 */
class SegmentBytes {
  readonly sizeBytes: number;
  #fd: number;
  #buf = new Uint8Array(0);
  #filled = 0;

  constructor(path: string) {
    this.#fd = openSync(path, "r");
    this.sizeBytes = fstatSync(this.#fd).size;
  }

  /** Whether the file holds bytes up to `end` (exclusive); reads them in if so. */
  has(end: number): boolean {
    if (end > this.sizeBytes) return false;
    if (end > this.#filled) {
      const want = Math.min(this.sizeBytes, Math.max(end, this.#filled * 2, READ_CHUNK_BYTES));
      const grown = new Uint8Array(want);
      grown.set(this.#buf.subarray(0, this.#filled));
      while (this.#filled < want) {
        const n = readSync(this.#fd, grown, this.#filled, want - this.#filled, this.#filled);
        if (n === 0) throw new Error(`${this.sizeBytes - this.#filled} bytes of the file vanished while it was read`);
        this.#filled += n;
      }
      this.#buf = grown;
    }
    return true;
  }

  u64le(offset: number): bigint {
    return new DataView(this.#buf.buffer, this.#buf.byteOffset + offset, 8).getBigUint64(0, true);
  }

  /** A view of bytes already checked with has(). */
  slice(start: number, end: number): Uint8Array {
    return this.#buf.subarray(start, end);
  }

  close(): void {
    closeSync(this.#fd);
  }
}

const READ_CHUNK_BYTES = 1024 * 1024;

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}
