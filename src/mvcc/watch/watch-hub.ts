import { EventType, type StoreEvent, type WatchEvent } from "../event.ts";
import { compareBytes, keyRange, type KeyRange, type KeyValue } from "../key-value.ts";
import type { MvccStore } from "../store.ts";
import { WatcherGroup } from "./watcher-group.ts";

/** What the hub reads from the store. */
export type WatchableStore = Pick<MvccStore, "rev" | "compactRev" | "historyStart" | "changes" | "prevKv">;

export interface WatchOptions {
  /** 0 or absent: the stream picks the lowest free id from 0 up (etcd's AutoWatchID). */
  id?: bigint;
  key: Uint8Array;
  /** etcd's convention: absent or empty = the one key, [0] = every key ≥ key, otherwise [key, end). */
  end?: Uint8Array | null;
  /** The first revision to deliver; 0 or absent = the next one. */
  startRevision?: bigint;
  noPut?: boolean;
  noDelete?: boolean;
  /** Fill each event's prevKv (read when the batch is taken, as etcd reads it when sending). */
  prevKv?: boolean;
  /** Periodic progress notifications while nothing else is sent (etcd's progress_notify). */
  progressNotify?: boolean;
}

/** One response's worth for one watcher (etcd's mvcc.WatchResponse). */
export interface WatchBatch {
  /** The watcher, or -1 for a stream-wide progress notification. */
  watchId: bigint;
  /** In revision order; empty for progress and compaction. */
  events: WatchEvent[];
  /** The header revision: the store revision the batch brings the watcher to (0 with a compactRevision, as etcd). */
  revision: bigint;
  /** Non-zero: the watcher's start revision is compacted away and the watcher is cancelled. */
  compactRevision: bigint;
}

export interface WatchHubOptions {
  /** Batches a stream holds for its consumer; beyond that its watchers become victims. etcd's chanBufLen: 128. */
  queueMax?: number;
  /** History rows read per catch-up step, which bounds a catch-up batch. Default 1000. */
  pageRows?: number;
  /** Unsynced watchers served per catch-up step (etcd's maxWatchersPerSync): 512. */
  watchersPerStep?: number;
  /**
   * Period of progress notifications for watchers that ask for them (etcd's
   * --experimental-watch-progress-notify-interval); 0 = never. etcd's default: 10 minutes.
   */
  progressIntervalMs?: number;
  /** Runs fn every ms until the returned function is called; default a real, unref'd interval (tests pass a fake clock). */
  every?: (fn: () => void, ms: number) => () => void;
  /** TESTS ONLY (a planted bug for the whole-server simulation): after a compaction, one event is lost. */
  unsafeSkipAfterCompaction?: boolean;
}

/** etcd's mvcc watch errors, by their text (the gRPC layer sends it as cancel_reason). */
export class WatchError extends Error {
  static readonly emptyRange = "mvcc: watcher range is empty";
  static readonly duplicateId = "mvcc: duplicate watch ID provided on the WatchStream";
}

type State = "synced" | "unsynced" | "victim" | "compacted" | "cancelled";

class Watcher {
  readonly id: bigint;
  readonly stream: WatchStream;
  readonly range: KeyRange;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  readonly progressNotify: boolean;
  state: State = "unsynced";
  /** The first revision not yet handed to the stream (all of it, unless `cursor` is inside it). */
  minRev = 0n;
  /** While catching up: the first history row not yet read; null = look it up from minRev. */
  cursor: bigint | null = null;
  /** While a victim: the one batch its stream had no room for. */
  pending: WatchBatch | null = null;
  /** A periodic progress notification is due unless events go out first (etcd's progress map). */
  progressDue = true;

  constructor(id: bigint, stream: WatchStream, range: KeyRange, o: WatchOptions) {
    this.id = id;
    this.stream = stream;
    this.range = range;
    this.noPut = o.noPut === true;
    this.noDelete = o.noDelete === true;
    this.prevKv = o.prevKv === true;
    this.progressNotify = o.progressNotify === true;
  }

  accepts(ev: WatchEvent): boolean {
    return ev.type === EventType.PUT ? !this.noPut : !this.noDelete;
  }
}

const ALL_KEYS = new Uint8Array([0]);
const DEFAULT_PROGRESS_MS = 10 * 60 * 1000;

