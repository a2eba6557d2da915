import { test, expect } from "bun:test";
import { cp, open, readFile, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { checkFrame, encodeRecords } from "./frame";
import { readSegment } from "./segment-reader";
import { parseSegmentName } from "./segment-name";
import { captureLog, makeRecord, seededRandom, segmentNames, withTempDir } from "./test-support";
import { Wal, WalClosedError, WalCorruptError, type WalRecord } from "./wal";

const quiet = () => {};

/** Offsets of every frame in a segment file (the header frame is offset 0). */
async function frameOffsets(path: string): Promise<number[]> {
  const bytes = new Uint8Array(await readFile(path));
  const offsets: number[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const frame = checkFrame(bytes, offset);
    if (frame.kind !== "ok") throw new Error(`unexpected bad frame at ${offset}: ${frame.reason}`);
    offsets.push(offset);
    offset = frame.endOffset;
  }
  return offsets;
}

async function flipByte(path: string, offset: number): Promise<void> {
  const handle = await open(path, "r+");
  try {
    const byte = new Uint8Array(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] ^= 0x40;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

async function reopenRecords(dir: string, segmentBytes?: number): Promise<WalRecord[]> {
  const { wal, records, repaired } = await Wal.open(dir, { segmentBytes, log: quiet });
  expect(repaired).toBeNull();
  await wal.close();
  return records;
}

/** A closed WAL in `dir` holding indexes 1..count, several segments of ~segmentBytes. */
async function writeIndexedWal(dir: string, count: number, segmentBytes: number, dataBytes = 100): Promise<WalRecord[]> {
  const random = seededRandom(count);
  const { wal } = await Wal.open(dir, { segmentBytes, log: quiet });
  const records: WalRecord[] = [];
  for (let i = 1; i <= count; i++) records.push(makeRecord(BigInt(i), dataBytes, random));
  for (const record of records) await wal.append([record]);
  await wal.close();
  return records;
}

async function expectCorrupt(dir: string, path: string, offsetBytes: number): Promise<WalCorruptError> {
  const error = await Wal.open(dir, { log: quiet }).then(
    () => null,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(WalCorruptError);
  const corrupt = error as WalCorruptError;
  expect(corrupt.path).toBe(path);
  expect(corrupt.offsetBytes).toBe(offsetBytes);
  expect(corrupt.message).toContain(path);
  expect(corrupt.message).toContain(`byte offset ${offsetBytes}`);
  expect(corrupt.message).toContain("snapshot");
  expect(corrupt.message).toContain("re-add");
  return corrupt;
}

test("a fresh directory is created 0700 with one empty segment", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "member", "wal");
    const { wal, records, repaired } = await Wal.open(dir, { log: quiet });
    expect(records).toEqual([]);
    expect(repaired).toBeNull();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await segmentNames(dir)).toEqual(["0000000000000000-0000000000000000.wal"]);
    expect((await stat(join(dir, "0000000000000000-0000000000000000.wal"))).mode & 0o777).toBe(0o600);
    // An empty append is a barrier: nothing to write, resolves at once.
    await wal.append([]);
    expect(wal.stats()).toMatchObject({ segments: 1, fsyncs: 0 });
    await wal.close();
    expect(await reopenRecords(dir)).toEqual([]);
  });
});

