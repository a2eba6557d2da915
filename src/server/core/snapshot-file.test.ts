import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { encodeValue, fileKind, hasChecksum, snapshotStatus } from "./snapshot-file.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("fileKind", () => {
  test("SQLite, bbolt, anything else", () => {
    expect(fileKind(Buffer.from("SQLite format 3\0more bytes here"))).toBe("etcd-ts");
    const bolt = Buffer.alloc(64);
    bolt.writeUInt32LE(0xed0cdaed, 16);
    expect(fileKind(bolt)).toBe("bbolt");
    expect(fileKind(Buffer.from("hello"))).toBe("unknown");
    expect(fileKind(new Uint8Array(0))).toBe("unknown");
  });

  test("hasChecksum", () => {
    expect(hasChecksum(4096 * 5 + 32)).toBe(true);
    expect(hasChecksum(4096 * 5)).toBe(false);
  });
});

describe("encodeValue keeps types and boundaries apart", () => {
  test("no two of these encode alike", () => {
    const values = [null, 0n, 1n, -1n, 1.5, "", "a", new Uint8Array(0), enc("a"), enc("ab")];
    const seen = new Set(values.map((v) => Buffer.from(encodeValue(v)).toString("hex")));
    expect(seen.size).toBe(values.length);
  });
});

describe("snapshotStatus", () => {
  let dir = "";
  let snap = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "snapshot-file-"));
    const b = new Backend(join(dir, "db"));
    const s = new MvccStore(b);
    b.batch(() => {
      for (let i = 0; i < 50; i++) s.write((t) => t.put(enc(`k${i % 20}`), enc(`v${i}`), 0n));
      s.write((t) => t.deleteRange(enc("k3"), null));
      s.saveMeta();
    });
    snap = join(dir, "snap.db");
    const { sha256 } = await b.copyTo(snap);
    appendFileSync(snap, sha256);
    b.close();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("revision, total keys (every revision of every key plus meta rows) and size", () => {
    const st = snapshotStatus(snap);
    expect(st.revision).toBe(52n);
    // 51 history rows (50 puts, one delete) and the meta rows (rev, compact_rev).
    expect(st.totalKey).toBe(53);
    expect(st.totalSize).toBe(readFileSync(snap).length - 32);
  });

  test("the hash depends on the content, not on the file's layout or its trailing hash", () => {
    const st = snapshotStatus(snap);
    const bare = join(dir, "bare.db");
    writeFileSync(bare, readFileSync(snap).subarray(0, -32));
    expect(snapshotStatus(bare)).toEqual(st);
    // The same rows in a file written another way (the live database, WAL mode, other page order).
    expect(snapshotStatus(join(dir, "db")).hash).toBe(st.hash);
  });

  test("a changed value changes the hash", async () => {
    const b = new Backend(join(dir, "db"));
    const s = new MvccStore(b);
    b.batch(() => {
      s.write((t) => t.put(enc("k0"), enc("changed"), 0n));
      s.saveMeta();
    });
    const other = join(dir, "other.db");
    await b.copyTo(other);
    b.close();
    expect(snapshotStatus(other).hash).not.toBe(snapshotStatus(snap).hash);
  });

  test("the file is not modified by reading it", () => {
    const before = createHash("sha256").update(readFileSync(snap)).digest("hex");
    snapshotStatus(snap);
    expect(createHash("sha256").update(readFileSync(snap)).digest("hex")).toBe(before);
  });
});