/** A real interval that does not keep the process alive by itself. */
function realEvery(fn: () => void, ms: number): () => void {
  const t = setInterval(fn, ms);
  (t as { unref?: () => void }).unref?.();
  return () => clearInterval(t);
}

/**
 * Watchers over the MVCC store, in the spirit of etcd's watchableStore.
 *
 * - Synced watchers have seen every revision up to `rev`; `notify` (called for each applied write,
 *   in revision order) hands them the events they match at once.
 * - Unsynced watchers (a start revision in the past, a snapshot restore, or a victim that drained)
 *   are caught up from history: each step reads one page of at most `pageRows` rows for up to
 *   `watchersPerStep` of them, then yields to the event loop (setImmediate). A watcher whose page
 *   reaches `rev` joins the synced set with minRev = rev + 1, in the same turn, so nothing is
 *   missed or repeated. A watcher whose next revision is below the compact revision gets one batch
 *   carrying the compact revision and is cancelled.
 * - Victims: when a stream's queue is full, `notify` does not wait and does not buffer more. The
 *   watcher leaves the hot path holding the one batch that did not fit; when its consumer takes a
 *   batch, that batch is queued and the watcher catches up from history like an unsynced one.
 *
 * Memory bound: every stream queues at most `queueMax` batches, and every victim holds one. A batch
 * from `notify` holds references to the events of one notify call (shared by all watchers), one
 * from history at most `pageRows` events. Unsynced and victim watchers accumulate nothing: what
 * they have not seen is on disk. So in the worst case the hub holds
 * (streams × queueMax + victims) batches of max(events per write, pageRows) event references.
 */
export class WatchHub {
  readonly queueMax: number;
  readonly pageRows: number;
  readonly watchersPerStep: number;
  #store: WatchableStore;
  #rev: bigint;
  #synced = new WatcherGroup<Watcher>();
  #unsynced = new Set<Watcher>();
  #victims = 0;
  #progressing = new Set<Watcher>();
  #streams = new Set<WatchStream>();
  #syncScheduled = false;
  #stopTimer: (() => void) | null = null;
  #closed = false;
  /** The planted bug's state: the compaction revision it last acted on (-1: off). */
  #bugCompactRev = -1n;

  constructor(store: WatchableStore, opts: WatchHubOptions = {}) {
    this.#store = store;
    this.#rev = store.rev;
    if (opts.unsafeSkipAfterCompaction) this.#bugCompactRev = store.compactRev;
    this.queueMax = opts.queueMax ?? 128;
    this.pageRows = opts.pageRows ?? 1000;
    this.watchersPerStep = opts.watchersPerStep ?? 512;
    if (!(this.queueMax >= 1 && this.pageRows >= 1 && this.watchersPerStep >= 1)) {
      throw new Error(`WatchHub: queueMax, pageRows and watchersPerStep must be at least 1, got ${this.queueMax}, ${this.pageRows}, ${this.watchersPerStep}`);
    }
    const period = opts.progressIntervalMs ?? DEFAULT_PROGRESS_MS;
    if (!(period >= 0)) throw new Error(`WatchHub: progressIntervalMs must be ≥ 0, got ${period}`);
    if (period > 0) this.#stopTimer = (opts.every ?? realEvery)(() => this.progressTick(), period);
  }

  /** The last revision notified: what synced watchers have seen. */
  get rev(): bigint {
    return this.#rev;
  }

