// Watch coalescing (etcd's grpcproxy watch_broadcast/watch_ranges): client watchers of the same key
// range, filters and prev_kv share one upstream watch, a "broadcast", whose responses fan out to all
// of them. A watcher from "now" joins a broadcast that is already running (its created header is the
// broadcast's latest); one from an old revision joins a broadcast that has not passed that revision
// yet, or gets a broadcast of its own, which merges into a running one once it has caught up to it.
//
// Each client watcher keeps the next revision it needs and drops events below it, so moving it from
// one broadcast to another never repeats or loses an event (a revision is never split across
// responses, by etcd or by etcd-ts).
import type { Logger } from "../../pkg/logger.ts";
import type { mvccpb } from "../../proto/etcd.js";
import { clientWatchers, eventsCoalescing, upstreamWatches, watchersCoalescing } from "../metrics.ts";
import type { Namespace } from "../namespace.ts";
import type { Upstream } from "../upstream.ts";
import { type ResponseHeader, UpstreamWatch, type UpstreamWatchListener, UpstreamWatchStream, type WatchEnd, type WatchResponse, type WatchSpec } from "./upstream-watch.ts";

/** What a broadcast sends one client watcher (its downstream stream puts the watch id and queues it). */
export interface ClientResponse {
  header: ResponseHeader;
  events?: mvccpb.IEvent[];
  created?: boolean;
  canceled?: boolean;
  compactRevision?: bigint;
  cancelReason?: string;
}

/** One client watcher, as the broadcasts see it. */
export interface Receiver {
  readonly progressNotify: boolean;
  /** The auth token of its stream: a broadcast it starts watches the cluster with it. */
  readonly token: string;
  /** The next revision it needs; 0 until it is created (a watch from "now"). */
  nextRev: bigint;
  /** Its created response went out. */
  created: boolean;
  broadcast: Broadcast | null;
  /** Queues a response for the client. */
  send(r: ClientResponse): void;
  /** The broadcast ended it (compaction, a cancel by the cluster): it is no longer served. */
  ended(): void;
}

export class Broadcast implements UpstreamWatchListener {
  readonly group: Group;
  /** The revision it was started from; 0 = "now". */
  readonly startRev: bigint;
  readonly watch: UpstreamWatch;
  readonly receivers = new Set<Receiver>();
  /** The header of the latest response; null until the cluster created the watch. */
  lastHeader: ResponseHeader | null = null;
  readonly #registry: WatchRegistry;
  #stream: UpstreamWatchStream;

  constructor(registry: WatchRegistry, group: Group, startRev: bigint, token: string) {
    this.#registry = registry;
    this.group = group;
    this.startRev = startRev;
    this.watch = new UpstreamWatch(group.spec, startRev, this);
    this.#stream = registry.streamFor(token);
    this.#stream.add(this.watch);
    upstreamWatches.inc();
  }

  get responded(): boolean {
    return this.lastHeader !== null;
  }

  /** Everything below this revision has been delivered. */
  get nextRev(): bigint {
    return this.watch.nextRev;
  }

  /** Has delivered everything up to the latest revision it knows of (not catching up from history). */
  get live(): boolean {
    return this.lastHeader !== null && this.watch.nextRev > BigInt(this.lastHeader.revision ?? 0);
  }

  join(r: Receiver): void {
    if (this.receivers.size > 0) watchersCoalescing.inc();
    this.receivers.add(r);
    r.broadcast = this;
  }

  leave(r: Receiver): void {
    if (!this.receivers.delete(r)) return;
    r.broadcast = null;
    if (this.receivers.size > 0) watchersCoalescing.dec();
    if (this.receivers.size === 0) this.stop();
  }

  stop(): void {
    if (this.receivers.size > 1) watchersCoalescing.dec(this.receivers.size - 1);
    this.receivers.clear();
    if (this.group.broadcasts.delete(this)) {
      upstreamWatches.dec();
      this.#stream.remove(this.watch);
      this.#registry.dropIfEmpty(this.group);
    }
  }

  // ---------------------------------------------------------------- UpstreamWatchListener

  onCreated(header: ResponseHeader): void {
    this.lastHeader = header;
    for (const r of this.receivers) {
      if (r.created) continue;
      if (r.nextRev === 0n) r.nextRev = BigInt(header.revision ?? 0) + 1n;
      r.created = true;
      r.send({ header, created: true });
    }
    this.#registry.coalesce(this);
  }

  onResponse(res: WatchResponse): void {
    if (res.header) this.lastHeader = res.header;
    const header = res.header ?? this.lastHeader ?? {};
    const events = this.group.ns ? res.events.map((e) => this.group.ns!.event(e)) : res.events;
    const progress = events.length === 0;
    const lastRev = progress ? 0n : BigInt(events[events.length - 1].kv?.modRevision ?? 0);
    let sent = 0;
    for (const r of this.receivers) {
      if (!r.created) continue;
      if (progress) {
        if (r.progressNotify) r.send({ header });
        continue;
      }
      let mine = events;
      if (BigInt(events[0].kv?.modRevision ?? 0) < r.nextRev) mine = events.filter((e) => BigInt(e.kv?.modRevision ?? 0) >= r.nextRev);
      if (lastRev >= r.nextRev) r.nextRev = lastRev + 1n;
      if (mine.length === 0) continue;
      r.send({ header, events: mine });
      sent++;
    }
    if (sent > 1) eventsCoalescing.inc(sent - 1);
    this.#registry.coalesce(this);
  }

