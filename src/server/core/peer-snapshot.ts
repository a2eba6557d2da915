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
    const received = new TextDecoder().decode(snap.data);
    // Only files the peer transport stored in this member's snap directory (receiveSnapshot).
    if (!received.startsWith(SNAPSHOT_FILE_REF) || dirname(received.slice(SNAPSHOT_FILE_REF.length)) !== dirname(path)) {
      throw new Error("received a Raft snapshot without a database file; refusing to install it");
    }
    const tmp = `${path}.incoming`;
    for (const suffix of ["", "-wal", "-shm"]) rmSync(tmp + suffix, { force: true });
    renameSync(received.slice(SNAPSHOT_FILE_REF.length), tmp);
    const incoming = new Backend(tmp);
    const covers = (incoming.getMeta("consistent_index") as bigint | undefined) ?? 0n;
    if (covers < BigInt(snap.meta.index)) {
      incoming.close();
      throw new Error(`the leader's database covers index ${covers}, short of its snapshot's ${snap.meta.index}; refusing to install it`);
    }
    const cs = snap.meta.confState;
    incoming.batch(() => incoming.setMeta("raft_snapshot", JSON.stringify({ ...snap.meta, confState: { voters: cs.voters.map(hex), learners: cs.learners.map(hex) } })));
    incoming.checkpoint();
    incoming.close();
    current.close();
    for (const suffix of ["-wal", "-shm"]) rmSync(path + suffix, { force: true });
    renameSync(tmp, path);
    removeLeftoverSnapshots(dirname(path));
    return this.#open(path);
  }
}
