// The Watch service of the proxy: etcd's Watch stream protocol towards clients (ids, created and
// cancel answers, progress), with every watcher served by a coalescing broadcast (broadcast.ts).
// Requests are handled in order, each create answered before the next request is read, so clients
// that send several creates at once still get their created answers in order.
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { rpc } from "../../client/rpc.ts";
import type { Call, Handler } from "../../server/grpc/grpc-server.ts";
import type { Namespace } from "../namespace.ts";
import { callOpts, type Upstream } from "../upstream.ts";
import type { ClientResponse, Receiver, WatchRegistry } from "./broadcast.ts";
import type { WatchSpec } from "./upstream-watch.ts";

type WatchRequest = etcdserverpb.WatchRequest;
type WatchResponse = etcdserverpb.IWatchResponse;

/** Responses queued for a client that does not read, before its stream is ended (etcd's proxy buffers 1024 too). */
export const MAX_QUEUED_RESPONSES = 1024;
/** clientv3.InvalidWatchID. */
const INVALID_WATCH_ID = -1n;
const EMPTY_RANGE = "mvcc: watcher range is empty";
const DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream";
const ZERO_KEY = new Uint8Array([0]);

/** grpc-go's status error text (what etcd puts in a cancel reason for an RPC error). */
function statusText(err: EtcdError): string {
  const name = Object.entries(GrpcCode).find(([, c]) => c === err.code)?.[0] ?? `Code(${err.code})`;
  return `rpc error: code = ${name} desc = ${err.message}`;
}

export interface WatchServiceDeps {
  registry: WatchRegistry;
  upstream: Upstream;
  namespace: Namespace | null;
}

class ClientWatcher implements Receiver {
  readonly id: bigint;
  readonly progressNotify: boolean;
  readonly token: string;
  nextRev = 0n;
  created = false;
  broadcast = null as Receiver["broadcast"];
  /** Ended by the cluster (compaction, cancel): its id stays taken until the client cancels it, as on etcd. */
  dead = false;
  /** Handed to the registry (after the permission check). */
  registered = false;
  readonly #stream: ClientStream;

  constructor(stream: ClientStream, id: bigint, progressNotify: boolean, token: string) {
    this.#stream = stream;
    this.id = id;
    this.progressNotify = progressNotify;
    this.token = token;
  }

  send(r: ClientResponse): void {
    this.#stream.push({ ...r, watchId: this.id });
    if (r.created) this.#stream.createdSent(this);
  }

  ended(): void {
    this.dead = true;
  }
}

/** One client Watch call: its watchers and the queue of responses for it. */
class ClientStream {
  readonly watchers = new Map<bigint, ClientWatcher>();
  readonly queue: WatchResponse[] = [];
  failure: EtcdError | null = null;
  /** The call is over: nothing more is registered for it. */
  closed = false;
  #nextId = 0n;
  #wake: (() => void) | null = null;
  #waitingCreated: ClientWatcher | null = null;
  #createdWake: (() => void) | null = null;

  push(r: WatchResponse): void {
    if (this.failure) return;
    if (this.queue.length >= MAX_QUEUED_RESPONSES) {
      // The client does not read: etcd's proxy drops such a stream too. Unavailable, so clients resume from their last revision.
      this.failure = new EtcdError(GrpcCode.Unavailable, `etcd-ts grpc-proxy: ${MAX_QUEUED_RESPONSES} watch responses are waiting for this client, which is not reading them; watch again from the last revision received`);
    } else this.queue.push(r);
    this.kick();
  }

