/**
 * What an etcd member rebuilds from its WAL at restart, from records read by read.ts:
 * - the snapshot markers it may start from (etcd's ValidSnapshotEntries: those at or below the
 *   newest hard state's commit index);
 * - from a chosen marker on, the metadata, the newest hard state and the entries after the marker
 *   (etcd's ReadAll: reading starts at the segment holding the marker's index, and an entry at an
 *   index already seen replaces it and everything after it — the log a leader overwrote).
 */
import { etcdserverpb, raftpb, walpb } from "../../proto/etcd.js";
import { EtcdRecordType } from "./format.ts";
import type { EtcdWalContents, EtcdWalRecord } from "./read.ts";

export interface EtcdEntry {
  index: bigint;
  term: bigint;
  /** raftpb.EntryType: 0 normal, 1 conf change, 2 conf change v2. */
  type: number;
  data: Uint8Array;
}

export interface EtcdHardState {
  term: bigint;
  vote: bigint;
  commit: bigint;
}

export interface EtcdWalSnapshot {
  index: bigint;
  term: bigint;
  /** Written by etcd 3.5 and later; 3.4's markers carry index and term only. */
  confState?: { voters: bigint[]; learners: bigint[] };
}

export interface EtcdWalLog {
  memberId: bigint;
  clusterId: bigint;
  hardState: EtcdHardState;
  /** Consecutive, starting right after the start marker's index. */
  entries: EtcdEntry[];
}

/** Snapshot markers etcd may start from, newest index last. */
export function etcdWalSnapshots(wal: EtcdWalContents): EtcdWalSnapshot[] {
  const snaps: EtcdWalSnapshot[] = [];
  let commit = 0n;
  for (const r of wal.records) {
    if (r.type === EtcdRecordType.snapshot) snaps.push(decodeSnapshot(wal, r));
    else if (r.type === EtcdRecordType.state) commit = decodeState(wal, r).commit;
  }
  return snaps.filter((s) => s.index <= commit).sort((a, b) => (a.index < b.index ? -1 : a.index > b.index ? 1 : 0));
}

/** The log after `start` (a marker from etcdWalSnapshots, or index 0 term 0 for a WAL never snapshotted). */
export function etcdWalLog(wal: EtcdWalContents, dir: string, start: { index: bigint; term: bigint }): EtcdWalLog {
  let from = -1;
  for (const [i, s] of wal.segments.entries()) if (s.firstIndex <= start.index) from = i;
  if (from < 0) {
    throw new Error(
      `etcd's WAL in '${dir}' has no segment holding index ${start.index} (its first segment is ${wal.segments[0]?.name ?? "missing"}): segments were removed`,
    );
  }
  for (let i = from + 1; i < wal.segments.length; i++) {
    if (wal.segments[i].seq !== wal.segments[i - 1].seq + 1n) {
      throw new Error(`etcd's WAL in '${dir}' misses the segment between ${wal.segments[i - 1].name} and ${wal.segments[i].name}`);
    }
  }
  let metadata: Uint8Array | undefined;
  let hardState: EtcdHardState = { term: 0n, vote: 0n, commit: 0n };
  const entries: EtcdEntry[] = [];
  let matched = false;
  for (const r of wal.records) {
    if (r.segment < from) continue;
    switch (r.type) {
      case EtcdRecordType.entry: {
        const e = decodeEntry(wal, r);
        if (e.index <= start.index) break;
        const at = e.index - start.index - 1n;
        if (at > BigInt(entries.length)) {
          throw new Error(`etcd's WAL in '${dir}' jumps from index ${start.index + BigInt(entries.length)} to ${e.index} (${where(wal, r)}): entries are missing`);
        }
        entries.length = Number(at);
        entries.push(e);
        break;
      }
      case EtcdRecordType.state:
        hardState = decodeState(wal, r);
        break;
      case EtcdRecordType.metadata:
        if (metadata && !Buffer.from(metadata).equals(Buffer.from(r.data))) {
          throw new Error(`etcd's WAL in '${dir}' holds two different metadata records (${where(wal, r)}): it mixes two members' logs`);
        }
        metadata = r.data;
        break;
      case EtcdRecordType.snapshot: {
        const s = decodeSnapshot(wal, r);
        if (s.index === start.index) {
          if (s.term !== start.term) {
            throw new Error(`etcd's WAL in '${dir}' has a snapshot marker at index ${s.index} with term ${s.term}, but the snapshot file says term ${start.term}`);
          }
          matched = true;
        }
        break;
      }
      case EtcdRecordType.crc:
        break;
      default:
        throw new Error(`etcd's WAL in '${dir}' has a record of unknown type ${r.type} (${where(wal, r)})`);
    }
  }
  if (!matched) throw new Error(`etcd's WAL in '${dir}' has no snapshot marker for index ${start.index} term ${start.term}`);
  if (!metadata) throw new Error(`etcd's WAL in '${dir}' has no metadata record (member and cluster id)`);
  const md = decodeOr(wal, { type: EtcdRecordType.metadata, data: metadata, segment: from, offset: 0 }, () => etcdserverpb.Metadata.decode(metadata!));
  return { memberId: md.NodeID, clusterId: md.ClusterID, hardState, entries };
}

function decodeEntry(wal: EtcdWalContents, r: EtcdWalRecord): EtcdEntry {
  const e = decodeOr(wal, r, () => raftpb.Entry.decode(r.data));
  return { index: e.Index, term: e.Term, type: e.Type, data: new Uint8Array(e.Data ?? new Uint8Array(0)) };
}

function decodeState(wal: EtcdWalContents, r: EtcdWalRecord): EtcdHardState {
  const s = decodeOr(wal, r, () => raftpb.HardState.decode(r.data));
  return { term: s.term, vote: s.vote, commit: s.commit };
}

function decodeSnapshot(wal: EtcdWalContents, r: EtcdWalRecord): EtcdWalSnapshot {
  const s = decodeOr(wal, r, () => walpb.Snapshot.decode(r.data));
  const cs = s.confState;
  return { index: s.index, term: s.term, ...(cs ? { confState: { voters: [...(cs.voters ?? [])], learners: [...(cs.learners ?? [])] } } : {}) };
}

/** A record whose checksum matched but whose payload does not decode was written that way. */
function decodeOr<T>(wal: EtcdWalContents, r: EtcdWalRecord, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new Error(`etcd WAL record of type ${r.type} at ${where(wal, r)} does not decode: ${(err as Error).message}`);
  }
}

function where(wal: EtcdWalContents, r: EtcdWalRecord): string {
  return `${wal.segments[r.segment]?.path ?? "?"} byte offset ${r.offset}`;
}
