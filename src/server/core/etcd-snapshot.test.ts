import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DbFile } from "../../backend/db-file.ts";
import type { EtcdBackend, KeyRecord } from "../../snap/bbolt/index.ts";
import { readAuthSnapshot } from "./auth/store.ts";
import { importEtcdBackend } from "./etcd-snapshot.ts";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "etcd-snapshot-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const enc = (s: string) => new TextEncoder().encode(s);
const put = (main: bigint, key: string, value: string, createRevision: bigint, version: bigint): KeyRecord => ({
  revision: { main, sub: 0n, tombstone: false },
  kv: { key: enc(key), value: enc(value), createRevision, modRevision: main, version, lease: 0n },
});

function backend(over: Partial<EtcdBackend>): EtcdBackend {
  return { keys: [], leases: [], alarms: [], users: [], roles: [], members: [], removedMembers: [], extra: [], otherBuckets: [], ...over };
}

test("a snapshot taken mid-compaction (scheduled past finished) is compacted to the scheduled point on import", () => {
  // k was put at 2, 3, 4 and 5; etcd had scheduled a compaction at 4, finished the one at 2, and
  // already deleted the row at 2 (and 3 stays until the compaction completes).
  const keys = [put(3n, "k", "c", 2n, 2n), put(4n, "k", "d", 2n, 3n), put(5n, "k", "e", 2n, 4n), put(5n, "other", "x", 5n, 1n)];
  keys[3].revision.sub = 1n;
  const path = join(dir, "db");
  const rev = importEtcdBackend(backend({ keys, finishedCompactRevision: 2n, scheduledCompactRevision: 4n, consistentIndex: 9n }), path);
  expect(rev).toBe(5n);
  const db = DbFile.open(path);
  try {
    expect(db.getMeta("compact_rev")).toBe(4n);
    // The row at 3 is gone: a read at 3 would otherwise answer from a half-compacted history.
    const revs = [...db.rows("hist")].map((r) => r[1]);
    expect(revs).toEqual([4n, 5n, 5n]);
  } finally {
    db.close();
  }
});

test("users, roles and the auth switch come across: a closed cluster stays closed", () => {
  const hash = "$2a$10$abcdefghijklmnopqrstuu5xSXbEGHHw9dn1wPmG2vPrcSJdKqGk2"; // a bcrypt hash, as etcd stores it
  const src = backend({
    authEnabled: true,
    authRevision: 7n,
    users: [{ name: "root", password: enc(hash), roles: ["root"], noPassword: false }],
    roles: [{ name: "app", permissions: [{ permType: 2, key: enc("/app/"), rangeEnd: enc("/app0") }] }],
  });
  const path = join(dir, "db");
  importEtcdBackend(src, path);
  const db = DbFile.open(path);
  try {
    const auth = readAuthSnapshot((n) => db.getMeta(n))!;
    expect(auth.enabled).toBe(true);
    expect(auth.revision).toBe(7n);
    expect(auth.users).toEqual([{ name: "root", password: hash, roles: ["root"], noPassword: false }]);
    expect(auth.roles.map((r) => ({ name: r.name, perms: r.perms.map((p) => [p.permType, Buffer.from(p.key).toString(), Buffer.from(p.rangeEnd).toString()]) }))).toEqual([
      { name: "app", perms: [[2, "/app/", "/app0"]] },
    ]);
  } finally {
    db.close();
  }
});
