// The first frame each side sends on a new peer connection: a fixed 38-byte record
//   "etcd-ts-peer/1" (14 ASCII bytes) | u64be cluster id | u64be sender member id | u64be receiver member id
// The dialer sends it; the acceptor checks it and answers with its own (sender = itself), also when it
// refuses, so that the dialer can log what it reached before the acceptor closes the connection.
import { FRAME_HEADER_BYTES } from "./frame.ts";

export const HANDSHAKE_MAGIC = "etcd-ts-peer/1";
const MAGIC = Buffer.from(HANDSHAKE_MAGIC, "ascii");
export const HANDSHAKE_BYTES = MAGIC.length + 24;
/** Frame limit before the handshake: a stranger cannot make us buffer more than this. */
export const HANDSHAKE_MAX_FRAME_BYTES = 64;

export interface Handshake {
  clusterId: bigint;
  /** sender's member id */
  from: bigint;
  /** the member id the sender means to reach */
  to: bigint;
}

/** The handshake as a complete frame (length header included). */
export function encodeHandshakeFrame(h: Handshake): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + HANDSHAKE_BYTES);
  out.writeUInt32BE(HANDSHAKE_BYTES, 0);
  MAGIC.copy(out, FRAME_HEADER_BYTES);
  let o = FRAME_HEADER_BYTES + MAGIC.length;
  out.writeBigUInt64BE(BigInt.asUintN(64, h.clusterId), o);
  out.writeBigUInt64BE(BigInt.asUintN(64, h.from), (o += 8));
  out.writeBigUInt64BE(BigInt.asUintN(64, h.to), (o += 8));
  return out;
}

/** Decodes a handshake frame's payload; a string says why it is not one. */
export function decodeHandshake(payload: Uint8Array): Handshake | string {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (b.length !== HANDSHAKE_BYTES || !b.subarray(0, MAGIC.length).equals(MAGIC)) return `not an ${HANDSHAKE_MAGIC} handshake`;
  const o = MAGIC.length;
  return { clusterId: b.readBigUInt64BE(o), from: b.readBigUInt64BE(o + 8), to: b.readBigUInt64BE(o + 16) };
}
