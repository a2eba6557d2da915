// The contents of one snapshot file, as etcd writes it: a snappb.snapshot whose
// data is a marshalled raftpb.Snapshot and whose crc is the CRC-32C of data.
import { crc32c } from "../pkg/crc32c";
import { encodeWithHeadroom } from "../proto/encode.ts";
import { raftpb, snappb } from "../proto/etcd.js";

/** A raftpb.Snapshot with the fields a snapshot file must carry. */
export type RaftSnapshot = {
  metadata: { index: bigint; term: bigint; confState: raftpb.ConfState.$Properties };
  data: Uint8Array;
};

export type DecodedSnapFile = { ok: true; snapshot: RaftSnapshot } | { ok: false; reason: string };

export function encodeSnapFile(snapshot: RaftSnapshot): Uint8Array {
  const { index, term, confState } = snapshot.metadata;
  const data = encodeWithHeadroom(raftpb.Snapshot, { data: snapshot.data, metadata: { index, term, confState } });
  return encodeWithHeadroom(snappb.snapshot, { crc: crc32c(data), data });
}

/**
 * Checks and decodes a snapshot file. Every way the bytes can be wrong is a
 * `{ ok: false }` with the reason, never a throw, so the caller can set the
 * file aside and try an older one.
 */
export function decodeSnapFile(bytes: Uint8Array): DecodedSnapFile {
  if (bytes.length === 0) return { ok: false, reason: "the file is empty" };
  let outer: snappb.snapshot;
  try {
    outer = snappb.snapshot.decode(bytes);
  } catch (error) {
    return { ok: false, reason: `cannot decode snappb.snapshot: ${(error as Error).message}` };
  }
  // etcd refuses these as empty snapshots too: a real one always has data, and a zero crc is a cleared file.
  if (outer.data.length === 0 || outer.crc === 0) return { ok: false, reason: "the snapshot data or its crc is empty" };
  const crc = crc32c(outer.data);
  if (crc !== outer.crc) {
    return { ok: false, reason: `crc mismatch: the file records ${hex32(outer.crc)}, the data hashes to ${hex32(crc)}` };
  }
  let inner: raftpb.Snapshot;
  try {
    inner = raftpb.Snapshot.decode(outer.data);
  } catch (error) {
    return { ok: false, reason: `cannot decode raftpb.Snapshot: ${(error as Error).message}` };
  }
  const m = inner.metadata;
  if (m == null) return { ok: false, reason: "raftpb.Snapshot has no metadata" };
  const cs = m.confState;
  return {
    ok: true,
    snapshot: {
      metadata: {
        index: m.index ?? 0n,
        term: m.term ?? 0n,
        confState: {
          voters: [...(cs?.voters ?? [])],
          learners: [...(cs?.learners ?? [])],
          votersOutgoing: [...(cs?.votersOutgoing ?? [])],
          learnersNext: [...(cs?.learnersNext ?? [])],
          autoLeave: cs?.autoLeave ?? false,
        },
      },
      data: plain(inner.data),
    },
  };
}

// Decoded bytes are Buffer views of the file; hand out a plain Uint8Array of its own.
function plain(bytes: Uint8Array | null | undefined): Uint8Array {
  return bytes ? new Uint8Array(bytes) : new Uint8Array(0);
}

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, "0")}`;
}