test("round trip of records of random sizes (0 B .. 100 KiB) across many segments", async () => {
  await withTempDir(async (dir) => {
    const random = seededRandom(1234);
    const segmentBytes = 256 * 1024;
    const { wal } = await Wal.open(dir, { segmentBytes, log: quiet });
    const written: WalRecord[] = [];
    let index = 1n;
    for (let batch = 0; batch < 60; batch++) {
      const records: WalRecord[] = [];
      const batchSize = 1 + Math.floor(random() * 5);
      for (let i = 0; i < batchSize; i++) {
        const bytes = random() < 0.7 ? Math.floor(random() * 1024) : Math.floor(random() * 100 * 1024);
        const record = makeRecord(index++, bytes, random);
        // Some records carry no index: the WAL must keep them that way.
        if (random() < 0.1) delete record.index;
        records.push(record);
      }
      written.push(...records);
      await wal.append(records);
    }
    written.push(makeRecord(index++, 0, random), makeRecord(index++, 100 * 1024, random));
    await wal.append(written.slice(-2));
    const stats = wal.stats();
    await wal.close();

    const names = await segmentNames(dir);
    expect(names.length).toBeGreaterThanOrEqual(4);
    expect(stats.segments).toBe(names.length);
    let diskBytes = 0;
    for (const name of names) diskBytes += (await stat(join(dir, name))).size;
    expect(stats.bytes).toBe(diskBytes);

    expect(await reopenRecords(dir, segmentBytes)).toEqual(written);

    // Each rolled segment is named by the first index written into it.
    for (const [i, name] of names.entries()) {
      const id = parseSegmentName(name)!;
      expect(id.seq).toBe(BigInt(i));
      const path = join(dir, name);
      const { records } = readSegment(new Uint8Array(await readFile(path)), { path, id, isLast: false });
      const firstIndexed = records.find((r) => r.index !== undefined);
      if (i > 0 && firstIndexed !== undefined) expect(id.firstIndex).toBeLessThanOrEqual(firstIndexed.index!);
      if (i > 0 && records[0].index !== undefined) expect(id.firstIndex).toBe(records[0].index);
    }

    // Appending after a reopen continues the same log.
    const { wal: again } = await Wal.open(dir, { segmentBytes, log: quiet });
    const more = makeRecord(index, 10, random);
    await again.append([more]);
    await again.close();
    expect(await reopenRecords(dir, segmentBytes)).toEqual([...written, more]);
  });
}, 30_000);

test("group commit: 200 concurrent appends share few fdatasyncs and keep call order", async () => {
  await withTempDir(async (dir) => {
    const random = seededRandom(99);
    const { wal } = await Wal.open(dir, { log: quiet });
    const records = Array.from({ length: 200 }, (_, i) => makeRecord(BigInt(i + 1), Math.floor(random() * 2000), random));
    // A first append gets a flush in flight, so the rest really queue behind it.
    const first = wal.append([records[0]]);
    await Bun.sleep(0);
    await Promise.all([first, ...records.slice(1).map((record) => wal.append([record]))]);
    const { fsyncs, lastFsyncMs } = wal.stats();
    expect(fsyncs).toBeGreaterThan(0);
    expect(lastFsyncMs).toBeGreaterThanOrEqual(0);
    expect(fsyncs).toBeLessThan(50);
    await wal.close();
    expect(await reopenRecords(dir)).toEqual(records);
  });
});

test("concurrent appends that force a segment roll stay in call order", async () => {
  await withTempDir(async (dir) => {
    const random = seededRandom(5);
    const { wal } = await Wal.open(dir, { segmentBytes: 4096, log: quiet });
    const records = Array.from({ length: 100 }, (_, i) => makeRecord(BigInt(i + 1), 50 + Math.floor(random() * 400), random));
    await Promise.all(records.map((record) => wal.append([record])));
    await wal.close();
    expect((await segmentNames(dir)).length).toBeGreaterThan(3);
    expect(await reopenRecords(dir, 4096)).toEqual(records);
  });
});

