import protobuf from "protobufjs/minimal.js";

/** A generated message type's encoder. */
export interface Encoder<T> {
  encode(message: T, writer?: protobuf.Writer): protobuf.Writer;
}

// One writer, reused: it keeps the capacity it grew to, so encoding allocates only the result.
const shared = protobuf.Writer.create();

/**
 * Encodes a message into a new buffer with `headroomBytes` left free in front (e.g. 5 for a gRPC frame
 * header), copying the bytes once. Encoding is synchronous, so one shared writer is safe.
 */
export function encodeWithHeadroom<T>(type: Encoder<T>, message: T, headroomBytes = 0): Buffer {
  shared.reset();
  (shared as unknown as { states: number[] | null }).states = null;
  type.encode(message, shared);
  const out = Buffer.allocUnsafe(headroomBytes + shared.pos);
  shared.finishInto(out, headroomBytes);
  shared.reset();
  return out;
}
