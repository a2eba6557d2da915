// What the parts of the peer transport share: this member's identity, the settings every dialer
// needs, and where they report. The reports go through PeerTransport's callback fields, which the
// server may set after the transport was built (onRemoved is set once it started).
import type { Logger } from "../../pkg/logger.ts";
import type { TlsSide } from "../../pkg/tls-options.ts";
import { MessageType } from "../../raft/types.ts";

export interface TransportContext {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly log: Logger;
  /** https:// listeners serve with `server`, https:// peers are dialed with `client` */
  readonly tls: TlsSide | undefined;
  /** TCP connect plus handshake reply */
  readonly dialTimeoutMs: number;
  /** Set by stop(): from then on nothing is reported and nothing new starts. */
  stopped: boolean;
  reportUnreachable(id: bigint): void;
  reportSnapshot(id: bigint, ok: boolean): void;
  /** A peer refused this member because it was removed from the cluster. */
  reportRemoved(): void;
}

/** Member ids as etcd writes them in logs and metric labels. */
export const hex = (id: bigint) => id.toString(16);
export const now = () => performance.now();
export const messageTypeName = (t: number) => `Msg${Object.entries(MessageType).find(([, v]) => v === t)?.[0] ?? t}`;
