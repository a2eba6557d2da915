/**
 * Watches, multiplexed on one Watch stream per client (as clientv3's watchGrpcStream). Each watcher
 * remembers the next revision it needs; when the stream or its connection breaks, the watchers are
 * re-created on a new stream (on the next endpoint) from that revision, and events below it are
 * dropped, so a consumer sees every revision once, in order, across failovers.
 */
import { EtcdError, GrpcCode } from "../pkg/errors.ts";
import { etcdserverpb, mvccpb } from "../proto/etcd.js";
import { clientClosed, statusError, TransportError, WatchCompactedError } from "./errors.ts";
import { type Bytes, type Int64, int64, keyRange, type KeyValue, type RangeOptions, toKeyValue } from "./kv.ts";
import { rpc } from "./rpc.ts";
import { backoffMs, type Transport, type TypedStream } from "./transport.ts";

export interface WatchOptions extends RangeOptions {
  /** First revision to deliver; default: changes after the watch is created. */
  startRevision?: Int64;
  /** Include each event's previous key-value. */
  prevKv?: boolean;
  /** Leave out puts or deletes. */
  filters?: ("noPut" | "noDelete")[];
}

export interface WatchEvent {
  type: "put" | "delete";
  kv: KeyValue;
  prevKv?: KeyValue;
  /** The revision of the change (the key-value's mod revision). */
  revision: bigint;
}

/** The most events a watcher keeps for a slow consumer before it fails (a limit on every queue). */
const MAX_BUFFERED_EVENTS = 1_000_000;

/** One watch as its consumer sees it: an async iterable of events, until cancel() or an error. */
export class Watcher implements AsyncIterable<WatchEvent> {
  /** Resolves with the store revision at which the watch was first created on the server. */
  readonly ready: Promise<bigint>;
  readonly #state: WatchState;

  /** @internal */
  constructor(state: WatchState) {
    this.#state = state;
    this.ready = state.ready;
  }

  /** The endpoint whose stream carries this watch now (null while it is being re-created). */
  get endpoint(): string | null {
    return this.#state.endpoint;
  }

  /** Stops the watch; iteration ends after the events already received. */
  cancel(): void {
    this.#state.cancel();
  }

  /**
   * Events received and not yet taken. Every event of one watch response arrives at once, so 0 right
   * after taking an event means that response has been consumed (make-mirror commits per response).
   */
  get buffered(): number {
    return this.#state.buffered;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    const s = this.#state;
    return {
      next: () => s.next(),
      return: async () => {
        s.cancel();
        return { done: true, value: undefined };
      },
    };
  }
}

/** A watcher's bookkeeping, shared by its Watcher (consumer side) and the WatchStream (server side). */
class WatchState {
  readonly create: etcdserverpb.WatchCreateRequest.$Properties;
  /** The next revision this watcher needs; 0 until the first creation fixes "now". */
  nextRev: bigint;
  serverId: bigint | null = null;
  endpoint: string | null = null;
  canceled = false;
  readonly ready: Promise<bigint>;
  #resolveReady!: (rev: bigint) => void;
  #rejectReady!: (err: EtcdError) => void;
  #events: WatchEvent[] = [];
  #head = 0;
  #error: EtcdError | null = null;
  #done = false;
  #waiter: ((r: IteratorResult<WatchEvent>) => void) | null = null;
  #waiterReject: ((err: EtcdError) => void) | null = null;
  readonly #onCancel: (s: WatchState) => void;

