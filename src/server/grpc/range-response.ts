// The gRPC answer to a Range whose kvs the store wrote straight to the wire (EtcdServer.rangeEncoded):
// the RangeResponse's other fields are put around those bytes, and the whole goes out as one framed
// message in chunks — a Range of a million keys is never a million objects, nor copied into one buffer.
import { ChunkWriter, WireType } from "../../proto/chunk-writer.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import type { AuthInfo } from "../core/auth/store.ts";
import type { EtcdServer } from "../core/server.ts";
import { Framed } from "./grpc-server.ts";

/** The framed RangeResponse, or null when the request needs the ordinary path (EtcdServer.range). */
export async function encodedRange(s: EtcdServer, r: etcdserverpb.RangeRequest.$Properties, ai: AuthInfo | undefined): Promise<Framed | null> {
  const kvs = new ChunkWriter();
  const out = await s.rangeEncoded(r, kvs, ai);
  if (!out) return null;
  const kvsBytes = kvs.length;
  const kvsChunks = kvs.finish();
  // Fields in number order: header (1), kvs (2, already written), more (3), count (4).
  const head = new ChunkWriter(5);
  const header = etcdserverpb.ResponseHeader.encode(out.header).finish();
  head.tag(1, WireType.LEN);
  head.varint(header.length);
  head.raw(header);
  const tail = new ChunkWriter();
  tail.boolField(3, out.more);
  tail.int64Field(4, out.count);
  const bytes = head.length + kvsBytes + tail.length;
  const [first, ...restOfHead] = head.finish();
  first[0] = 0; // not compressed
  first.writeUInt32BE(bytes, 1);
  return new Framed([first, ...restOfHead, ...kvsChunks, ...tail.finish()], bytes);
}
