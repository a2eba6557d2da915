import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeRecords } from "../frame.ts";
import { encodeSegmentHeader } from "../segment-header.ts";
import { etcdWalLog, etcdWalSnapshots } from "./log.ts";
import { EtcdWalError, readEtcdWal, startsLikeEtcdSegment } from "./read.ts";
import { encodeEtcdSegment, rec, segmentName, type TestRecord } from "./test-encoder.ts";

const ME = 0x8e9e05c52164694dn;
const CLUSTER = 0xcdf818194e3a8c32n;
const text = (s: string) => new TextEncoder().encode(s);

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "etcd-wal-read-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes segments as etcd would (each from the previous one's CRC); returns the bytes and record offsets. */
function writeSegments(dir: string, segments: { firstIndex: number; records: TestRecord[]; preallocate?: number }[]) {
  let crc = 0;
  return segments.map((s, seq) => {
    const out = encodeEtcdSegment(s.records, crc, s.preallocate ?? 0);
    crc = out.crc;
    const path = join(dir, segmentName(seq, s.firstIndex));
    writeFileSync(path, out.bytes);
    return { path, ...out };
  });
}

const firstSegment = (n: number, commit = n): TestRecord[] => [
  rec.metadata(ME, CLUSTER),
  rec.snapshot(0, 0),
  ...Array.from({ length: n }, (_, i) => rec.entry(i + 1, 1, text(`e${i + 1}`))),
  rec.state(1, ME, commit),
];