  kick(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  wait(): Promise<void> {
    return new Promise((r) => (this.#wake = r));
  }

  /** `w`'s created answer is queued (null: stop waiting, the call is over). */
  createdSent(w: ClientWatcher | null): void {
    if (w === null || this.#waitingCreated === w) {
      this.#waitingCreated = null;
      const r = this.#createdWake;
      this.#createdWake = null;
      r?.();
    }
  }

  /** Resolves once `w`'s created answer is queued (or the stream is ending). */
  untilCreated(w: ClientWatcher, signal: AbortSignal): Promise<void> {
    if (w.created || signal.aborted || this.closed) return Promise.resolve();
    this.#waitingCreated = w;
    return new Promise((resolve) => {
      this.#createdWake = resolve;
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  /** A client-chosen id if free, else the next free one from 0 (etcd's AutoWatchID); null for a taken one. */
  takeId(wanted: bigint): bigint | null {
    if (wanted > 0n) return this.watchers.has(wanted) ? null : wanted;
    while (this.watchers.has(this.#nextId)) this.#nextId++;
    return this.#nextId++;
  }
}

export function watchHandlers(deps: WatchServiceDeps): Record<string, Handler> {
  const { registry, upstream, namespace: ns } = deps;

  /** etcd's proxy checks the caller may read the range with a one-key serializable count, under its own token. */
  async function permitted(key: Uint8Array, end: Uint8Array | null, call: Call): Promise<EtcdError | null> {
    const checkKey = key.length === 0 ? ZERO_KEY : key;
    const checkEnd = key.length === 0 ? ZERO_KEY : end ?? undefined;
    try {
      await upstream.unary(rpc.range, { key: checkKey, rangeEnd: checkEnd, serializable: true, countOnly: true, limit: 1n }, callOpts(call));
      return null;
    } catch (err) {
      return err instanceof EtcdError ? err : new EtcdError(GrpcCode.Unknown, String(err));
    }
  }

  async function create(cs: ClientStream, c: etcdserverpb.IWatchCreateRequest, call: Call): Promise<void> {
    const key = c.key && c.key.length ? c.key : new Uint8Array(0);
    const end = c.rangeEnd && c.rangeEnd.length ? c.rangeEnd : null;
    const refuse = (reason: string) => cs.push({ header: {}, watchId: INVALID_WATCH_ID, created: true, canceled: true, cancelReason: reason });
    // etcd: no end = one key; "\0" = every key from key on; otherwise end must be after key.
    if (end && !(end.length === 1 && end[0] === 0) && Buffer.compare(end, key.length ? key : ZERO_KEY) <= 0) return refuse(EMPTY_RANGE);
    const id = cs.takeId(BigInt(c.watchId ?? 0));
    if (id === null) return refuse(DUPLICATE_ID);
    const spec: WatchSpec = {
      key: ns ? ns.key(key) : key,
      end: ns ? ns.rangeEnd(end) ?? null : end,
      prevKv: c.prevKv === true,
      filters: [...(c.filters ?? [])],
    };
    // The id is reserved while the permission check runs, so a second create cannot take it.
    const w = new ClientWatcher(cs, id, c.progressNotify === true, call.headers.token ?? "");
    cs.watchers.set(id, w);
    const denied = await permitted(spec.key, spec.end, call);
    if (cs.closed || cs.watchers.get(id) !== w) return;
    if (denied) {
      cs.watchers.delete(id);
      cs.push({ header: {}, watchId: INVALID_WATCH_ID, created: true, canceled: true, cancelReason: statusText(denied) });
      return;
    }
    w.registered = true;
    registry.add(w, spec, BigInt(c.startRevision ?? 0));
    await cs.untilCreated(w, call.signal);
  }

  function cancel(cs: ClientStream, id: bigint): void {
    const w = cs.watchers.get(id);
    if (!w) return; // etcd answers only the cancel of a watcher that exists
    const header = w.broadcast?.lastHeader ?? {};
    cs.watchers.delete(id);
    if (w.registered) registry.remove(w);
    cs.push({ header, watchId: id, canceled: true });
  }

  async function progress(cs: ClientStream, call: Call): Promise<void> {
    // Everything up to the oldest latest-revision of this stream's watchers has been sent to it.
    let rev: bigint | null = null;
    let header = null;
    for (const w of cs.watchers.values()) {
      const h = w.broadcast?.lastHeader;
      if (!w.created || w.dead || !h) continue;
      const r = BigInt(h.revision ?? 0);
      if (rev === null || r < rev) {
        rev = r;
        header = h;
      }
    }
    if (header === null) header = (await upstream.unary(rpc.status, {}, callOpts(call))).header ?? {};
    cs.push({ header, watchId: INVALID_WATCH_ID });
  }

  return {
    [rpc.watch.path]: {
      kind: "bidi",
      async handle(requests: AsyncIterable<WatchRequest>, call: Call, send: (msg: unknown) => Promise<void>) {
        const cs = new ClientStream();
        let inputError: unknown = null;
        call.signal.addEventListener("abort", () => cs.kick(), { once: true });
        void (async () => {
          try {
            for await (const req of requests) {
              if (call.signal.aborted || cs.failure) return;
              if (req.createRequest) await create(cs, req.createRequest, call);
              else if (req.cancelRequest) cancel(cs, BigInt(req.cancelRequest.watchId ?? 0));
              else if (req.progressRequest) await progress(cs, call).catch(() => {});
              // Anything else is ignored, as etcd does, rather than ending the stream.
            }
          } catch (err) {
            inputError = err;
          } finally {
            cs.kick();
          }
        })();
        try {
          for (;;) {
            if (cs.failure) throw cs.failure;
            if (inputError) throw inputError;
            const r = cs.queue.shift();
            if (r) {
              await send(r);
              continue;
            }
            // etcd keeps watching after the client half-closes; the call ends when the client cancels it.
            if (call.signal.aborted) return;
            await cs.wait();
          }
        } finally {
          cs.closed = true;
          cs.createdSent(null);
          for (const w of cs.watchers.values()) if (w.registered) registry.remove(w);
          cs.watchers.clear();
        }
      },
    },
  };
}
