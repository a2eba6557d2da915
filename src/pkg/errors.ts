/**
 * Errors as values with etcd's gRPC codes and texts. etcd's Go client maps an error back to a typed
 * value by its exact message, so every text here must stay byte-identical to etcd's.
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcCode = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

export class EtcdError extends Error {
  readonly code: GrpcCode;
  constructor(code: GrpcCode, message: string) {
    super(message);
    this.name = "EtcdError";
    this.code = code;
  }
}

const e = (code: GrpcCode, message: string) => new EtcdError(code, message);

/** The wire errors, one table (as etcd's rpctypes). Throwing a shared instance is fine: they carry no state. */
export const Errors = {
  emptyKey: e(GrpcCode.InvalidArgument, "etcdserver: key is not provided"),
  keyNotFound: e(GrpcCode.InvalidArgument, "etcdserver: key not found"),
  valueProvided: e(GrpcCode.InvalidArgument, "etcdserver: value is provided"),
  leaseProvided: e(GrpcCode.InvalidArgument, "etcdserver: lease is provided"),
  tooManyOps: e(GrpcCode.InvalidArgument, "etcdserver: too many operations in txn request"),
  duplicateKey: e(GrpcCode.InvalidArgument, "etcdserver: duplicate key given in txn request"),
  compacted: e(GrpcCode.OutOfRange, "etcdserver: mvcc: required revision has been compacted"),
  futureRev: e(GrpcCode.OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
  noSpace: e(GrpcCode.ResourceExhausted, "etcdserver: mvcc: database space exceeded"),
  leaseNotFound: e(GrpcCode.NotFound, "etcdserver: requested lease not found"),
  leaseExist: e(GrpcCode.FailedPrecondition, "etcdserver: lease already exists"),
  leaseTTLTooLarge: e(GrpcCode.OutOfRange, "etcdserver: too large lease TTL"),
  memberNotFound: e(GrpcCode.NotFound, "etcdserver: member not found"),
  memberNotEnoughStarted: e(GrpcCode.FailedPrecondition, "etcdserver: re-configuration failed due to not enough started members"),
  memberExist: e(GrpcCode.FailedPrecondition, "etcdserver: member ID already exist"),
  peerURLExist: e(GrpcCode.FailedPrecondition, "etcdserver: Peer URLs already exists"),
  memberBadURLs: e(GrpcCode.InvalidArgument, "etcdserver: given member URLs are invalid"),
  memberNotLearner: e(GrpcCode.FailedPrecondition, "etcdserver: can only promote a learner member"),
  learnerNotReady: e(GrpcCode.FailedPrecondition, "etcdserver: can only promote a learner member which is in sync with leader"),
  tooManyLearners: e(GrpcCode.FailedPrecondition, "etcdserver: too many learner members in cluster"),
  requestTooLarge: e(GrpcCode.InvalidArgument, "etcdserver: request is too large"),
  tooManyRequests: e(GrpcCode.ResourceExhausted, "etcdserver: too many requests"),
  noLeader: e(GrpcCode.Unavailable, "etcdserver: no leader"),
  notLeader: e(GrpcCode.FailedPrecondition, "etcdserver: not leader"),
  leaderChanged: e(GrpcCode.Unavailable, "etcdserver: leader changed"),
  stopped: e(GrpcCode.Unavailable, "etcdserver: server stopped"),
  badLeaderTransferee: e(GrpcCode.FailedPrecondition, "etcdserver: bad leader transferee"),
  timeoutLeaderTransfer: e(GrpcCode.Unavailable, "etcdserver: request timed out, leader transfer took too long"),
  timeout: e(GrpcCode.Unavailable, "etcdserver: request timed out"),
  corrupt: e(GrpcCode.DataLoss, "etcdserver: corrupt cluster"),
  rootUserNotExist: e(GrpcCode.FailedPrecondition, "etcdserver: root user does not exist"),
  rootRoleNotExist: e(GrpcCode.FailedPrecondition, "etcdserver: root user does not have root role"),
  userAlreadyExist: e(GrpcCode.FailedPrecondition, "etcdserver: user name already exists"),
  userEmpty: e(GrpcCode.InvalidArgument, "etcdserver: user name is empty"),
  userNotFound: e(GrpcCode.FailedPrecondition, "etcdserver: user name not found"),
  roleAlreadyExist: e(GrpcCode.FailedPrecondition, "etcdserver: role name already exists"),
  roleNotFound: e(GrpcCode.FailedPrecondition, "etcdserver: role name not found"),
  roleEmpty: e(GrpcCode.InvalidArgument, "etcdserver: role name is empty"),
  authFailed: e(GrpcCode.InvalidArgument, "etcdserver: authentication failed, invalid user ID or password"),
  permissionDenied: e(GrpcCode.PermissionDenied, "etcdserver: permission denied"),
  roleNotGranted: e(GrpcCode.FailedPrecondition, "etcdserver: role is not granted to the user"),
  permissionNotGranted: e(GrpcCode.FailedPrecondition, "etcdserver: permission is not granted to the role"),
  authNotEnabled: e(GrpcCode.FailedPrecondition, "etcdserver: authentication is not enabled"),
  invalidAuthToken: e(GrpcCode.Unauthenticated, "etcdserver: invalid auth token"),
  invalidAuthMgmt: e(GrpcCode.InvalidArgument, "etcdserver: invalid auth management"),
  authOldRevision: e(GrpcCode.InvalidArgument, "etcdserver: revision of auth store is old"),
  // etcd's lock and election servers return plain Go errors, which gRPC sends as Unknown (3.4.23).
  electionNoLeader: e(GrpcCode.Unknown, "election: no leader"),
  electionNotLeader: e(GrpcCode.Unknown, "election: not leader"),
  missingLeaderKey: e(GrpcCode.Unknown, '"leader" field must be provided'),
} as const;

export function isEtcdError(err: unknown): err is EtcdError {
  return err instanceof EtcdError;
}
