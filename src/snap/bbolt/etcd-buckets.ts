/**
 * etcd 3.4's backend layout (what `etcdctl snapshot save` carries) as plain typed data, both ways:
 *
 *   key              revision key → mvccpb.KeyValue. A revision key is main (8 bytes BE) '_' sub
 *                    (8 bytes BE), plus 't' for a tombstone (mvcc/revision.go, kvstore.go).
 *   meta             consistent_index → u64 BE; scheduledCompactRev / finishedCompactRev → a revision
 *                    key {main, sub 0} (mvcc/kvstore.go, kvstore_compaction.go)
 *   lease            lease id (8 bytes BE) → leasepb.Lease {ID, TTL, RemainingTTL} (lease/lessor.go)
 *   alarm            etcdserverpb.AlarmMember (the key) → empty value (etcdserver/api/v3alarm)
 *   auth             authEnabled → 1 byte (0/1); authRevision → u64 BE (auth/store.go)
 *   authUsers        user name → authpb.User;  authRoles: role name → authpb.Role
 *   members          member id in hex → JSON {"id","peerURLs","isLearner","name","clientURLs"}
 *   members_removed  member id in hex → "removed" (etcdserver/api/membership/store.go)
 *   cluster          clusterVersion → "3.4.0"
 *
 * Keys or buckets outside this layout (e.g. etcd 3.5's meta "term" and "confState") are kept as raw
 * bytes in `extra` / `otherBuckets`, so decode → encode loses nothing.
 */
import protobuf from "protobufjs/minimal.js";
import "../../proto/bigint-longs.ts"; // int64 fields read and written as bigint (the hand-coded lease below)
import { parseWhole, quoteJson, type JsonNode } from "../../pkg/go-json.ts";
import { authpb, etcdserverpb, mvccpb } from "../../proto/etcd.js";
import { compareBytes } from "./format.ts";
import type { BoltBucket, BoltEntry, BoltPair, ReadEntry } from "./model.ts";
import type { BoltReader, BucketRef, RawEntry } from "./reader.ts";

export class EtcdBucketError extends Error {
  override name = "EtcdBucketError";
}

export interface Revision {
  main: bigint;
  sub: bigint;
}

export interface RevisionKey extends Revision {
  tombstone: boolean;
}

/** mvccpb.KeyValue as plain data. A tombstone's record carries the key only. */
export interface EtcdKeyValue {
  key: Uint8Array;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  value: Uint8Array;
  lease: bigint;
}

export interface KeyRecord {
  revision: RevisionKey;
  kv: EtcdKeyValue;
}

export interface EtcdLease {
  id: bigint;
  ttl: bigint;
  remainingTtl: bigint;
}

export interface EtcdMember {
  id: bigint;
  peerURLs: string[];
  isLearner: boolean;
  name: string;
  clientURLs: string[];
}

export interface EtcdAlarm {
  memberId: bigint;
  /** etcdserverpb.AlarmType: 1 NOSPACE, 2 CORRUPT. */
  alarm: number;
}

export interface EtcdUser {
  name: string;
  /** The bcrypt hash etcd stores (empty with noPassword). */
  password: Uint8Array;
  roles: string[];
  noPassword: boolean;
}

export interface EtcdPermission {
  /** authpb.Permission.Type: 0 READ, 1 WRITE, 2 READWRITE. */
  permType: number;
  key: Uint8Array;
  rangeEnd: Uint8Array;
}

export interface EtcdRole {
  name: string;
  permissions: EtcdPermission[];
}