test("torn tail at many offsets is truncated, reported, and appending continues", async () => {
  await withTempDir(async (root) => {
    const pristine = join(root, "pristine");
    const random = seededRandom(7);
    const { wal } = await Wal.open(pristine, { segmentBytes: 4096, log: quiet });
    const records = Array.from({ length: 40 }, (_, i) => makeRecord(BigInt(i + 1), 200, random));
    for (const record of records) await wal.append([record]);
    // 45 data bytes: body 55, so the frame ends in one byte of padding.
    const last = makeRecord(41n, 45, random);
    await wal.append([last]);
    await wal.close();

    const names = await segmentNames(pristine);
    expect(names.length).toBeGreaterThan(1);
    const lastName = names.at(-1)!;
    const fileBytes = (await stat(join(pristine, lastName))).size;
    const lastStart = (await frameOffsets(join(pristine, lastName))).at(-1)!;
    expect(fileBytes - lastStart).toBe(64);

    type Damage = { label: string; apply: (path: string) => Promise<void> };
    const damages: Damage[] = [1, 4, 7, 8, 9, 20, 63].map((cut) => ({
      label: `cut ${cut} bytes into the last record`,
      apply: (path) => truncate(path, lastStart + cut),
    }));
    damages.push({
      label: "last record fails its checksum, zeros follow",
      apply: async (path) => {
        await flipByte(path, lastStart + 30);
        await writeFile(path, new Uint8Array(4096), { flag: "a" });
      },
    });
    damages.push({
      label: "zeros after the last record (file extended but never written)",
      apply: async (path) => {
        await truncate(path, lastStart);
        await writeFile(path, new Uint8Array(512), { flag: "a" });
      },
    });

    for (const [i, damage] of damages.entries()) {
      const dir = join(root, `case-${i}`);
      await cp(pristine, dir, { recursive: true });
      const path = join(dir, lastName);
      await damage.apply(path);
      const droppedBytes = (await stat(path)).size - lastStart;
      const { lines, log } = captureLog();
      const opened = await Wal.open(dir, { segmentBytes: 4096, log });
      expect(opened.records, damage.label).toEqual(records);
      expect(opened.repaired, damage.label).toEqual({ segment: lastName, offset: lastStart, droppedBytes });
      expect((await stat(path)).size).toBe(lastStart);
      const warning = lines.find((line) => line.level === "warn");
      expect(warning?.msg).toContain(lastName);
      expect(warning?.msg).toContain(`offset ${lastStart}`);
      expect(warning?.msg).toContain(`${droppedBytes} bytes`);

      const after = makeRecord(41n, 300, random);
      await opened.wal.append([after]);
      await opened.wal.close();
      expect(await reopenRecords(dir, 4096), damage.label).toEqual([...records, after]);
    }
  });
}, 30_000);

test("a last segment left empty or with a torn header by a crash during a roll is repaired", async () => {
  await withTempDir(async (dir) => {
    const records = await writeIndexedWal(dir, 10, 4096);
    const names = await segmentNames(dir);
    const stray = join(dir, `${(names.length).toString(16).padStart(16, "0")}-000000000000000b.wal`);
    await writeFile(stray, new Uint8Array(0));
    let opened = await Wal.open(dir, { log: quiet });
    expect(opened.records).toEqual(records);
    expect(opened.repaired).toEqual({ segment: stray.split("/").at(-1)!, offset: 0, droppedBytes: 0 });
    const eleven = makeRecord(11n, 5, seededRandom(1));
    await opened.wal.append([eleven]);
    await opened.wal.close();
    expect(await reopenRecords(dir)).toEqual([...records, eleven]);

    // Now tear the header of that segment itself.
    await truncate(stray, 20);
    opened = await Wal.open(dir, { log: quiet });
    expect(opened.records).toEqual(records);
    expect(opened.repaired).toMatchObject({ offset: 0 });
    await opened.wal.close();
  });
});

test("a flipped byte in a middle record of the last segment is corruption, not a torn tail", async () => {
  await withTempDir(async (dir) => {
    await writeIndexedWal(dir, 30, 1 << 20);
    const path = join(dir, (await segmentNames(dir)).at(-1)!);
    const offsets = await frameOffsets(path);
    const victim = offsets[10];
    const sizeBefore = (await stat(path)).size;
    await flipByte(path, victim + 20);
    const error = await expectCorrupt(dir, path, victim);
    expect(error.reason).toContain("checksum mismatch");
    // Nothing was truncated.
    expect((await stat(path)).size).toBe(sizeBefore);
  });
});

test("a damaged length field in a middle record is corruption, even though it reads as a tail", async () => {
  await withTempDir(async (dir) => {
    await writeIndexedWal(dir, 30, 1 << 20);
    const path = join(dir, (await segmentNames(dir)).at(-1)!);
    const victim = (await frameOffsets(path))[5];
    const sizeBefore = (await stat(path)).size;
    await flipByte(path, victim + 2); // length becomes ~4 MiB, past EOF
    const error = await expectCorrupt(dir, path, victim);
    expect(error.reason).toContain("intact record follows");
    expect((await stat(path)).size).toBe(sizeBefore);
  });
});