  onEnd(end: WatchEnd): void {
    const header = end.header ?? this.lastHeader ?? {};
    const receivers = [...this.receivers];
    if (this.group.broadcasts.delete(this)) {
      upstreamWatches.dec();
      this.#registry.dropIfEmpty(this.group);
    }
    if (receivers.length > 1) watchersCoalescing.dec(receivers.length - 1);
    this.receivers.clear();
    for (const r of receivers) {
      r.broadcast = null;
      if (end.compactRevision > 0n && r.created && r.nextRev >= end.compactRevision) {
        // Compaction took revisions this watcher no longer needs: it goes on elsewhere.
        this.#registry.place(r, this.group, r.nextRev);
        continue;
      }
      if (!r.created) {
        r.created = true;
        r.send({ header, created: true, canceled: true, compactRevision: end.compactRevision, cancelReason: end.reason });
      } else {
        r.send({ header, canceled: true, compactRevision: end.compactRevision, cancelReason: end.reason });
      }
      r.ended();
    }
  }
}

/** The broadcasts of one key range with one set of options. */
export interface Group {
  readonly id: string;
  readonly spec: WatchSpec;
  readonly ns: Namespace | null;
  readonly broadcasts: Set<Broadcast>;
}

export class WatchRegistry {
  readonly #upstream: Upstream;
  readonly #log: Logger;
  readonly #ns: Namespace | null;
  readonly #groups = new Map<string, Group>();
  readonly #streams = new Map<string, UpstreamWatchStream>();

  constructor(upstream: Upstream, ns: Namespace | null, log: Logger) {
    this.#upstream = upstream;
    this.#ns = ns;
    this.#log = log;
  }

  /** The upstream watches open now (one per broadcast). */
  get upstreamWatchCount(): number {
    let n = 0;
    for (const g of this.#groups.values()) n += g.broadcasts.size;
    return n;
  }

  /** Adds a client watcher of `spec` (keys under the namespace already) from `startRev` (0 = now). */
  add(r: Receiver, spec: WatchSpec, startRev: bigint): void {
    const id = groupId(spec);
    let g = this.#groups.get(id);
    if (!g) this.#groups.set(id, (g = { id, spec, ns: this.#ns, broadcasts: new Set() }));
    clientWatchers.inc();
    this.place(r, g, startRev);
  }

  /** The client watcher is gone (cancelled, or its stream ended). */
  remove(r: Receiver): void {
    clientWatchers.dec();
    r.broadcast?.leave(r);
  }

  /** Puts a watcher on a broadcast that can serve it from `startRev`, or on a new one. */
  place(r: Receiver, g: Group, startRev: bigint): void {
    let best: Broadcast | null = null;
    for (const b of g.broadcasts) {
      if (!b.responded) continue;
      // A broadcast that has not passed startRev delivers everything the watcher needs from there.
      if (startRev !== 0n && b.nextRev > startRev) continue;
      // One still catching up from history would hold a watcher from "now" back until it is live.
      if (startRev === 0n && !b.live) continue;
      if (!best || b.nextRev > best.nextRev) best = b;
    }
    if (best) {
      r.nextRev = startRev !== 0n ? startRev : BigInt(best.lastHeader!.revision ?? 0) + 1n;
      best.join(r);
      if (!r.created) {
        r.created = true;
        r.send({ header: best.lastHeader!, created: true });
      }
      return;
    }
    // Not created yet: a broadcast still waiting for the cluster's answer, started from "now" or from
    // a revision at or below startRev (it will deliver from there), serves it as well.
    for (const b of g.broadcasts) {
      if (b.responded) continue;
      const fits = startRev === 0n ? b.startRev === 0n : b.startRev !== 0n && b.startRev <= startRev;
      if (fits) {
        r.nextRev = startRev;
        b.join(r);
        return;
      }
    }
    r.nextRev = startRev;
    const b = new Broadcast(this, g, startRev, r.token);
    g.broadcasts.add(b);
    b.join(r);
  }

  /**
   * After a response of `b`: if another running broadcast of its group delivers everything b's
   * watchers still need without making them wait (it is live and not behind b), they move there and
   * b's upstream watch ends. Two live broadcasts at the same revision merge into the larger one.
   */
  coalesce(b: Broadcast): void {
    if (!b.responded || !b.group.broadcasts.has(b)) return;
    for (const o of b.group.broadcasts) {
      if (o === b || !o.live || o.nextRev > b.nextRev) continue;
      // Equal positions: keep the one with more watchers (fewer moves).
      const [from, to] = o.nextRev === b.nextRev && o.receivers.size < b.receivers.size ? [o, b] : [b, o];
      const moving = [...from.receivers];
      for (const r of moving) {
        from.leave(r);
        if (r.nextRev < from.nextRev) r.nextRev = from.nextRev;
        to.join(r);
      }
      from.stop();
      this.#log("debug", "coalesced watchers onto one upstream watch", { moved: moving.length, revision: String(to.nextRev) });
      return;
    }
  }

  streamFor(token: string): UpstreamWatchStream {
    let s = this.#streams.get(token);
    if (!s) {
      const made = new UpstreamWatchStream(this.#upstream, token, this.#log);
      made.onIdle = () => {
        if (this.#streams.get(token) === made) this.#streams.delete(token);
      };
      this.#streams.set(token, (s = made));
    }
    return s;
  }

  dropIfEmpty(g: Group): void {
    if (g.broadcasts.size === 0 && this.#groups.get(g.id) === g) this.#groups.delete(g.id);
  }

  close(): void {
    for (const g of [...this.#groups.values()]) for (const b of [...g.broadcasts]) b.stop();
    for (const s of this.#streams.values()) s.close();
    this.#streams.clear();
  }
}

function hex(b: Uint8Array | null): string {
  return b === null ? "-" : Buffer.from(b).toString("hex");
}

function groupId(s: WatchSpec): string {
  return `${hex(s.key)}/${hex(s.end)}/${s.prevKv ? 1 : 0}/${[...s.filters].sort().join(",")}`;
}