export interface EtcdBackend {
  /** The key bucket in revision order. */
  keys: KeyRecord[];
  consistentIndex?: bigint;
  /** The main revision of the last compaction asked for / completed. */
  scheduledCompactRevision?: bigint;
  finishedCompactRevision?: bigint;
  leases: EtcdLease[];
  alarms: EtcdAlarm[];
  authEnabled?: boolean;
  authRevision?: bigint;
  users: EtcdUser[];
  roles: EtcdRole[];
  members: EtcdMember[];
  removedMembers: bigint[];
  clusterVersion?: string;
  /** Keys this layout does not name, in the buckets it does (meta, auth, cluster), as raw bytes. */
  extra: { bucket: string; key: Uint8Array; value: Uint8Array }[];
  /** Whole top-level buckets this layout does not name, as read. */
  otherBuckets: ReadEntry[];
}

/** What encodeEtcdBackend takes: the same, but the key bucket may be streamed (in revision order). */
export type EtcdBackendInput = Omit<EtcdBackend, "keys" | "otherBuckets"> & { keys: Iterable<KeyRecord>; otherBuckets?: BoltEntry[] };

export const BUCKET = {
  key: "key",
  meta: "meta",
  lease: "lease",
  alarm: "alarm",
  auth: "auth",
  authUsers: "authUsers",
  authRoles: "authRoles",
  members: "members",
  membersRemoved: "members_removed",
  cluster: "cluster",
} as const;

const KNOWN_BUCKETS = new Set<string>(Object.values(BUCKET));
const CONSISTENT_INDEX = "consistent_index";
const SCHEDULED_COMPACT = "scheduledCompactRev";
const FINISHED_COMPACT = "finishedCompactRev";
const AUTH_ENABLED = "authEnabled";
const AUTH_REVISION = "authRevision";
const CLUSTER_VERSION = "clusterVersion";
const REMOVED = "removed";

const REVISION_BYTES = 17;
const TOMBSTONE_MARK = 0x74; // 't'
const REVISION_SEPARATOR = 0x5f; // '_'

const utf8 = new TextEncoder();
const fromUtf8 = (b: Uint8Array) => new TextDecoder().decode(b);
const EMPTY = new Uint8Array(0);

export function encodeRevisionKey(r: RevisionKey | Revision): Uint8Array {
  const tombstone = "tombstone" in r && r.tombstone;
  const b = new Uint8Array(REVISION_BYTES + (tombstone ? 1 : 0));
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt.asUintN(64, r.main));
  b[8] = REVISION_SEPARATOR;
  v.setBigUint64(9, BigInt.asUintN(64, r.sub));
  if (tombstone) b[REVISION_BYTES] = TOMBSTONE_MARK;
  return b;
}

