const OPERATOR_ADVICE =
  "This is not the torn tail a crash leaves behind, so it cannot be repaired automatically and no data was skipped. " +
  "Keep the damaged file for inspection, then either restore this member's data dir from a snapshot " +
  "(etcdctl snapshot restore) or remove the member from the cluster (etcdctl member remove) " +
  "and re-add it with an empty data dir so it catches up from the leader.";

/** A WAL segment holds damage that is not a torn tail; carries where it is. */
export class WalCorruptError extends Error {
  override readonly name = "WalCorruptError";
  readonly path: string;
  readonly offsetBytes: number;
  readonly reason: string;

  constructor(path: string, offsetBytes: number, reason: string) {
    super(`WAL segment ${path} is corrupt at byte offset ${offsetBytes}: ${reason}. ${OPERATOR_ADVICE}`);
    this.path = path;
    this.offsetBytes = offsetBytes;
    this.reason = reason;
  }
}

export class WalClosedError extends Error {
  override readonly name = "WalClosedError";
  constructor(operation: string) {
    super(`WAL is closed: cannot ${operation}`);
  }
}
