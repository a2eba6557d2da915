import { EtcdError } from "../../../pkg/errors.ts";
import { applyAuth } from "../auth/apply.ts";
import type { CompactionHashes } from "../compact-hash.ts";
import { applyDeleteRange, applyPut, applyTxn } from "../kv-apply.ts";
import type { MemberState } from "../member-state.ts";
import { hex } from "../membership.ts";
import type { Applier, ApplyResult, Request, Results } from "./results.ts";

import type { Log } from "../server-options.ts";

/**
 * The last link (etcd's applierV3backend): the request takes effect on the store, the lessor, the
 * auth store, the alarms or the member list. Everything here must be deterministic: every member
 * applies the same entries to the same state and must end in the same place.
 */
export class BackendApplier implements Applier {
  readonly #state: MemberState;
  readonly #compactHashes: CompactionHashes | undefined;
  readonly #log: Log;

  /** compactHashes: given when the compaction hash check is on (each compaction is hashed as it applies). */
  constructor(state: MemberState, opts: { compactHashes?: CompactionHashes; log: Log }) {
    this.#state = state;
    this.#compactHashes = opts.compactHashes;
    this.#log = opts.log;
  }

  apply(req: Request): ApplyResult {
    const s = this.#state;
    if (req.put) return s.store.write((txn) => applyPut(txn, req.put!, s.leases));
    if (req.deleteRange) return s.store.write((txn) => applyDeleteRange(txn, req.deleteRange!));
    if (req.txn) return applyTxn(s.store, req.txn, s.leases);
    if (req.alarm) return this.#alarm(req.alarm);
    if (req.leaseGrant) {
      const g = s.lessor.grant(BigInt(req.leaseGrant.ID ?? 0n), Number(req.leaseGrant.TTL ?? 0n));
      return { header: this.#rev(), ID: g.id, TTL: BigInt(g.ttl) } satisfies Results["leaseGrant"];
    }
    if (req.leaseRevoke) {
      const keys = s.lessor.revoke(BigInt(req.leaseRevoke.ID ?? 0n));
      // All of the lease's keys go in one revision, as etcd's.
      if (keys.length) s.store.write((txn) => keys.forEach((k) => txn.deleteRange(k, null)));
      return { header: this.#rev() };
    }
    if (req.leaseCheckpoint) {
      for (const c of req.leaseCheckpoint.checkpoints ?? []) s.lessor.checkpoint(BigInt(c.ID ?? 0n), Number(c.remaining_TTL ?? 0n));
      return { header: this.#rev() };
    }
    if (req.compaction) {
      // The compaction point is applied here (deterministic); the rows go in the background.
      const rev = BigInt(req.compaction.revision ?? 0n);
      s.store.compact(rev, { background: true });
      // With the compaction hash check on, hash the compacted store now rather than when asked.
      this.#compactHashes?.record(rev);
      return { header: this.#rev() };
    }
    const auth = applyAuth(s.authStore, req, s.applyingIndex);
    if (auth) return { header: this.#rev(), ...auth } satisfies Results["auth"];
    if (req.clusterMemberAttrSet) {
      const a = req.clusterMemberAttrSet;
      const m = s.members.find((x) => x.id === BigInt(a.member_ID ?? 0n));
      if (m) {
        m.name = a.memberAttributes?.name ?? "";
        m.clientURLs = [...(a.memberAttributes?.clientUrls ?? [])];
      }
      return { header: this.#rev() };
    }
    throw new EtcdError(12, "etcdserver: unknown request in the log");
  }

  #rev(): { revision: bigint } {
    return { revision: this.#state.store.rev };
  }

  #alarm(a: NonNullable<Request["alarm"]>): Results["alarm"] {
    const s = this.#state;
    const memberID = BigInt(a.memberID ?? 0n);
    const alarm = a.alarm ?? 0;
    let changed: { memberID: bigint; alarm: number }[] = [];
    if (a.action === 1) {
      if (!s.alarms.some((x) => x.memberID === memberID && x.alarm === alarm)) {
        s.alarms.push({ memberID, alarm });
        this.#log("warn", "alarm raised", { memberID: hex(memberID), alarm });
      }
      changed = [{ memberID, alarm }];
    } else if (a.action === 2) {
      changed = s.alarms.filter((x) => (memberID === 0n || x.memberID === memberID) && (alarm === 0 || x.alarm === alarm));
      s.alarms = s.alarms.filter((x) => !changed.includes(x));
    }
    s.backend.setMeta("alarms", JSON.stringify(s.alarms.map((x) => ({ memberID: hex(x.memberID), alarm: x.alarm }))));
    return { header: this.#rev(), alarms: changed };
  }
}
