// etcd's bucket layout without a running etcd: every bucket type decodes to what was encoded, the
// byte encodings are etcd's (revision keys, u64s, Go's member JSON, gogoproto's lease), and foreign
// keys and buckets survive a round trip. The real etcd checks the same against its own files in
// etcd-snapshot.test.ts.
import { describe, expect, test } from "bun:test";
import {
  decodeEtcdBackend,
  decodeRevisionKey,
  encodeEtcdBackend,
  encodeMemberJson,
  encodeRevisionKey,
  keyRecords,
  type EtcdBackend,
} from "./etcd-buckets.ts";
import { BoltReader } from "./reader.ts";
import { writeBolt } from "./writer.ts";

const text = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function sample(): EtcdBackend {
  const kv = (key: string, create: bigint, mod: bigint, version: bigint, value: string, lease = 0n) => ({
    key: text(key),
    createRevision: create,
    modRevision: mod,
    version,
    value: text(value),
    lease,
  });
  const tomb = (key: string) => ({ key: text(key), createRevision: 0n, modRevision: 0n, version: 0n, value: new Uint8Array(0), lease: 0n });
  return {
    keys: [
      { revision: { main: 2n, sub: 0n, tombstone: false }, kv: kv("a", 2n, 2n, 1n, "1") },
      { revision: { main: 3n, sub: 0n, tombstone: false }, kv: kv("b", 3n, 3n, 1n, "2", 0x694d7f1ac1c4e00an) },
      { revision: { main: 3n, sub: 1n, tombstone: true }, kv: tomb("a") },
      { revision: { main: 300n, sub: 7n, tombstone: false }, kv: kv("c", 300n, 300n, 1n, "") },
    ],
    consistentIndex: 1234n,
    scheduledCompactRevision: 3n,
    finishedCompactRevision: 2n,
    // In bucket (key) order, as decoding returns them.
    leases: [
      { id: 7n, ttl: 5n, remainingTtl: 3n },
      { id: 0x694d7f1ac1c4e00an, ttl: 600n, remainingTtl: 0n },
    ],
    alarms: [{ memberId: 0x8e9e05c52164694dn, alarm: 1 }],
    authEnabled: true,
    authRevision: 9n,
    users: [
      { name: "root", password: text("$2a$10$hash"), roles: ["root"], noPassword: false },
      { name: "svc", password: new Uint8Array(0), roles: [], noPassword: true },
    ],
    roles: [{ name: "reader", permissions: [{ permType: 0, key: text("/app/"), rangeEnd: text("/app0") }] }],
    members: [
      { id: 0x8e9e05c52164694dn, peerURLs: ["http://localhost:2380"], isLearner: false, name: "default", clientURLs: ["http://localhost:2379"] },
      { id: 0xffffffffffffffffn, peerURLs: ["http://10.0.0.2:2380"], isLearner: true, name: "", clientURLs: [] },
    ],
    removedMembers: [0x1234n],
    clusterVersion: "3.4.0",
    extra: [
      { bucket: "meta", key: text("term"), value: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2]) },
      { bucket: "auth", key: text("zz"), value: text("?") },
    ],
    otherBuckets: [{ key: text("zz-future"), bucket: { sequence: 0n, entries: [{ key: text("k"), value: text("v") }] } }],
  };
}

