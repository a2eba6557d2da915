// Whether a peer is reachable, as this member's stream to it shows (etcd's peerStatus): the
// active-peers gauge, the disconnect counter, and the log lines that etcd's e2e tests wait for.
import type { Histogram } from "../../pkg/metrics.ts";
import { activePeers, disconnectedPeers, peerRoundTripSeconds } from "./metrics.ts";
import { hex, type TransportContext } from "./transport-context.ts";

export class PeerStatus {
  /** the stream's handshake succeeded and its connection has not failed since */
  active = false;
  /** the stream has failed since its last handshake: later failures log at debug only */
  failing = false;
  lastError: string | undefined;
  /** round trip of the last handshake (connect excluded), ms */
  handshakeRttMs: number | undefined;
  /** This peer's series, looked up once. */
  readonly rttMetric: Histogram;

  constructor(
    readonly ctx: TransportContext,
    readonly id: bigint,
  ) {
    this.rttMetric = peerRoundTripSeconds.with(hex(id));
  }

  /** The stream's handshake reply came from the right member, rttMs after ours went out. */
  connected(url: string, rttMs: number): void {
    this.handshakeRttMs = rttMs;
    this.rttMetric.observe(rttMs / 1000);
    this.failing = false;
    if (this.active) return;
    this.active = true;
    activePeers.with(hex(this.ctx.memberId), hex(this.id)).inc();
    this.ctx.log("info", "peer became active", { "local-member-id": hex(this.ctx.memberId), "remote-peer-id": hex(this.id), "remote-peer-url": url });
  }

  /** The stream's connection failed, or could not be made. */
  failed(url: string, reason: string): void {
    this.lastError = reason;
    const fields = { "local-member-id": hex(this.ctx.memberId), "remote-peer-id": hex(this.id), "remote-peer-url": url, error: reason };
    if (this.active) {
      this.active = false;
      activePeers.with(hex(this.ctx.memberId), hex(this.id)).dec();
      disconnectedPeers.with(hex(this.ctx.memberId), hex(this.id)).inc();
      this.ctx.log("warn", "peer became inactive (message send to peer failed)", fields);
    } else if (!this.failing) {
      this.ctx.log("warn", "failed to connect to peer", fields);
    } else {
      this.ctx.log("debug", "failed to connect to peer", fields);
    }
    this.failing = true;
  }
}