export function decodeRevisionKey(b: Uint8Array): RevisionKey {
  const tombstone = b.length === REVISION_BYTES + 1 && b[REVISION_BYTES] === TOMBSTONE_MARK;
  if ((b.length !== REVISION_BYTES && !tombstone) || b[8] !== REVISION_SEPARATOR) {
    throw new EtcdBucketError(`${hex(b)} is not a revision key (8-byte main, '_', 8-byte sub, optional 't')`);
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { main: BigInt.asIntN(64, v.getBigUint64(0)), sub: BigInt.asIntN(64, v.getBigUint64(9)), tombstone };
}

/** The key bucket, decoded lazily (for files too large to hold as objects). */
export function* keyRecords(reader: BoltReader): Generator<KeyRecord> {
  const ref = reader.bucket(BUCKET.key);
  if (!ref) return;
  for (const e of plainEntries(reader, ref, BUCKET.key)) {
    let kv: mvccpb.KeyValue;
    try {
      kv = mvccpb.KeyValue.decode(e.value);
    } catch (err) {
      throw new EtcdBucketError(`key bucket: the value at revision key ${hex(e.key)} is not an mvccpb.KeyValue: ${(err as Error).message}`);
    }
    yield {
      revision: decodeRevisionKey(e.key),
      kv: { key: kv.key, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, value: kv.value, lease: kv.lease },
    };
  }
}

/** Reads every bucket of etcd's layout into plain data. Buckets the file lacks come back empty. */
export function decodeEtcdBackend(reader: BoltReader): EtcdBackend {
  const out: EtcdBackend = {
    keys: [...keyRecords(reader)],
    leases: [],
    alarms: [],
    users: [],
    roles: [],
    members: [],
    removedMembers: [],
    extra: [],
    otherBuckets: [],
  };
  const each = (bucket: string, fn: (e: RawEntry) => void) => {
    const ref = reader.bucket(bucket);
    if (ref) for (const e of plainEntries(reader, ref, bucket)) fn(e);
  };
  const keep = (bucket: string, e: RawEntry) => out.extra.push({ bucket, key: e.key, value: e.value });

  each(BUCKET.meta, (e) => {
    const name = fromUtf8(e.key);
    if (name === CONSISTENT_INDEX && e.value.length === 8) out.consistentIndex = u64(e.value);
    else if (name === SCHEDULED_COMPACT) out.scheduledCompactRevision = decodeRevisionKey(e.value).main;
    else if (name === FINISHED_COMPACT) out.finishedCompactRevision = decodeRevisionKey(e.value).main;
    else keep(BUCKET.meta, e);
  });
  each(BUCKET.lease, (e) => out.leases.push(decodeLease(e)));
  each(BUCKET.alarm, (e) => {
    const a = etcdserverpb.AlarmMember.decode(e.key);
    out.alarms.push({ memberId: a.memberID, alarm: a.alarm });
  });
  each(BUCKET.auth, (e) => {
    const name = fromUtf8(e.key);
    if (name === AUTH_ENABLED && e.value.length === 1) out.authEnabled = e.value[0] === 1;
    else if (name === AUTH_REVISION && e.value.length === 8) out.authRevision = u64(e.value);
    else keep(BUCKET.auth, e);
  });
  each(BUCKET.authUsers, (e) => {
    const u = authpb.User.decode(e.value);
    out.users.push({ name: fromUtf8(u.name), password: u.password, roles: [...u.roles], noPassword: u.options?.noPassword ?? false });
  });
  each(BUCKET.authRoles, (e) => {
    const r = authpb.Role.decode(e.value);
    out.roles.push({
      name: fromUtf8(r.name),
      permissions: r.keyPermission.map((p) => ({ permType: p.permType ?? 0, key: p.key ?? EMPTY, rangeEnd: p.rangeEnd ?? EMPTY })),
    });
  });
  each(BUCKET.members, (e) => out.members.push(decodeMember(e.key, e.value)));
  each(BUCKET.membersRemoved, (e) => out.removedMembers.push(memberIdOfKey(e.key, BUCKET.membersRemoved)));
  each(BUCKET.cluster, (e) => {
    if (fromUtf8(e.key) === CLUSTER_VERSION) out.clusterVersion = fromUtf8(e.value);
    else keep(BUCKET.cluster, e);
  });
  for (const e of reader.entries(reader.root)) {
    if (!KNOWN_BUCKETS.has(fromUtf8(e.key))) out.otherBuckets.push({ key: e.key, bucket: reader.readAll(reader.open(e)) });
  }
  return out;
}

/**
 * The root bucket of an etcd 3.4 database holding `b` (every bucket etcd creates, empty ones too),
 * ready for writeBolt / writeBoltFile. Key records must come in revision order (the writer checks).
 */
export function encodeEtcdBackend(b: EtcdBackendInput): BoltBucket {
  const extra = (bucket: string): BoltPair[] => b.extra.filter((x) => x.bucket === bucket).map((x) => ({ key: x.key, value: x.value }));
  const text = (s: string) => utf8.encode(s);
  const meta: BoltPair[] = [
    ...(b.consistentIndex !== undefined ? [{ key: text(CONSISTENT_INDEX), value: u64Bytes(b.consistentIndex) }] : []),
    ...(b.scheduledCompactRevision !== undefined ? [{ key: text(SCHEDULED_COMPACT), value: encodeRevisionKey({ main: b.scheduledCompactRevision, sub: 0n }) }] : []),
    ...(b.finishedCompactRevision !== undefined ? [{ key: text(FINISHED_COMPACT), value: encodeRevisionKey({ main: b.finishedCompactRevision, sub: 0n }) }] : []),
    ...extra(BUCKET.meta),
  ];
  const auth: BoltPair[] = [
    ...(b.authEnabled !== undefined ? [{ key: text(AUTH_ENABLED), value: new Uint8Array([b.authEnabled ? 1 : 0]) }] : []),
    ...(b.authRevision !== undefined ? [{ key: text(AUTH_REVISION), value: u64Bytes(b.authRevision) }] : []),
    ...extra(BUCKET.auth),
  ];
  const buckets: [string, Iterable<BoltPair>][] = [
    [BUCKET.key, keyPairs(b.keys)],
    [BUCKET.meta, sorted(meta)],
    [BUCKET.lease, sorted(b.leases.map((l) => ({ key: u64Bytes(l.id), value: encodeLease(l) })))],
    [BUCKET.alarm, sorted(b.alarms.map((a) => ({ key: etcdserverpb.AlarmMember.encode({ memberID: a.memberId, alarm: a.alarm }).finish(), value: EMPTY })))],
    [BUCKET.auth, sorted(auth)],
    [
      BUCKET.authUsers,
      sorted(
        b.users.map((u) => ({
          key: text(u.name),
          value: authpb.User.encode({ name: text(u.name), password: u.password, roles: u.roles, options: u.noPassword ? { noPassword: true } : null }).finish(),
        })),
      ),
    ],
    [
      BUCKET.authRoles,
      sorted(b.roles.map((r) => ({ key: text(r.name), value: authpb.Role.encode({ name: text(r.name), keyPermission: r.permissions }).finish() }))),
    ],
    [BUCKET.members, sorted(b.members.map((m) => ({ key: text(m.id.toString(16)), value: text(encodeMemberJson(m)) })))],
    [BUCKET.membersRemoved, sorted(b.removedMembers.map((id) => ({ key: text(id.toString(16)), value: text(REMOVED) })))],
    [BUCKET.cluster, sorted([...(b.clusterVersion !== undefined ? [{ key: text(CLUSTER_VERSION), value: text(b.clusterVersion) }] : []), ...extra(BUCKET.cluster)])],
  ];
  const entries: BoltEntry[] = [...buckets.map(([name, pairs]) => ({ key: text(name), bucket: { entries: pairs } })), ...(b.otherBuckets ?? [])];
  return { entries: sorted(entries) };
}

function* keyPairs(records: Iterable<KeyRecord>): Generator<BoltPair> {
  for (const r of records) {
    yield { key: encodeRevisionKey(r.revision), value: mvccpb.KeyValue.encode(r.kv).finish() };
  }
}

/** A bucket of etcd's layout holds plain pairs only; a nested bucket there means the file is not etcd's. */
function* plainEntries(reader: BoltReader, ref: BucketRef, bucket: string): Generator<RawEntry> {
  for (const e of reader.entries(ref)) {
    if (e.isBucket) throw new EtcdBucketError(`${bucket} bucket: key ${hex(e.key)} is a nested bucket, which etcd never writes there`);
    yield e;
  }
}

function sorted<T extends { key: Uint8Array }>(entries: T[]): T[] {
  return entries.sort((a, b) => compareBytes(a.key, b.key));
}

/** leasepb.Lease {int64 ID = 1; int64 TTL = 2; int64 RemainingTTL = 3}: not in our proto/, so by hand. */
function encodeLease(l: EtcdLease): Uint8Array {
  const w = protobuf.Writer.create();
  // Zero fields are omitted, as gogoproto's Marshal does, so the bytes equal etcd's.
  if (l.id !== 0n) w.uint32((1 << 3) | 0).int64(l.id as unknown as number);
  if (l.ttl !== 0n) w.uint32((2 << 3) | 0).int64(l.ttl as unknown as number);
  if (l.remainingTtl !== 0n) w.uint32((3 << 3) | 0).int64(l.remainingTtl as unknown as number);
  return w.finish();
}

function decodeLease(e: RawEntry): EtcdLease {
  const lease: EtcdLease = { id: 0n, ttl: 0n, remainingTtl: 0n };
  const r = protobuf.Reader.create(e.value);
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      const value = (tag & 7) === 0 ? (r.int64() as unknown as bigint) : (r.skipType(tag & 7), undefined);
      if (tag >>> 3 === 1 && value !== undefined) lease.id = value;
      else if (tag >>> 3 === 2 && value !== undefined) lease.ttl = value;
      else if (tag >>> 3 === 3 && value !== undefined) lease.remainingTtl = value;
    }
  } catch (err) {
    throw new EtcdBucketError(`lease bucket: the value for lease ${hex(e.key)} is not a leasepb.Lease: ${(err as Error).message}`);
  }
  if (e.key.length !== 8 || u64(e.key) !== BigInt.asUintN(64, lease.id)) {
    throw new EtcdBucketError(`lease bucket: key ${hex(e.key)} does not match the lease's id ${lease.id}`);
  }
  return lease;
}

