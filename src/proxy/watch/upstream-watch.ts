// The proxy's watches on the cluster: one Watch stream per auth token, carrying every upstream watch
// made with that token (as clientv3's watchGrpcStream). Each watch remembers the next revision it
// needs; when the stream breaks (member gone, connection lost), the watches are created again on a
// stream to the next endpoint from that revision, so their owners see every revision once, in order.
// Unlike the client's Watcher, the owner gets the responses whole: headers, progress notifications
// and cancel reasons are what the proxy passes on to its own clients.
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import type { Logger } from "../../pkg/logger.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { TransportError } from "../../client/errors.ts";
import { rpc } from "../../client/rpc.ts";
import { backoffMs, type TypedStream } from "../../client/transport.ts";
import type { Upstream } from "../upstream.ts";

export type WatchResponse = etcdserverpb.WatchResponse;
export type ResponseHeader = etcdserverpb.IResponseHeader;

/** What is watched, as sent to the cluster (keys already under the namespace). */
export interface WatchSpec {
  key: Uint8Array;
  /** null: the one key. */
  end: Uint8Array | null;
  prevKv: boolean;
  filters: number[];
}

/** Why an upstream watch ended for good. */
export interface WatchEnd {
  header: ResponseHeader | null;
  /** Non-zero: the revision needed was compacted away; this is the oldest one left. */
  compactRevision: bigint;
  /** The cluster's cancel reason or the stream's error text. */
  reason: string;
}

export interface UpstreamWatchListener {
  /** The first creation (creations after a failover are not reported: they continue the same watch). */
  onCreated(header: ResponseHeader): void;
  /** Events or a progress notification. */
  onResponse(res: WatchResponse): void;
  onEnd(end: WatchEnd): void;
}

export class UpstreamWatch {
  readonly spec: WatchSpec;
  readonly listener: UpstreamWatchListener;
  /** The next revision needed; 0 (a watch from "now") until the first creation fixes it. */
  nextRev: bigint;
  created = false;
  ended = false;
  /** The id on the current stream, once created there. */
  serverId: bigint | null = null;

  constructor(spec: WatchSpec, startRev: bigint, listener: UpstreamWatchListener) {
    this.spec = spec;
    this.nextRev = startRev;
    this.listener = listener;
  }

  /** Takes a response's revisions into account (before its owner sees it). */
  advance(res: WatchResponse): void {
    const last = res.events.at(-1)?.kv?.modRevision;
    if (last !== undefined && last !== null && BigInt(last) >= this.nextRev) this.nextRev = BigInt(last) + 1n;
    // A progress notification is sent only for a watch that has caught up: nothing below header + 1 is missing.
    if (res.events.length === 0 && !res.created && !res.canceled && res.header) {
      const next = BigInt(res.header.revision ?? 0) + 1n;
      if (next > this.nextRev) this.nextRev = next;
    }
  }
}

/** Errors after which a watch cannot go on (clientv3's isHaltErr): anything but a lost connection or Unavailable/Internal. */
function halts(err: EtcdError): boolean {
  return !(err instanceof TransportError) && err.code !== GrpcCode.Unavailable && err.code !== GrpcCode.Internal;
}

export class UpstreamWatchStream {
  readonly #upstream: Upstream;
  readonly #token: string;
  readonly #log: Logger;
  readonly #watches = new Set<UpstreamWatch>();
  readonly #byId = new Map<bigint, UpstreamWatch>();
  /** Watches whose create request is sent on the current stream, in order (the cluster answers creates in order). */
  #creating: UpstreamWatch[] = [];
  /** Watches waiting for a stream to send their create on. */
  #pending: UpstreamWatch[] = [];
  #stream: TypedStream<etcdserverpb.WatchRequest.$Properties> | null = null;
  #opening = false;
  #generation = 0;
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  /** Told when the last watch is gone (the owner drops this stream). */
  onIdle: (() => void) | null = null;

  constructor(upstream: Upstream, token: string, log: Logger) {
    this.#upstream = upstream;
    this.#token = token;
    this.#log = log;
  }

  get size(): number {
    return this.#watches.size;
  }