  constructor(create: etcdserverpb.WatchCreateRequest.$Properties, startRev: bigint, onCancel: (s: WatchState) => void) {
    this.create = create;
    this.nextRev = startRev;
    this.#onCancel = onCancel;
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});
  }

  get finished(): boolean {
    return this.#done || this.#error !== null;
  }

  get buffered(): number {
    return this.#events.length - this.#head;
  }

  created(revision: bigint): void {
    if (this.nextRev === 0n) this.nextRev = revision + 1n;
    this.#resolveReady(revision);
  }

  /** Takes a response's events, dropping any below nextRev (already delivered before a resume). */
  deliver(events: mvccpb.Event.$Properties[]): void {
    if (this.finished) return;
    for (const e of events) {
      const kv = toKeyValue(e.kv ?? {});
      if (kv.modRevision < this.nextRev) continue;
      const ev: WatchEvent = { type: e.type === mvccpb.Event.EventType.DELETE ? "delete" : "put", kv, revision: kv.modRevision };
      if (e.prevKv) ev.prevKv = toKeyValue(e.prevKv);
      this.#push(ev);
    }
    const last = events.at(-1)?.kv?.modRevision;
    if (last !== undefined && last !== null && last >= this.nextRev) this.nextRev = last + 1n;
  }

  #push(ev: WatchEvent): void {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = this.#waiterReject = null;
      return w({ done: false, value: ev });
    }
    if (this.#events.length - this.#head >= MAX_BUFFERED_EVENTS) {
      return this.fail(new TransportError(this.endpoint ?? "", `watch consumer is too slow: ${MAX_BUFFERED_EVENTS} events buffered`, true));
    }
    this.#events.push(ev);
  }

  fail(err: EtcdError): void {
    if (this.finished) return;
    this.#error = err;
    this.#rejectReady(err);
    this.#onCancel(this);
    if (this.#waiterReject && this.#head >= this.#events.length) {
      const r = this.#waiterReject;
      this.#waiter = this.#waiterReject = null;
      r(err);
    }
  }

  cancel(): void {
    if (this.canceled) return;
    this.canceled = true;
    if (!this.finished) {
      this.#done = true;
      this.#onCancel(this);
    }
    this.#rejectReady(new EtcdError(GrpcCode.Canceled, "watch canceled"));
    if (this.#waiter && this.#head >= this.#events.length) {
      const w = this.#waiter;
      this.#waiter = this.#waiterReject = null;
      w({ done: true, value: undefined });
    }
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    if (this.#head < this.#events.length) {
      const value = this.#events[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#events.length) {
        this.#events = this.#events.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#done) return Promise.resolve({ done: true, value: undefined });
    if (this.#waiter) return Promise.reject(new Error("Cannot call next() on a watcher before the previous call resolved"));
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#waiterReject = reject;
    });
  }
}

/** Errors after which a watch cannot go on (clientv3's isHaltErr): anything but Unavailable/Internal. */
function halts(err: EtcdError): boolean {
  return !(err instanceof TransportError) && err.code !== GrpcCode.Unavailable && err.code !== GrpcCode.Internal;
}

/** The client's one Watch stream and every watcher on it. */
export class WatchStream {
  readonly #transport: Pick<Transport, "stream" | "markUnhealthy">;
  readonly #watchers = new Set<WatchState>();
  readonly #byId = new Map<bigint, WatchState>();
  /** Watchers waiting for a create request on the current stream, in order. */
  #pending: WatchState[] = [];
  /** The watcher whose create request is in flight: the server answers creates in order, one at a time. */
  #creating: WatchState | null = null;
  #stream: TypedStream<etcdserverpb.WatchRequest.$Properties> | null = null;
  #opening = false;
  /** Bumped for every stream, so callbacks of an abandoned stream are ignored. */
  #generation = 0;
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(transport: Pick<Transport, "stream" | "markUnhealthy">) {
    this.#transport = transport;
  }

