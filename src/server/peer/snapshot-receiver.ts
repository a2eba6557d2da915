// The acceptor's side of a snapshot connection, as the transport runs it: the transfer itself is
// snapshot-stream.ts's SnapshotReceiver; this bounds its idle time, logs and counts it, and hands
// the verified file on.
import { statSync } from "node:fs";
import type net from "node:net";
import { failpoint } from "../../pkg/failpoint.ts";
import type { Message } from "../../raft/types.ts";
import {
  peerReceivedBytes,
  snapshotReceiveFailures,
  snapshotReceiveInflights,
  snapshotReceiveSeconds,
  snapshotReceiveSuccess,
} from "./metrics.ts";
import { SnapshotReceiver } from "./snapshot-stream.ts";
import { hex, now, type TransportContext } from "./transport-context.ts";

export interface ReceiveSnapshotOptions {
  socket: net.Socket;
  /** the sending member, as its handshake said */
  from: bigint;
  remoteAddr: string;
  /** where the file is written */
  dir: string;
  /** no progress for this long drops the connection */
  idleTimeoutMs: number;
  /** The snapshot is stored and verified at path (not called once the transport stopped). */
  onSnapshot: (m: Message, path: string) => void;
}

const fileSize = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** Starts receiving a snapshot on an accepted connection: feed the returned receiver every frame. */
export function receiveSnapshot(ctx: TransportContext, opts: ReceiveSnapshotOptions): SnapshotReceiver {
  const { socket, from } = opts;
  const fields = { "remote-peer-id": hex(from), "remote-addr": opts.remoteAddr };
  ctx.log("info", "receiving database snapshot", fields);
  // A sender that vanished without closing must not hold the socket and the partial file forever.
  socket.setTimeout(opts.idleTimeoutMs, () => socket.destroy());
  const started = now();
  const fromLabel = hex(from);
  snapshotReceiveInflights.with(fromLabel).inc();
  // In flight until the receiver reports (stored and verified, or failed) or the connection closes.
  let inflight = true;
  const ended = () => {
    if (inflight) snapshotReceiveInflights.with(fromLabel).dec();
    inflight = false;
  };
  socket.once("close", ended);
  return new SnapshotReceiver({
    dir: opts.dir,
    from,
    memberId: ctx.memberId,
    socket,
    onSnapshot: (m, path) => {
      ctx.log("info", "received database snapshot", { ...fields, "snapshot-index": m.snapshot?.meta.index, "took-ms": Math.round(now() - started) });
      ended();
      snapshotReceiveSuccess.with(fromLabel).inc();
      snapshotReceiveSeconds.with(fromLabel).observe((now() - started) / 1000);
      if (ctx.stopped) return;
      peerReceivedBytes.with(hex(from)).inc(fileSize(path));
      failpoint("afterReceiveSnapshot");
      opts.onSnapshot(m, path);
    },
    onError: (reason) => {
      ended();
      snapshotReceiveFailures.with(fromLabel).inc();
      ctx.log("warn", "failed to receive database snapshot", { ...fields, error: reason });
    },
  });
}
