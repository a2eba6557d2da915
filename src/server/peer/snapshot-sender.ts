// Ships databases to peers (etcd's snapshotSender): the transfer itself is snapshot-stream.ts; this
// keeps one transfer per peer, logs and counts them, and reports each outcome to Raft.
import { failpoint } from "../../pkg/failpoint.ts";
import { encodeMessage } from "../../raft/codec.ts";
import type { Message } from "../../raft/types.ts";
import { snapshotSendFailures, snapshotSendInflights, snapshotSendSeconds, snapshotSendSuccess } from "./metrics.ts";
import type { OutboundStream } from "./outbound-stream.ts";
import { sendSnapshot, type SnapshotSource } from "./snapshot-stream.ts";
import { hex, now, type TransportContext } from "./transport-context.ts";

export class SnapshotSender {
  /** transfers in flight, by receiving peer */
  readonly #inflight = new Map<bigint, AbortController>();

  constructor(
    readonly ctx: TransportContext,
    /** a transfer with no progress for this long fails */
    readonly idleTimeoutMs: number,
  ) {}

  /**
   * Sends m's database to peer on a connection of its own; while a transfer to that peer is in
   * flight, another is ignored (the one in flight will report).
   */
  send(peer: OutboundStream, m: Message, src: SnapshotSource): void {
    if (!m.snapshot) return void this.ctx.reportSnapshot(m.to, false);
    if (this.#inflight.has(peer.id)) return;
    const ac = new AbortController();
    this.#inflight.set(peer.id, ac);
    const bare = encodeMessage({ ...m, snapshot: { ...m.snapshot, data: new Uint8Array(0) } });
    const fields = { "remote-peer-id": hex(peer.id), "snapshot-index": m.snapshot.meta.index, bytes: src.size };
    this.ctx.log("info", "sending database snapshot", fields);
    const started = now();
    const to = hex(peer.id);
    snapshotSendInflights.with(to).inc();
    const { clusterId, memberId, dialTimeoutMs } = this.ctx;
    const opts = { url: peer.url, clusterId, from: memberId, to: peer.id, dialTimeoutMs, idleTimeoutMs: this.idleTimeoutMs, signal: ac.signal, tls: this.ctx.tls?.client };
    failpoint("beforeSendSnapshot");
    sendSnapshot(opts, bare, src)
      .then(
        () => {
          this.ctx.log("info", "sent database snapshot", { ...fields, "took-ms": Math.round(now() - started) });
          peer.sentBytesMetric.inc(src.size);
          snapshotSendSuccess.with(to).inc();
          snapshotSendSeconds.with(to).observe((now() - started) / 1000);
          return true;
        },
        (e: Error & { removed?: boolean }) => {
          if (e.removed) this.ctx.reportRemoved();
          if (!ac.signal.aborted) this.ctx.log("warn", "failed to send database snapshot", { ...fields, error: e.message });
          snapshotSendFailures.with(to).inc();
          return false;
        },
      )
      .then((ok) => {
        snapshotSendInflights.with(to).dec();
        if (this.#inflight.get(peer.id) === ac) this.#inflight.delete(peer.id);
        if (!this.ctx.stopped && !peer.removed) this.ctx.reportSnapshot(peer.id, ok);
      });
  }

  /** Stops the transfer to this peer, if any; it reports nothing once the peer is gone. */
  abort(id: bigint): void {
    this.#inflight.get(id)?.abort();
  }

  abortAll(): void {
    for (const ac of this.#inflight.values()) ac.abort();
  }
}
