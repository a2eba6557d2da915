/**
 * etcd's snapshot format on our side of the wall: the Snapshot RPC writes our database as etcd 3.4's
 * bbolt layout (so the real `etcdctl snapshot status|restore` and a real etcd take it), and restore
 * reads one saved from a real etcd back into our database. This is how users move between etcd and
 * etcd-ts. The bbolt format and etcd's buckets are src/snap/bbolt; the schema mapping is here.
 *
 * What goes across: every retained revision of every key (etcd's key bucket: a revision key per
 * change, sub revisions numbered within a revision, tombstones carrying the key only), the
 * compaction point, leases with their TTLs, users and roles (bcrypt hashes as they are), the members
 * and the consistent index. Alarms and the
 * cluster version stay behind: they describe the old cluster (etcd's restore drops them too, and a
 * 3.4 etcd refuses a store whose cluster version is newer than itself).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Backend } from "../../backend/backend.ts";
import { DbFile } from "../../backend/db-file.ts";
import { LeaseTable } from "../../lease/lease-table.ts";
import { importHistory, type HistoryRecord } from "../../mvcc/import-history.ts";
import { MvccStore } from "../../mvcc/store.ts";
import {
  appendSnapshotHashToFile,
  BoltReader,
  hasSnapshotHash,
  decodeEtcdBackend,
  encodeEtcdBackend,
  type EtcdBackend,
  type KeyRecord,
  stripSnapshotHash,
  writeBoltFile,
} from "../../snap/bbolt/index.ts";
import { type AuthSnapshot, readAuthSnapshot, writeAuthSnapshot } from "./auth/store.ts";
import { membersFromJson, membersToJson } from "./membership.ts";

/** Our database (a compact copy, read-only) → an etcd snapshot file (bbolt + sha256) at `out`. */
export function exportEtcdSnapshot(dbPath: string, out: string): void {
  const db = DbFile.open(dbPath);
  try {
    const meta = (name: string) => db.getMeta(name);
    const compact = (meta("compact_rev") as bigint | undefined) ?? 0n;
    // Rows of a compaction still running are in the copy: etcd's restore finishes it (scheduled > finished).
    const done = (meta("compact_done") as bigint | undefined) ?? compact;
    const members = membersFromJson((meta("members") as string | undefined) ?? "[]");
    const leases = db.tables().includes("lease")
      ? [...db.rows("lease")].map(([id, ttl, remaining]) => ({ id: id as bigint, ttl: BigInt(ttl as bigint), remainingTtl: BigInt(remaining as bigint) }))
      : [];
    const root = encodeEtcdBackend({
      keys: keyRecords(db),
      consistentIndex: (meta("consistent_index") as bigint | undefined) ?? 0n,
      ...(compact > 0n ? { scheduledCompactRevision: compact } : {}),
      ...(done > 0n ? { finishedCompactRevision: done } : {}),
      leases,
      alarms: [],
      ...authBuckets(readAuthSnapshot((name) => db.getMeta(name))),
      members: members.map((m) => ({ id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner })),
      removedMembers: [],
      extra: [],
    });
    writeBoltFile(out, root);
  } finally {
    db.close();
  }
  appendSnapshotHashToFile(out);
}

/** Our auth store as etcd's auth buckets (bcrypt hashes carry over: etcd uses bcrypt too). */
function authBuckets(a: AuthSnapshot | null): Pick<EtcdBackend, "authEnabled" | "authRevision" | "users" | "roles"> {
  if (!a) return { authEnabled: false, authRevision: 1n, users: [], roles: [] };
  return {
    authEnabled: a.enabled,
    authRevision: a.revision,
    users: a.users.map((u) => ({ name: u.name, password: new TextEncoder().encode(u.password), roles: u.roles, noPassword: u.noPassword })),
    roles: a.roles.map((r) => ({ name: r.name, permissions: r.perms.map((p) => ({ permType: p.permType, key: p.key, rangeEnd: p.rangeEnd })) })),
  };
}

/** hist rows in id order (= revision order) as etcd's key bucket records. */
function* keyRecords(db: DbFile): Generator<KeyRecord> {
  let rev = -1n;
  let sub = 0n;
  // hist(id, rev, key, value, create_rev, version, lease, tomb, prev)
  for (const row of db.rows("hist")) {
    const [, r, key, value, createRev, version, lease, tomb] = row as [bigint, bigint, Uint8Array, Uint8Array | null, bigint, bigint, bigint, bigint];
    sub = r === rev ? sub + 1n : 0n;
    rev = r;
    const tombstone = tomb === 1n;
    yield {
      revision: { main: r, sub, tombstone },
      kv: tombstone
        ? { key, createRevision: 0n, modRevision: 0n, version: 0n, value: new Uint8Array(0), lease: 0n }
        : { key, createRevision: createRev, modRevision: r, version, value: value ?? new Uint8Array(0), lease },
    };
  }
}

