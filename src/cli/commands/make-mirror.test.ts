// make-mirror's semantics over a fake source and destination: where keys go, the base state read in
// pages at one revision, then one destination transaction per source revision.
import { describe, expect, test } from "bun:test";
import type { GetOptions, GetResult, KeyValue, Op, WatchEvent, WatchOptions } from "../../client/index.ts";
import { Errors } from "../../pkg/errors.ts";
import { fakeIo } from "../test-io.ts";
import { runCtl } from "../main.ts";
import { destKey, mirror, type MirrorDest, type MirrorSource, reportProgress } from "./make-mirror.ts";

const b = (s: string) => Buffer.from(s);
const kv = (key: string, value: string, rev: bigint): KeyValue => ({ key: b(key), value: b(value), createRevision: rev, modRevision: rev, version: 1n, lease: 0n });
const header = (revision: bigint) => ({ clusterId: 1n, memberId: 1n, revision, raftTerm: 1n });

describe("destKey (Go's strings.Replace(key, prefix, destPrefix, 1))", () => {
  test("the first occurrence of the prefix is replaced", () => {
    expect(destKey(b("o_key1"), b("o_"), b("d_")).toString()).toBe("d_key1");
    expect(destKey(b("o_key1"), b("o_"), b("")).toString()).toBe("key1");
    expect(destKey(b("o_o_"), b("o_"), b("x")).toString()).toBe("xo_");
  });

  test("an empty prefix puts the destination prefix in front; both empty keep the key", () => {
    expect(destKey(b("k"), b(""), b("d_")).toString()).toBe("d_k");
    expect(destKey(b("k"), b(""), b("")).toString()).toBe("k");
  });

  test("bytes that are not UTF-8 survive", () => {
    expect([...destKey(Buffer.from([0x6f, 0x5f, 0xff, 0x00]), b("o_"), b("d_"))]).toEqual([0x64, 0x5f, 0xff, 0x00]);
  });
});

/** A source whose store is `keys` at revision `rev`, and whose watch replays `responses` (each one watch response). */
function fakeSource(keys: KeyValue[], rev: bigint, responses: WatchEvent[][], end?: Error) {
  const gets: GetOptions[] = [];
  const watches: { key: string; opts: WatchOptions }[] = [];
  const src: MirrorSource = {
    async get(key, opts) {
      gets.push({ ...opts });
      const k = Buffer.from(key);
      if (opts.rangeEnd === undefined) return { header: header(rev), kvs: [], more: false, count: 0n };
      const end = Buffer.from(opts.rangeEnd);
      const all = end.length === 1 && end[0] === 0;
      const inRange = keys.filter((x) => Buffer.compare(x.key, k) >= 0 && (all || Buffer.compare(x.key, end) < 0));
      const limit = Number(opts.limit ?? 0n) || inRange.length;
      const page: GetResult = { header: header(rev), kvs: inRange.slice(0, limit), more: inRange.length > limit, count: BigInt(inRange.length) };
      return page;
    },
    watch(key, opts) {
      watches.push({ key: Buffer.from(key).toString(), opts });
      // Delivers one response at a time, as the client's watcher does: all its events buffered at once.
      const queue = responses.map((r) => [...r]);
      let buffered: WatchEvent[] = [];
      return {
        get buffered() {
          return buffered.length;
        },
        async *[Symbol.asyncIterator]() {
          for (const r of queue) {
            buffered = r;
            while (buffered.length) yield buffered.shift()!;
          }
          if (end) throw end;
        },
      };
    },
  };
  return { src, gets, watches };
}

function fakeDest() {
  const writes: string[] = [];
  const describe = (o: Op) =>
    o.requestPut ? `put ${Buffer.from(o.requestPut.key!).toString()}=${Buffer.from(o.requestPut.value!).toString()}` : `del ${Buffer.from(o.requestDeleteRange!.key!).toString()}`;
  const dst: MirrorDest = {
    async put(key, value) {
      writes.push(`put ${Buffer.from(key).toString()}=${Buffer.from(value).toString()}`);
    },
    async commit(ops) {
      writes.push(`txn[${ops.map(describe).join(", ")}]`);
    },
  };
  return { dst, writes };
}

const put = (key: string, value: string, rev: bigint): WatchEvent => ({ type: "put", kv: kv(key, value, rev), revision: rev });
const del = (key: string, rev: bigint): WatchEvent => ({ type: "delete", kv: kv(key, "", rev), revision: rev });

