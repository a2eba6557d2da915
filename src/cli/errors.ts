/** etcdctl's exit codes and how an error becomes "Error: …" on stderr. */
import { TransportError } from "../client/errors.ts";
import { EtcdError, GrpcCode } from "../pkg/errors.ts";

/** etcdctl's exit codes (http://tldp.org/LDP/abs/html/exitcodes.html). */
export const ExitCode = {
  Success: 0,
  Error: 1,
  BadConnection: 2,
  /** For txn and watch. */
  InvalidInput: 3,
  /** A valid flag with an unsupported value. */
  BadFeature: 4,
  Interrupted: 5,
  IO: 6,
  BadArgs: 128,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as "Error: <message>" and exits with `code`. */
export class CliError extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
  ) {
    super(message);
  }
}

export function cliError(code: ExitCode, message: string): CliError {
  return new CliError(code, message);
}

/**
 * What clientv3 shows for a failed request: the server's error text (etcd's Go client maps
 * "etcdserver: …" back to the same text), Go context's words for deadlines and cancellation.
 */
export function describeError(err: unknown): string {
  // A connection never made: the client retries it until the command's deadline, and gRPC-go then
  // reports the deadline (clientv3 waits for a ready connection), not the refused dial.
  if (err instanceof TransportError && !err.sent) return "context deadline exceeded";
  if (err instanceof EtcdError) {
    if (err.code === GrpcCode.DeadlineExceeded && /deadline|timed out after/i.test(err.message) && !err.message.startsWith("etcdserver:")) {
      return "context deadline exceeded";
    }
    if (err.code === GrpcCode.Canceled && !err.message.startsWith("etcdserver:")) return "context canceled";
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Any thrown value as a CliError: RPC failures exit 1 as etcdctl's ExitError. */
export function asCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  return new CliError(ExitCode.Error, describeError(err));
}
