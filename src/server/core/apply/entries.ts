import { isEtcdError } from "../../../pkg/errors.ts";
import { etcdserverpb } from "../../../proto/etcd.js";
import { decodeConfChange } from "../../../raft/codec.ts";
import { type ConfChange, type Entry, EntryType } from "../../../raft/types.ts";
import type { MemberState } from "../member-state.ts";
import { membersToJson } from "../membership.ts";
import { timedApply } from "../metrics.ts";
import type { Proposals } from "../proposals.ts";
import { warnIfSlowRequest } from "../slow-apply.ts";
import type { Applier } from "./results.ts";

import type { Log } from "../server-options.ts";

export interface EntryApplierDeps {
  state: MemberState;
  chain: Applier;
  proposals: Proposals;
  /** Feeds a committed conf change back to Raft (its membership is not durable by itself). */
  raftConfChange: (cc: ConfChange) => void;
  /** The member list for a newly applied conf change; returns whether it changed. */
  membershipChange: (cc: ConfChange) => boolean;
  /** A replayed conf change: the member list already has it, only the transport must know the peer. */
  replayedConfChange: (cc: ConfChange) => void;
  /** Raft's leader-of-this-term no-op came back applied: the lessor starts keeping the clocks. */
  leaderNoop: (e: Entry) => boolean;
  onLeaderNoop: () => void;
  warningApplyMs: number;
  failpoint: (name: string) => void;
  log: Log;
  /** TESTS ONLY (a planted bug for the whole-server simulation): replayed entries are applied again. */
  unsafeApplyTwice?: boolean;
}

/**
 * Applies committed entries in one database transaction, with the consistent index stored in it, so
 * a crash either keeps the whole batch and its index or neither — replay then applies nothing twice.
 * Results reach the waiting proposers only after the transaction committed.
 */
export class EntryApplier {
  readonly #d: EntryApplierDeps;
  /** Entries applied since the last checkpoint (the server checkpoints every --snapshot-count). */
  sinceCheckpoint = 0;

  constructor(deps: EntryApplierDeps) {
    this.#d = deps;
  }

  apply(entries: Entry[]): void {
    const { state, proposals } = this.#d;
    const results: { id: bigint; ok: boolean; value: unknown }[] = [];
    let membersChanged = false;
    state.backend.batch(() => {
      for (const e of entries) {
        if (e.type === EntryType.ConfChange) {
          const cc = decodeConfChange(e.data);
          this.#d.raftConfChange(cc);
          if (BigInt(e.index) > state.applied) membersChanged = this.#d.membershipChange(cc) || membersChanged;
          else this.#d.replayedConfChange(cc);
        }
        // Already in the database: applying is idempotent (unless the planted test-only bug says otherwise).
        if (BigInt(e.index) <= state.applied && !(this.#d.unsafeApplyTwice && e.type === EntryType.Normal)) continue;
        if (this.#d.leaderNoop(e)) this.#d.onLeaderNoop();
        if (e.type === EntryType.Normal && e.data.length > 0) {
          const req = proposals.ownRequest(e.data) ?? etcdserverpb.InternalRaftRequest.decode(e.data);
          const id = BigInt(req.header?.ID ?? 0n);
          const started = performance.now();
          let r: { id: bigint; ok: boolean; value: unknown };
          try {
            state.applyingIndex = BigInt(e.index);
            r = { id, ok: true, value: timedApply(req, () => this.#d.chain.apply(req)) };
            if (req.clusterMemberAttrSet) membersChanged = true;
          } catch (err) {
            if (!isEtcdError(err)) throw err;
            r = { id, ok: false, value: err };
          }
          results.push(r);
          warnIfSlowRequest(this.#d.log, this.#d.warningApplyMs, "", req, started, r);
        }
        state.applied = BigInt(e.index);
      }
      if (membersChanged) state.backend.setMeta("members", membersToJson(state.members));
      state.store.saveMeta();
      state.backend.setMeta("consistent_index", state.applied);
      this.#d.failpoint("applyBeforeCommit");
    });
    this.#d.failpoint("applyAfterCommit");
    this.sinceCheckpoint += entries.length;
    state.dbSize = state.backend.size();
    for (const r of results) {
      if (r.ok) proposals.resolve(r.id, r.value);
      else proposals.reject(r.id, r.value);
    }
  }
}
