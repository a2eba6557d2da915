// The gRPC server's metrics as etcd 3.4 exposes them: go-grpc-prometheus's counters
// (grpc_server_started_total, grpc_server_handled_total, grpc_server_msg_received_total,
// grpc_server_msg_sent_total; labels grpc_type, grpc_service, grpc_method, grpc_code) and etcd's own
// v3rpc metrics (etcdserver/api/v3rpc/metrics.go): message bytes, requests per client API version,
// stream failures. As there, every registered method's series exist from the start, at 0 for every
// code, so rate() and absent() work before the first call; the counters of a method are looked up
// once, so counting a call is an increment.
// A method's series are the same however it is called: gRPC, gRPC-web and the JSON gateway (whose
// calls etcd makes through gRPC, so they are counted under the gRPC method there too).
import { GrpcCode } from "../../pkg/errors.ts";
import { type Counter, defaultRegistry } from "../../pkg/metrics.ts";
import type { Handler } from "./grpc-server.ts";

const methodLabels = ["grpc_type", "grpc_service", "grpc_method"];

const startedTotal = defaultRegistry.counterVec({
  name: "grpc_server_started_total",
  help: "Total number of RPCs started on the server.",
  labelNames: methodLabels,
});

const handledTotal = defaultRegistry.counterVec({
  name: "grpc_server_handled_total",
  help: "Total number of RPCs completed on the server, regardless of success or failure.",
  labelNames: [...methodLabels, "grpc_code"],
});

const msgReceivedTotal = defaultRegistry.counterVec({
  name: "grpc_server_msg_received_total",
  help: "Total number of RPC stream messages received on the server.",
  labelNames: methodLabels,
});

const msgSentTotal = defaultRegistry.counterVec({
  name: "grpc_server_msg_sent_total",
  help: "Total number of gRPC stream messages sent by the server.",
  labelNames: methodLabels,
});

/** Request and response message bytes (encoded protobuf, without the gRPC frame prefix), as etcd's codec counts them. */
const receivedBytes = defaultRegistry.counter({ name: "etcd_network_client_grpc_received_bytes_total", help: "The total number of bytes received from grpc clients." });
const sentBytes = defaultRegistry.counter({ name: "etcd_network_client_grpc_sent_bytes_total", help: "The total number of bytes sent to grpc clients." });

/** Calls by kind and the client's "client-api-version" header ("unknown" without one), as etcd's interceptors count them. */
const clientRequests = defaultRegistry.counterVec({
  name: "etcd_server_client_requests_total",
  help: "The total number of client requests per client version.",
  labelNames: ["type", "client_api_version"],
});

/**
 * A Watch or LeaseKeepAlive stream that failed for a reason other than its client going away (etcd
 * counts neither a cancelled context nor a closing transport). Type: "receive" or "send"; API:
 * "watch" or "lease-keepalive".
 */
export const streamFailures = defaultRegistry.counterVec({
  name: "etcd_network_server_stream_failures_total",
  help: "The total number of stream failures from the local server.",
  labelNames: ["Type", "API"],
});

/** Events handed to watch streams' clients (etcd counts them where its Watch stream sends them). */
export const watchEventsSent = defaultRegistry.counter({ name: "etcd_debugging_mvcc_events_total", help: "Total number of events sent by this member." });

/** Client versions a series is kept for; past that, calls count as "unknown" (the header is the client's to choose). */
const CLIENT_VERSIONS_MAX = 64;
const clientSeries = { unary: new Map<string, Counter>(), stream: new Map<string, Counter>() };

function clientRequestsOf(type: "unary" | "stream", clientApiVersion: string | undefined): Counter {
  const seen = clientSeries[type];
  let version = clientApiVersion || "unknown";
  let c = seen.get(version);
  if (c) return c;
  if (seen.size >= CLIENT_VERSIONS_MAX) version = "unknown";
  c = seen.get(version) ?? clientRequests.with(type, version);
  seen.set(version, c);
  return c;
}

/** grpc-go's code names (codes.Code.String()), indexed by code. */
const CODE_NAMES: string[] = [];
for (const [name, code] of Object.entries(GrpcCode)) CODE_NAMES[code] = name;

/** go-grpc-prometheus's grpc_type values, by our handler kinds. */
const GRPC_TYPE = { unary: "unary", serverStream: "server_stream", bidi: "bidi_stream" } as const;

/** Which stream API a method's stream failures are counted under (etcd's label), if any. */
const STREAM_API: Record<string, string> = {
  "/etcdserverpb.Watch/Watch": "watch",
  "/etcdserverpb.Lease/LeaseKeepAlive": "lease-keepalive",
};

/** The counters of one method (path "/package.Service/Method"). */
export class MethodMetrics {
  /**
   * A call started, for callers that know no client version (the JSON gateway's CallCounter; etcd's
   * gateway dials its gRPC server without the header, so its calls count as "unknown").
   */
  readonly started: { inc(): void } = { inc: () => this.start(undefined) };
  readonly #started: Counter;
  readonly #handled: Counter[];
  readonly #received: Counter;
  readonly #sent: Counter;
  readonly #labels: [string, string, string];
  readonly #requestType: "unary" | "stream";
  readonly #streamApi: string | undefined;

  /** Looks the method's series up (creating them at 0); two instances for one path share them. */
  constructor(path: string, kind: keyof typeof GRPC_TYPE) {
    const slash = path.lastIndexOf("/");
    this.#labels = [GRPC_TYPE[kind], path.slice(1, slash), path.slice(slash + 1)];
    this.#started = startedTotal.with(...this.#labels);
    this.#handled = CODE_NAMES.map((name) => handledTotal.with(...this.#labels, name));
    this.#received = msgReceivedTotal.with(...this.#labels);
    this.#sent = msgSentTotal.with(...this.#labels);
    this.#requestType = kind === "unary" ? "unary" : "stream";
    this.#streamApi = STREAM_API[path];
  }

  /** A call started; `clientApiVersion` is its "client-api-version" header (clientv3 sends its API version). */
  start(clientApiVersion: string | undefined): void {
    this.#started.inc();
    clientRequestsOf(this.#requestType, clientApiVersion).inc();
  }

  /** A request message arrived (its encoded size, when it came as protobuf). */
  received(bytes?: number): void {
    this.#received.inc();
    if (bytes !== undefined) receivedBytes.inc(bytes);
  }

  /** A response message went out (its encoded size, when it went as protobuf). */
  sent(bytes?: number): void {
    this.#sent.inc();
    if (bytes !== undefined) sentBytes.inc(bytes);
  }

  /** The call ended with this status code. */
  handled(code: number): void {
    (this.#handled[code] ?? handledTotal.with(...this.#labels, `Code(${code})`)).inc();
  }

  /** A request of this stream could not be read (only Watch and LeaseKeepAlive are counted, as etcd). */
  receiveFailed(): void {
    if (this.#streamApi) streamFailures.with("receive", this.#streamApi).inc();
  }
}

/**
 * The handler table with each entry carrying its method's counters (`metrics`), for callers outside
 * server/grpc that may not import it: the JSON gateway counts its calls through them, as etcd's
 * gateway calls are counted by the gRPC server they go through. The handlers themselves are the same.
 */
export function withMethodMetrics(handlers: Record<string, Handler>): Record<string, Handler & { readonly metrics: MethodMetrics }> {
  const out: Record<string, Handler & { readonly metrics: MethodMetrics }> = {};
  for (const [path, h] of Object.entries(handlers)) out[path] = { ...h, metrics: new MethodMetrics(path, h.kind) };
  return out;
}
