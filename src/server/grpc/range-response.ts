// The gRPC answer to a Range whose kvs the store wrote straight to the wire (EtcdServer.rangeEncoded):
// the RangeResponse's other fields are put around those bytes, and the whole goes out as one framed
// message in chunks — a Range of a million keys is never a million objects, nor copied into one buffer.
import { ChunkWriter, WireType } from "../../proto/chunk-writer.ts";
import { RESPONSE_HEADER_BYTES_MAX, writeResponseHeader } from "../../proto/response-header.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import type { AuthInfo } from "../core/auth/store.ts";
import type { EtcdServer } from "../core/server.ts";
import { Framed } from "./grpc-server.ts";

/** Bytes in front of the kvs: the 5-byte gRPC prefix, the header's tag and length, the header itself. */
const HEAD_BYTES_MAX = 5 + 2 + RESPONSE_HEADER_BYTES_MAX;
/** Where the head is put together (encoding is synchronous; the bytes are copied into the answer). */
const head = Buffer.alloc(HEAD_BYTES_MAX);

/**
 * The framed RangeResponse, or null when the request needs the ordinary path (EtcdServer.range). One
 * writer: the kvs go behind room left for the head, which is written once the header is known.
 */
export async function encodedRange(s: EtcdServer, r: etcdserverpb.RangeRequest.$Properties, ai: AuthInfo | undefined): Promise<Framed | null> {
  const w = new ChunkWriter(HEAD_BYTES_MAX);
  const out = await s.rangeEncoded(r, w, ai);
  if (!out) return null;
  // Fields in number order: header (1), kvs (2, already written), more (3), count (4).
  w.boolField(3, out.more);
  w.int64Field(4, out.count);
  head[5] = (1 << 3) | WireType.LEN;
  const end = writeResponseHeader(head, 7, out.header);
  head[6] = end - 7; // < 128: one byte of length
  const bytes = end - 5 + w.length;
  head[0] = 0; // not compressed
  head.writeUInt32BE(bytes, 1);
  return new Framed(w.finishWithPrefix(head.subarray(0, end)), bytes);
}