test("any damage in a segment that is not the last one is corruption", async () => {
  await withTempDir(async (dir) => {
    await writeIndexedWal(dir, 60, 2048);
    const names = await segmentNames(dir);
    expect(names.length).toBeGreaterThan(2);
    const path = join(dir, names[0]);
    const lastFrame = (await frameOffsets(path)).at(-1)!;
    // Damage to the final record would pass for a torn tail if this were the last segment.
    await flipByte(path, lastFrame + 12);
    await expectCorrupt(dir, path, lastFrame);

    const truncatedPath = join(dir, names[1]);
    const secondLast = (await frameOffsets(truncatedPath)).at(-1)!;
    await flipByte(path, lastFrame + 12); // undo
    await truncate(truncatedPath, secondLast + 3);
    await expectCorrupt(dir, truncatedPath, secondLast);
  });
});

test("a missing segment in the sequence or a stray file with a segment name is refused", async () => {
  await withTempDir(async (dir) => {
    await writeIndexedWal(dir, 60, 2048);
    const names = await segmentNames(dir);
    await unlink(join(dir, names[1]));
    const gap = await expectCorrupt(dir, join(dir, names[2]), 0);
    expect(gap.reason).toContain("missing");
  });
  await withTempDir(async (dir) => {
    // A well-formed frame that is not a segment header: refused even as the last segment.
    const path = join(dir, "0000000000000000-0000000000000000.wal");
    await writeFile(path, encodeRecords([{ type: 0xff, data: new TextEncoder().encode("something else entirely") }]));
    const stray = await expectCorrupt(dir, path, 0);
    expect(stray.reason).toContain("wrong magic");
  });
  await withTempDir(async (dir) => {
    await writeIndexedWal(dir, 5, 2048);
    const [name] = await segmentNames(dir);
    await writeFile(join(dir, name), new Uint8Array(64).fill(0x33));
    await writeFile(join(dir, "0000000000000001-0000000000000000.wal"), new Uint8Array(0));
    // Garbage in a segment that is not the last one.
    await expectCorrupt(dir, join(dir, name), 0);
  });
});

test("purge deletes only whole segments below uptoIndex and keeps everything >= uptoIndex", async () => {
  await withTempDir(async (dir) => {
    const written = await writeIndexedWal(dir, 200, 2048);
    const initialNames = await segmentNames(dir);
    expect(initialNames.length).toBeGreaterThan(10);
    const boundary = parseSegmentName(initialNames[5])!.firstIndex;

    let { wal } = await Wal.open(dir, { log: quiet });
    for (const uptoIndex of [0n, 1n, boundary - 1n, boundary, boundary + 1n, 120n, 199n, 200n]) {
      const namesBefore = await segmentNames(dir);
      const deleted = await wal.purge(uptoIndex);
      const namesAfter = await segmentNames(dir);
      expect(namesAfter).toEqual(namesBefore.filter((name) => !deleted.includes(name)));
      expect(wal.stats().segments).toBe(namesAfter.length);
      await wal.close();

      const { wal: reopened, records } = await Wal.open(dir, { log: quiet });
      wal = reopened;
      const kept = records.map((r) => r.index!);
      // Everything at or after uptoIndex survives, contiguously to the end.
      expect(records).toEqual(written.slice(Number(kept[0]) - 1));
      expect(kept[0]).toBeLessThanOrEqual(uptoIndex < 1n ? 1n : uptoIndex);
      // Whatever survives below uptoIndex is confined to the segment holding uptoIndex - 1.
      // ...and nothing the rule allows to go was kept.
      if (namesAfter.length > 1) expect(parseSegmentName(namesAfter[1])!.firstIndex).toBeGreaterThan(uptoIndex);
    }
    expect(await wal.purge(boundary)).toEqual([]);
    const everything = await wal.purge(0xffff_ffff_ffff_ffffn);
    expect(await segmentNames(dir)).toEqual([initialNames.at(-1)!]);
    expect(everything.includes(initialNames.at(-1)!)).toBe(false);
    await wal.close();
  });
});

/** Reopens `dir` and checks that it replays `written` from its first surviving record to the end. */
async function expectSuffixReplays(dir: string, written: WalRecord[], mustKeepFrom: bigint): Promise<void> {
  const records = await reopenRecords(dir);
  expect(records.length).toBeGreaterThan(0);
  expect(records[0].index!).toBeLessThanOrEqual(mustKeepFrom);
  expect(records).toEqual(written.slice(Number(records[0].index!) - 1));
}

