import { DB_SYNCED_COPY_SUFFIX, recordingSyncs } from "../../pkg/failpoint.ts";
import type { MemoryStorage } from "../../raft/storage.ts";
import type { ConfState } from "../../raft/types.ts";
import type { Snapshotter } from "../../snap/snapshotter.ts";
import type { MemberState } from "./member-state.ts";
import { membersToJson } from "./membership.ts";
import { snapshotRecord } from "./raft-wal.ts";
import type { Log, WalStore } from "./server-options.ts";

/** Entries the leader keeps after a checkpoint so a briefly lagging follower catches up from the log (etcd's default). */
const CATCH_UP_ENTRIES = 5000;

export interface LogCheckpointDeps {
  state: MemberState;
  storage: MemoryStorage;
  wal: WalStore;
  snapshotter: Snapshotter;
  confState: () => ConfState;
  snapshotCount: number;
  snapshotCatchupEntries?: number;
  maxWals?: number;
  maxSnapshots?: number;
  failpoint: (name: string) => void;
  log: Log;
}

/**
 * Every --snapshot-count applied entries (etcd's triggerSnapshot): makes the database durable,
 * records where the log may now start, and releases the WAL segments and .snap files no longer needed.
 */
export class LogCheckpoint {
  readonly #d: LogCheckpointDeps;

  constructor(deps: LogCheckpointDeps) {
    this.#d = deps;
  }

  due(sinceCheckpoint: number): boolean {
    return sinceCheckpoint >= this.#d.snapshotCount;
  }

  async run(): Promise<void> {
    const d = this.#d;
    d.state.backend.sync();
    if (recordingSyncs()) d.state.backend.writeCopy(d.state.backend.path + DB_SYNCED_COPY_SUFFIX);
    const storage = d.storage;
    const applied = Number(d.state.applied);
    // Keep some entries for followers that lag a little; a small --snapshot-count asks for a small log.
    const compactTo = applied - Math.min(d.snapshotCatchupEntries ?? CATCH_UP_ENTRIES, d.snapshotCount);
    if (compactTo <= storage.snapshot.meta.index || compactTo >= storage.lastIndex()) return;
    const cs = d.confState();
    storage.createSnapshot(compactTo, cs, new Uint8Array(0));
    storage.compact(compactTo);
    d.failpoint("raftBeforeSaveSnap");
    await d.wal.append([snapshotRecord(compactTo, storage.snapshot.meta.term, cs.voters, cs.learners)]);
    // As etcd's member/snap/*.snap: the Raft snapshot (index, term, voters) with the membership;
    // the state itself is the database beside it.
    const term = BigInt(storage.snapshot.meta.term);
    await d.snapshotter.save({
      metadata: { index: BigInt(compactTo), term, confState: { voters: cs.voters, learners: cs.learners } },
      data: new TextEncoder().encode(membersToJson(d.state.members)),
    });
    d.failpoint("raftAfterSaveSnap");
    const maxSnapshots = d.maxSnapshots ?? 5;
    const purgedSnaps = maxSnapshots > 0 ? await d.snapshotter.purge(maxSnapshots) : [];
    const removed = await d.wal.purge(BigInt(compactTo), { maxSegments: d.maxWals ?? 5 });
    d.failpoint("raftAfterWALRelease");
    if (removed.length || purgedSnaps.length) d.log("info", "purged old files", { wals: removed.length, snapshots: purgedSnaps.length, appliedIndex: d.state.applied });
  }
}
