// A watching client that records every response as it arrived (created, progress, fragments, events)
// on raw Watch streams of our client library's transport — not through its Watcher, which hides
// progress notifications and drops duplicates on resume: the checkers must see what the server sent.
// When a stream breaks (member killed, paused, cut off), the client opens a new session on the next
// member from the last revision it saw + 1, as clientv3 does; that is what Resumable checks.
import { Transport, type TypedStream } from "../../../src/client/transport.ts";
import { rpc } from "../../../src/client/rpc.ts";
import type { etcdserverpb } from "../../../src/proto/etcd.js";
import type { WatchRequest, WatchResponse, WatchSession } from "../history.ts";
import { headerRevision, toWatchEvent } from "./wire.ts";

export interface WatchClientOptions {
  client: number;
  endpoints: string[];
  home: number;
  now: () => number;
  sink: WatchSession[];
  /** The first session's request; resumed sessions change only startRevision. */
  request: WatchRequest;
  /** Send a stream-wide progress request this often (0 = never), as Kubernetes' watch cache does. */
  progressEveryMs: number;
}

const enc = (s: string) => Buffer.from(s, "latin1");
const FILTER_NOPUT = 0;
const FILTER_NODELETE = 1;

export class WatchRecorder {
  /** The highest revision this client is known to have everything up to (last event or progress). */
  lastRevision = 0;
  /** Set when the watch cannot go on (compacted): no more sessions. */
  finished: string | null = null;
  readonly #o: WatchClientOptions;
  readonly #transports = new Map<string, Transport>();
  #member: number;
  #stopped = false;
  #current: { stream: TypedStream<etcdserverpb.WatchRequest.$Properties>; done: () => void; requestProgress: () => void } | null = null;

  constructor(o: WatchClientOptions) {
    this.#o = o;
    this.#member = o.home;
    this.lastRevision = o.request.startRevision > 0 ? o.request.startRevision - 1 : 0;
  }

  /** Watches until stop(): one session after another. */
  async run(): Promise<void> {
    let failures = 0;
    for (let n = 0; n < 100_000 && !this.#stopped && this.finished === null; n++) {
      const ok = await this.#session();
      if (this.#stopped) break;
      failures = ok ? 0 : failures + 1;
      this.#member = (this.#member + 1) % this.#o.endpoints.length;
      await Bun.sleep(Math.min(500, 20 * 2 ** Math.min(failures, 5)));
    }
  }

  /**
   * Asks the current stream for a progress notification now: a watcher whose filter or range left
   * out the last writes learns that it has reached the latest revision all the same.
   */
  requestProgress(): void {
    this.#current?.requestProgress();
  }

  /** Whether stop() was called (the watch was meant to end, not broken). */
  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    this.#current?.stream.cancel();
    this.#current?.done();
    for (const t of this.#transports.values()) t.close();
  }

  #transport(endpoint: string): Transport {
    let t = this.#transports.get(endpoint);
    if (!t || t.closed) {
      t = new Transport([endpoint], 1000, { timeMs: 1000, timeoutMs: 1000 });
      this.#transports.set(endpoint, t);
    }
    return t;
  }

  /** One Watch call; false when it could not even be opened. */
  async #session(): Promise<boolean> {
    const { now, client } = this.#o;
    const request: WatchRequest = { ...this.#o.request, startRevision: this.lastRevision > 0 || this.#o.request.startRevision > 0 ? this.lastRevision + 1 : 0 };
    const session: WatchSession = { client, member: this.#member, request, call: now(), responses: [], end: 0, progressRequests: [] };
    const endpoint = this.#o.endpoints[this.#member];
    let ended = false;
    let endReason: string | undefined;
    let wake = () => {};
    const over = new Promise<void>((r) => (wake = r));
    const finish = (reason?: string) => {
      if (ended) return;
      ended = true;
      // Cancelled by stop(): the session ran to the run's end.
      endReason = this.#stopped ? undefined : reason;
      wake();
    };
    let stream: TypedStream<etcdserverpb.WatchRequest.$Properties>;
    try {
      stream = await this.#transport(endpoint).stream(
        rpc.watch,
        {
          onMessage: (res) => {
            const r = this.#record(res);
            session.responses.push(r);
            if (r.canceled) {
              if (r.compactRevision > 0) this.finished = `compacted at ${r.compactRevision}`;
              finish(r.compactRevision > 0 ? `compacted at ${r.compactRevision}` : "canceled by the server");
            }
          },
          onClose: (err) => finish(err ? err.message : "stream ended by the server"),
        },
        { deadline: undefined },
      );
    } catch (e) {
      return false;
    }
    this.#o.sink.push(session);
    const requestProgress = () => {
      if (ended) return;
      session.progressRequests.push(now());
      stream.send({ progressRequest: {} });
    };
    this.#current = { stream, done: () => finish(), requestProgress };
    const filters = [...(request.noPut ? [FILTER_NOPUT] : []), ...(request.noDelete ? [FILTER_NODELETE] : [])];
    stream.send({
      createRequest: {
        key: enc(request.key),
        rangeEnd: request.end === "" ? undefined : enc(request.end),
        startRevision: BigInt(request.startRevision),
        prevKv: request.prevKv,
        progressNotify: request.progressNotify,
        filters,
      },
    });
    let timer: ReturnType<typeof setInterval> | null = null;
    if (this.#o.progressEveryMs > 0) {
      timer = setInterval(requestProgress, this.#o.progressEveryMs);
    }
    await over;
    if (timer) clearInterval(timer);
    stream.cancel();
    this.#current = null;
    session.end = now();
    if (endReason !== undefined) session.endReason = endReason;
    return true;
  }

  #record(res: etcdserverpb.WatchResponse): WatchResponse {
    const events = res.events.map(toWatchEvent);
    const r: WatchResponse = {
      time: this.#o.now(),
      revision: headerRevision(res.header),
      created: res.created,
      canceled: res.canceled,
      compactRevision: Number(res.compactRevision),
      fragment: res.fragment,
      events,
    };
    // A fragment may stop inside a revision: resume at that revision, not after it.
    if (events.length > 0) this.lastRevision = Math.max(this.lastRevision, events[events.length - 1].kv.modRevision - (r.fragment ? 1 : 0));
    // A progress notification: everything up to its revision has been sent (etcd's bookmark).
    else if (!r.created && !r.canceled && !r.fragment) this.lastRevision = Math.max(this.lastRevision, r.revision);
    else if (r.created && this.lastRevision === 0 && this.#o.request.startRevision === 0) this.lastRevision = r.revision;
    return r;
  }
}