describe("etcd bucket layout", () => {
  test("every bucket round-trips through a bbolt file", () => {
    const b = sample();
    const reader = new BoltReader(writeBolt(encodeEtcdBackend(b)));
    const back = decodeEtcdBackend(reader);
    // Decoded byte fields are views or Buffers; compare as plain values.
    expect(plain(back)).toEqual(plain(b));
    expect([...keyRecords(reader)]).toHaveLength(4);
  });

  test("etcd creates all ten buckets; we write them all, empty ones too", () => {
    const empty = { keys: [], leases: [], alarms: [], users: [], roles: [], members: [], removedMembers: [], extra: [] };
    const reader = new BoltReader(writeBolt(encodeEtcdBackend(empty)));
    const names = [...reader.entries(reader.root)].map((e) => Buffer.from(e.key).toString());
    expect(names).toEqual(["alarm", "auth", "authRoles", "authUsers", "cluster", "key", "lease", "members", "members_removed", "meta"]);
  });

  test("revision keys: 8-byte big-endian main, '_', 8-byte sub, 't' for a tombstone", () => {
    expect(hex(encodeRevisionKey({ main: 0x0102n, sub: 3n, tombstone: false }))).toBe("0000000000000102" + "5f" + "0000000000000003");
    expect(hex(encodeRevisionKey({ main: 5n, sub: 0n, tombstone: true }))).toBe("0000000000000005" + "5f" + "0000000000000000" + "74");
    expect(decodeRevisionKey(encodeRevisionKey({ main: 9007199254740993n, sub: 2n, tombstone: true }))).toEqual({ main: 9007199254740993n, sub: 2n, tombstone: true });
    expect(() => decodeRevisionKey(text("consistent_index"))).toThrow(/is not a revision key/);
    expect(() => decodeRevisionKey(new Uint8Array(18))).toThrow(/is not a revision key/);
  });

  test("meta values: consistent_index is a u64, compaction revisions are revision keys", () => {
    const reader = new BoltReader(writeBolt(encodeEtcdBackend(sample())));
    const meta = Object.fromEntries([...reader.entries(reader.bucket("meta")!)].map((e) => [Buffer.from(e.key).toString(), hex(e.value)]));
    expect(meta).toEqual({
      consistent_index: "00000000000004d2",
      finishedCompactRev: "0000000000000002" + "5f" + "0000000000000000",
      scheduledCompactRev: "0000000000000003" + "5f" + "0000000000000000",
      term: "0000000000000002",
    });
  });

  test("members: Go's json.Marshal of membership.Member, keyed by the id in hex", () => {
    expect(encodeMemberJson(sample().members[0])).toBe(
      '{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default","clientURLs":["http://localhost:2379"]}',
    );
    expect(encodeMemberJson(sample().members[1])).toBe('{"id":18446744073709551615,"peerURLs":["http://10.0.0.2:2380"],"isLearner":true}');
    const reader = new BoltReader(writeBolt(encodeEtcdBackend(sample())));
    expect([...reader.entries(reader.bucket("members")!)].map((e) => Buffer.from(e.key).toString())).toEqual(["8e9e05c52164694d", "ffffffffffffffff"]);
    expect([...reader.entries(reader.bucket("members_removed")!)].map((e) => [Buffer.from(e.key).toString(), Buffer.from(e.value).toString()])).toEqual([
      ["1234", "removed"],
    ]);
  });

  test("leases: the 8-byte id → leasepb.Lease, zero fields omitted as gogoproto does", () => {
    const reader = new BoltReader(writeBolt(encodeEtcdBackend(sample())));
    const leases = [...reader.entries(reader.bucket("lease")!)].map((e) => [hex(e.key), hex(e.value)]);
    expect(leases).toEqual([
      ["0000000000000007", "080710051803"],
      ["694d7f1ac1c4e00a", "088ac0938eace3dfa669" + "10d804"],
    ]);
  });

  test("a file that is not etcd's is refused with the bucket and key named", () => {
    const bad = writeBolt({ entries: [{ key: text("key"), bucket: { entries: [{ key: text("not-a-revision"), value: new Uint8Array(0) }] } }] });
    expect(() => decodeEtcdBackend(new BoltReader(bad))).toThrow(/is not a revision key/);
    const badMember = writeBolt({ entries: [{ key: text("members"), bucket: { entries: [{ key: text("xyz"), value: text("{}") }] } }] });
    expect(() => decodeEtcdBackend(new BoltReader(badMember))).toThrow("members bucket: key 'xyz' is not a member id in hex");
  });
});

/** bigints and byte arrays (Buffers too) as comparable strings, all the way down. */
function plain(v: unknown): unknown {
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Uint8Array) return `0x${hex(v)}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}
