/**
 * Builds a small etcd 3.4 member data dir without etcd, for the adoption's unit tests (never used
 * by production code): a bbolt database at some consistent index, a snapshot file whose v2 store
 * holds the membership, and a WAL in etcd's format with the entries etcd 3.4 writes (conf changes
 * with etcd's Member JSON, bare v2 publishes, InternalRaftRequests, plain-text user passwords).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { encodeWithHeadroom } from "../../../proto/encode.ts";
import { etcdserverpb, raftpb } from "../../../proto/etcd.js";
import { encodeEtcdBackend, type EtcdBackendInput, writeBoltFile } from "../../../snap/bbolt/index.ts";
import { encodeSnapFile } from "../../../snap/snap-file.ts";
import { formatSnapName } from "../../../snap/snap-name.ts";
import { encodeEtcdSegment, rec, segmentName, type TestRecord } from "../../../wal/etcd/test-encoder.ts";

export const M1 = 0x1512e7959dba47fen;
export const CLUSTER = 0x7a76f1e1d2f0f170n;
export const PEER = "http://127.0.0.1:2380";
export const CLIENT = "http://127.0.0.1:2379";

const utf8 = (s: string) => new TextEncoder().encode(s);
const irr = (p: etcdserverpb.InternalRaftRequest.$Properties) => encodeWithHeadroom(etcdserverpb.InternalRaftRequest, p);
const v2put = (id: bigint, path: string, val: string) => encodeWithHeadroom(etcdserverpb.Request, { ID: id, Method: "PUT", Path: path, Val: val });
const addNode = (id: bigint, peer: string) =>
  encodeWithHeadroom(raftpb.ConfChange, { id: 1n, type: 0, nodeId: id, context: utf8(`{"id":${id},"peerURLs":["${peer}"],"isPromote":false}`) });

export interface EtcdDirOptions {
  /** Extra (index, payload) normal entries after the standard ones, and where the commit index ends. */
  extra?: { data: Uint8Array; type?: number }[];
  commit?: number;
  /** v2 keys in the snapshot's store (etcd-ts must refuse these). */
  v2Keys?: boolean;
  /** etcd 3.6's storage version in the meta bucket (refused). */
  storageVersion?: string;
}

/**
 * The log (term 2 from index 2):
 *  1 add m1 (term 1) · 2 publish m1's name (v2) · 3 cluster version (v2) · 4 put k1 · 5 put k2
 *  — snapshot file at 5 —
 *  6 grant lease 0x77 · 7 user add root (plain text) · 8 put k3 with the lease — database's consistent index 8 —
 *  9 grant lease 0x99 (in the database anyway: etcd 3.4 moves the index only on key changes)
 *  10 put k4 · 11 user add alice (plain text) — committed up to 11 — 12 put k5 (not committed)
 */
