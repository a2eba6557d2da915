// The reader and writer against each other and against the format's rules: read(write(x)) == x for
// random trees, the tree shapes bbolt expects (branch levels, overflow, inline buckets), meta page
// selection, and clear errors for damaged files and bad input.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomRoot } from "../../../tests/go/bbolt-check/random-buckets.ts";
import { DEFAULT_PAGE_SIZE, PAGE_HEADER_SIZE, metaChecksum } from "./format.ts";
import type { BoltBucket, ReadBucket } from "./model.ts";
import { BoltReader, type BucketRef } from "./reader.ts";
import { writeBolt, writeBoltFile } from "./writer.ts";

const text = (s: string) => new TextEncoder().encode(s);
const one = (name: string, entries: BoltBucket["entries"]): BoltBucket => ({ entries: [{ key: text(name), bucket: { entries } }] });

/** Depth of a bucket's tree in `file`: 1 = its root is a leaf (or it is inline). Follows first children. */
function depthOf(file: Uint8Array, reader: BoltReader, ref: BucketRef): number {
  if (ref.inline) return 1;
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let depth = 1;
  // A bulk-loaded tree is equally deep everywhere; the reader does not expose branch elements, so read the raw first one.
  for (let id = ref.root; depth < 64 && reader.pageInfo(id).type === "branch"; depth++) {
    id = Number(v.getBigUint64(id * reader.pageSize + PAGE_HEADER_SIZE + 8, true));
  }
  return depth;
}

/** Rewrites both meta pages through `edit` and fixes their checksums, to build damaged-but-valid-looking files. */
function editMetas(file: Uint8Array, pageSize: number, edit: (v: DataView, metaOffset: number) => void): Uint8Array {
  const out = Uint8Array.from(file);
  const v = new DataView(out.buffer);
  for (const page of [0, 1]) {
    const at = page * pageSize + PAGE_HEADER_SIZE;
    edit(v, at);
    v.setBigUint64(at + 56, metaChecksum(out, at), true);
  }
  return out;
}

