/** The recipes' own failures, one value each (as clientv3/concurrency's), so callers compare with `===`. */
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";

export const ConcurrencyErrors = {
  /** tryLock found the mutex held by another session. */
  locked: new EtcdError(GrpcCode.FailedPrecondition, "mutex: Locked by another session"),
  /** The session's lease ended while waiting for the lock: its key is gone. */
  sessionExpired: new EtcdError(GrpcCode.FailedPrecondition, "mutex: session is expired"),
  electionNotLeader: new EtcdError(GrpcCode.FailedPrecondition, "election: not leader"),
  electionNoLeader: new EtcdError(GrpcCode.NotFound, "election: no leader"),
} as const;
