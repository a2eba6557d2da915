// Round-trip probes for etcd_network_peer_round_trip_time_seconds (etcd's prober): the stream's own
// handshake is measured only when it reconnects, so a steady cluster would report nothing otherwise.
import { dialPeer } from "./dial.ts";
import { ConnKind, HANDSHAKE_MAX_FRAME_BYTES } from "./handshake.ts";
import type { OutboundStream } from "./outbound-stream.ts";
import type { TransportContext } from "./transport-context.ts";

export class Prober {
  /** peers with a probe in flight: one at a time each */
  readonly #probing = new WeakSet<OutboundStream>();
  #first: ReturnType<typeof setTimeout> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly ctx: TransportContext,
    /** 0: never */
    readonly intervalMs: number,
    readonly peers: () => Iterable<OutboundStream>,
  ) {}

  start(): void {
    if (this.intervalMs <= 0) return;
    // A first measurement a second after start (the peers are known by then), then etcd's period.
    this.#first = setTimeout(() => this.#probe(), Math.min(1000, this.intervalMs));
    this.#timer = setInterval(() => this.#probe(), this.intervalMs);
    this.#first.unref?.();
    this.#timer.unref?.();
  }

  stop(): void {
    clearTimeout(this.#first);
    clearInterval(this.#timer);
  }

  /**
   * Measures each peer's round trip as etcd's prober does, on a connection of its own: the time from
   * our handshake to the peer's reply on a fresh request connection, closed at once (the peer logs nothing).
   */
  #probe(): void {
    const { clusterId, memberId, dialTimeoutMs } = this.ctx;
    for (const peer of this.peers()) {
      if (this.#probing.has(peer) || peer.removed) continue;
      this.#probing.add(peer);
      const hs = { kind: ConnKind.Request, clusterId, from: memberId, to: peer.id };
      dialPeer(peer.url, hs, dialTimeoutMs, HANDSHAKE_MAX_FRAME_BYTES, this.ctx.tls?.client).then(
        (d) => {
          d.socket.destroy();
          this.#probing.delete(peer);
          if (!peer.removed && !this.ctx.stopped) peer.status.rttMetric.observe(d.rttMs / 1000);
        },
        () => this.#probing.delete(peer), // an unreachable peer has no round trip; the stream reports it
      );
    }
  }
}