test("purge with maxSegments deletes released segments oldest first, only while more than maxSegments files exist", async () => {
  await withTempDir(async (dir) => {
    const written = await writeIndexedWal(dir, 200, 2048);
    const names = await segmentNames(dir);
    expect(names.length).toBeGreaterThan(10);
    // Segments 0..5 are released: every record in them is below the first index of segment 6.
    const uptoIndex = parseSegmentName(names[6])!.firstIndex;

    const { wal } = await Wal.open(dir, { log: quiet });
    // Two files over the limit: the two oldest go, although four more are released.
    expect(await wal.purge(uptoIndex, { maxSegments: names.length - 2 })).toEqual(names.slice(0, 2));
    expect(await segmentNames(dir)).toEqual(names.slice(2));
    expect(wal.stats().segments).toBe(names.length - 2);
    // Already at the limit: nothing more goes.
    expect(await wal.purge(uptoIndex, { maxSegments: names.length - 2 })).toEqual([]);
    await wal.close();
    await expectSuffixReplays(dir, written, uptoIndex);
  });
});

test("purge with maxSegments 3 and everything but the newest 3 released leaves exactly those 3", async () => {
  await withTempDir(async (dir) => {
    const written = await writeIndexedWal(dir, 200, 2048);
    const names = await segmentNames(dir);
    expect(names.length - 3).toBeGreaterThanOrEqual(6);
    const uptoIndex = parseSegmentName(names.at(-3)!)!.firstIndex;

    const { wal } = await Wal.open(dir, { log: quiet });
    expect(await wal.purge(uptoIndex, { maxSegments: 3 })).toEqual(names.slice(0, -3));
    await wal.close();
    expect(await segmentNames(dir)).toEqual(names.slice(-3));
    await expectSuffixReplays(dir, written, uptoIndex);
  });
});

test("purge never deletes a segment still needed, even with maxSegments 1", async () => {
  await withTempDir(async (dir) => {
    const written = await writeIndexedWal(dir, 200, 2048);
    const names = await segmentNames(dir);
    // Only segments 0..2 are released; segment 3 holds uptoIndex - 1.
    const uptoIndex = parseSegmentName(names[3])!.firstIndex;

    const { wal } = await Wal.open(dir, { log: quiet });
    expect(await wal.purge(uptoIndex, { maxSegments: 1 })).toEqual(names.slice(0, 3));
    expect(await segmentNames(dir)).toEqual(names.slice(3));
    // Nothing else is released, however far over the limit the directory is.
    expect(await wal.purge(uptoIndex, { maxSegments: 1 })).toEqual([]);
    expect(await wal.purge(uptoIndex - 1n, { maxSegments: 1 })).toEqual([]);
    await wal.close();
    expect(await segmentNames(dir)).toEqual(names.slice(3));
    await expectSuffixReplays(dir, written, uptoIndex);
  });
});

test("purge with maxSegments 0 keeps every file; without the option every released file goes", async () => {
  await withTempDir(async (dir) => {
    await writeIndexedWal(dir, 100, 2048);
    const names = await segmentNames(dir);
    expect(names.length).toBeGreaterThan(3);

    const { wal } = await Wal.open(dir, { log: quiet });
    expect(await wal.purge(0xffff_ffff_ffff_ffffn, { maxSegments: 0 })).toEqual([]);
    expect(await segmentNames(dir)).toEqual(names);
    expect(await wal.purge(0xffff_ffff_ffff_ffffn)).toEqual(names.slice(0, -1));
    expect(await segmentNames(dir)).toEqual(names.slice(-1));
    await wal.close();
  });
});

