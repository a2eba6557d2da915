// gRPC-web against the compiled binary from Google's grpc-web runtime (npm `grpc-web`, the client that
// protoc-gen-grpc-web's generated code runs on in browsers), used without a code generator: each
// MethodDescriptor gets our protobufjs codecs as its serialize/deserialize functions. The runtime
// talks through XMLHttpRequest; under Bun that is `w3c-xmlhttprequest`, which, as a browser's, fires
// readystatechange and grows responseText per received chunk, so the library can stream.
// Both wire formats: format "text" sends application/grpc-web-text (base64) and streams; format
// "binary" sends application/grpc-web+proto and reads an arraybuffer response, which XMLHttpRequest
// (browsers' too) only hands over once the response is complete, so binary streams are checked
// with Snapshot, which ends, and the open-ended Watch with the text format.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { GrpcWebClientBase, MethodDescriptor, MethodType, StatusCode, type ClientReadableStream, type Metadata, type RpcError } from "grpc-web";
import http from "node:http";
import { XMLHttpRequest as NodeXMLHttpRequest } from "w3c-xmlhttprequest";
import { etcdserverpb, mvccpb } from "../../src/proto/etcd.js";
import { cleanup, startMember, type Member } from "./harness.ts";

/** A method as generated code would declare it, with protobufjs doing the (de)serializing. */
function method<Req, Res>(
  path: string,
  type: string,
  req: { encode(m: Req): { finish(): Uint8Array } },
  res: { decode(b: Uint8Array): Res },
): MethodDescriptor<Req, Res> {
  return new MethodDescriptor<Req, Res>(path, type, Object as never, Object as never, (m: Req) => req.encode(m).finish(), (b: Uint8Array) => res.decode(b));
}

const Put = method("/etcdserverpb.KV/Put", MethodType.UNARY, etcdserverpb.PutRequest, etcdserverpb.PutResponse);
const Range = method("/etcdserverpb.KV/Range", MethodType.UNARY, etcdserverpb.RangeRequest, etcdserverpb.RangeResponse);
const Watch = method("/etcdserverpb.Watch/Watch", MethodType.SERVER_STREAMING, etcdserverpb.WatchRequest, etcdserverpb.WatchResponse);
const Snapshot = method("/etcdserverpb.Maintenance/Snapshot", MethodType.SERVER_STREAMING, etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse);

const FORMATS = [
  { format: "text", requestType: "application/grpc-web-text", responseType: "application/grpc-web-text+proto" },
  { format: "binary", requestType: "application/grpc-web+proto", responseType: "application/grpc-web+proto" },
] as const;

/** The content types of each request the library made and of its answer (grpc-web hides them). */
const wire: { request?: string; response?: string | null }[] = [];

class RecordingXMLHttpRequest extends NodeXMLHttpRequest {
  readonly #record: (typeof wire)[number] = {};

