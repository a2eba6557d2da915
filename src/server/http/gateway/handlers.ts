/**
 * The gRPC method table as the HTTP side calls it. These types mirror server/grpc's Handler and Call
 * (which server/http may not import): the same table, `etcdHandlers(server)`, serves both.
 */
import protobuf from "protobufjs/minimal.js";
import { EtcdError, GrpcCode } from "../../../pkg/errors.ts";
import * as pb from "../../../proto/etcd.js";
import { methods } from "../../../proto/services.ts";

export interface GatewayCall {
  /** Aborted when the HTTP client goes away. */
  readonly signal: AbortSignal;
  readonly headers: Record<string, string>;
  /** server/grpc's Call.tlsCommonName: the verified client certificate's CN (pkg/tls-identity.ts). */
  readonly tlsCommonName?: string;
}

export type Send = (msg: unknown) => Promise<void>;

/**
 * A method's call counters (grpc_server_started_total / grpc_server_handled_total): server/grpc's
 * MethodMetrics, which main.ts attaches to the table's entries (`withMethodMetrics`). etcd's gateway
 * calls go through its gRPC server, so they are counted under the gRPC method; so are ours.
 */
export interface CallCounter {
  readonly started: { inc(): void };
  /** The call ended with this gRPC status code. */
  handled(code: number): void;
  /** A request message was taken / a response message went out (grpc_server_msg_*_total). */
  received?(): void;
  sent?(): void;
}

export type GatewayHandler = (
  | { kind: "unary"; handle(req: any, call: GatewayCall): Promise<unknown> | unknown }
  | { kind: "serverStream"; handle(req: any, call: GatewayCall, send: Send): Promise<void> }
  | { kind: "bidi"; handle(reqs: AsyncIterable<any>, call: GatewayCall, send: Send): Promise<void> }
) & { readonly metrics?: CallCounter };

export type HandlerTable = Readonly<Record<string, GatewayHandler>>;

export interface Codec {
  encode(message: any, writer?: protobuf.Writer): protobuf.Writer;
  decode(bytes: Uint8Array): any;
}

export interface MethodInfo {
  readonly path: string;
  readonly service: string;
  readonly method: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly request: Codec;
  readonly response: Codec;
  readonly clientStream: boolean;
  readonly serverStream: boolean;
}

function codecFor(typeName: string): Codec {
  let t: any = pb;
  for (const part of typeName.split(".")) t = t?.[part];
  if (!t?.encode) throw new Error(`no generated code for ${typeName}`);
  return t as Codec;
}

const byPath = new Map<string, MethodInfo>();

/** The method's types and codecs (from the generated method table). */
export function methodInfo(path: string): MethodInfo {
  let info = byPath.get(path);
  if (!info) {
    const m = methods.find((x) => x.path === path);
    if (!m) throw new Error(`unknown gRPC method ${path}`);
    info = {
      path,
      service: m.service,
      method: m.method,
      requestType: m.request,
      responseType: m.response,
      request: codecFor(m.request),
      response: codecFor(m.response),
      clientStream: m.clientStream,
      serverStream: m.serverStream,
    };
    byPath.set(path, info);
  }
  return info;
}

/** What the gRPC server answers for a method the table lacks (so both sides say the same). */
export function unimplemented(table: HandlerTable, info: MethodInfo): EtcdError {
  const known = Object.keys(table).some((p) => p.startsWith(`/${info.service}/`));
  return new EtcdError(GrpcCode.Unimplemented, known ? `unknown method ${info.method} for service ${info.service}` : `unknown service ${info.service}`);
}

/**
 * A message exactly as the gRPC side would see it after the wire: encoded and decoded again, so
 * absent fields read as protobufjs defaults and present-but-default ones are as etcd's wire has them.
 * `maxBytes` is the gRPC server's receive limit (requests only).
 */
export function throughWire(codec: Codec, msg: unknown, maxBytes = Infinity): any {
  const bytes = codec.encode(msg).finish();
  if (bytes.length > maxBytes) {
    throw new EtcdError(GrpcCode.ResourceExhausted, `grpc: received message larger than max (${bytes.length} vs. ${maxBytes})`);
  }
  return codec.decode(bytes);
}