describe("mirror", () => {
  test("base state in pages at one revision, then a watch from the next one; keys moved to the destination prefix", async () => {
    const keys = Array.from({ length: 2500 }, (_, i) => kv(`o_${String(i).padStart(4, "0")}`, `v${i}`, 2n));
    const { src, gets, watches } = fakeSource(keys, 9n, []);
    const { dst, writes } = fakeDest();
    const progress = { total: 0 };
    await mirror(src, dst, { prefix: b("o_"), destPrefix: b("d_"), progress });
    expect(writes.length).toBe(2500);
    expect(writes[0]).toBe("put d_0000=v0");
    expect(writes[2499]).toBe("put d_2499=v2499");
    expect(progress.total).toBe(2500);
    // One read for the revision, then three pages of at most 1000 keys, all at that revision.
    expect(gets.length).toBe(4);
    for (const g of gets.slice(1)) expect(g).toMatchObject({ limit: 1000, revision: 9n });
    expect(Buffer.from(gets[2].rangeEnd as Uint8Array).toString()).toBe("o`");
    expect(watches).toEqual([{ key: "o_", opts: { prefix: true, startRevision: 10n } }]);
  });

  test("no prefix: the whole key space, from \\0 to the end", async () => {
    const { src, gets, watches } = fakeSource([kv("a", "1", 2n), kv("b", "2", 3n)], 3n, []);
    const { dst, writes } = fakeDest();
    await mirror(src, dst, { prefix: b(""), destPrefix: b(""), progress: { total: 0 } });
    expect(writes).toEqual(["put a=1", "put b=2"]);
    expect([...Buffer.from(gets[1].rangeEnd as Uint8Array)]).toEqual([0]);
    expect(watches[0]).toEqual({ key: "", opts: { prefix: true, startRevision: 4n } });
  });

  test("one destination transaction per source revision, never across watch responses", async () => {
    const responses = [
      // A txn that wrote two keys (rev 5), then a put (rev 6), in one response.
      [put("o_a", "1", 5n), put("o_b", "2", 5n), put("o_c", "3", 6n)],
      // A delete in a response of its own.
      [del("o_a", 7n)],
    ];
    const { src } = fakeSource([], 4n, responses);
    const { dst, writes } = fakeDest();
    const progress = { total: 0 };
    await mirror(src, dst, { prefix: b("o_"), destPrefix: b(""), progress });
    expect(writes).toEqual(["txn[put a=1, put b=2]", "txn[put c=3]", "txn[del a]"]);
    expect(progress.total).toBe(4);
  });

  test("a failed watch ends the mirror with its error (a compacted revision cannot be mirrored without a gap)", async () => {
    const { src } = fakeSource([], 4n, [[put("k", "v", 5n)]], Errors.compacted);
    const { dst, writes } = fakeDest();
    await expect(mirror(src, dst, { prefix: b(""), destPrefix: b(""), progress: { total: 0 } })).rejects.toBe(Errors.compacted);
    expect(writes).toEqual(["txn[put k=v]"]);
  });

  test("a failed write ends the mirror with that error", async () => {
    const { src } = fakeSource([kv("k", "v", 2n)], 2n, []);
    const dst: MirrorDest = {
      put: async () => {
        throw Errors.noSpace;
      },
      commit: async () => {},
    };
    await expect(mirror(src, dst, { prefix: b(""), destPrefix: b(""), progress: { total: 0 } })).rejects.toBe(Errors.noSpace);
  });
});

describe("the command", () => {
  test("the running total is printed on stdout, one number a line (etcdctl: every 30 s)", async () => {
    const lines: string[] = [];
    const progress = { total: 3 };
    const stop = reportProgress((t) => lines.push(t), progress, 5);
    while (lines.length < 1) await Bun.sleep(5);
    progress.total = 7;
    while (lines.length < 2) await Bun.sleep(5);
    stop();
    expect(lines.slice(0, 2)).toEqual(["3\n", "7\n"]);
  });

  test("arguments and flags are checked as etcdctl checks them", async () => {
    for (const [argv, msg] of [
      [["make-mirror"], "make-mirror takes one destination argument"],
      [["make-mirror", "a:1", "b:2"], "make-mirror takes one destination argument"],
      [["make-mirror", "--dest-prefix", "d_", "--no-dest-prefix", "a:1"], "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one"],
      [["make-mirror", "--dest-cert", "c.pem", "a:1"], "--dest-cert needs --dest-key (the client certificate's private key)"],
    ] as const) {
      const { io, err } = fakeIo();
      expect(await runCtl([...argv], io)).toBe(128);
      expect(err()).toBe(`Error: ${msg}\n`);
    }
  });
});