  watch(key: Bytes, opts: WatchOptions = {}): Watcher {
    const create: etcdserverpb.WatchCreateRequest.$Properties = keyRange(key, opts);
    if (opts.prevKv) create.prevKv = true;
    if (opts.filters?.length) {
      create.filters = opts.filters.map((f) => {
        if (f === "noPut") return etcdserverpb.WatchCreateRequest.FilterType.NOPUT;
        if (f === "noDelete") return etcdserverpb.WatchCreateRequest.FilterType.NODELETE;
        throw new TypeError(`Cannot use watch filter '${f}': use 'noPut' or 'noDelete'`);
      });
    }
    const start = opts.startRevision === undefined ? 0n : int64(opts.startRevision);
    const state = new WatchState(create, start, (s) => this.#remove(s));
    if (this.#closed) {
      state.fail(clientClosed());
      return new Watcher(state);
    }
    this.#watchers.add(state);
    this.#pending.push(state);
    this.#ensureStream();
    this.#sendNextCreate();
    return new Watcher(state);
  }

  close(): void {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    for (const s of [...this.#watchers]) s.fail(clientClosed());
    this.#dropStream();
  }

  #ensureStream(): void {
    if (this.#stream || this.#opening || this.#closed || this.#watchers.size === 0 || this.#retryTimer) return;
    this.#opening = true;
    const gen = ++this.#generation;
    this.#transport
      .stream(rpc.watch, {
        onMessage: (res) => gen === this.#generation && this.#onMessage(res),
        onClose: (err) => gen === this.#generation && this.#onBroken(err),
      })
      .then(
        (stream) => {
          this.#opening = false;
          if (gen !== this.#generation) return stream.cancel();
          this.#stream = stream;
          this.#sendNextCreate();
        },
        (err: EtcdError) => {
          this.#opening = false;
          if (gen === this.#generation) this.#onBroken(err);
        },
      );
  }

  #sendNextCreate(): void {
    if (!this.#stream || this.#creating) return;
    let next: WatchState | undefined;
    while ((next = this.#pending.shift()) && next.finished);
    if (!next) return;
    this.#creating = next;
    this.#stream.send({ createRequest: { ...next.create, startRevision: next.nextRev } });
  }

  #onMessage(res: etcdserverpb.WatchResponse): void {
    if (res.created) {
      const s = this.#creating;
      this.#creating = null;
      if (s) this.#onCreated(s, res);
      this.#sendNextCreate();
      return;
    }
    const s = this.#byId.get(res.watchId);
    if (!s) return;
    if (res.events.length) s.deliver(res.events);
    if (res.canceled) {
      this.#byId.delete(res.watchId);
      s.serverId = null;
      s.fail(cancelError(res));
    }
  }

  #onCreated(s: WatchState, res: etcdserverpb.WatchResponse): void {
    if (res.canceled) return s.fail(cancelError(res));
    this.#failures = 0;
    if (s.finished) {
      // Canceled while its create was in flight: tell the server.
      this.#stream?.send({ cancelRequest: { watchId: res.watchId } });
      return;
    }
    s.serverId = res.watchId;
    s.endpoint = this.#stream?.endpoint ?? null;
    this.#byId.set(res.watchId, s);
    s.created(res.header?.revision ?? 0n);
    if (res.events.length) s.deliver(res.events);
  }

  #remove(s: WatchState): void {
    if (!this.#watchers.delete(s)) return;
    if (s.serverId !== null) {
      this.#byId.delete(s.serverId);
      this.#stream?.send({ cancelRequest: { watchId: s.serverId } });
      s.serverId = null;
    }
    if (this.#watchers.size === 0) this.#dropStream();
  }

  /** Ends the current stream on purpose (no watchers left, or the client closes). */
  #dropStream(): void {
    this.#generation++;
    this.#stream?.cancel();
    this.#stream = null;
    this.#creating = null;
    this.#pending = [];
    this.#byId.clear();
    this.#opening = false;
  }

  /** The stream ended or could not be opened: re-create every watcher on a new stream, or fail them all. */
  #onBroken(err: EtcdError | null): void {
    const endpoint = this.#stream?.endpoint;
    this.#dropStream();
    const live = [...this.#watchers];
    if (this.#closed || live.length === 0) return;
    const e = err ?? statusError(GrpcCode.Unavailable, "watch stream ended");
    if (halts(e)) {
      for (const s of live) s.fail(e);
      return;
    }
    if (err instanceof TransportError) this.#transport.markUnhealthy(err.endpoint);
    else if (endpoint) this.#transport.markUnhealthy(endpoint);
    for (const s of live) {
      s.serverId = null;
      s.endpoint = null;
    }
    this.#pending = live;
    const waitMs = backoffMs(Math.min(this.#failures++, 20));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#ensureStream();
    }, waitMs);
  }
}

function cancelError(res: etcdserverpb.WatchResponse): EtcdError {
  if (res.compactRevision > 0n) return new WatchCompactedError(res.compactRevision);
  return statusError(GrpcCode.Unknown, res.cancelReason || "watch canceled by the server");
}
