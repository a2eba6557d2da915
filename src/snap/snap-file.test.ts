import { expect, test } from "bun:test";
import { crc32c } from "../pkg/crc32c";
import { raftpb } from "../proto/etcd.js";
import { decodeSnapFile, encodeSnapFile, type RaftSnapshot } from "./snap-file";
import { compareSnapFiles, formatSnapName, parseSnapName } from "./snap-name";

const text = new TextEncoder();

function varint(value: number): number[] {
  const out: number[] = [];
  for (let v = value >>> 0; ; v >>>= 7) {
    if (v < 0x80) return [...out, v];
    out.push((v & 0x7f) | 0x80);
  }
}

function lengthDelimited(tag: number, bytes: number[]): number[] {
  return [tag, ...varint(bytes.length), ...bytes];
}

/** A raftpb.Snapshot as etcd's gogoproto marshaller (raft.pb.go) writes it, field by field. */
function etcdRaftSnapshot(data: number[], index: number, term: number, voters: number[], learners: number[]): number[] {
  // ConfState: unpacked voters (1) and learners (2), then auto_leave (5), which etcd always writes.
  const confState = [...voters.flatMap((v) => [0x08, ...varint(v)]), ...learners.flatMap((l) => [0x10, ...varint(l)]), 0x28, 0x00];
  const metadata = [...lengthDelimited(0x0a, confState), 0x10, ...varint(index), 0x18, ...varint(term)];
  return [...lengthDelimited(0x0a, data), ...lengthDelimited(0x12, metadata)];
}

/** A snap file as etcd's snap.pb.go writes it: crc (always written), then data. */
function etcdSnapFile(data: number[], index: number, term: number, voters: number[], learners: number[]): Uint8Array {
  const raftSnapshot = etcdRaftSnapshot(data, index, term, voters, learners);
  return new Uint8Array([0x08, ...varint(crc32c(new Uint8Array(raftSnapshot))), ...lengthDelimited(0x12, raftSnapshot)]);
}

test("a snapshot file written the way etcd writes it decodes", () => {
  const data = [...text.encode('{"members":[]}')];
  const decoded = decodeSnapFile(etcdSnapFile(data, 300, 4, [1, 2], [3]));
  expect(decoded).toEqual({
    ok: true,
    snapshot: {
      metadata: { index: 300n, term: 4n, confState: { voters: [1n, 2n], learners: [3n], votersOutgoing: [], learnersNext: [], autoLeave: false } },
      data: new Uint8Array(data),
    },
  });
});

test("the file is a snappb.snapshot: crc (field 1) of data, then data (field 2) holding a raftpb.Snapshot", () => {
  const snapshot: RaftSnapshot = {
    metadata: { index: 2n ** 60n + 1n, term: 7n, confState: { voters: [0xffff_ffff_ffff_fffen], learners: [] } },
    data: text.encode("payload"),
  };
  const bytes = encodeSnapFile(snapshot);
  expect(bytes[0]).toBe(0x08);
  let offset = 1;
  let crc = 0;
  for (let shift = 0; ; shift += 7) {
    const b = bytes[offset++];
    crc += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  expect(bytes[offset++]).toBe(0x12);
  let dataBytes = 0;
  for (let shift = 0; ; shift += 7) {
    const b = bytes[offset++];
    dataBytes += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  const data = bytes.subarray(offset);
  expect(data.length).toBe(dataBytes);
  expect(crc).toBe(crc32c(data));
  const inner = raftpb.Snapshot.decode(data);
  expect(inner.metadata?.index).toBe(2n ** 60n + 1n);
  expect(inner.metadata?.term).toBe(7n);
  expect(inner.metadata?.confState?.voters).toEqual([0xffff_ffff_ffff_fffen]);
  expect(new TextDecoder().decode(inner.data)).toBe("payload");
});

test("every kind of damage is reported, not thrown", () => {
  const good = etcdSnapFile([...text.encode("some data")], 9, 2, [1], []);
  expect(decodeSnapFile(good).ok).toBe(true);
  const flipped = good.slice();
  flipped[flipped.length - 20] ^= 0x01;
  const cases: [string, Uint8Array, string][] = [
    ["empty file", new Uint8Array(0), "empty"],
    ["one flipped bit", flipped, "crc mismatch"],
    ["cut short", good.subarray(0, good.length - 3), "cannot decode snappb.snapshot"],
    ["garbage", new Uint8Array(64).fill(0xff), "cannot decode snappb.snapshot"],
    ["zeros", new Uint8Array(4096), "cannot decode snappb.snapshot"],
    ["no data", new Uint8Array([0x08, 0x05]), "empty"],
    ["crc cleared", new Uint8Array([0x08, 0x00, ...lengthDelimited(0x12, etcdRaftSnapshot([1], 9, 2, [1], []))]), "empty"],
  ];
  // A good crc over bytes that are not a raftpb.Snapshot.
  const junk = new Uint8Array([0x0a, 0x50, 0x01]);
  cases.push(["inner junk", new Uint8Array([0x08, ...varint(crc32c(junk)), 0x12, junk.length, ...junk]), "cannot decode raftpb.Snapshot"]);
  for (const [label, bytes, reason] of cases) {
    const decoded = decodeSnapFile(bytes);
    expect(decoded.ok, label).toBe(false);
    if (!decoded.ok) expect(decoded.reason, label).toContain(reason);
  }
});

test("names are etcd's %016x-%016x.snap of term and index, and order by index", () => {
  expect(formatSnapName(2n, 10n)).toBe("0000000000000002-000000000000000a.snap");
  expect(parseSnapName("0000000000000002-000000000000000a.snap")).toEqual({ name: "0000000000000002-000000000000000a.snap", term: 2n, index: 10n });
  expect(parseSnapName(formatSnapName(0xffff_ffff_ffff_ffffn, 2n ** 63n))).toMatchObject({ term: 0xffff_ffff_ffff_ffffn, index: 2n ** 63n });
  for (const name of ["db", "db-wal", "0000000000000002-000000000000000a.snap.broken", "0000000000000002-000000000000000a.snap.tmp", "2-a.snap", "0000000000000002-000000000000000A.snap"]) {
    expect(parseSnapName(name)).toBeNull();
  }
  expect(() => formatSnapName(-1n, 1n)).toThrow(RangeError);
  expect(() => formatSnapName(1n, 2n ** 64n)).toThrow(RangeError);
  const files = [[1n, 16n], [1n, 9n], [3n, 256n], [1n, 10n]].map(([term, index]) => parseSnapName(formatSnapName(term, index))!);
  expect(files.sort(compareSnapFiles).map((f) => f.index)).toEqual([9n, 10n, 16n, 256n]);
});