test("purge with maxSegments bounds the directory while the log keeps growing", async () => {
  await withTempDir(async (dir) => {
    const random = seededRandom(21);
    const { wal } = await Wal.open(dir, { segmentBytes: 2048, log: quiet });
    const written: WalRecord[] = [];
    const deleted: string[] = [];
    let everSeen = 0;
    for (let i = 1; i <= 300; i++) {
      const record = makeRecord(BigInt(i), 100, random);
      written.push(record);
      await wal.append([record]);
      // As the server's checkpoint: everything below the newest 20 entries is released.
      if (i % 10 === 0) {
        everSeen = Math.max(everSeen, (await segmentNames(dir)).length);
        deleted.push(...(await wal.purge(BigInt(Math.max(0, i - 20)), { maxSegments: 3 })));
        const names = await segmentNames(dir);
        expect(names.length).toBeLessThanOrEqual(3);
        expect(wal.stats().segments).toBe(names.length);
        expect(names.some((name) => deleted.includes(name))).toBe(false);
      }
    }
    await wal.close();
    expect(everSeen).toBe(4);
    expect(deleted.length).toBeGreaterThan(10);
    // Deleted oldest first, in sequence order.
    expect(deleted).toEqual([...deleted].sort());
    await expectSuffixReplays(dir, written, 280n);
  });
});

test("purge refuses a maxSegments that is not a non-negative integer", async () => {
  await withTempDir(async (dir) => {
    await writeIndexedWal(dir, 50, 2048);
    const names = await segmentNames(dir);
    const { wal } = await Wal.open(dir, { log: quiet });
    for (const maxSegments of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(wal.purge(1000n, { maxSegments })).rejects.toThrow(RangeError);
    }
    expect(await segmentNames(dir)).toEqual(names);
    await wal.close();
  });
});

test("a failed fdatasync fails every pending and later append with the original error", async () => {
  await withTempDir(async (dir) => {
    const random = seededRandom(3);
    const { wal } = await Wal.open(dir, { log: quiet });
    await wal.append([makeRecord(1n, 10, random)]);

    const probe = await open(join(dir, "probe"), "w");
    const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const realDatasync = proto.datasync;
    const failure = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    let results: PromiseSettledResult<void>[];
    proto.datasync = async () => {
      throw failure;
    };
    try {
      // Settle handlers go on at once: the rejection may land before the second append.
      const inFlight = Promise.allSettled([wal.append([makeRecord(2n, 10, random)])]);
      await Bun.sleep(0);
      const queued = Promise.allSettled([wal.append([makeRecord(3n, 10, random)])]);
      results = [...(await inFlight), ...(await queued)];
    } finally {
      proto.datasync = realDatasync;
    }
    expect(results).toEqual([
      { status: "rejected", reason: failure },
      { status: "rejected", reason: failure },
    ]);
    // The disk works again, but the WAL must not pretend a retry is safe.
    await expect(wal.append([makeRecord(4n, 10, random)])).rejects.toBe(failure);
    await expect(wal.close()).rejects.toBe(failure);
  });
});

test("close waits for pending appends; later calls reject; invalid records are refused", async () => {
  await withTempDir(async (dir) => {
    const random = seededRandom(11);
    const { wal } = await Wal.open(dir, { log: quiet });
    await expect(wal.append([{ type: 256, data: new Uint8Array(0) }])).rejects.toThrow(RangeError);
    await expect(wal.append([{ type: 1, data: new Uint8Array(0), index: -1n }])).rejects.toThrow(RangeError);
    await expect(wal.append([{ type: 1, data: "x" as unknown as Uint8Array }])).rejects.toThrow(TypeError);
    const records = Array.from({ length: 20 }, (_, i) => makeRecord(BigInt(i + 1), 100, random));
    const pending = records.map((record) => wal.append([record]));
    await wal.close();
    await Promise.all(pending);
    await expect(wal.append([records[0]])).rejects.toThrow(WalClosedError);
    await expect(wal.purge(1n)).rejects.toThrow(WalClosedError);
    expect(await reopenRecords(dir)).toEqual(records);
  });
});

test("an append's data is captured when append is called", async () => {
  await withTempDir(async (dir) => {
    const { wal } = await Wal.open(dir, { log: quiet });
    const data = new Uint8Array([1, 2, 3]);
    const appended = wal.append([{ type: 1, data, index: 1n }]);
    data.fill(9);
    await appended;
    await wal.close();
    expect(await reopenRecords(dir)).toEqual([{ type: 1, data: new Uint8Array([1, 2, 3]), index: 1n }]);
  });
});
