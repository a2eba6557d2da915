/**
 * An etcd member's bbolt database → our SQLite database, as the same member would have it: every
 * retained revision as it is (mvcc/import-history.ts), the compaction point (a compaction etcd had
 * scheduled but not finished is finished), leases with their TTLs, users, roles, bcrypt hashes, the
 * auth switch and revision, alarms (the cluster and its member ids stay the same, so they still
 * mean what they said), the consistent index, and the membership the caller worked out from the
 * WAL (etcd's members bucket is not what etcd 3.4/3.5 serve: after `etcdctl snapshot restore` it
 * still lists the old cluster's members).
 * Unlike importEtcdBackend (snapshot restore), it reports progress while it copies the history.
 */
import { Backend } from "../../../backend/backend.ts";
import { LeaseTable } from "../../../lease/lease-table.ts";
import { importHistory, type HistoryRecord } from "../../../mvcc/import-history.ts";
import { MvccStore } from "../../../mvcc/store.ts";
import type { EtcdBackend } from "../../../snap/bbolt/index.ts";
import { writeAuthSnapshot } from "../auth/store.ts";
import { hex, type MemberInfo, membersToJson } from "../membership.ts";

/** A progress line per this many revisions copied (about a second's work). */
const PROGRESS_EVERY_ROWS = 100_000;

export interface ImportedDb {
  /** The store's revision (as of the consistent index). */
  revision: bigint;
  compactRevision: bigint;
  /** Live keys. */
  keys: number;
  /** History rows (revisions of keys) copied. */
  rows: number;
}

export function importEtcdDb(
  e: EtcdBackend,
  dbPath: string,
  opts: { members: MemberInfo[]; consistentIndex: bigint; progress(done: number, total: number): void },
): ImportedDb {
  const b = new Backend(dbPath);
  try {
    const finished = e.finishedCompactRevision ?? 0n;
    const scheduled = e.scheduledCompactRevision ?? 0n;
    const total = e.keys.length;
    const records = function* (): Generator<HistoryRecord> {
      for (let i = 0; i < total; i++) {
        const r = e.keys[i];
        if (i > 0 && i % PROGRESS_EVERY_ROWS === 0) opts.progress(i, total);
        yield { rev: r.revision.main, key: r.kv.key, value: r.kv.value, createRevision: r.kv.createRevision, version: r.kv.version, lease: r.kv.lease, tombstone: r.revision.tombstone };
      }
      if (total >= PROGRESS_EVERY_ROWS) opts.progress(total, total);
    };
    const { revision, rows } = importHistory(b, records(), { currentRevision: 0n, compactRevision: finished });
    // Rows below a compaction etcd had only scheduled may be partly gone: finish it, as etcd does at start.
    if (scheduled > finished) new MvccStore(b).compact(scheduled);
    const leases = new LeaseTable(b);
    b.batch(() => {
      for (const l of e.leases) leases.put({ id: l.id, ttl: Number(l.ttl), remainingTtl: Number(l.remainingTtl) });
      b.setMeta("members", membersToJson(opts.members));
      b.setMeta("consistent_index", opts.consistentIndex);
      if (e.alarms.length) b.setMeta("alarms", JSON.stringify(e.alarms.map((a) => ({ memberID: hex(a.memberId), alarm: a.alarm }))));
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
    const keys = Number(b.prepare("SELECT count(*) FROM cur WHERE live = 1").values()[0][0]);
    if (!b.checkpoint()) throw new Error(`could not make ${dbPath} durable (checkpoint incomplete)`);
    return { revision, compactRevision: scheduled > finished ? scheduled : finished, keys, rows };
  } finally {
    b.close();
  }
}
