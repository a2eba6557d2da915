// The framed RangeResponse (range-response.ts) as a client receives it: the 5-byte gRPC prefix holds
// the message's length, and the message decodes to the header, kvs, more and count of the object path.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { MvccStore } from "../../mvcc/store.ts";
import type { ChunkWriter } from "../../proto/chunk-writer.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { applyRange, applyRangeEncoded } from "../core/kv-apply.ts";
import type { EtcdServer } from "../core/server.ts";
import { encodedRange } from "./range-response.ts";

const dir = mkdtempSync(join(tmpdir(), "range-response-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);

/** Every field with its value or default, as a client reads them (a field left out reads as its zero). */
function plain(m: etcdserverpb.RangeResponse) {
  const hex = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString("hex");
  const n = (v: unknown) => String(v ?? 0);
  const h = m.header;
  return {
    header: { clusterId: n(h?.clusterId), memberId: n(h?.memberId), revision: n(h?.revision), raftTerm: n(h?.raftTerm) },
    count: n(m.count),
    more: !!m.more,
    kvs: m.kvs.map((kv) => [hex(kv.key), hex(kv.value), n(kv.createRevision), n(kv.modRevision), n(kv.version), n(kv.lease)]),
  };
}

test("the framed answer carries its length and decodes to what the object path answers, header included", async () => {
  const store = new MvccStore(new Backend(join(dir, "db")));
  for (let i = 0; i < 300; i++) store.write((t) => t.put(enc(`k/${String(i).padStart(3, "0")}`), new Uint8Array(100 + (i % 50)).fill(i), 0n));
  const header = (revision: bigint) => ({ clusterId: 0x1234n, memberId: 0x5678n, revision, raftTerm: 7n });
  // What EtcdServer.rangeEncoded does, over a bare store.
  const server = {
    rangeEncoded: async (r: etcdserverpb.RangeRequest.$Properties, w: ChunkWriter) => {
      const out = applyRangeEncoded(store, r, w);
      return { ...out, header: header(out.revision) };
    },
  } as unknown as EtcdServer;
  let kvs = 0;
  for (const r of [{ key: enc("k/"), rangeEnd: enc("k0") }, { key: enc("k/"), rangeEnd: enc("k0"), limit: 10n }, { key: enc("k/007") }, { key: enc("nope") }]) {
    const framed = await encodedRange(server, r, undefined);
    expect(framed).not.toBeNull();
    const bytes = Buffer.concat(framed!.chunks);
    expect(bytes[0]).toBe(0);
    expect(bytes.readUInt32BE(1)).toBe(bytes.length - 5);
    expect(framed!.bytes).toBe(bytes.length - 5);
    const got = etcdserverpb.RangeResponse.decode(bytes.subarray(5));
    const objects = applyRange(store, r);
    const want = etcdserverpb.RangeResponse.decode(etcdserverpb.RangeResponse.encode({ ...objects, header: header(objects.header.revision) } as never).finish());
    expect(plain(got)).toEqual(plain(want));
    expect(plain(got).header.clusterId).toBe("4660"); // the header went out whole, not only its revision
    kvs += got.kvs.length;
  }
  expect(kvs).toBe(300 + 10 + 1); // the whole range, the limited one, the single key, the missing one
});
