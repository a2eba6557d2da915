// go-grpc-prometheus's server counters as etcd 3.4 exposes them (grpc_server_started_total and
// grpc_server_handled_total, labels grpc_type, grpc_service, grpc_method, grpc_code). As there, every
// registered method's series exist from the start, at 0 for every code, so rate() and absent() work
// before the first call; the counters of a method are looked up once, so counting a call is an increment.
// A method's series are the same however it is called: gRPC, gRPC-web and the JSON gateway (whose
// calls etcd makes through gRPC, so they are counted under the gRPC method there too).
import { GrpcCode } from "../../pkg/errors.ts";
import { type Counter, defaultRegistry } from "../../pkg/metrics.ts";
import type { Handler } from "./grpc-server.ts";

const started = defaultRegistry.counterVec({
  name: "grpc_server_started_total",
  help: "Total number of RPCs started on the server.",
  labelNames: ["grpc_type", "grpc_service", "grpc_method"],
});

const handled = defaultRegistry.counterVec({
  name: "grpc_server_handled_total",
  help: "Total number of RPCs completed on the server, regardless of success or failure.",
  labelNames: ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
});

/** grpc-go's code names (codes.Code.String()), indexed by code. */
const CODE_NAMES: string[] = [];
for (const [name, code] of Object.entries(GrpcCode)) CODE_NAMES[code] = name;

/** go-grpc-prometheus's grpc_type values, by our handler kinds. */
const GRPC_TYPE = { unary: "unary", serverStream: "server_stream", bidi: "bidi_stream" } as const;

/** The counters of one method (path "/package.Service/Method"). */
export class MethodMetrics {
  readonly started: Counter;
  readonly #handled: Counter[];
  readonly #labels: [string, string, string];

  /** Looks the method's series up (creating them at 0); two instances for one path share them. */
  constructor(path: string, kind: keyof typeof GRPC_TYPE) {
    const slash = path.lastIndexOf("/");
    this.#labels = [GRPC_TYPE[kind], path.slice(1, slash), path.slice(slash + 1)];
    this.started = started.with(...this.#labels);
    this.#handled = CODE_NAMES.map((name) => handled.with(...this.#labels, name));
  }

  /** The call ended with this status code. */
  handled(code: number): void {
    (this.#handled[code] ?? handled.with(...this.#labels, `Code(${code})`)).inc();
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