/** Reads an etcd snapshot file; the trailing sha256, when there, must match unless skipped. */
export function readEtcdSnapshot(path: string, skipHashCheck: boolean): { backend: EtcdBackend; hashed: boolean } {
  const file = readFileSync(path);
  let db: Uint8Array;
  let hashed: boolean;
  if (skipHashCheck) {
    hashed = hasSnapshotHash(file.length);
    db = hashed ? file.subarray(0, file.length - 32) : file;
  } else {
    ({ db, hashed } = stripSnapshotHash(file));
  }
  return { backend: decodeEtcdBackend(new BoltReader(db)), hashed };
}

/**
 * Builds our database at `dbPath` (which must not exist) from an etcd snapshot's buckets: history,
 * compaction point, leases, members. Returns the store's revision.
 */
export function importEtcdBackend(e: EtcdBackend, dbPath: string): bigint {
  const b = new Backend(dbPath);
  try {
    // etcd deletes compacted rows in batches after recording the scheduled point: a snapshot taken
    // meanwhile has rows below `scheduled` partly gone. As etcd's restore, start from the finished
    // point and finish the compaction, so reads between the two fail as compacted, not wrongly.
    const finished = e.finishedCompactRevision ?? 0n;
    const scheduled = e.scheduledCompactRevision ?? 0n;
    const records = function* (): Generator<HistoryRecord> {
      for (const r of e.keys) {
        yield {
          rev: r.revision.main,
          key: r.kv.key,
          value: r.kv.value,
          createRevision: r.kv.createRevision,
          version: r.kv.version,
          lease: r.kv.lease,
          tombstone: r.revision.tombstone,
        };
      }
    };
    const { revision } = importHistory(b, records(), { currentRevision: 0n, compactRevision: finished });
    if (scheduled > finished) new MvccStore(b).compact(scheduled); // synchronously: offline
    const leases = new LeaseTable(b);
    b.batch(() => {
      for (const l of e.leases) leases.put({ id: l.id, ttl: Number(l.ttl), remainingTtl: Number(l.remainingTtl) });
      b.setMeta("members", membersToJson(e.members.map((m) => ({ id: m.id, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner }))));
      b.setMeta("consistent_index", e.consistentIndex ?? 0n);
      // Users, roles and the auth switch come along: a cluster closed at the source stays closed.
      if (e.authEnabled || e.users.length || e.roles.length) {
        writeAuthSnapshot(
          {
            enabled: !!e.authEnabled,
            revision: e.authRevision ?? 1n,
            users: e.users.map((u) => ({ name: u.name, password: new TextDecoder().decode(u.password), roles: [...u.roles], noPassword: u.noPassword })),
            roles: e.roles.map((r) => ({ name: r.name, perms: r.permissions.map((p) => ({ permType: p.permType, key: p.key, rangeEnd: p.rangeEnd })) })),
          },
          (name, value) => b.setMeta(name, value),
        );
      }
    });
    if (!b.checkpoint()) throw new Error(`could not make ${dbPath} durable (checkpoint incomplete)`);
    return revision;
  } finally {
    b.close();
  }
}

/**
 * Runs exportEtcdSnapshot in a child process of this binary, so converting a large database never
 * blocks the server's event loop (heartbeats, clients). `self` is how to start this program.
 */
export function exportInChildProcess(self: string[]): (dbPath: string, out: string) => Promise<void> {
  // One conversion at a time: each holds two database-sized files in member/snap, so concurrent
  // snapshot calls queue rather than fill the disk together.
  let last: Promise<unknown> = Promise.resolve();
  const convert = (dbPath: string, out: string) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn(self[0], [...self.slice(1), EXPORT_COMMAND, dbPath, out], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr!.on("data", (d) => (err += d));
      child.once("error", (e) => reject(new Error(`converting the snapshot to etcd's format: cannot start ${self[0]}: ${e.message}`)));
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`converting the snapshot to etcd's format failed (exit ${code}): ${err.trim()}`))));
    });
  return (dbPath, out) => {
    const run = last.then(() => convert(dbPath, out));
    last = run.catch(() => {});
    return run;
  };
}

/** The internal command the child runs: `etcd __export-etcd-snapshot <db> <out>`. */
export const EXPORT_COMMAND = "__export-etcd-snapshot";