  /** Watcher counts by state (metrics, tests). */
  get stats(): { synced: number; unsynced: number; victims: number } {
    return { synced: this.#synced.size, unsynced: this.#unsynced.size, victims: this.#victims };
  }

  /** Open streams, and the events queued in them for their consumers (metrics). */
  get queueStats(): { streams: number; pendingEvents: number } {
    let pendingEvents = 0;
    for (const s of this.#streams) pendingEvents += s.queuedEvents;
    return { streams: this.#streams.size, pendingEvents };
  }

  /** A stream of watchers that share one queue (one gRPC Watch call). */
  newStream(): WatchStream {
    if (this.#closed) throw new Error("WatchHub: closed");
    const s = new WatchStream(this);
    this.#streams.add(s);
    return s;
  }

  /**
   * A write was applied: its revision and its events in order (MvccStore.onEvents). Never waits and
   * never throws for a slow consumer; costs one map lookup per event when nobody watches its key.
   */
  notify(rev: bigint, events: readonly StoreEvent[]): void {
    if (rev <= this.#rev) throw new Error(`assertion failed: notify at revision ${rev}, not after ${this.#rev}`);
    this.#rev = rev;
    if (this.#synced.size === 0 || events.length === 0) return;
    const batches = new Map<Watcher, WatchEvent[]>();
    for (const ev of events) {
      this.#synced.forKey(ev.kv.key, (w) => {
        if (ev.kv.modRevision < w.minRev || !w.accepts(ev)) return;
        const list = batches.get(w);
        if (list) list.push(ev);
        else batches.set(w, [ev]);
      });
    }
    if (this.#bugCompactRev >= 0n && this.#store.compactRev !== this.#bugCompactRev && batches.size > 0) {
      // TESTS ONLY (planted bug): the first event watched after a compaction is lost, for every watcher.
      this.#bugCompactRev = this.#store.compactRev;
      const lost = events.find((ev) => [...batches.values()].some((evs) => evs.includes(ev)));
      for (const [w, evs] of batches) {
        const i = evs.indexOf(lost!);
        if (i >= 0) evs.splice(i, 1);
        if (evs.length === 0) batches.delete(w);
      }
    }
    for (const [w, evs] of batches) {
      const batch: WatchBatch = { watchId: w.id, events: evs, revision: rev, compactRevision: 0n };
      if (w.stream._push(w, batch)) continue;
      this.#synced.delete(w);
      w.minRev = rev + 1n;
      this.#toVictim(w, batch);
    }
  }

  /**
   * The database was replaced (a snapshot from the leader): every watcher re-reads from the new
   * history what it has not seen. Synced ones have seen up to the old revision.
   */
  restore(store: WatchableStore): void {
    const old = this.#rev;
    this.#store = store;
    this.#rev = store.rev;
    const synced = [...this.#synced.values()];
    this.#synced = new WatcherGroup();
    for (const w of synced) {
      if (w.minRev <= old) w.minRev = old + 1n;
      w.state = "unsynced";
      this.#unsynced.add(w);
    }
    // Row ids mean nothing in the new database.
    for (const w of this.#unsynced) w.cursor = null;
    for (const s of this.#streams) for (const w of s._victims) w.cursor = null;
    this.#scheduleSync();
  }

  /**
   * One period of progress notifications (the timer's work; public so tests need no clock): each
   * synced watcher that asked for them gets one, unless it was sent events since the last period.
   */
  progressTick(): void {
    for (const w of this.#progressing) {
      if (w.progressDue) this._progress(w);
      w.progressDue = true;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimer?.();
    for (const s of [...this.#streams]) s.close();
  }

  // ---- used by WatchStream

  _add(w: Watcher, startRev: bigint): void {
    if (w.progressNotify) this.#progressing.add(w);
    if (startRev === 0n || startRev > this.#rev) {
      w.minRev = startRev > this.#rev + 1n ? startRev : this.#rev + 1n;
      this.#toSynced(w);
    } else {
      w.minRev = startRev;
      this.#toUnsynced(w);
    }
  }

  _remove(w: Watcher): void {
    if (w.state === "synced") this.#synced.delete(w);
    else if (w.state === "unsynced") this.#unsynced.delete(w);
    else if (w.state === "victim") {
      w.stream._victims.delete(w);
      w.pending = null;
      this.#victims--;
    }
    w.state = "cancelled";
    this.#progressing.delete(w);
  }

  _streamClosed(s: WatchStream): void {
    this.#streams.delete(s);
  }

  /** A stream's consumer took a batch: there is room for its victims and unsynced watchers. */
  _onSpace(s: WatchStream): void {
    for (const w of s._victims) {
      if (!s._push(w, w.pending!)) break;
      s._victims.delete(w);
      this.#victims--;
      w.pending = null;
      if (w.minRev <= this.#rev) this.#toUnsynced(w);
      else this.#toSynced(w);
    }
    if (this.#unsynced.size > 0) this.#scheduleSync();
    s._maybeProgressAll();
  }

  /** A progress notification for one synced watcher: no events, the current revision. Dropped when the queue is full, as etcd. */
  _progress(w: Watcher): void {
    // A watcher that starts in the future has not reached the current revision: nothing to report.
    if (w.state !== "synced" || w.minRev > this.#rev + 1n) return;
    w.stream._push(w, { watchId: w.id, events: [], revision: this.#rev, compactRevision: 0n });
  }

  _prevKv(ev: WatchEvent): KeyValue | undefined {
    return this.#store.prevKv(ev);
  }

  // ---- internal

  #toSynced(w: Watcher): void {
    w.state = "synced";
    w.cursor = null;
    this.#synced.add(w);
    w.stream._maybeProgressAll();
  }

  #toUnsynced(w: Watcher): void {
    w.state = "unsynced";
    this.#unsynced.add(w);
    this.#scheduleSync();
  }

  #toVictim(w: Watcher, batch: WatchBatch): void {
    w.state = "victim";
    w.pending = batch;
    w.stream._victims.add(w);
    this.#victims++;
  }

  #scheduleSync(): void {
    if (this.#syncScheduled || this.#closed) return;
    this.#syncScheduled = true;
    setImmediate(() => {
      this.#syncScheduled = false;
      if (!this.#closed) this.#syncStep();
    });
  }

  /** One catch-up step: one page of history, shared by up to watchersPerStep unsynced watchers. */
  #syncStep(): void {
    const to = this.#rev;
    const compactRev = this.#store.compactRev;
    const chosen: Watcher[] = [];
    for (const w of this.#unsynced) {
      if (chosen.length >= this.watchersPerStep) break;
      // A full queue: this watcher resumes when its consumer takes a batch (_onSpace).
      if (w.stream._full()) continue;
      if (w.minRev > to) {
        // Only after a restore to an older database: nothing to read yet.
        this.#unsynced.delete(w);
        this.#toSynced(w);
        continue;
      }
      if (w.minRev < compactRev) {
        // etcd: one response with the compact revision (header revision 0), and the watcher is done.
        if (w.stream._push(w, { watchId: w.id, events: [], revision: 0n, compactRevision: compactRev })) {
          this.#unsynced.delete(w);
          this.#progressing.delete(w);
          w.state = "compacted";
        }
        continue;
      }
      chosen.push(w);
    }
    if (chosen.length === 0) return;

    let start = -1n;
    let minRev = to + 1n;
    const starts = new Map<bigint, bigint>();
    for (const w of chosen) {
      if (w.cursor === null) {
        let id = starts.get(w.minRev);
        if (id === undefined) starts.set(w.minRev, (id = this.#store.historyStart(w.minRev)));
        w.cursor = id;
      }
      if (start < 0n || w.cursor < start) start = w.cursor;
      if (w.minRev < minRev) minRev = w.minRev;
    }
    const page = this.#store.changes(ALL_KEYS, ALL_KEYS, { after: minRev - 1n, to, rowsMax: this.pageRows, cursor: start });

    const group = new WatcherGroup<Watcher>();
    for (const w of chosen) group.add(w);
    const got = new Map<Watcher, WatchEvent[]>();
    for (const ev of page.events) {
      group.forKey(ev.kv.key, (w) => {
        if (ev.id < w.cursor! || !w.accepts(ev)) return;
        const list = got.get(w);
        if (list) list.push(ev);
        else got.set(w, [ev]);
      });
    }

    for (const w of chosen) {
      // Taken out and put back at the end: watchers beyond watchersPerStep get their turn.
      this.#unsynced.delete(w);
      const done = page.next === null;
      if (done) {
        w.minRev = to + 1n;
        w.cursor = null;
      } else if (page.next!.id > w.cursor!) {
        w.cursor = page.next!.id;
        w.minRev = page.next!.rev;
      }
      const evs = got.get(w);
      if (evs) {
        const batch: WatchBatch = { watchId: w.id, events: evs, revision: to, compactRevision: 0n };
        if (!w.stream._push(w, batch)) {
          this.#toVictim(w, batch);
          continue;
        }
      }
      if (done) this.#toSynced(w);
      else this.#unsynced.add(w);
    }
    if (this.#unsynced.size > 0) this.#scheduleSync();
  }
}

/**
 * The watchers of one consumer (one gRPC Watch call) and the queue of batches for it, as etcd's
 * mvcc.WatchStream. The consumer calls take() until it returns undefined, then waits for onReady.
 */
export class WatchStream {
  /** Called when a batch is queued while the queue was empty. */
  onReady: (() => void) | null = null;
  readonly _victims = new Set<Watcher>();
  #hub: WatchHub;
  #watchers = new Map<bigint, Watcher>();
  #nextId = 0n;
  #queue: { w: Watcher | null; batch: WatchBatch }[] = [];
  #progressAllDeferred = false;
  #closed = false;

  constructor(hub: WatchHub) {
    this.#hub = hub;
  }

  /** The hub's revision (what a watch created now starts after). */
  get rev(): bigint {
    return this.#hub.rev;
  }

  /** Batches waiting for the consumer. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Events in the queued batches. */
  get queuedEvents(): number {
    let n = 0;
    for (const q of this.#queue) n += q.batch.events.length;
    return n;
  }

  /** Adds a watcher; returns its id. Throws WatchError (etcd's texts) for an empty range or a duplicate id. */
  watch(opts: WatchOptions): bigint {
    const range = keyRange(opts.key, opts.end);
    // etcd answers a closed stream with the empty-range error too.
    if (this.#closed || (range.kind === "range" && compareBytes(range.key, range.end) >= 0)) throw new WatchError(WatchError.emptyRange);
    let id = opts.id ?? 0n;
    if (id === 0n) {
      while (this.#watchers.has(this.#nextId)) this.#nextId++;
      id = this.#nextId++;
    } else if (this.#watchers.has(id)) throw new WatchError(WatchError.duplicateId);
    const w = new Watcher(id, this, range, opts);
    this.#watchers.set(id, w);
    this.#hub._add(w, opts.startRevision ?? 0n);
    return id;
  }

  /**
   * Removes a watcher, with whatever is still queued for it (the client asked to stop). False if
   * there is no such watcher. A watcher cancelled by compaction keeps its id until this is called.
   */
  cancel(id: bigint): boolean {
    const w = this.#watchers.get(id);
    if (!w || this.#closed) return false;
    this.#hub._remove(w);
    this.#watchers.delete(id);
    const before = this.#queue.length;
    this.#queue = this.#queue.filter((q) => q.w !== w);
    if (this.#queue.length < before) this.#hub._onSpace(this);
    else this._maybeProgressAll();
    return true;
  }

  /** A progress notification for one watcher, if it is synced (etcd's RequestProgress). */
  requestProgress(id: bigint): void {
    const w = this.#watchers.get(id);
    if (w) this.#hub._progress(w);
  }

  /**
   * A stream-wide progress notification (watch id -1, the current revision) once every watcher of
   * the stream is synced, so it never overtakes events below its revision (etcd ≥ 3.4.25; requests
   * made while some watcher catches up are answered once, when it has).
   */
  requestProgressAll(): void {
    this.#progressAllDeferred = true;
    this._maybeProgressAll();
  }

  /** The next batch, or undefined; prevKv is read now for watchers that asked. */
  take(): WatchBatch | undefined {
    const item = this.#queue.shift();
    if (!item) return undefined;
    this.#hub._onSpace(this);
    const { w } = item;
    let batch = item.batch;
    if (w !== null && batch.events.length > 0) {
      w.progressDue = false;
      if (w.prevKv) batch = { ...batch, events: batch.events.map((ev) => this.#withPrevKv(ev)) };
    }
    return batch;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#watchers.values()) this.#hub._remove(w);
    this.#watchers.clear();
    this.#queue = [];
    this.onReady = null;
    this.#hub._streamClosed(this);
  }

  // ---- used by WatchHub

  _full(): boolean {
    return this.#queue.length >= this.#hub.queueMax;
  }

  _push(w: Watcher | null, batch: WatchBatch): boolean {
    if (this.#closed || this.#queue.length >= this.#hub.queueMax) return false;
    this.#queue.push({ w, batch });
    if (this.#queue.length === 1) this.onReady?.();
    return true;
  }

  _maybeProgressAll(): void {
    if (!this.#progressAllDeferred) return;
    for (const w of this.#watchers.values()) if (w.state === "unsynced" || w.state === "victim") return;
    if (this._push(null, { watchId: -1n, events: [], revision: this.#hub.rev, compactRevision: 0n })) this.#progressAllDeferred = false;
  }

  #withPrevKv(ev: WatchEvent): WatchEvent {
    // A create has no previous value (etcd does not even look).
    if (ev.type === EventType.PUT && ev.kv.createRevision === ev.kv.modRevision) return { type: ev.type, kv: ev.kv };
    const prevKv = this.#hub._prevKv(ev);
    return prevKv ? { type: ev.type, kv: ev.kv, prevKv } : { type: ev.type, kv: ev.kv };
  }
}
