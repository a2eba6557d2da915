import { Errors } from "../../../pkg/errors.ts";
import { AlarmType, consumesSpace } from "../alarms.ts";
import type { MemberState } from "../member-state.ts";
import type { Applier, ApplyResult, Request } from "./results.ts";

/**
 * Under NOSPACE every member refuses the writes that grow the database (etcd's applierV3Capped);
 * deletes, compaction and reads go on so the operator can make room.
 */
export class QuotaApplier implements Applier {
  readonly #state: MemberState;
  readonly #next: Applier;

  constructor(state: MemberState, next: Applier) {
    this.#state = state;
    this.#next = next;
  }

  apply(req: Request): ApplyResult {
    if (consumesSpace(req) && this.#state.hasAlarm(AlarmType.NOSPACE)) throw Errors.noSpace;
    return this.#next.apply(req);
  }
}
