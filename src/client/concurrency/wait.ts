/**
 * Waiting for keys to go away, through watches: what makes a lock or an election wait its turn
 * without polling (clientv3/concurrency's waitDelete and waitDeletes).
 */
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import type { Client } from "../client.ts";
import type { ResponseHeader } from "../kv.ts";

/** The error a wait ends with when its signal aborts. */
export function abortError(signal: AbortSignal | undefined): EtcdError {
  const reason: unknown = signal?.reason;
  if (reason instanceof EtcdError) return reason;
  return new EtcdError(GrpcCode.Canceled, "context canceled");
}

/** Throws if the signal has aborted. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Resolves once `key` is deleted at or after `revision`. Throws if the watch fails or `signal` aborts
 * (the watch is canceled in every case).
 */
export async function waitDelete(client: Client, key: Uint8Array, revision: bigint, signal?: AbortSignal): Promise<void> {
  checkAborted(signal);
  const w = client.watch(key, { startRevision: revision, filters: ["noPut"] });
  const onAbort = () => w.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const ev of w) {
      if (ev.type === "delete") return;
    }
    checkAborted(signal);
    throw new EtcdError(GrpcCode.Unknown, "lost watcher waiting for delete");
  } finally {
    signal?.removeEventListener("abort", onAbort);
    w.cancel();
  }
}

/**
 * Waits until no key under `prefix` has a create revision ≤ `maxCreateRevision`: each time, the newest
 * such key (the one just ahead of us in line) is watched until it is deleted. Returns the header of
 * the read that found none.
 */
export async function waitDeletes(client: Client, prefix: Uint8Array, maxCreateRevision: bigint, signal?: AbortSignal): Promise<ResponseHeader> {
  // Each turn waits for one deletion of a key ahead of us; there are finitely many such keys, since
  // any key created from now on has a larger create revision.
  for (;;) {
    checkAborted(signal);
    const res = await client.get(prefix, {
      prefix: true,
      maxCreateRevision,
      sort: { target: "create", order: "descend" },
      limit: 1,
      signal,
    });
    if (res.kvs.length === 0) return res.header;
    await waitDelete(client, res.kvs[0].key, res.header.revision, signal);
  }
}
