import { etcdserverpb, mvccpb } from "../../proto/etcd.js";
import { watchEventsSent } from "./metrics.ts";

type WatchRequest = etcdserverpb.WatchRequest.$Properties;
type WatchResponse = etcdserverpb.WatchResponse.$Properties;
type ResponseHeader = etcdserverpb.ResponseHeader.$Properties;
type Event = mvccpb.Event.$Properties;

/** The watch hub as this layer sees it (mvcc/watch's WatchHub fits; server/grpc may not import mvcc). */
export interface WatchHubPort {
  newStream(): WatchHubStream;
}

/** One consumer's watchers and their queue of batches (mvcc/watch's WatchStream). */
export interface WatchHubStream {
  /** The revision a watch created now starts after. */
  readonly rev: bigint;
  /** Called when a batch is queued while none was waiting. */
  onReady: (() => void) | null;
  /** Returns the watcher's id; throws an Error whose message is etcd's cancel reason (empty range, duplicate id). */
  watch(opts: WatchCreate): bigint;
  /** False if there is no such watcher. */
  cancel(id: bigint): boolean;
  /** Queues a progress batch with watch id -1 once every watcher of the stream is synced. */
  requestProgressAll(): void;
  take(): WatchHubBatch | undefined;
  close(): void;
}

export interface WatchCreate {
  /** 0 = assign one. */
  id: bigint;
  key: Uint8Array;
  /** null = the one key; [0] = every key ≥ key; otherwise [key, end). */
  end: Uint8Array | null;
  /** 0 = the next revision. */
  startRevision: bigint;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  progressNotify: boolean;
}

export interface WatchHubBatch {
  watchId: bigint;
  events: Event[];
  revision: bigint;
  /** Non-zero: the watcher was cancelled because its start revision is compacted. */
  compactRevision: bigint;
}

export interface WatchStreamDeps {
  hub: WatchHubPort;
  /** The response header (cluster id, member id, raft term) for a revision. */
  header(revision: bigint): ResponseHeader;
  /** The server's --max-request-bytes: with gRPC's overhead, the size above which fragments are cut. */
  maxRequestBytes: number;
  /**
   * The call's cancellation. With it, the stream lives until it fires even after the client stops
   * sending (etcd keeps watching after a half-close); without it, it ends once the requests end and
   * nothing is waiting to be sent.
   */
  signal?: AbortSignal;
  /**
   * With auth enabled: whether this stream's user may read [key, rangeEnd). A create it refuses is
   * answered created + canceled with etcd's reason and gets no watcher (etcd's isWatchPermitted).
   */
  permitted?: (key: Uint8Array | null | undefined, rangeEnd: Uint8Array | null | undefined) => boolean;
}

/** etcd's cancel reason for a forbidden watch: rpctypes.ErrGRPCPermissionDenied.Error(). */
const PERMISSION_DENIED_REASON = "rpc error: code = PermissionDenied desc = etcdserver: permission denied";

/** etcd adds this to --max-request-bytes for the gRPC message limits and the fragment size. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** Control responses (created, canceled) waiting to be sent before the request loop waits (etcd's ctrlStreamBufLen). */
const CTRL_MAX = 16;
/** clientv3.InvalidWatchID: failed creates and stream-wide progress. */
const INVALID_WATCH_ID = -1n;
const ZERO_KEY = new Uint8Array([0]);
const { NOPUT, NODELETE } = etcdserverpb.WatchCreateRequest.FilterType;

/**
 * etcd's Watch stream (v3rpc/watch.go) over the watch hub: many watchers per stream; create
 * (client-chosen id or the lowest free one from 0), cancel, progress; fragments for watchers that
 * asked for them. Control responses go out before queued events, so a watcher's `created` always
 * precedes its events, and a cancel drops what was still queued for it.
 *
 * Plug into a "bidi" gRPC handler: `(reqs, call, send) => serveWatch(reqs, send, { ...deps, signal: call.signal })`.
 */