describe("round trip: read(write(x)) == x", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    test(`random buckets, seed ${seed}`, () => {
      const root = randomRoot(seed);
      const file = writeBolt(root);
      expect(file.length % DEFAULT_PAGE_SIZE).toBe(0);
      expect(new BoltReader(file).readAll()).toEqual(root);
    });
  }

  test("other page sizes and fill percents", () => {
    const root = randomRoot(42, { maxEntries: 2000 });
    for (const [pageSize, fillPercent] of [[1024, 1], [4096, 0.5], [16384, 0.9], [65536, 0.1]] as const) {
      const reader = new BoltReader(writeBolt(root, { pageSize, fillPercent }));
      expect(reader.pageSize).toBe(pageSize);
      expect(reader.readAll()).toEqual(root);
    }
  });

  test("writeBoltFile streams the same bytes to disk", () => {
    const dir = mkdtempSync(join(tmpdir(), "bbolt-file-"));
    try {
      const root = randomRoot(9);
      const size = writeBoltFile(join(dir, "db"), root);
      const onDisk = readFileSync(join(dir, "db"));
      expect(onDisk.length).toBe(size);
      expect(Buffer.from(onDisk).equals(Buffer.from(writeBolt(root)))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("entries may be streamed from a generator", () => {
    function* pairs() {
      for (let i = 0; i < 10_000; i++) yield { key: text(`k${String(i).padStart(6, "0")}`), value: text(`v${i}`) };
    }
    const reader = new BoltReader(writeBolt(one("stream", pairs())));
    const read = reader.readAll();
    expect(read.entries).toHaveLength(1);
    const inner = (read.entries[0] as { bucket: ReadBucket }).bucket;
    expect(inner.entries).toEqual([...pairs()]);
  });
});

describe("tree shape", () => {
  test("many keys: branch pages, several levels, every leaf at the same depth", () => {
    const entries = Array.from({ length: 60_000 }, (_, i) => ({ key: text(`key/${String(i).padStart(8, "0")}`), value: text(`value ${i}`) }));
    const file = writeBolt(one("many", entries), { pageSize: 1024 });
    const reader = new BoltReader(file);
    const ref = reader.bucket("many")!;
    expect(reader.pageInfo(ref.root).type).toBe("branch");
    expect(depthOf(file, reader, ref)).toBeGreaterThanOrEqual(3);
    const keys = Array.from(reader.entries(ref), (e) => Buffer.from(e.key).toString());
    expect(keys).toEqual(entries.map((e) => Buffer.from(e.key).toString()));
  });

  test("a large value spans overflow pages", () => {
    const big = new Uint8Array(100_000).map((_, i) => i % 251);
    const file = writeBolt(one("b", [{ key: text("big"), value: big }, { key: text("small"), value: text("s") }]));
    const reader = new BoltReader(file);
    const ref = reader.bucket("b")!;
    expect(ref.inline).toBeUndefined();
    // Root branch → the first leaf holds "big" alone, over 25 pages.
    expect(reader.pageInfo(ref.root).type).toBe("branch");
    const firstLeaf = Number(new DataView(file.buffer).getBigUint64(ref.root * DEFAULT_PAGE_SIZE + PAGE_HEADER_SIZE + 8, true));
    expect(reader.pageInfo(firstLeaf)).toEqual({ type: "leaf", count: 1, overflow: Math.ceil((16 + 16 + 3 + 100_000) / 4096) - 1 });
    const [e] = [...reader.entries(ref)];
    expect(Buffer.from(e.value).equals(Buffer.from(big))).toBe(true);
  });

  test("small buckets without sub-buckets are stored inline, as bbolt does; the root never is", () => {
    const file = writeBolt({
      entries: [
        { key: text("empty"), bucket: { entries: [] } },
        { key: text("parent"), bucket: { entries: [{ key: text("child"), bucket: { sequence: 7n, entries: [{ key: text("a"), value: text("1") }] } }] } },
        { key: text("small"), bucket: { entries: [{ key: text("a"), value: new Uint8Array(900) }] } },
        { key: text("too-big"), bucket: { entries: [{ key: text("a"), value: new Uint8Array(1100) }] } },
      ],
    });
    const reader = new BoltReader(file);
    expect(reader.bucket("empty")!.inline).toBeDefined();
    expect(reader.bucket("small")!.inline).toBeDefined();
    expect(reader.bucket("too-big")!.inline).toBeUndefined();
    expect(reader.bucket("parent")!.inline).toBeUndefined(); // holds a bucket
    expect(reader.bucket("parent", "child")!).toMatchObject({ root: 0, sequence: 7n });
    expect(reader.bucket("missing")).toBeUndefined();
    expect(reader.bucket("small", "a")).toBeUndefined(); // a value, not a bucket
    expect(reader.pageInfo(reader.root.root).type).toBe("leaf");
  });

  test("an empty database is two metas, a freelist and an empty root leaf", () => {
    const file = writeBolt({ entries: [] });
    expect(file.length).toBe(4 * DEFAULT_PAGE_SIZE);
    const reader = new BoltReader(file);
    expect(reader.readAll()).toEqual({ sequence: 0n, entries: [] });
    expect(reader.freePages()).toEqual([]);
  });
});

describe("meta pages", () => {
  const file = writeBolt(randomRoot(11, { maxEntries: 50 }), { txid: 8n });

  test("the valid meta with the higher txid wins", () => {
    const reader = new BoltReader(file);
    expect(reader.meta.txid).toBe(8n);
    expect(reader.metaPage).toBe(0); // txid 8 lives on page 8 % 2
  });

  test("a damaged newer meta falls back to the older one", () => {
    const damaged = Uint8Array.from(file);
    damaged[PAGE_HEADER_SIZE + 48] ^= 0xff; // meta 0's txid, without fixing its checksum
    const reader = new BoltReader(damaged);
    expect(reader.metaPage).toBe(1);
    expect(reader.meta.txid).toBe(7n);
    expect(reader.readAll()).toEqual(new BoltReader(file).readAll());
  });

  test("both metas damaged: meta page checksum mismatch", () => {
    const damaged = Uint8Array.from(file);
    damaged[PAGE_HEADER_SIZE + 48] ^= 0xff;
    damaged[DEFAULT_PAGE_SIZE + PAGE_HEADER_SIZE + 48] ^= 0xff;
    expect(() => new BoltReader(damaged)).toThrow("meta page checksum mismatch (both meta pages)");
  });

  test("not a bbolt file: bad magic", () => {
    expect(() => new BoltReader(new Uint8Array(3 * DEFAULT_PAGE_SIZE).fill(7))).toThrow(/^not a bbolt file: bad magic/);
    expect(() => new BoltReader(text("SQLite format 3\0"))).toThrow(/not a bbolt file: 16 bytes is too short/);
  });

  test("a wrong version is named", () => {
    const wrong = editMetas(file, DEFAULT_PAGE_SIZE, (v, at) => v.setUint32(at + 4, 1, true));
    expect(() => new BoltReader(wrong)).toThrow("unsupported bbolt version 1 (want 2) (both meta pages)");
  });

  test("a truncated file is refused", () => {
    expect(() => new BoltReader(file.subarray(0, file.length - DEFAULT_PAGE_SIZE))).toThrow(/the file is truncated: meta page 0 records \d+ pages/);
  });

  test("page ids out of range are named", () => {
    const pages = file.length / DEFAULT_PAGE_SIZE;
    const badRoot = editMetas(file, DEFAULT_PAGE_SIZE, (v, at) => v.setBigUint64(at + 16, BigInt(pages + 5), true));
    expect(() => new BoltReader(badRoot)).toThrow(`root bucket page id ${pages + 5} out of range`);
    // A bucket's root page past the end: the root bucket's first element is a bucket header; make its root absurd.
    const rootOffset = new BoltReader(file).root.root * DEFAULT_PAGE_SIZE;
    const badChild = Uint8Array.from(file);
    const v = new DataView(badChild.buffer);
    const e = rootOffset + PAGE_HEADER_SIZE;
    v.setBigUint64(e + v.getUint32(e + 4, true) + v.getUint32(e + 8, true), 1_000_000n, true);
    expect(() => new BoltReader(badChild).readAll()).toThrow(/page id 1000000 out of range/);
  });

  test("a page that records another id is damage", () => {
    const reader = new BoltReader(file);
    const moved = Uint8Array.from(file);
    new DataView(moved.buffer).setBigUint64(reader.root.root * DEFAULT_PAGE_SIZE, 99n, true);
    expect(() => new BoltReader(moved).readAll()).toThrow(`page ${reader.root.root} (bucket root) records page id 99`);
  });
});

describe("the writer refuses what bbolt would", () => {
  test("unsorted or duplicate keys", () => {
    expect(() => writeBolt(one("b", [{ key: text("b"), value: text("") }, { key: text("a"), value: text("") }]))).toThrow(/sorted and unique: key 0x61 follows 0x62/);
    expect(() => writeBolt(one("b", [{ key: text("a"), value: text("") }, { key: text("a"), value: text("") }]))).toThrow(/sorted and unique/);
  });

  test("empty or oversized keys, values in the root, bad options", () => {
    expect(() => writeBolt(one("b", [{ key: new Uint8Array(0), value: text("") }]))).toThrow(/keys are 1..32768 bytes, got 0/);
    expect(() => writeBolt(one("b", [{ key: new Uint8Array(40_000), value: text("") }]))).toThrow(/got 40000/);
    expect(() => writeBolt({ entries: [{ key: text("x"), value: text("y") }] })).toThrow(/root bucket holds buckets only/);
    expect(() => writeBolt({ entries: [] }, { pageSize: 1000 })).toThrow(/power of two/);
    expect(() => writeBolt({ entries: [] }, { fillPercent: 0 })).toThrow(/fillPercent/);
  });
});

describe("performance", () => {
  test("about 100 MB is written and read back in seconds", () => {
    const value = new Uint8Array(1000).fill(0x61);
    function* pairs() {
      for (let i = 0; i < 100_000; i++) {
        const key = new Uint8Array(17);
        new DataView(key.buffer).setBigUint64(0, BigInt(i + 2));
        key[8] = 0x5f;
        yield { key, value };
      }
    }
    const t0 = performance.now();
    const file = writeBolt(one("key", pairs()));
    const t1 = performance.now();
    const reader = new BoltReader(file);
    let n = 0;
    let bytes = 0;
    for (const e of reader.entries(reader.bucket("key")!)) {
      n++;
      bytes += e.value.length;
    }
    const t2 = performance.now();
    console.log(`bbolt: wrote ${(file.length / 1e6).toFixed(0)} MB in ${(t1 - t0).toFixed(0)} ms, read ${n} pairs in ${(t2 - t1).toFixed(0)} ms`);
    expect(file.length).toBeGreaterThan(100_000_000);
    expect(n).toBe(100_000);
    expect(bytes).toBe(100_000_000);
    expect(t2 - t0).toBeLessThan(20_000);
  }, 60_000);
});
