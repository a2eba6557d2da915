import { Errors } from "../../../pkg/errors.ts";
import { AlarmType, refusedWhenCorrupt } from "../alarms.ts";
import { ApplierLink, type ApplyResult, type Request } from "./results.ts";

/**
 * Under a CORRUPT alarm every member refuses the same writes (etcd's applierV3Corrupt): the alarm is
 * in the log, so the refusal is deterministic; reads and alarm changes go on.
 */
export class CorruptApplier extends ApplierLink {
  apply(req: Request): ApplyResult {
    if (refusedWhenCorrupt(req) && this.state.hasAlarm(AlarmType.CORRUPT)) throw Errors.corrupt;
    return this.next.apply(req);
  }
}
