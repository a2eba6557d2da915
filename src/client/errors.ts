/**
 * How the client reports failures: every error is an EtcdError with a gRPC code. A status whose text
 * is one of etcd's wire errors comes back as that very value from pkg/errors.ts (as clientv3's
 * rpctypes.Error), so callers can compare with `err === Errors.compacted`.
 */
import { EtcdError, Errors, GrpcCode } from "../pkg/errors.ts";

const byMessage = new Map<string, EtcdError>(Object.values(Errors).map((e) => [e.message, e]));

/** A gRPC status from the server → etcd's error value when the text is one of etcd's, else a new EtcdError. */
export function statusError(code: number, message: string): EtcdError {
  const known = byMessage.get(message);
  if (known && known.code === code) return known;
  return new EtcdError(isGrpcCode(code) ? code : GrpcCode.Unknown, message);
}

function isGrpcCode(code: number): code is GrpcCode {
  return Number.isInteger(code) && code >= 0 && code <= 16;
}

/**
 * A failure of the connection rather than an answer from the server. `sent` is false only when the
 * request surely never left this process (the connection was never established), which is the one
 * case where a write may be retried on another endpoint without risking a double apply.
 */
export class TransportError extends EtcdError {
  readonly sent: boolean;
  readonly endpoint: string;
  constructor(endpoint: string, message: string, sent: boolean) {
    super(GrpcCode.Unavailable, message);
    this.name = "TransportError";
    this.endpoint = endpoint;
    this.sent = sent;
  }
}

/** A watch whose start revision was compacted away; `compactRevision` is the oldest revision still kept. */
export class WatchCompactedError extends EtcdError {
  readonly compactRevision: bigint;
  constructor(compactRevision: bigint) {
    super(Errors.compacted.code, Errors.compacted.message);
    this.name = "WatchCompactedError";
    this.compactRevision = compactRevision;
  }
}

export const deadlineExceeded = () => new EtcdError(GrpcCode.DeadlineExceeded, "context deadline exceeded");
export const canceled = () => new EtcdError(GrpcCode.Canceled, "context canceled");
export const clientClosed = () => new EtcdError(GrpcCode.Canceled, "etcdclient: client is closed");

/** The server's texts for "this member cannot serve now, another may": switch endpoints on these. */
export function isEndpointUnhealthy(err: EtcdError): boolean {
  return err instanceof TransportError || err === Errors.noLeader || err === Errors.leaderChanged || err === Errors.stopped;
}

/** clientv3's isSafeRetryImmutableRPC: a repeatable request is retried on Unavailable only. */
export function retryableRead(err: EtcdError): boolean {
  return err.code === GrpcCode.Unavailable;
}

/** clientv3's isSafeRetryMutableRPC: a write is retried only when it surely never reached a server. */
export function retryableWrite(err: EtcdError): boolean {
  return err instanceof TransportError && !err.sent;
}

export function asEtcdError(err: unknown): EtcdError {
  if (err instanceof EtcdError) return err;
  return new EtcdError(GrpcCode.Unknown, err instanceof Error ? err.message : String(err));
}
