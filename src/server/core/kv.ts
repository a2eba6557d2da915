import { Errors } from "../../pkg/errors.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { authorizeRead } from "./apply/auth.ts";
import type { RevisionOnly } from "./apply/results.ts";
import type { AuthInfo } from "./auth/store.ts";
import type { ChunkWriter } from "../../proto/chunk-writer.ts";
import { applyRange, applyRangeEncoded, applyTxn, encodableRange, type DeleteOut, isTxnReadOnly, type PutOut, type RangeOut, type TxnOut } from "./kv-apply.ts";
import type { MemberState } from "./member-state.ts";
import { timedRange } from "./metrics.ts";
import type { Proposer } from "./proposer.ts";
import type { LinearizableReads } from "./reads.ts";
import type { Log } from "./server-options.ts";
import { warnIfSlowRequest } from "./slow-apply.ts";
import { checkDelete, checkPut, checkRange, checkTxn } from "./validate.ts";

export interface KVDeps {
  state: MemberState;
  proposer: Proposer;
  reads: LinearizableReads;
  maxTxnOps: number;
  warningApplyMs: number;
  log: Log;
}

/** The RangeResponse around kvs written elsewhere. */
export type RangeEncodedOut = ReturnType<typeof applyRangeEncoded>;

/**
 * The KV service (etcd's v3_server Range/Put/DeleteRange/Txn/Compact): requests are validated here;
 * reads are answered from this member's store (after a ReadIndex round unless serializable), writes
 * go through Raft. `ai` (who asks) is given only while auth is enabled; reads are checked here,
 * writes where they are applied (against the store at that point of the log, on every member alike).
 */
export class KV {
  readonly #d: KVDeps;

  constructor(deps: KVDeps) {
    this.#d = deps;
  }

  async range(r: etcdserverpb.RangeRequest.$Properties, ai?: AuthInfo): Promise<RangeOut> {
    const { state } = this.#d;
    const started = performance.now();
    checkRange(r);
    authorizeRead(state, ai, { range: r });
    if (!r.serializable) await this.#d.reads.read();
    const out = timedRange(() => applyRange(state.store, r));
    warnIfSlowRequest(this.#d.log, this.#d.warningApplyMs, "read-only range ", { range: r }, started, { ok: true, value: out });
    if (ai && ai.revision !== state.authStore.revision) throw Errors.authOldRevision; // changed while reading (etcd's doSerialize)
    return out;
  }

  /**
   * range() with the kvs written to `w` instead of returned (applyRangeEncoded), or null when the
   * request needs range() (encodableRange). Same checks, same read barrier, same metrics.
   */
  async rangeEncoded(r: etcdserverpb.RangeRequest.$Properties, w: ChunkWriter, ai?: AuthInfo): Promise<RangeEncodedOut | null> {
    const { state } = this.#d;
    if (!encodableRange(r, state.store.rev)) return null;
    const started = performance.now();
    checkRange(r);
    authorizeRead(state, ai, { range: r });
    if (!r.serializable) await this.#d.reads.read();
    // The revision asked for may have become a past one while the read waited.
    if (!encodableRange(r, state.store.rev)) return null;
    const out = timedRange(() => applyRangeEncoded(state.store, r, w));
    warnIfSlowRequest(this.#d.log, this.#d.warningApplyMs, "read-only range ", { range: r }, started, { ok: true, value: { kvs: { length: out.written } } });
    if (ai && ai.revision !== state.authStore.revision) throw Errors.authOldRevision; // changed while reading (etcd's doSerialize)
    return out;
  }

  put(r: etcdserverpb.PutRequest.$Properties, ai?: AuthInfo): Promise<PutOut> {
    checkPut(r);
    this.#needsUser(ai);
    return this.#d.proposer.proposeAs<"put">({ put: r }, ai);
  }

  deleteRange(r: etcdserverpb.DeleteRangeRequest.$Properties, ai?: AuthInfo): Promise<DeleteOut> {
    checkDelete(r);
    this.#needsUser(ai);
    return this.#d.proposer.proposeAs<"deleteRange">({ deleteRange: r }, ai);
  }

  async txn(r: etcdserverpb.TxnRequest.$Properties, ai?: AuthInfo): Promise<TxnOut> {
    const { state } = this.#d;
    checkTxn(r, this.#d.maxTxnOps);
    this.#needsUser(ai);
    if (!isTxnReadOnly(r)) return this.#d.proposer.proposeAs<"txn">({ txn: r }, ai);
    authorizeRead(state, ai, { txn: r });
    const started = performance.now();
    if (!isTxnSerializable(r)) await this.#d.reads.read();
    const out = applyTxn(state.store, r, state.leases);
    warnIfSlowRequest(this.#d.log, this.#d.warningApplyMs, "read-only txn ", { txn: r }, started, { ok: true, value: out });
    if (ai && ai.revision !== state.authStore.revision) throw Errors.authOldRevision;
    return out;
  }

  /** LeaseRevoke from a client: with auth on, the user must be able to write every key of the lease (checked at apply). */
  leaseRevoke(id: bigint, ai?: AuthInfo): Promise<RevisionOnly> {
    this.#needsUser(ai);
    return this.#d.proposer.proposeAs<"leaseRevoke">({ leaseRevoke: { ID: id } }, ai);
  }

  async compact(r: etcdserverpb.CompactionRequest.$Properties): Promise<RevisionOnly> {
    const store = this.#d.state.store;
    const rev = BigInt(r.revision ?? 0n);
    // Reject early what the apply would reject, as etcd does before proposing.
    if (rev <= store.compactRev) throw Errors.compacted;
    if (rev > store.rev) throw Errors.futureRev;
    const out = await this.#d.proposer.propose<"compaction">({ compaction: r });
    // physical: answer once the compacted rows are gone (etcd's wait for the compaction to finish).
    if (r.physical) await this.#d.state.store.compacted();
    return out;
  }

  #needsUser(ai: AuthInfo | undefined): void {
    if (this.#d.state.authStore.enabled && !ai) throw Errors.userEmpty;
  }
}

function isTxnSerializable(r: etcdserverpb.TxnRequest.$Properties): boolean {
  const ops = [...(r.success ?? []), ...(r.failure ?? [])];
  return ops.every((op) => (op.requestRange ? !!op.requestRange.serializable : op.requestTxn ? isTxnSerializable(op.requestTxn) : true));
}
