import { EventType, type StoreEvent } from "../../mvcc/event.ts";
import { DB_SYNCED_COPY_SUFFIX, recordingSyncs } from "../../pkg/failpoint.ts";
import { MvccStore } from "../../mvcc/store.ts";
import type { WatchHub } from "../../mvcc/watch/watch-hub.ts";
import type { Ready, SoftState } from "../../raft/raw-node.ts";
import { type Entry, type Message, MessageType, type ReadState, type Snapshot, StateType } from "../../raft/types.ts";
import type { EntryApplier } from "./apply/entries.ts";
import type { LogCheckpoint } from "./log-checkpoint.ts";
import type { MemberState } from "./member-state.ts";
import { hex } from "./membership.ts";
import { HeartbeatLateness, keysDelta, leaderChanges } from "./metrics.ts";
import type { PeerSnapshots } from "./peer-snapshot.ts";
import { readyRecords } from "./raft-wal.ts";
import type { Proposer } from "./proposer.ts";
import type { RaftNode, RaftNodeIO } from "./raft-node.ts";
import type { LinearizableReads } from "./reads.ts";
import type { Log, ServerOptions, WalStore } from "./server-options.ts";
import type { Transport } from "./transport.ts";

/** The parts made after the Raft node (they read it): attached before the loop runs. */
export interface MemberParts {
  raft: RaftNode;
  applier: EntryApplier;
  reads: LinearizableReads;
  proposer: Proposer;
  checkpoint: LogCheckpoint;
  /** Publishes this member's attributes; called once, when a leader is first known. */
  publish: () => void;
}

/**
 * What the Ready loop does at each step for a real member: the WAL persists, the database applies
 * (through the apply chain), the peer transport sends — database snapshots on their own connection —
 * and the store's events reach the lessor and the watchers.
 */
export class MemberIO implements RaftNodeIO {
  readonly #state: MemberState;
  readonly #wal: WalStore;
  readonly #unsafeBug: ServerOptions["unsafeBug"];
  readonly #watchHub: WatchHub;
  readonly #peerSnapshots: PeerSnapshots;
  readonly #transport: () => Transport | null;
  readonly #heartbeats: HeartbeatLateness;
  readonly #log: Log;
  #p!: MemberParts;
  #published = false;
  #seenLead = 0n;
  /** Live keys (etcd_debugging_mvcc_keys_total): counted once per store, then kept in step by its events. */
  keys = 0;

  constructor(o: {
    state: MemberState;
    wal: WalStore;
    watchHub: WatchHub;
    peerSnapshots: PeerSnapshots;
    transport: () => Transport | null;
    heartbeatMs: number;
    log: Log;
    unsafeBug?: ServerOptions["unsafeBug"];
  }) {
    this.#state = o.state;
    this.#wal = o.wal;
    this.#unsafeBug = o.unsafeBug;
    this.#watchHub = o.watchHub;
    this.#peerSnapshots = o.peerSnapshots;
    this.#transport = o.transport;
    this.#heartbeats = new HeartbeatLateness(o.heartbeatMs);
    this.#log = o.log;
    this.#watchStore(o.state.store);
  }

  attach(parts: MemberParts): void {
    this.#p = parts;
  }

  persist(rd: Ready): Promise<void> | void {
    const records = readyRecords(rd);
    if (!records.length) return undefined;
    const saving = this.#wal.append(records);
    if (this.#unsafeBug === "ack-before-fsync") {
      // TESTS ONLY (planted bug): the Ready goes on as if the fsync had returned.
      saving.catch(() => {});
      return undefined;
    }
    return saving;
  }

  installSnapshot(snap: Snapshot): void {
    const s = this.#state;
    if (BigInt(snap.meta.index) <= s.applied) {
      this.#peerSnapshots.keep(snap, s.backend);
      this.#log("info", "kept the database: it is ahead of the leader's snapshot", { snapshotIndex: snap.meta.index, appliedIndex: s.applied });
      return;
    }
    const backend = this.#peerSnapshots.install(snap, s.backend);
    if (recordingSyncs()) backend.writeCopy(backend.path + DB_SYNCED_COPY_SUFFIX);
    const store = new MvccStore(backend);
    store.resumeCompaction();
    s.reload(backend, store);
    this.#watchStore(store);
    this.#watchHub.restore(store);
    s.lessor.recover(store.leasedKeys(), { backend });
    s.authStore.recover(backend);
    this.#log("info", "installed a snapshot from the leader", { snapshotIndex: snap.meta.index, appliedIndex: s.applied });
  }

  apply(entries: Entry[]): void {
    this.#p.applier.apply(entries);
    this.#p.reads.applied();
  }

  /** Raft's snapshot messages carry no data: the database goes on its own connection. */
  send(msgs: Message[]): void {
    let rest = msgs;
    if (msgs.some((m) => m.type === MessageType.Snap)) {
      for (const m of msgs) {
        if (m.type !== MessageType.Snap) continue;
        this.#peerSnapshots.send(
          m,
          (mm, db) => this.#transport()?.sendSnapshot(mm, db),
          () => this.#p.raft.reportSnapshot(m.to, false),
        );
      }
      rest = msgs.filter((m) => m.type !== MessageType.Snap);
    }
    if (this.#p.raft.isLeader) this.#heartbeats.observe(rest, MessageType.Heartbeat);
    if (rest.length) this.#transport()?.send(rest);
  }

  stateChanged(soft: SoftState, term: number): void {
    if (soft.lead !== 0n && soft.lead !== this.#seenLead) leaderChanges.inc();
    this.#seenLead = soft.lead;
    this.#log("info", "raft state", { state: ["follower", "candidate", "leader", "pre-candidate"][soft.state], leader: hex(soft.lead), term });
    // A read sent to the old leader will not be answered: ask the new one.
    if (soft.lead !== 0n) this.#p.reads.leaderChanged();
    if (soft.state !== StateType.Leader && this.#state.lessor.isPrimary) this.#state.lessor.demote();
  }

  readStates(rs: ReadState[]): void {
    for (const s of rs) this.#p.reads.answered(s.requestCtx, s.index);
  }

  dropped(data: Uint8Array[], err: unknown): void {
    this.#p.proposer.dropped(data, err);
  }

  advanced(): Promise<void> | void {
    if (!this.#published && this.#p.raft.lead !== 0n) {
      this.#published = true;
      this.#p.publish();
    }
    if (this.#p.checkpoint.due(this.#p.applier.sinceCheckpoint)) {
      this.#p.applier.sinceCheckpoint = 0;
      return this.#p.checkpoint.run();
    }
  }

  /** Every applied change goes to the lessor (which keys a lease holds) and to the watchers, in order. */
  #watchStore(store: MvccStore): void {
    this.keys = store.range(ALL_KEYS, ALL_KEYS, { countOnly: true }).count;
    store.onEvents = (rev, events) => {
      for (const ev of events) {
        this.#leaseFollows(ev);
        this.keys += keysDelta(ev);
      }
      this.#watchHub.notify(rev, events);
    };
  }

  #leaseFollows(ev: StoreEvent): void {
    const lessor = this.#state.lessor;
    const key = ev.kv.key;
    const held = lessor.leaseOf(key);
    const now = ev.type === EventType.PUT ? ev.kv.lease : 0n;
    if (held === now) return;
    if (held !== 0n) lessor.detach(held, key);
    if (now !== 0n && lessor.lookup(now)) lessor.attach(now, key);
  }
}

/** The range "\0".."\0": every key. */
const ALL_KEYS = new Uint8Array([0]);
