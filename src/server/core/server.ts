import { accessSync, constants, mkdirSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { EtcdError, Errors, isEtcdError } from "../../pkg/errors.ts";
import { crc32c } from "../../pkg/crc32c.ts";
import { etcdserverpb, raftpb, mvccpb } from "../../proto/etcd.js";
import { encodeWithHeadroom } from "../../proto/encode.ts";
import { Wal, type WalRecord } from "../../wal/wal.ts";
import {
  applyDeleteRange,
  applyPut,
  applyRange,
  applyTxn,
  isTxnReadOnly,
  type DeleteOut,
  type PutOut,
  type RangeOut,
  type TxnOut,
} from "./kv-apply.ts";
import { computeClusterId, computeMemberId } from "./member-id.ts";
import { SingleNode, type Entry, type Ready } from "./single-node.ts";
import { checkDelete, checkPut, checkRange, checkTxn } from "./validate.ts";
import { WaitRegistry } from "./wait.ts";

/** The etcd API level this server implements: clients gate features on it. */
export const ETCD_API_VERSION = "3.5.0";
export const ETCD_CLUSTER_VERSION = "3.5.0";

export interface ServerOptions {
  name: string;
  dataDir: string;
  walDir?: string;
  initialAdvertisePeerUrls: string[];
  advertiseClientUrls: string[];
  initialClusterToken: string;
  maxRequestBytes: number;
  maxTxnOps: number;
  snapshotCount: number;
  log: (level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

export interface MemberInfo {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** WAL record types. */
const RecordType = { entry: 1, hardState: 2, metadata: 3 } as const;

type ApplyResult = PutOut | DeleteOut | TxnOut | { header: { revision: bigint } };
type Header = { clusterId: bigint; memberId: bigint; revision: bigint; raftTerm: bigint };

/**
 * The server: proposes writes, runs the ready loop (persist → apply → advance), answers reads from
 * the MVCC store. Everything a client sees goes through here, whichever protocol it came by.
 */
export class EtcdServer {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly members: MemberInfo[];
  #opts: ServerOptions;
  #backend: Backend;
  #store: MvccStore;
  #wal: Wal;
  #node: SingleNode;
  #wait = new WaitRegistry<ApplyResult>();
  /** Requests proposed by this process, by log index: applying them needs no decode. */
  #proposed = new Map<bigint, etcdserverpb.InternalRaftRequest.$Properties>();
  #nextRequestId: bigint;
  #applied: bigint;
  #appliedWaiters: { index: bigint; resolve: () => void }[] = [];
  #wake: (() => void) | null = null;
  #stopped = false;
  #loop: Promise<void>;
  #sinceCheckpoint = 0;
  #fatal: (err: unknown) => void;

  private constructor(opts: ServerOptions, parts: { backend: Backend; store: MvccStore; wal: Wal; node: SingleNode; members: MemberInfo[]; memberId: bigint; clusterId: bigint; applied: bigint }, fatal: (err: unknown) => void) {
    this.#opts = opts;
    this.#backend = parts.backend;
    this.#store = parts.store;
    this.#wal = parts.wal;
    this.#node = parts.node;
    this.members = parts.members;
    this.memberId = parts.memberId;
    this.clusterId = parts.clusterId;
    this.#applied = parts.applied;
    this.#fatal = fatal;
    // Request ids only pair a proposal with its apply result inside this process; starting from the
    // clock keeps ids of entries replayed from an earlier run from matching a new waiter.
    this.#nextRequestId = BigInt(Date.now()) << 20n;
    this.#loop = this.#readyLoop();
  }

  static async start(opts: ServerOptions, fatal: (err: unknown) => void): Promise<EtcdServer> {
    const memberDir = join(opts.dataDir, "member");
    ensureWritableDir(opts.dataDir);
    ensureWritableDir(memberDir);
    const walDir = opts.walDir || join(memberDir, "wal");
    ensureWritableDir(walDir);
    const backend = new Backend(join(memberDir, "snap", "db"));
    const store = new MvccStore(backend);

    // Membership comes from the data dir once it exists; the initial-* settings only bootstrap it.
    let members: MemberInfo[];
    const saved = backend.getMeta("members") as string | undefined;
    if (saved) {
      members = JSON.parse(saved, (k, v) => (k === "id" ? BigInt(v) : v));
    } else {
      const id = computeMemberId(opts.initialAdvertisePeerUrls, opts.initialClusterToken);
      members = [{ id, name: opts.name, peerURLs: [...opts.initialAdvertisePeerUrls], clientURLs: [...opts.advertiseClientUrls], isLearner: false }];
    }
    const self = members.find((m) => m.name === opts.name) ?? members[0];
    // Client URLs are attributes this member publishes at start, as etcd does.
    self.clientURLs = [...opts.advertiseClientUrls];
    const memberId = self.id;
    // uint64 ids do not fit SQLite's signed integers: they are stored as hex text.
    const savedCluster = backend.getMeta("cluster_id") as string | undefined;
    const clusterId = savedCluster ? BigInt(`0x${savedCluster}`) : computeClusterId(members.map((m) => m.id));
    backend.batch(() => {
      backend.setMeta("members", JSON.stringify(members, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
      backend.setMeta("cluster_id", clusterId.toString(16));
    });

    const { wal, records, repaired } = await Wal.open(walDir, {
      log: (level, msg) => opts.log(level, msg),
    });
    if (repaired) opts.log("warn", "repaired a torn WAL tail", { ...repaired });

    const applied = (backend.getMeta("consistent_index") as bigint | undefined) ?? 0n;
    const { entries, lastTerm } = replayWal(records);
    const lastIndex = entries.length ? entries[entries.length - 1].index : applied;
    if (lastIndex < applied) {
      throw new Error(
        `The WAL in '${walDir}' ends at index ${lastIndex} but the database has applied up to ${applied}: ` +
          "the WAL was removed or replaced. Restore the member from a snapshot.",
      );
    }
    const node = new SingleNode({ id: memberId, lastTerm, lastIndex, appliedIndex: applied, replay: entries });
    if (records.length === 0) {
      await wal.append([{ type: RecordType.metadata, data: etcdserverpb.Metadata.encode({ NodeID: memberId, ClusterID: clusterId }).finish() }]);
    }
    opts.log("info", "server started", {
      memberId: memberId.toString(16),
      clusterId: clusterId.toString(16),
      term: node.term,
      appliedIndex: applied,
      replaying: entries.filter((e) => e.index > applied).length,
    });
    return new EtcdServer(opts, { backend, store, wal, node, members, memberId, clusterId, applied }, fatal);
  }

  // ---- reads and writes ----

  async range(r: etcdserverpb.RangeRequest.$Properties): Promise<RangeOut & { header: Header }> {
    checkRange(r);
    if (!r.serializable) await this.#linearizableRead();
    const out = applyRange(this.#store, r);
    return { ...out, header: this.header(out.header.revision) };
  }

  async put(r: etcdserverpb.PutRequest.$Properties): Promise<PutOut & { header: Header }> {
    checkPut(r);
    return this.#withHeader<PutOut>(await this.#propose({ put: r }));
  }

  async deleteRange(r: etcdserverpb.DeleteRangeRequest.$Properties): Promise<DeleteOut & { header: Header }> {
    checkDelete(r);
    return this.#withHeader<DeleteOut>(await this.#propose({ deleteRange: r }));
  }

  async txn(r: etcdserverpb.TxnRequest.$Properties): Promise<TxnOut & { header: Header }> {
    checkTxn(r, this.#opts.maxTxnOps);
    if (isTxnReadOnly(r)) {
      if (!isTxnSerializable(r)) await this.#linearizableRead();
      const out = applyTxn(this.#store, r, this.#leases);
      return { ...out, header: this.header(out.header.revision) };
    }
    return this.#withHeader<TxnOut>(await this.#propose({ txn: r }));
  }

  async compact(r: etcdserverpb.CompactionRequest.$Properties): Promise<{ header: Header }> {
    const rev = BigInt(r.revision ?? 0n);
    // Reject early what the apply would reject, as etcd does before proposing.
    if (rev <= this.#store.compactRev) throw Errors.compacted;
    if (rev > this.#store.rev) throw Errors.futureRev;
    return this.#withHeader(await this.#propose({ compaction: r }));
  }

  // ---- maintenance ----

  header(revision?: bigint): Header {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: revision ?? this.#store.rev, raftTerm: this.#node.term };
  }

  status() {
    return {
      header: this.header(),
      version: ETCD_API_VERSION,
      dbSize: BigInt(this.#backend.size()),
      leader: this.#node.leader,
      raftIndex: this.#node.lastIndex,
      raftTerm: this.#node.term,
      raftAppliedIndex: this.#applied,
      errors: [] as string[],
      dbSizeInUse: BigInt(this.#backend.sizeInUse()),
      isLearner: false,
    };
  }

  async defrag(): Promise<{ header: Header }> {
    this.#backend.defrag();
    return { header: this.header() };
  }

  /** HashKV: a CRC32C over every retained revision up to rev, equal on members with equal history. */
  hashKV(rev: bigint): { header: Header; hash: number; compactRevision: bigint } {
    const at = rev === 0n ? this.#store.rev : rev;
    if (at > this.#store.rev) throw Errors.futureRev;
    if (at < this.#store.compactRev) throw Errors.compacted;
    let h = crc32c(new TextEncoder().encode("key"));
    this.#store.forEachRevision(at, (kv, tomb) => {
      h = crc32c(mvccpb.KeyValue.encode({ ...kv, version: tomb ? 0n : kv.version }).finish(), h);
    });
    return { header: this.header(), hash: h >>> 0, compactRevision: this.#store.compactRev };
  }

  hash(): { header: Header; hash: number } {
    return { header: this.header(), hash: this.hashKV(0n).hash };
  }

  get term(): bigint {
    return this.#node.term;
  }

  get hasLeader(): boolean {
    return !this.#stopped;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wake?.();
    await this.#loop.catch(() => {});
    this.#wait.rejectAll(Errors.stopped);
    await this.#wal.close();
    this.#backend.close();
  }

  // ---- write path ----

  #leases = { exists: (_id: bigint) => false };

  async #propose(body: etcdserverpb.InternalRaftRequest.$Properties): Promise<ApplyResult> {
    if (this.#stopped) throw Errors.stopped;
    const id = this.#nextRequestId++;
    const request = { ...body, header: { ID: id } };
    const data = encodeWithHeadroom(etcdserverpb.InternalRaftRequest, request);
    if (data.length > this.#opts.maxRequestBytes) throw Errors.requestTooLarge;
    const done = this.#wait.register(id);
    this.#proposed.set(this.#node.propose(data), request);
    this.#wake?.();
    return done;
  }

  #withHeader<T extends ApplyResult>(out: ApplyResult): T & { header: Header } {
    return { ...(out as T), header: this.header(out.header.revision) };
  }

  async #linearizableRead(): Promise<void> {
    // ReadIndex of a one-member cluster: everything committed when the read arrives must be applied.
    const index = this.#node.committed;
    if (this.#applied >= index) return;
    await new Promise<void>((resolve) => this.#appliedWaiters.push({ index, resolve }));
  }

  async #readyLoop(): Promise<void> {
    try {
      while (!this.#stopped || this.#node.hasReady()) {
        if (!this.#node.hasReady()) {
          if (this.#stopped) break;
          await new Promise<void>((r) => (this.#wake = r));
          this.#wake = null;
          continue;
        }
        const rd = this.#node.ready();
        // Persisting this ready's entries overlaps with applying the previous ready's committed ones.
        const persisted = rd.entries.length > 0 || rd.hardState ? this.#wal.append(walRecords(rd)) : undefined;
        if (rd.committedEntries.length > 0) this.#apply(rd.committedEntries);
        if (persisted) await persisted;
        this.#node.advance(rd);
        if (this.#sinceCheckpoint >= this.#opts.snapshotCount) await this.#checkpoint();
      }
    } catch (err) {
      // A failed fsync or apply leaves the state unknown: stop rather than acknowledge anything more.
      this.#stopped = true;
      this.#wait.rejectAll(Errors.stopped);
      this.#fatal(err);
    }
  }

  #apply(entries: Entry[]): void {
    const results: { id: bigint; ok: boolean; value: unknown }[] = [];
    this.#backend.batch(() => {
      for (const e of entries) {
        if (e.index <= this.#applied) continue; // already in the database: applying is idempotent
        const local = this.#proposed.get(e.index);
        if (local) this.#proposed.delete(e.index);
        if (e.data.length > 0) {
          const req = local ?? etcdserverpb.InternalRaftRequest.decode(e.data);
          const id = req.header?.ID ?? 0n;
          try {
            results.push({ id, ok: true, value: this.#applyRequest(req) });
          } catch (err) {
            if (!isEtcdError(err)) throw err;
            results.push({ id, ok: false, value: err });
          }
        }
        this.#applied = e.index;
      }
      this.#store.saveMeta();
      this.#backend.setMeta("consistent_index", this.#applied);
      this.#backend.setMeta("term", this.#node.term);
    });
    this.#sinceCheckpoint += entries.length;
    for (const r of results) {
      if (r.ok) this.#wait.resolve(r.id, r.value as ApplyResult);
      else this.#wait.reject(r.id, r.value);
    }
    if (this.#appliedWaiters.length > 0) {
      const ready = this.#appliedWaiters.filter((w) => w.index <= this.#applied);
      this.#appliedWaiters = this.#appliedWaiters.filter((w) => w.index > this.#applied);
      for (const w of ready) w.resolve();
    }
  }

  #applyRequest(req: etcdserverpb.InternalRaftRequest.$Properties): ApplyResult {
    if (req.put) return this.#store.write((txn) => applyPut(txn, req.put!, this.#leases));
    if (req.deleteRange) return this.#store.write((txn) => applyDeleteRange(txn, req.deleteRange!));
    if (req.txn) return applyTxn(this.#store, req.txn, this.#leases);
    if (req.compaction) {
      this.#store.compact(BigInt(req.compaction.revision ?? 0n));
      return { header: { revision: this.#store.rev } };
    }
    throw new EtcdError(12, "etcdserver: unknown request in the log");
  }

  /** Makes the database durable, then releases WAL segments it covers. */
  async #checkpoint(): Promise<void> {
    this.#sinceCheckpoint = 0;
    this.#backend.checkpoint();
    const removed = await this.#wal.purge(this.#applied);
    if (removed.length) this.#opts.log("info", "purged WAL segments", { removed: removed.length, appliedIndex: this.#applied });
  }
}

function isTxnSerializable(r: etcdserverpb.TxnRequest.$Properties): boolean {
  const ops = [...(r.success ?? []), ...(r.failure ?? [])];
  return ops.every((op) => (op.requestRange ? !!op.requestRange.serializable : op.requestTxn ? isTxnSerializable(op.requestTxn) : true));
}

function walRecords(rd: Ready): WalRecord[] {
  const recs: WalRecord[] = rd.entries.map((e) => ({
    type: RecordType.entry,
    index: e.index,
    data: encodeWithHeadroom(raftpb.Entry, { Term: e.term, Index: e.index, Type: e.type, Data: e.data }),
  }));
  if (rd.hardState) recs.push({ type: RecordType.hardState, data: raftpb.HardState.encode(rd.hardState).finish() });
  return recs;
}

/** Rebuilds the log from WAL records: a later entry at an index replaces the earlier tail from there. */
function replayWal(records: WalRecord[]): { entries: Entry[]; lastTerm: bigint } {
  const entries: Entry[] = [];
  let lastTerm = 1n; // etcd's bootstrap term
  for (const r of records) {
    if (r.type === RecordType.entry) {
      const e = raftpb.Entry.decode(r.data);
      const entry: Entry = { term: e.Term, index: e.Index, type: e.Type, data: e.Data ?? new Uint8Array(0) };
      while (entries.length && entries[entries.length - 1].index >= entry.index) entries.pop();
      entries.push(entry);
      if (entry.term > lastTerm) lastTerm = entry.term;
    } else if (r.type === RecordType.hardState) {
      const hs = raftpb.HardState.decode(r.data);
      if (hs.term > lastTerm) lastTerm = hs.term;
    }
  }
  return { entries, lastTerm };
}

function ensureWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (err) {
    const user = safeUser();
    throw new Error(
      `Cannot use data directory '${dir}' as user '${user}': ${(err as Error).message}. ` +
        `Create it and give '${user}' read/write access (e.g. chown -R ${user} '${dir}'), or pick another --data-dir.`,
    );
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "unknown");
  }
}