describe("etcd WAL reader", () => {
  test("reads metadata, hard state and entries back in order", () => {
    withDir((dir) => {
      writeSegments(dir, [{ firstIndex: 0, records: firstSegment(5, 4), preallocate: 4096 }]);
      const wal = readEtcdWal(dir);
      expect(wal.torn).toBeNull();
      expect(etcdWalSnapshots(wal)).toEqual([{ index: 0n, term: 0n }]);
      const log = etcdWalLog(wal, dir, { index: 0n, term: 0n });
      expect(log.memberId).toBe(ME);
      expect(log.clusterId).toBe(CLUSTER);
      expect(log.hardState).toEqual({ term: 1n, vote: ME, commit: 4n });
      expect(log.entries.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)])).toEqual([
        [1n, 1n, "e1"],
        [2n, 1n, "e2"],
        [3n, 1n, "e3"],
        [4n, 1n, "e4"],
        [5n, 1n, "e5"],
      ]);
    });
  });

  test("chains the CRC across segments and starts the log at the chosen snapshot marker", () => {
    withDir((dir) => {
      writeSegments(dir, [
        { firstIndex: 0, records: firstSegment(4) },
        { firstIndex: 5, records: [rec.metadata(ME, CLUSTER), rec.state(1, ME, 4), rec.entry(5, 1), rec.entry(6, 2), rec.snapshot(6, 2), rec.entry(7, 2), rec.state(2, ME, 7)] },
      ]);
      const wal = readEtcdWal(dir);
      expect(etcdWalSnapshots(wal).map((s) => s.index)).toEqual([0n, 6n]);
      const log = etcdWalLog(wal, dir, { index: 6n, term: 2n });
      expect(log.entries.map((e) => e.index)).toEqual([7n]);
      expect(log.hardState.commit).toBe(7n);
    });
  });

  test("markers above the newest commit index are not offered (etcd's ValidSnapshotEntries)", () => {
    withDir((dir) => {
      writeSegments(dir, [{ firstIndex: 0, records: [...firstSegment(6, 3), rec.snapshot(5, 1)] }]);
      expect(etcdWalSnapshots(readEtcdWal(dir)).map((s) => s.index)).toEqual([0n]);
    });
  });

  test("an entry at an index already written replaces it and the entries after it", () => {
    withDir((dir) => {
      writeSegments(dir, [{ firstIndex: 0, records: [...firstSegment(5, 3), rec.entry(4, 2, text("new4")), rec.state(2, 0n, 4)] }]);
      const log = etcdWalLog(readEtcdWal(dir), dir, { index: 0n, term: 0n });
      expect(log.entries.map((e) => `${e.index}/${e.term}`)).toEqual(["1/1", "2/1", "3/1", "4/2"]);
    });
  });

  test("a record cut short at the end of the last segment is a torn tail: reported, the rest kept", () => {
    withDir((dir) => {
      const [seg] = writeSegments(dir, [{ firstIndex: 0, records: firstSegment(5) }]);
      // Cut the hard state record in half.
      const lastAt = seg.offsets.at(-1)!;
      writeFileSync(seg.path, seg.bytes.subarray(0, lastAt + 12));
      const wal = readEtcdWal(dir);
      expect(wal.torn).toMatchObject({ path: seg.path, offset: lastAt });
      expect(wal.torn!.reason).toContain("past the end of the file");
      expect(etcdWalLog(wal, dir, { index: 0n, term: 0n }).entries.length).toBe(5);
    });
  });

  test("a last record with a zeroed sector and a bad checksum is a torn tail", () => {
    withDir((dir) => {
      const big = new Uint8Array(2000).fill(7);
      const [seg] = writeSegments(dir, [{ firstIndex: 0, records: [...firstSegment(2), rec.entry(3, 1, big)] }]);
      const at = seg.offsets.at(-1)!;
      const bytes = new Uint8Array(seg.bytes);
      // Zero one whole sector inside the record, as a write the disk never finished leaves it.
      const sector = Math.ceil((at + 8 + 100) / 512) * 512;
      bytes.fill(0, sector, sector + 512);
      writeFileSync(seg.path, bytes);
      const wal = readEtcdWal(dir);
      expect(wal.torn).toMatchObject({ path: seg.path, offset: at });
      expect(etcdWalLog(wal, dir, { index: 0n, term: 0n }).entries.map((e) => e.index)).toEqual([1n, 2n]);
    });
  });

  test("a bad checksum that is not a torn write is refused, naming the file and offset", () => {
    withDir((dir) => {
      const [seg] = writeSegments(dir, [{ firstIndex: 0, records: firstSegment(5) }]);
      const bytes = new Uint8Array(seg.bytes);
      const third = seg.offsets[4]; // metadata, snapshot, e1, e2, e3 → the entry with index 3
      bytes[third + 20] ^= 0x55;
      writeFileSync(seg.path, bytes);
      let err: unknown;
      try {
        readEtcdWal(dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EtcdWalError);
      expect((err as EtcdWalError).path).toBe(seg.path);
      expect((err as EtcdWalError).offset).toBe(third);
      expect((err as Error).message).toContain("checksum mismatch");
    });
  });

  test("damage in a segment that is not the last one is never a torn tail", () => {
    withDir((dir) => {
      const [first] = writeSegments(dir, [
        { firstIndex: 0, records: firstSegment(3) },
        { firstIndex: 4, records: [rec.metadata(ME, CLUSTER), rec.entry(4, 1), rec.state(1, ME, 4)] },
      ]);
      writeFileSync(first.path, first.bytes.subarray(0, first.offsets.at(-1)! + 5));
      expect(() => readEtcdWal(dir)).toThrow(EtcdWalError);
    });
  });

  test("a segment whose crc record does not continue the chain is refused", () => {
    withDir((dir) => {
      writeSegments(dir, [{ firstIndex: 0, records: firstSegment(3) }]);
      // The second segment is written as if the first had ended with another CRC.
      const other = encodeEtcdSegment([rec.entry(4, 1), rec.state(1, ME, 4)], 0x1234);
      writeFileSync(join(dir, segmentName(1, 4)), other.bytes);
      expect(() => readEtcdWal(dir)).toThrow(/crc record says the chain was 0x00001234/);
    });
  });

  test("a gap in the entries and two different metadata records are refused", () => {
    withDir((dir) => {
      writeSegments(dir, [{ firstIndex: 0, records: [rec.metadata(ME, CLUSTER), rec.snapshot(0, 0), rec.entry(1, 1), rec.entry(3, 1)] }]);
      expect(() => etcdWalLog(readEtcdWal(dir), dir, { index: 0n, term: 0n })).toThrow(/jumps from index 1 to 3/);
    });
    withDir((dir) => {
      writeSegments(dir, [{ firstIndex: 0, records: [rec.metadata(ME, CLUSTER), rec.snapshot(0, 0), rec.metadata(ME + 1n, CLUSTER)] }]);
      expect(() => etcdWalLog(readEtcdWal(dir), dir, { index: 0n, term: 0n })).toThrow(/two different metadata records/);
    });
  });

  test("a start marker the WAL does not hold is refused", () => {
    withDir((dir) => {
      writeSegments(dir, [{ firstIndex: 0, records: firstSegment(3) }]);
      expect(() => etcdWalLog(readEtcdWal(dir), dir, { index: 2n, term: 1n })).toThrow(/no snapshot marker for index 2 term 1/);
    });
  });

  test("tells etcd's segments from etcd-ts's", () => {
    expect(startsLikeEtcdSegment(encodeEtcdSegment([], 0).bytes)).toBe(true);
    expect(startsLikeEtcdSegment(encodeEtcdSegment([rec.metadata(ME, CLUSTER)], 0xdeadbeef).bytes)).toBe(true);
    expect(startsLikeEtcdSegment(encodeSegmentHeader({ seq: 0n, firstIndex: 0n }))).toBe(false);
    expect(startsLikeEtcdSegment(encodeRecords([{ type: 1, data: text("x") }]))).toBe(false);
    expect(startsLikeEtcdSegment(new Uint8Array(64))).toBe(false);
  });
});
