import { renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { Backend } from "../../backend/backend.ts";
import type { Clock } from "../../pkg/clock.ts";
import type { Message, Snapshot } from "../../raft/types.ts";
import { hex } from "./membership.ts";
import { removeLeftoverSnapshots } from "./recover.ts";
import type { PeerSnapshot } from "./transport.ts";

import type { Log } from "./server-options.ts";

/** Prefix of a Raft snapshot's data that names a received database file instead of holding it. */
const SNAPSHOT_FILE_REF = "etcd-ts-snapshot-file:";
/** How long a database copy made for followers is reused (Raft re-sends after a failed delivery). */
const REUSE_MS = 30_000;

/**
 * Raft snapshots are the whole database (its consistent index at or past the snapshot's index, so
 * the follower re-applies nothing twice), shipped on their own connection: the copy a leader sends
 * and the file a follower installs.
 */
export class PeerSnapshots {
  #backend: () => Backend;
  #applied: () => bigint;
  #clock: Clock;
  #log: Log;
  #open: (path: string) => Backend;
  #copy: { db: Promise<PeerSnapshot>; path: string; at: number; applied: bigint } | null = null;
  #seq = 0;

  constructor(o: { backend: () => Backend; applied: () => bigint; clock: Clock; log: Log; open?: (path: string) => Backend }) {
    this.#backend = o.backend;
    this.#applied = o.applied;
    this.#clock = o.clock;
    this.#open = o.open ?? ((path) => new Backend(path));
    this.#log = o.log;
  }

  /** Ships the database to a follower that needs a snapshot; the copy is made without stalling this member. */
  send(m: Message, ship: (m: Message, db: PeerSnapshot) => void, failed: () => void): void {
    this.#forPeers(BigInt(m.snapshot?.meta.index ?? 0)).then(
      (db) => ship(m, db),
      (err) => {
        this.#log("warn", "could not copy the database for a snapshot", { "remote-peer-id": hex(m.to), error: err instanceof Error ? err.message : String(err) });
        failed();
      },
    );
  }

  /**
   * The database copy sent to lagging followers, reused for a while: copying the whole database for
   * each retry would cost this member. A replaced copy is unlinked at once; a transfer still reading
   * it holds it open.
   */
  #forPeers(index: bigint): Promise<PeerSnapshot> {
    const now = this.#clock.now();
    // A copy older than the snapshot's index would leave the follower without the entries between.
    if (!this.#copy || now - this.#copy.at > REUSE_MS || this.#copy.applied < index) {
      this.drop();
      const path = `${this.#backend().path}.send-${++this.#seq}`;
      const applied = this.#applied(); // copyTo copies what is applied now (it commits before its first await)
      const db = this.#backend()
        .copyTo(path)
        .then((d) => ({ path, ...d }));
      this.#copy = { db, path, at: now, applied };
      this.#clock.after(REUSE_MS, () => this.#copy?.path === path && this.drop());
      db.catch(() => {
        if (this.#copy?.path === path) this.#copy = null;
        rmSync(path, { force: true });
      });
    }
    return this.#copy.db;
  }

  drop(): void {
    if (this.#copy) rmSync(this.#copy.path, { force: true });
    this.#copy = null;
  }

  /** A received database file nothing will install (stale, or this member is stopping). */
  static discard(path: string): void {
    rmSync(path, { force: true });
  }

  /** The Raft snapshot's data for a received database file (Raft carries it as the snapshot's data). */
  static reference(path: string): Uint8Array {
    return new TextEncoder().encode(SNAPSHOT_FILE_REF + path);
  }

  /**
   * Replaces the database with the leader's. The new file is stamped with the Raft snapshot it stands
   * for before it is renamed into place, so a crash at any point leaves either the old database or
   * the new one together with what Raft needs to resume from it (recover.ts). Returns the new backend.
   */
  install(snap: Snapshot, current: Backend): Backend {
    const path = current.path;
    const received = receivedFile(snap, path);
    const tmp = `${path}.incoming`;
    for (const suffix of ["", "-wal", "-shm"]) rmSync(tmp + suffix, { force: true });
    renameSync(received, tmp);
    const incoming = new Backend(tmp);
    const covers = (incoming.getMeta("consistent_index") as bigint | undefined) ?? 0n;
    if (covers < BigInt(snap.meta.index)) {
      incoming.close();
      throw new Error(`the leader's database covers index ${covers}, short of its snapshot's ${snap.meta.index}; refusing to install it`);
    }
    stamp(incoming, snap);
    incoming.checkpoint();
    incoming.close();
    current.close();
    for (const suffix of ["-wal", "-shm"]) rmSync(path + suffix, { force: true });
    renameSync(tmp, path);
    removeLeftoverSnapshots(dirname(path));
    return this.#open(path);
  }

  /**
   * The leader's snapshot is not newer than what this member applied: a member that installed a
   * database and crashed before its WAL said so restarts with Raft behind its database, and may be
   * sent an older snapshot. Replacing the database then would move its state back (etcd never has
   * applied > committed, and panics on such a snapshot). The database already holds everything the
   * snapshot stands for: keep it, stamp it, drop the received file.
   */
  keep(snap: Snapshot, current: Backend): void {
    rmSync(receivedFile(snap, current.path), { force: true });
    stamp(current, snap);
    current.commit();
  }
}

/** The received database file a Raft snapshot refers to; only files the peer transport stored beside the database. */
function receivedFile(snap: Snapshot, dbPath: string): string {
  const received = new TextDecoder().decode(snap.data);
  if (!received.startsWith(SNAPSHOT_FILE_REF) || dirname(received.slice(SNAPSHOT_FILE_REF.length)) !== dirname(dbPath)) {
    throw new Error("received a Raft snapshot without a database file; refusing to install it");
  }
  return received.slice(SNAPSHOT_FILE_REF.length);
}

/** Records in the database the Raft snapshot it stands for (recover.ts resumes from it after a crash). */
function stamp(b: Backend, snap: Snapshot): void {
  const cs = snap.meta.confState;
  b.batch(() => b.setMeta("raft_snapshot", JSON.stringify({ ...snap.meta, confState: { voters: cs.voters.map(hex), learners: cs.learners.map(hex) } })));
}
