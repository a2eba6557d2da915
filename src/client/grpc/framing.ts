/** gRPC length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length, the message. */
import { GrpcCode } from "../../pkg/errors.ts";
import { MessageReader } from "../../pkg/grpc-framing.ts";
import { type Encoder, encodeWithHeadroom } from "../../proto/encode.ts";

/** Encodes a message straight into a frame (one copy: the header is written into the headroom). */
export function encodeFrame<T>(type: Encoder<T>, message: T): Buffer {
  const out = encodeWithHeadroom(type, message, 5);
  out[0] = 0;
  out.writeUInt32BE(out.length - 5, 1);
  return out;
}

export { decodeGrpcMessage, formatGrpcTimeout as grpcTimeout } from "../../pkg/grpc-framing.ts";

/** The client's reader of response bodies: a compressed message from the server is an Internal error. */
export class FrameDecoder extends MessageReader {
  constructor(maxBytes: number) {
    super(maxBytes, GrpcCode.Internal);
  }
}