  add(w: UpstreamWatch): void {
    this.#watches.add(w);
    this.#pending.push(w);
    if (this.#stream) this.#sendCreates();
    else this.#open();
  }

  /** Stops a watch (its owner has no use for it any more). */
  remove(w: UpstreamWatch): void {
    if (!this.#watches.delete(w)) return;
    w.ended = true;
    if (w.serverId !== null) {
      this.#byId.delete(w.serverId);
      this.#stream?.send({ cancelRequest: { watchId: w.serverId } });
      w.serverId = null;
    }
    // One still waiting for its create is skipped; one whose create is in flight is cancelled when it is answered.
    if (this.#watches.size === 0) {
      this.close();
      this.onIdle?.();
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#drop();
  }

  #drop(): void {
    this.#generation++;
    this.#stream?.cancel();
    this.#stream = null;
    this.#creating = [];
    this.#byId.clear();
    this.#opening = false;
  }

  #open(): void {
    if (this.#stream || this.#opening || this.#closed || this.#retry || this.#watches.size === 0) return;
    this.#opening = true;
    const gen = ++this.#generation;
    this.#upstream
      .stream(
        rpc.watch,
        {
          onMessage: (res) => gen === this.#generation && this.#onMessage(res),
          onClose: (err) => gen === this.#generation && this.#onBroken(err),
        },
        { token: this.#token || undefined },
      )
      .then(
        (s) => {
          this.#opening = false;
          if (gen !== this.#generation) return s.cancel();
          this.#stream = s;
          this.#sendCreates();
        },
        (err: EtcdError) => {
          this.#opening = false;
          if (gen === this.#generation) this.#onBroken(err);
        },
      );
  }

  #sendCreates(): void {
    const s = this.#stream;
    if (!s) return;
    for (const w of this.#pending) {
      if (w.ended) continue;
      this.#creating.push(w);
      s.send({
        createRequest: {
          key: w.spec.key,
          rangeEnd: w.spec.end ?? undefined,
          startRevision: w.nextRev,
          prevKv: w.spec.prevKv,
          filters: w.spec.filters,
          // So a quiet watch still learns how far it has got (which lets the proxy merge watches that caught up).
          progressNotify: true,
        },
      });
    }
    this.#pending = [];
  }

  #onMessage(res: WatchResponse): void {
    this.#failures = 0;
    if (res.created) {
      const w = this.#creating.shift();
      if (!w) return;
      if (res.canceled) return this.#end(w, { header: res.header ?? null, compactRevision: BigInt(res.compactRevision ?? 0), reason: res.cancelReason });
      if (w.ended) {
        this.#stream?.send({ cancelRequest: { watchId: res.watchId } });
        return;
      }
      w.serverId = res.watchId;
      this.#byId.set(res.watchId, w);
      if (!w.created) {
        w.created = true;
        if (w.nextRev === 0n) w.nextRev = BigInt(res.header?.revision ?? 0) + 1n;
        w.listener.onCreated(res.header ?? {});
      }
      if (res.events.length) this.#deliver(w, res);
      return;
    }
    const w = this.#byId.get(res.watchId);
    if (!w) return;
    if (res.events.length || !res.canceled) this.#deliver(w, res);
    if (res.canceled) {
      this.#byId.delete(res.watchId);
      w.serverId = null;
      this.#end(w, { header: res.header ?? null, compactRevision: BigInt(res.compactRevision ?? 0), reason: res.cancelReason });
    }
  }

  #deliver(w: UpstreamWatch, res: WatchResponse): void {
    w.advance(res);
    w.listener.onResponse(res);
  }

  #end(w: UpstreamWatch, end: WatchEnd): void {
    if (w.ended) return;
    w.ended = true;
    this.#watches.delete(w);
    w.listener.onEnd(end);
    if (this.#watches.size === 0) {
      this.close();
      this.onIdle?.();
    }
  }

  /** The stream ended or could not be opened: every watch again on a new stream, or all end with the error. */
  #onBroken(err: EtcdError | null): void {
    const endpoint = this.#stream?.endpoint;
    this.#drop();
    if (this.#closed) return;
    const e = err ?? new EtcdError(GrpcCode.Unavailable, "watch stream ended");
    const live = [...this.#watches].filter((w) => !w.ended);
    if (halts(e)) {
      for (const w of live) this.#end(w, { header: null, compactRevision: 0n, reason: e.message });
      return;
    }
    if (e instanceof TransportError) this.#upstream.transport.markUnhealthy(e.endpoint);
    else if (endpoint) this.#upstream.transport.markUnhealthy(endpoint);
    for (const w of live) w.serverId = null;
    this.#pending = live;
    const waitMs = backoffMs(Math.min(this.#failures++, 20));
    this.#log("warn", "watch stream to the cluster broke; resuming the watches on the next endpoint", {
      endpoint,
      error: e.message,
      watches: live.length,
      retryInMs: Math.round(waitMs),
    });
    this.#retry = setTimeout(() => {
      this.#retry = null;
      this.#open();
    }, waitMs);
  }
}
