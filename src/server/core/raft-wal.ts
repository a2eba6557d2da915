import type { Ready } from "../../raft/raw-node.ts";
import { decodeEntry, decodeHardState, encodeEntry, encodeHardState } from "../../raft/codec.ts";
import { MemoryStorage } from "../../raft/storage.ts";
import type { Entry, HardState } from "../../raft/types.ts";
import { encodeWithHeadroom } from "../../proto/encode.ts";
import { etcdserverpb, walpb } from "../../proto/etcd.js";
import { Wal, type WalRecord } from "../../wal/wal.ts";

/** WAL record types (the WAL itself never interprets them). */
export const RecordType = { entry: 1, hardState: 2, metadata: 3, snapshot: 4 } as const;

export function metadataRecord(memberId: bigint, clusterId: bigint): WalRecord {
  return { type: RecordType.metadata, data: encodeWithHeadroom(etcdserverpb.Metadata, { NodeID: memberId, ClusterID: clusterId }) };
}

/** A marker that the log before (index, term) lives in the database, not the WAL (written before a purge). */
export function snapshotRecord(index: number, term: number, voters: bigint[], learners: bigint[]): WalRecord {
  return {
    type: RecordType.snapshot,
    index: BigInt(index),
    data: encodeWithHeadroom(walpb.Snapshot, { index: BigInt(index), term: BigInt(term), confState: { voters, learners } }),
  };
}

/** Where a member's Raft log starts when the state before it lives in the database. */
export interface LogStart {
  index: number;
  term: number;
  voters: bigint[];
  learners: bigint[];
}

/**
 * A WAL written outside the ready loop for a member directory made offline (snapshot restore, adopting
 * an etcd data dir), in the order a restart reads it: who the member is, the snapshot marker the log
 * starts after (none for index 0), the entries after it, the hard state.
 */
export function memberStartRecords(o: { memberId: bigint; clusterId: bigint; start?: LogStart; entries?: readonly Entry[]; hardState: HardState }): WalRecord[] {
  const s = o.start;
  return [
    metadataRecord(o.memberId, o.clusterId),
    ...(s && s.index > 0 ? [snapshotRecord(s.index, s.term, s.voters, s.learners)] : []),
    ...(o.entries ?? []).map((e): WalRecord => ({ type: RecordType.entry, index: BigInt(e.index), data: encodeEntry(e) })),
    hardStateRecord(o.hardState),
  ];
}

/** Records appended per write when a WAL is written offline (an adopted etcd log can be long). */
const OFFLINE_BATCH_RECORDS = 10_000;

/** Writes (and fsyncs) a new WAL in `dir` outside a running server, as restore and adoption build one. */
export async function writeWal(dir: string, records: readonly WalRecord[]): Promise<void> {
  const { wal } = await Wal.open(dir, { log: () => {} });
  try {
    for (let i = 0; i < records.length; i += OFFLINE_BATCH_RECORDS) await wal.append(records.slice(i, i + OFFLINE_BATCH_RECORDS));
  } finally {
    await wal.close();
  }
}

export function readyRecords(rd: Pick<Ready, "entries" | "hardState" | "snapshot">): WalRecord[] {
  const recs: WalRecord[] = rd.entries.map((e) => ({ type: RecordType.entry, index: BigInt(e.index), data: encodeEntry(e) }));
  if (rd.hardState) recs.push(hardStateRecord(rd.hardState));
  // A snapshot from the leader: the log now starts after it, before the entries that follow it.
  if (rd.snapshot) {
    const m = rd.snapshot.meta;
    recs.unshift(snapshotRecord(m.index, m.term, m.confState.voters, m.confState.learners));
  }
  return recs;
}

export function hardStateRecord(hs: HardState): WalRecord {
  return { type: RecordType.hardState, data: encodeHardState(hs) };
}

export interface Replayed {
  storage: MemoryStorage;
  metadata?: { memberId: bigint; clusterId: bigint };
  /** Entries found in the WAL (for the log line). */
  entries: number;
}

/**
 * Rebuilds Raft's durable state from the WAL: the latest snapshot marker, the entries after it, the
 * latest hard state and metadata. The marker goes first whatever its place: once old segments are
 * purged, the oldest one left may begin with entries that the marker written after them covers.
 */
export function replayWal(records: WalRecord[]): Replayed {
  const storage = new MemoryStorage();
  let metadata: Replayed["metadata"];
  let entries = 0;
  let snapshot: walpb.Snapshot | undefined;
  for (const r of records) {
    if (r.type !== RecordType.snapshot) continue;
    const s = walpb.Snapshot.decode(r.data);
    if (!snapshot || s.index > snapshot.index) snapshot = s;
  }
  if (snapshot && snapshot.index > 0n) {
    const confState = { voters: [...(snapshot.confState?.voters ?? [])], learners: [...(snapshot.confState?.learners ?? [])] };
    storage.applySnapshot({ meta: { index: Number(snapshot.index), term: Number(snapshot.term), confState }, data: new Uint8Array(0) });
  }
  for (const r of records) {
    switch (r.type) {
      case RecordType.entry: {
        const e = decodeEntry(r.data);
        if (e.index <= storage.snapshot.meta.index) break; // already inside the snapshot
        if (e.index > storage.lastIndex() + 1) {
          throw new Error(`the WAL lacks entries ${storage.lastIndex() + 1}..${e.index - 1} (a segment is missing): restore the member from a snapshot`);
        }
        storage.append([e]);
        entries++;
        break;
      }
      case RecordType.hardState:
        storage.hardState = decodeHardState(r.data);
        break;
      case RecordType.metadata: {
        const m = etcdserverpb.Metadata.decode(r.data);
        metadata = { memberId: m.NodeID, clusterId: m.ClusterID };
        break;
      }
    }
  }
  return { storage, metadata, entries };
}
