// A Range written straight to the wire (applyRangeEncoded) answers exactly what applyRange answers,
// decoded through the generated RangeResponse: same kvs, count and more, for every limit and
// keys_only, over a store with overwrites, deletes, leases and big values.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { seededRandom } from "../../pkg/prng.ts";
import { ChunkWriter, WireType } from "../../proto/chunk-writer.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { applyRange, applyRangeEncoded, encodableRange } from "./kv-apply.ts";

const dir = mkdtempSync(join(tmpdir(), "kv-apply-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);

/** What a client decodes: the encoded kvs with the rest of the response around them. */
function decodeEncoded(store: MvccStore, r: etcdserverpb.RangeRequest.$Properties) {
  const w = new ChunkWriter();
  const out = applyRangeEncoded(store, r, w);
  const tail = new ChunkWriter();
  tail.boolField(3, out.more);
  tail.int64Field(4, out.count);
  const head = new ChunkWriter();
  head.tag(1, WireType.LEN);
  const header = etcdserverpb.ResponseHeader.encode({ revision: out.revision }).finish();
  head.varint(header.length);
  head.raw(header);
  const bytes = Buffer.concat([...head.finish(), ...w.finish(), ...tail.finish()]);
  return plain(etcdserverpb.RangeResponse.decode(bytes));
}

function decodeObjects(store: MvccStore, r: etcdserverpb.RangeRequest.$Properties) {
  const out = applyRange(store, r);
  const msg = etcdserverpb.RangeResponse.encode(out as never).finish();
  return plain(etcdserverpb.RangeResponse.decode(msg));
}

/** Every field with its value or default, as a client reads them (a field left out reads as its zero). */
function plain(m: etcdserverpb.RangeResponse) {
  const hex = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString("hex");
  const n = (v: unknown) => String(v ?? 0);
  return {
    revision: n(m.header?.revision),
    count: n(m.count),
    more: !!m.more,
    kvs: m.kvs.map((kv) => ({
      key: hex(kv.key), value: hex(kv.value), create: n(kv.createRevision), mod: n(kv.modRevision), version: n(kv.version), lease: n(kv.lease),
    })),
  };
}

describe("a Range written straight to the wire", () => {
  const backend = new Backend(join(dir, "db"));
  const store = new MvccStore(backend);
  const rnd = seededRandom(7);
  const key = (i: number) => enc(`k/${String(i).padStart(3, "0")}`);
  for (let i = 0; i < 600; i++) {
    const k = key(Math.floor(rnd() * 200));
    if (rnd() < 0.15) store.write((t) => t.deleteRange(k, null));
    else {
      // Now and then a value bigger than the writer's copy threshold, and an empty one.
      const size = rnd() < 0.05 ? 70_000 : rnd() < 0.1 ? 0 : Math.floor(rnd() * 300);
      store.write((t) => t.put(k, new Uint8Array(size).fill(i & 0xff), rnd() < 0.2 ? BigInt(1 + Math.floor(rnd() * 5)) : 0n));
    }
  }

  test("answers what applyRange answers, for ranges, prefixes, single keys, limits (up to int64's largest) and keys_only", () => {
    const cases: etcdserverpb.RangeRequest.$Properties[] = [
      { key: enc("k/") , rangeEnd: enc("k0") },
      { key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) },
      { key: key(10) },
      { key: key(999) },
      { key: key(50), rangeEnd: key(20) },
      { key: key(20), rangeEnd: new Uint8Array([0]) },
    ];
    let checked = 0;
    let kvsSeen = 0;
    for (const base of cases) {
      // The last: Go's math.MaxInt64, a client's "no limit" (SQLite cannot bind it as it is).
      for (const limit of [0n, 1n, 7n, 150n, 1000n, (1n << 63n) - 1n]) {
        for (const keysOnly of [false, true]) {
          const r = { ...base, limit, keysOnly };
          expect(encodableRange(r, store.rev)).toBe(true);
          const got = decodeEncoded(store, r);
          expect(got).toEqual(decodeObjects(store, r));
          checked++;
          kvsSeen += got.kvs.length;
        }
      }
    }
    expect(checked).toBe(72);
    expect(kvsSeen).toBeGreaterThan(1000); // the store is not empty: the comparisons compared something
  });

  test("is not used where rows must be objects: sorting, revision filters, count_only, a past revision", () => {
    expect(encodableRange({ key: enc("a"), sortOrder: 2 }, store.rev)).toBe(false);
    expect(encodableRange({ key: enc("a"), sortTarget: 3 }, store.rev)).toBe(false);
    expect(encodableRange({ key: enc("a"), sortOrder: 1, sortTarget: 0 }, store.rev)).toBe(true);
    expect(encodableRange({ key: enc("a"), minModRevision: 5n }, store.rev)).toBe(false);
    expect(encodableRange({ key: enc("a"), countOnly: true }, store.rev)).toBe(false);
    expect(encodableRange({ key: enc("a"), revision: store.rev - 1n }, store.rev)).toBe(false);
    expect(encodableRange({ key: enc("a"), revision: store.rev }, store.rev)).toBe(true);
  });
});