/** Go's json.Marshal of membership.Member: id as a bare uint64, then the omitempty fields. */
export function encodeMemberJson(m: EtcdMember): string {
  const list = (xs: string[]) => `[${xs.map(quoteJson).join(",")}]`;
  let s = `{"id":${m.id},"peerURLs":${m.peerURLs.length ? list(m.peerURLs) : "null"}`;
  if (m.isLearner) s += `,"isLearner":true`;
  if (m.name) s += `,"name":${quoteJson(m.name)}`;
  if (m.clientURLs.length) s += `,"clientURLs":${list(m.clientURLs)}`;
  return s + "}";
}

function decodeMember(key: Uint8Array, value: Uint8Array): EtcdMember {
  const id = memberIdOfKey(key, BUCKET.members);
  let root: JsonNode;
  try {
    root = parseWhole(fromUtf8(value));
  } catch (err) {
    throw new EtcdBucketError(`members bucket: member ${fromUtf8(key)} is not JSON: ${(err as Error).message}`);
  }
  const m: EtcdMember = { id, peerURLs: [], isLearner: false, name: "", clientURLs: [] };
  if (root.t !== "object") throw new EtcdBucketError(`members bucket: member ${fromUtf8(key)} is not a JSON object`);
  const strings = (n: JsonNode) => (n.t === "array" ? n.items.flatMap((i) => (i.t === "string" ? [i.value] : [])) : []);
  for (const [name, n] of root.entries) {
    if (name === "id" && n.t === "number" && BigInt(n.raw) !== id) throw new EtcdBucketError(`members bucket: key ${fromUtf8(key)} holds member id ${n.raw}`);
    else if (name === "peerURLs") m.peerURLs = strings(n);
    else if (name === "isLearner") m.isLearner = n.t === "bool" && n.value;
    else if (name === "name" && n.t === "string") m.name = n.value;
    else if (name === "clientURLs") m.clientURLs = strings(n);
  }
  return m;
}

/** Member keys are the id in lower-case hex without leading zeros (types.ID.String). */
function memberIdOfKey(key: Uint8Array, bucket: string): bigint {
  const text = fromUtf8(key);
  if (!/^[0-9a-f]{1,16}$/.test(text)) throw new EtcdBucketError(`${bucket} bucket: key '${text}' is not a member id in hex`);
  return BigInt(`0x${text}`);
}

function u64(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
}

function u64Bytes(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, n));
  return b;
}

function hex(b: Uint8Array): string {
  return `0x${Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 40)).toString("hex")}${b.length > 40 ? "…" : ""}`;
}