  constructor() {
    super();
    wire.push(this.#record);
    this.addEventListener("loadend", () => (this.#record.response = this.getResponseHeader("content-type")));
  }

  override setRequestHeader(name: string, value: string): void {
    if (name.toLowerCase() === "content-type") this.#record.request = value;
    super.setRequestHeader(name, value);
  }
}

let m: Member;
const hadXhr = "XMLHttpRequest" in globalThis;
const savedXhr = (globalThis as Record<string, unknown>).XMLHttpRequest;
const savedAgent = http.globalAgent;

beforeAll(async () => {
  // grpc-web looks XMLHttpRequest up at each call; install it for this file only.
  (globalThis as Record<string, unknown>).XMLHttpRequest = RecordingXMLHttpRequest;
  // One connection per XHR, as the polyfill expects (on Bun's reused sockets its listeners pile up).
  http.globalAgent = new http.Agent({ keepAlive: false });
  m = await startMember();
});

afterAll(async () => {
  if (hadXhr) (globalThis as Record<string, unknown>).XMLHttpRequest = savedXhr;
  else delete (globalThis as Record<string, unknown>).XMLHttpRequest;
  http.globalAgent = savedAgent;
  await m?.stop();
  if (m) cleanup(m);
});

/** A unary call through the library's promise API. */
function unary<Req, Res>(client: GrpcWebClientBase, desc: MethodDescriptor<Req, Res>, path: string, req: Req, metadata: Metadata = {}): Promise<Res> {
  return client.unaryCall(m.clientUrl + path, req, metadata, desc);
}

/** Resolves with the first message `pred` accepts; rejects on the stream's error or end before it. */
function nextMatching<T>(stream: ClientReadableStream<T>, pred: (msg: T) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    stream.on("data", (msg) => pred(msg) && resolve(msg));
    stream.on("error", reject);
    stream.on("end", () => reject(new Error("stream ended")));
  });
}

describe.each(FORMATS)("format $format", ({ format, requestType, responseType }) => {
  const client = () => new GrpcWebClientBase({ format });
  const key = (name: string) => Buffer.from(`${format}/${name}`);

  test("Put then Range round-trip the value, with 64-bit revisions as bigint", async () => {
    const c = client();
    wire.length = 0;
    const put = await unary(c, Put, "/etcdserverpb.KV/Put", { key: key("k"), value: Buffer.from("v1") });
    expect(wire).toEqual([{ request: requestType, response: responseType }]);
    const rev = put.header!.revision!;
    expect(typeof rev).toBe("bigint");
    expect(rev).toBeGreaterThan(1n);

    const res = await unary(c, Range, "/etcdserverpb.KV/Range", { key: key("k") });
    expect(res.count).toBe(1n);
    expect(res.header!.revision).toBe(rev);
    const kv = res.kvs[0];
    expect(Buffer.from(kv.key!).toString()).toBe(`${format}/k`);
    expect(Buffer.from(kv.value!).toString()).toBe("v1");
    expect(kv.modRevision).toBe(rev);
    expect(kv.version).toBe(1n);
  });

  test("an error status reaches the caller as an RpcError with etcd's code and text", async () => {
    const err = (await unary(client(), Put, "/etcdserverpb.KV/Put", { key: new Uint8Array(0), value: Buffer.from("v") }).then(
      () => null,
      (e: RpcError) => e,
    ))!;
    expect(err).not.toBeNull();
    expect(err.code).toBe(StatusCode.INVALID_ARGUMENT);
    expect(err.message).toBe("etcdserver: key is not provided");
  });

  test("Snapshot streams the database in chunks and ends with OK", async () => {
    const stream = client().serverStreaming(m.clientUrl + "/etcdserverpb.Maintenance/Snapshot", {}, {}, Snapshot);
    const chunks: etcdserverpb.SnapshotResponse[] = [];
    const status = await new Promise<number>((resolve, reject) => {
      stream.on("data", (msg) => chunks.push(msg));
      stream.on("status", (s) => resolve(s.code));
      stream.on("error", reject);
    });
    expect(status).toBe(StatusCode.OK);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.at(-1)!.remainingBytes).toBe(0n);
    const file = Buffer.concat(chunks.map((c) => c.blob));
    // etcd's format: a bbolt file (its meta page's magic after the page header), then its sha256.
    expect(file.readUInt32LE(16)).toBe(0xed0cdaed);
    expect(chunks.at(-1)!.blob.length).toBe(32);
  });
});

describe("server streaming (format text)", () => {
  const client = new GrpcWebClientBase({ format: "text" });

  test("a Watch from one create request sees a later put as it happens", async () => {
    const key = Buffer.from("watched");
    const stream = client.serverStreaming(m.clientUrl + "/etcdserverpb.Watch/Watch", { createRequest: { key } }, {}, Watch);
    try {
      const created = await nextMatching(stream, (r) => r.created);
      expect(created.watchId).toBe(0n);
      const event = nextMatching(stream, (r) => r.events.length > 0);
      const put = await unary(client, Put, "/etcdserverpb.KV/Put", { key, value: Buffer.from("seen") });
      const got = await event;
      expect(got.events[0].type).toBe(mvccpb.Event.EventType.PUT);
      expect(Buffer.from(got.events[0].kv!.key!).toString()).toBe("watched");
      expect(Buffer.from(got.events[0].kv!.value!).toString()).toBe("seen");
      expect(got.events[0].kv!.modRevision).toBe(put.header!.revision);
    } finally {
      stream.cancel();
    }
  });

  test("the library's deadline reaches the server as grpc-timeout and ends the watch", async () => {
    const deadline = String(Date.now() + 300);
    const stream = client.serverStreaming(m.clientUrl + "/etcdserverpb.Watch/Watch", { createRequest: { key: Buffer.from("quiet") } }, { deadline }, Watch);
    const err = await new Promise<RpcError>((resolve) => {
      stream.on("error", resolve);
      stream.on("end", () => resolve({ code: StatusCode.OK } as RpcError));
    });
    expect(err.code).toBe(StatusCode.DEADLINE_EXCEEDED);
  });
});
