// The first frame each side sends on a new peer connection: a fixed 39-byte record
//   "etcd-ts-peer/2" (14 ASCII bytes) | u8 kind | u64be cluster id | u64be sender member id | u64be receiver member id
// The dialer sends it; the acceptor checks it and answers with its own (sender = itself), also when it
// refuses, so that the dialer can log what it reached before the acceptor closes the connection.
// The kind says what follows: a one-way stream of Raft messages, one snapshot, or one request.
// Over TLS, a side that refuses the other's certificate after the TLS handshake (a name the
// allowed-CN/hostname flags do not allow, a revoked certificate) sends a refusal frame instead,
//   "etcd-ts-refuse" (14 ASCII bytes) | the TLS alert's words ("bad certificate")
// so the refused member logs "remote error: tls: bad certificate", as etcd members do.
import { FRAME_HEADER_BYTES } from "./frame.ts";

export const HANDSHAKE_MAGIC = "etcd-ts-peer/2";
const MAGIC = Buffer.from(HANDSHAKE_MAGIC, "ascii");
export const HANDSHAKE_BYTES = MAGIC.length + 1 + 24;
/** Frame limit before the handshake: a stranger cannot make us buffer more than this. */
export const HANDSHAKE_MAX_FRAME_BYTES = 64;

export const ConnKind = {
  /** raftpb.Message frames, dialer to acceptor, for as long as the connection lives */
  Stream: 0,
  /** one snapshot: header frame, data chunks, then the acceptor's verdict (snapshot-stream.ts) */
  Snapshot: 1,
  /** one request frame, one answer frame (peer-request.ts) */
  Request: 2,
} as const;
export type ConnKind = (typeof ConnKind)[keyof typeof ConnKind];
const MAX_KIND = ConnKind.Request;

export interface Handshake {
  clusterId: bigint;
  /** sender's member id (0: a member that does not know its id yet, asking to join) */
  from: bigint;
  /** the member id the sender means to reach (0 on a request: whoever answers) */
  to: bigint;
  /** absent means Stream */
  kind?: ConnKind;
}

/** The handshake as a complete frame (length header included). */
export function encodeHandshakeFrame(h: Handshake): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + HANDSHAKE_BYTES);
  out.writeUInt32BE(HANDSHAKE_BYTES, 0);
  MAGIC.copy(out, FRAME_HEADER_BYTES);
  let o = FRAME_HEADER_BYTES + MAGIC.length;
  out.writeUInt8(h.kind ?? ConnKind.Stream, o);
  out.writeBigUInt64BE(BigInt.asUintN(64, h.clusterId), (o += 1));
  out.writeBigUInt64BE(BigInt.asUintN(64, h.from), (o += 8));
  out.writeBigUInt64BE(BigInt.asUintN(64, h.to), (o += 8));
  return out;
}

/** Decodes a handshake frame's payload; a string says why it is not one. */
export function decodeHandshake(payload: Uint8Array): Required<Handshake> | string {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (b.length !== HANDSHAKE_BYTES || !b.subarray(0, MAGIC.length).equals(MAGIC)) return `not an ${HANDSHAKE_MAGIC} handshake`;
  const o = MAGIC.length;
  const kind = b.readUInt8(o);
  if (kind > MAX_KIND) return `unknown peer connection kind ${kind}`;
  return { kind: kind as ConnKind, clusterId: b.readBigUInt64BE(o + 1), from: b.readBigUInt64BE(o + 9), to: b.readBigUInt64BE(o + 17) };
}

const REFUSAL = Buffer.from("etcd-ts-refuse", "ascii");

/** A refusal frame (length header included); the words are cut to fit the pre-handshake frame limit. */
export function encodeRefusalFrame(alert: string): Buffer {
  const words = Buffer.from(alert, "utf8").subarray(0, HANDSHAKE_MAX_FRAME_BYTES - REFUSAL.length);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + REFUSAL.length + words.length);
  out.writeUInt32BE(REFUSAL.length + words.length, 0);
  REFUSAL.copy(out, FRAME_HEADER_BYTES);
  words.copy(out, FRAME_HEADER_BYTES + REFUSAL.length);
  return out;
}

/** For a refusal frame's payload, what the refused side logs ("remote error: tls: bad certificate"); else null. */
export function decodeRefusal(payload: Uint8Array): string | null {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (b.length < REFUSAL.length || !b.subarray(0, REFUSAL.length).equals(REFUSAL)) return null;
  const words = b.subarray(REFUSAL.length).toString("utf8").replace(/[^\x20-\x7e]/g, "?");
  return `remote error: tls: ${words}`;
}
