import { Errors } from "../../../pkg/errors.ts";
import { AlarmType, consumesSpace } from "../alarms.ts";
import { ApplierLink, type ApplyResult, type Request } from "./results.ts";

/**
 * Under NOSPACE every member refuses the writes that grow the database (etcd's applierV3Capped);
 * deletes, compaction and reads go on so the operator can make room.
 */
export class QuotaApplier extends ApplierLink {
  apply(req: Request): ApplyResult {
    if (consumesSpace(req) && this.state.hasAlarm(AlarmType.NOSPACE)) throw Errors.noSpace;
    return this.next.apply(req);
  }
}
