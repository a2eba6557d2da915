import { rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { backendSnapshotSeconds } from "../../backend/metrics.ts";
import { hashSeconds } from "../../mvcc/metrics.ts";
import { Errors } from "../../pkg/errors.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { AlarmType } from "./alarms.ts";
import { CompactHashChecker, findCorruptMembers, initialCorruptCheck } from "./corrupt-check.ts";
import type { CompactionHashes } from "./compact-hash.ts";
import { exportEtcdSnapshot } from "./etcd-snapshot.ts";
import type { Alarm, MemberState } from "./member-state.ts";
import { decodeHashAnswer, encodePeerRequest } from "./peer-api.ts";
import type { Proposer } from "./proposer.ts";
import type { RaftNode } from "./raft-node.ts";
import type { Log } from "./server-options.ts";
import type { Transport } from "./transport.ts";

export interface MaintenanceDeps {
  self: bigint;
  state: MemberState;
  raft: RaftNode;
  proposer: Proposer;
  compactHashes: CompactionHashes;
  transport: () => Transport | null;
  /** Writes a database copy as an etcd snapshot file (the entry point runs it in a child process). */
  exportSnapshot?: (dbPath: string, out: string) => Promise<void>;
  requestTimeoutMs: number;
  stopped: () => boolean;
  log: Log;
}

/**
 * The Maintenance service's work (etcd's maintenance server): alarms, snapshots, defragmentation,
 * hashes, and the leader's corruption checks across members.
 */
export class Maintenance {
  readonly #d: MaintenanceDeps;
  #snapshotSeq = 0;
  #checkingCorruption = false;
  #checkingCompactHashes = false;
  #compactHashChecker: CompactHashChecker | undefined;

  constructor(deps: MaintenanceDeps) {
    this.#d = deps;
  }

  /** Alarm list/activate/deactivate; changes go through Raft. */
  async alarm(r: etcdserverpb.AlarmRequest.$Properties): Promise<Alarm[]> {
    const action = r.action ?? 0;
    if (action === 0) return [...this.#d.state.alarms];
    const out = await this.#d.proposer.propose<"alarm">({ alarm: { action, memberID: BigInt(r.memberID ?? 0n), alarm: r.alarm ?? 0 } });
    return out.alarms;
  }

  /**
   * The whole database as of now (committed state) as an etcd snapshot — etcd 3.4's bbolt layout
   * followed by its sha256, what etcd streams — in chunks; `remaining` counts the bytes still to come
   * after each chunk. Made from a compact copy of our database, converted outside the event loop;
   * both files are unlinked once open, so neither memory nor a stopped client leaves anything.
   */
  async *snapshotChunks(chunkBytes: number): AsyncGenerator<{ chunk: Uint8Array; remaining: number }> {
    const backend = this.#d.state.backend;
    const path = `${backend.path}.snapshot-${process.pid}-${++this.#snapshotSeq}`;
    const etcdPath = `${path}.etcd`;
    const startMs = performance.now();
    try {
      await backend.copyTo(path, { hash: false }); // the etcd file gets its own hash
      await (this.#d.exportSnapshot ?? (async (a: string, b: string) => exportEtcdSnapshot(a, b)))(path, etcdPath);
    } catch (err) {
      // A copy or conversion cut short (a full disk, say) must not stay behind.
      rmSync(etcdPath, { force: true });
      throw err;
    } finally {
      rmSync(path, { force: true });
    }
    const file = await open(etcdPath, "r");
    rmSync(etcdPath, { force: true });
    try {
      const total = (await file.stat()).size;
      // As etcd: the database in chunks, then its sha256 as a message of its own.
      const dbBytes = total - 32;
      for (let off = 0; off < total; ) {
        const end = off < dbBytes ? Math.min(off + chunkBytes, dbBytes) : total;
        const buf = Buffer.allocUnsafe(end - off);
        const { bytesRead } = await file.read(buf, 0, buf.length, off);
        if (bytesRead !== buf.length) throw new Error(`snapshot file ${etcdPath} ended early at ${off + bytesRead} of ${total} bytes`);
        off = end;
        yield { chunk: buf, remaining: total - off };
      }
    } finally {
      await file.close();
      backendSnapshotSeconds.observe((performance.now() - startMs) / 1000);
    }
  }

  async defrag(): Promise<void> {
    // In slices that yield to the event loop (Backend.defrag): applies and clients go on meanwhile.
    await this.#d.state.backend.defrag();
    this.#d.state.dbSize = this.#d.state.backend.size();
  }

  /** HashKV: a CRC-32 over every retained revision up to rev (0: now), equal on members with equal history. */
  async hashKV(rev: bigint): Promise<{ revision: bigint; hash: number; compactRevision: bigint }> {
    const store = this.#d.state.store;
    const at = rev === 0n ? store.rev : rev;
    if (at > store.rev) throw Errors.futureRev;
    // As etcd's HashByRev: a revision asked for must be above the compacted one.
    if (rev !== 0n && at <= store.compactRev) throw Errors.compacted;
    const h = await store.hashKV(at);
    return { revision: at, hash: h.hash, compactRevision: h.compactRevision };
  }

  async hash(): Promise<{ revision: bigint; hash: number }> {
    const startMs = performance.now();
    const h = await this.hashKV(0n);
    hashSeconds.observe((performance.now() - startMs) / 1000);
    return { revision: h.revision, hash: h.hash };
  }

  /** The leader compares every member's HashKV at its current revision; disagreeing members get CORRUPT. */
  async checkCorruption(): Promise<bigint[]> {
    const d = this.#d;
    const transport = d.transport();
    if (this.#checkingCorruption || d.stopped() || !transport || !d.raft.isLeader) return [];
    if (d.state.hasAlarm(AlarmType.CORRUPT)) return [];
    this.#checkingCorruption = true;
    try {
      const bad = await findCorruptMembers(
        {
          self: d.self,
          peers: () => this.#peers(),
          localHash: async (rev) => ({ ...(await d.state.store.hashKV(rev)), revision: rev }),
          peerHash: async (id, rev) => decodeHashAnswer(await transport.request(id, encodePeerRequest({ op: "hashkv", revision: String(rev) }), 5000)),
          log: d.log,
        },
        d.state.store.rev,
      );
      for (const id of bad) await d.proposer.propose<"alarm">({ alarm: { action: 1, memberID: id, alarm: AlarmType.CORRUPT } });
      return bad;
    } catch (e) {
      d.log("warn", "corruption check did not complete", { error: e instanceof Error ? e.message : String(e) });
      return [];
    } finally {
      this.#checkingCorruption = false;
    }
  }

  /**
   * The leader compares its hashes at recent compaction points with the members' (etcd's
   * CompactHashCheck); members in the minority get CORRUPT (without a majority, member 0: everyone).
   */
  async checkCompactionHashes(): Promise<bigint[]> {
    const d = this.#d;
    const transport = d.transport();
    if (this.#checkingCompactHashes || d.stopped() || !transport || !d.raft.isLeader) return [];
    this.#checkingCompactHashes = true;
    this.#compactHashChecker ??= new CompactHashChecker({
      self: d.self,
      peers: () => this.#peers(),
      hashes: () => d.compactHashes.list(),
      peerHash: async (id, rev) => decodeHashAnswer(await transport.request(id, encodePeerRequest({ op: "compactHash", revision: String(rev) }), d.requestTimeoutMs)),
      raiseCorrupt: async (id) => {
        if (d.state.hasAlarm(AlarmType.CORRUPT, id)) return;
        await d.proposer.propose<"alarm">({ alarm: { action: 1, memberID: id, alarm: AlarmType.CORRUPT } });
      },
      log: d.log,
    });
    try {
      return await this.#compactHashChecker.check();
    } catch (e) {
      d.log("warn", "compaction hash check did not complete", { error: e instanceof Error ? e.message : String(e) });
      return [];
    } finally {
      this.#checkingCompactHashes = false;
    }
  }

  /**
   * etcd's initial corruption check (--experimental-initial-corrupt-check), before this member serves
   * clients: its hash at its revision against every peer's at that revision. Throws
   * DataInconsistencyError when a peer with the same compact revision has another hash; peers that
   * cannot answer are logged and skipped. Needs the transport to ask them.
   */
  async checkInitialHashKV(): Promise<void> {
    const d = this.#d;
    const transport = d.transport();
    if (!transport) throw new Error("the initial corruption check needs the peer transport");
    await initialCorruptCheck({
      self: d.self,
      peers: () => d.state.members.filter((m) => m.id !== d.self),
      localHash: async () => {
        const rev = d.state.store.rev;
        return { ...(await d.state.store.hashKV(rev)), revision: rev };
      },
      peerHash: async (id, rev) => decodeHashAnswer(await transport.request(id, encodePeerRequest({ op: "hashkv", revision: String(rev) }), d.requestTimeoutMs)),
      log: d.log,
    });
  }

  #peers(): bigint[] {
    return this.#d.state.members.filter((m) => m.id !== this.#d.self).map((m) => m.id);
  }
}