export function writeEtcdDir(dataDir: string, opts: EtcdDirOptions = {}): { walRecords: number } {
  const member = join(dataDir, "member");
  mkdirSync(join(member, "snap"), { recursive: true });
  mkdirSync(join(member, "wal"), { recursive: true });
  const payloads: { data: Uint8Array; type?: number }[] = [
    { data: addNode(M1, PEER), type: 1 },
    { data: v2put(101n, `/0/members/${M1.toString(16)}/attributes`, `{"name":"m1","clientURLs":["${CLIENT}"]}`) },
    { data: v2put(102n, "/0/version", "3.4.0") },
    { data: irr({ header: { ID: 103n }, put: { key: utf8("k1"), value: utf8("v1") } }) },
    { data: irr({ header: { ID: 104n }, put: { key: utf8("k2"), value: utf8("v2") } }) },
    { data: irr({ header: { ID: 105n }, leaseGrant: { ID: 0x77n, TTL: 600n } }) },
    { data: irr({ header: { ID: 106n }, authUserAdd: { name: "root", password: "rootpw" } }) },
    { data: irr({ header: { ID: 107n }, put: { key: utf8("k3"), value: utf8("v3"), lease: 0x77n } }) },
    { data: irr({ header: { ID: 108n }, leaseGrant: { ID: 0x99n, TTL: 300n } }) },
    { data: irr({ header: { ID: 109n }, put: { key: utf8("k4"), value: utf8("v4") } }) },
    { data: irr({ header: { ID: 110n }, authUserAdd: { name: "alice", password: "alicepw" } }) },
    { data: irr({ header: { ID: 111n }, put: { key: utf8("k5"), value: utf8("v5") } }) },
    ...(opts.extra ?? []),
  ];
  const entries = payloads.map((p, i) => rec.entry(i + 1, i === 0 ? 1 : 2, p.data, p.type ?? 0));
  const commit = opts.commit ?? 11;
  const records: TestRecord[] = [
    rec.metadata(M1, CLUSTER),
    rec.snapshot(0, 0),
    entries[0],
    rec.state(1, M1, 1),
    ...entries.slice(1, 5),
    rec.state(2, M1, 5),
    rec.snapshot(5, 2),
    ...entries.slice(5),
    rec.state(2, M1, commit),
  ];
  writeFileSync(join(member, "wal", segmentName(0, 0)), encodeEtcdSegment(records, 0, 4096).bytes);

  const v2 = {
    Root: {
      Path: "/",
      Children: {
        "0": {
          Path: "/0",
          Children: {
            members: {
              Path: "/0/members",
              Children: {
                [M1.toString(16)]: {
                  Path: `/0/members/${M1.toString(16)}`,
                  Children: {
                    attributes: { Path: "a", Value: `{"name":"m1","clientURLs":["${CLIENT}"]}`, Children: null },
                    raftAttributes: { Path: "r", Value: `{"peerURLs":["${PEER}"]}`, Children: null },
                  },
                },
              },
            },
            version: { Path: "/0/version", Value: "3.4.0", Children: null },
          },
        },
        "1": { Path: "/1", Children: opts.v2Keys ? { foo: { Path: "/1/foo", Value: "bar", Children: null } } : {} },
      },
    },
  };
  writeFileSync(
    join(member, "snap", formatSnapName(2n, 5n)),
    encodeSnapFile({ metadata: { index: 5n, term: 2n, confState: { voters: [M1], learners: [] } }, data: utf8(JSON.stringify(v2)) }),
  );

  const kv = (key: string, value: string, rev: bigint, lease = 0n) => ({
    revision: { main: rev, sub: 0n, tombstone: false },
    kv: { key: utf8(key), value: utf8(value), createRevision: rev, modRevision: rev, version: 1n, lease },
  });
  const backend: EtcdBackendInput = {
    keys: [kv("k1", "v1", 2n), kv("k2", "v2", 3n), kv("k3", "v3", 4n, 0x77n)],
    consistentIndex: 8n,
    leases: [
      { id: 0x77n, ttl: 600n, remainingTtl: 0n },
      { id: 0x99n, ttl: 300n, remainingTtl: 0n },
    ],
    alarms: [],
    authEnabled: false,
    authRevision: 2n,
    users: [{ name: "root", password: utf8(bcrypt.hashSync("rootpw", 4)), roles: [], noPassword: false }],
    roles: [],
    // What etcd 3.4's own snapshot restore leaves there: the old cluster's members. Not what is served.
    members: [{ id: 0xdeadn, name: "old", peerURLs: ["http://10.0.0.9:2380"], isLearner: false, clientURLs: [] }],
    removedMembers: [],
    clusterVersion: "3.4.0",
    extra: opts.storageVersion ? [{ bucket: "meta", key: utf8("storageVersion"), value: utf8(opts.storageVersion) }] : [],
  };
  writeBoltFile(join(member, "snap", "db"), encodeEtcdBackend(backend));
  return { walRecords: records.length };
}