export async function serveWatch(
  requests: AsyncIterable<WatchRequest>,
  send: (r: WatchResponse) => Promise<void>,
  deps: WatchStreamDeps,
): Promise<void> {
  const hs = deps.hub.newStream();
  const fragmentBytes = deps.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  const fragmented = new Set<bigint>();
  const ctrl: WatchResponse[] = [];
  let wake: (() => void) | null = null;
  let ctrlRoom: (() => void) | null = null;
  let inputDone = false;
  let inputFailed = false;
  let inputError: unknown;
  let stopped = deps.signal?.aborted === true;

  const kick = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const releaseRecv = () => {
    const r = ctrlRoom;
    ctrlRoom = null;
    r?.();
  };
  const onAbort = () => {
    stopped = true;
    kick();
    releaseRecv();
  };
  hs.onReady = kick;
  deps.signal?.addEventListener("abort", onAbort, { once: true });

  const handle = (req: WatchRequest): void => {
    if (req.createRequest) {
      const c = req.createRequest;
      if (deps.permitted && !deps.permitted(c.key, c.rangeEnd)) {
        ctrl.push({ header: deps.header(hs.rev), watchId: c.watchId ?? 0n, created: true, canceled: true, cancelReason: PERMISSION_DENIED_REASON });
        return;
      }
      const filters = c.filters ?? [];
      const wsrev = hs.rev;
      let id: bigint;
      let reason = "";
      try {
        id = hs.watch({
          id: c.watchId ?? 0n,
          key: c.key && c.key.length > 0 ? c.key : ZERO_KEY, // etcd: no key = the smallest key
          end: c.rangeEnd && c.rangeEnd.length > 0 ? c.rangeEnd : null,
          startRevision: c.startRevision ?? 0n,
          noPut: filters.includes(NOPUT),
          noDelete: filters.includes(NODELETE),
          prevKv: c.prevKv === true,
          progressNotify: c.progressNotify === true,
        });
        if (c.fragment) fragmented.add(id);
      } catch (err) {
        id = INVALID_WATCH_ID;
        reason = err instanceof Error ? err.message : String(err);
      }
      ctrl.push({ header: deps.header(wsrev), watchId: id, created: true, canceled: reason !== "", cancelReason: reason });
    } else if (req.cancelRequest) {
      // etcd answers only the cancel of a watcher that exists.
      const id = req.cancelRequest.watchId ?? 0n;
      if (hs.cancel(id)) {
        fragmented.delete(id);
        ctrl.push({ header: deps.header(hs.rev), watchId: id, canceled: true });
      }
    } else if (req.progressRequest) {
      hs.requestProgressAll();
    }
    // Anything else is ignored, as etcd does, rather than ending the stream.
  };

  const sendBatch = (b: WatchHubBatch): Promise<void> => {
    const wr: WatchResponse = { header: deps.header(b.revision), watchId: b.watchId, events: b.events };
    if (b.compactRevision !== 0n) {
      wr.compactRevision = b.compactRevision;
      wr.canceled = true;
    }
    const sent = fragmented.has(b.watchId) ? sendFragments(wr, fragmentBytes, send) : send(wr);
    return b.events.length ? sent.then(() => watchEventsSent.inc(b.events.length)) : sent;
  };

  void (async () => {
    try {
      for await (const req of requests) {
        if (stopped) return;
        handle(req);
        kick();
        // Like etcd's bounded control channel: stop reading while the client does not read.
        while (ctrl.length >= CTRL_MAX && !stopped) await new Promise<void>((r) => (ctrlRoom = r));
      }
    } catch (err) {
      inputFailed = true;
      inputError = err;
    } finally {
      inputDone = true;
      kick();
    }
  })();

  try {
    for (;;) {
      if (stopped) return;
      if (inputFailed) throw inputError;
      const c = ctrl.shift();
      if (c) {
        releaseRecv();
        await send(c);
        continue;
      }
      const b = hs.take();
      if (b) {
        await sendBatch(b);
        continue;
      }
      if (inputDone && !deps.signal) return;
      await new Promise<void>((r) => (wake = r));
    }
  } finally {
    stopped = true;
    hs.onReady = null;
    hs.close();
    deps.signal?.removeEventListener("abort", onAbort);
    releaseRecv();
  }
}

/**
 * etcd's sendFragments: a response at or above the limit with two or more events goes out in
 * pieces, each filled greedily while it stays under the limit (at least one event each), all but the
 * last flagged `fragment`.
 */
async function sendFragments(wr: WatchResponse, limitBytes: number, send: (r: WatchResponse) => Promise<void>): Promise<void> {
  const events = wr.events ?? [];
  if (events.length < 2) return send(wr);
  // Most responses are far below the limit: an upper bound avoids encoding them to find out.
  let bound = 64;
  for (const ev of events) bound += eventBytesBound(ev);
  if (bound < limitBytes) return send(wr);

  const base = etcdserverpb.WatchResponse.encode({ ...wr, events: [] }).finish().length;
  const sizes = events.map((ev) => fieldBytes(mvccpb.Event.encode(ev).finish().length));
  if (base + sizes.reduce((a, b) => a + b, 0) < limitBytes) return send(wr);
  const fragmentBase = base + 2; // the fragment flag: one tag byte, one value byte
  for (let i = 0; i < events.length; ) {
    const first = i;
    let size = fragmentBase;
    for (; i < events.length; i++) {
      if (i > first && size + sizes[i] >= limitBytes) break;
      size += sizes[i];
    }
    await send({ ...wr, events: events.slice(first, i), fragment: i < events.length });
  }
}

/** Bytes an encoded event can take at most: its keys and values plus tags, lengths and varints. */
function eventBytesBound(ev: Event): number {
  const kv = (x: mvccpb.KeyValue.$Properties | null | undefined) => (x ? (x.key?.length ?? 0) + (x.value?.length ?? 0) + 80 : 0);
  return 16 + kv(ev.kv) + kv(ev.prevKv);
}

/** A length-delimited field of n bytes: tag, length varint, body. */
function fieldBytes(n: number): number {
  let v = 1;
  for (let x = n; x >= 0x80; x >>>= 7) v++;
  return 1 + v + n;
}
