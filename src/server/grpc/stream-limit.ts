// --max-concurrent-streams for calls that do not arrive as HTTP/2 streams. etcd's JSON gateway
// (grpc-gateway) makes its calls to the member's own gRPC server over one HTTP/2 connection, so all
// gateway calls together hold at most --max-concurrent-streams streams, and a call beyond them waits
// for one to end (grpc-go waits for stream quota) for as long as its HTTP client waits. Our gateway
// calls the handler table directly; wrapping the table it gets in one CallSlots gives it the same limit.
// (Direct gRPC clients are limited per connection by the HTTP/2 server's SETTINGS, h2/connection.ts.)
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import type { Call, Handler } from "./grpc-server.ts";

/** HTTP/2's largest SETTINGS_MAX_CONCURRENT_STREAMS, etcd's default: no limit in practice. */
export const UNLIMITED_STREAMS = 2 ** 32 - 1;

/** A counting semaphore of call slots; waiters are served in arrival order. */
export class CallSlots {
  readonly max: number;
  #inUse = 0;
  readonly #waiting: { grant: () => void }[] = [];

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`call slots: ${max} is not a positive integer`);
    this.max = max;
  }

  get inUse(): number {
    return this.#inUse;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Takes a slot, waiting for one if all are held; rejects with Canceled if `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(canceled());
    if (this.#inUse < this.max) {
      this.#inUse++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(waiter);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(canceled());
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  /** Gives a slot back: to the longest waiter, else to the pool. */
  release(): void {
    const next = this.#waiting.shift();
    if (next) return next.grant(); // the slot passes on; inUse is unchanged
    if (this.#inUse === 0) throw new Error("call slots: released more than acquired");
    this.#inUse--;
  }
}

const canceled = () => new EtcdError(GrpcCode.Canceled, "context canceled");

/**
 * The handler table with every call holding one of `slots` while it runs (unary calls until they
 * answer, streams until they end). Other properties of the entries (metrics) are kept. With the
 * unlimited default the table is returned as it is.
 */
export function limitConcurrentCalls<H extends Handler>(handlers: Record<string, H>, slots: CallSlots): Record<string, H> {
  if (slots.max >= UNLIMITED_STREAMS) return handlers;
  const out: Record<string, H> = {};
  for (const [path, h] of Object.entries(handlers)) {
    const inner = h.handle as (a: unknown, call: Call, send?: unknown) => unknown;
    const handle = async (a: unknown, call: Call, send?: unknown) => {
      await slots.acquire(call.signal);
      try {
        return await inner.call(h, a, call, send);
      } finally {
        slots.release();
      }
    };
    out[path] = { ...h, handle } as H;
  }
  return out;
}
