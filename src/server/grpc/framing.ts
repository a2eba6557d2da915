// gRPC framing lives in pkg/grpc-framing.ts, shared with the client; server code imports it from here.
export { encodeGrpcMessage, frame, MessageReader, parseGrpcTimeoutMs, SERVER_DEADLINE_GRACE_MS, serverDeadlineMs } from "../../pkg/grpc-framing.ts";
