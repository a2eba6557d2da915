// The connection that carries a peer's Raft stream: connect, send the handshake, check who answered.
// The short-lived kinds (snapshot, request) use dial.ts instead; this one stays open for as long as
// it works and is watched by its owner (outbound-stream.ts), which writes the frames and redials.
import type net from "node:net";
import { connectPeer, describeSocketError } from "./connect.ts";
import { FrameReader } from "./frame.ts";
import { decodeHandshake, decodeRefusal, encodeHandshakeFrame, HANDSHAKE_MAX_FRAME_BYTES } from "./handshake.ts";
import { hex, now, type TransportContext } from "./transport-context.ts";

export interface StreamConnOwner {
  /** The right member answered, rttMs after our handshake went out: frames may be written. */
  established(conn: StreamConn, rttMs: number): void;
  /** A write had returned false and the socket takes more again. */
  drained(conn: StreamConn): void;
  /** The connection could not be made or went down; reason is for the logs and stats. */
  failed(conn: StreamConn, reason: string): void;
}

export class StreamConn {
  established = false;
  /** a write returned false: nothing more is written until the socket drains */
  blocked = false;
  closed = false;
  readonly socket: net.Socket;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #handshakeSentAt = 0;
  readonly #reader = new FrameReader(HANDSHAKE_MAX_FRAME_BYTES);
  #error: string | undefined;

  /** Dials url at once; the owner hears how it went. */
  constructor(
    readonly ctx: TransportContext,
    readonly to: bigint,
    readonly url: string,
    readonly owner: StreamConnOwner,
  ) {
    const { socket, ready } = connectPeer(url, ctx.tls?.client);
    this.socket = socket;
    socket.setNoDelay(true);
    this.#timer = setTimeout(() => owner.failed(this, `dial timeout after ${ctx.dialTimeoutMs} ms`), ctx.dialTimeoutMs);
    socket.setKeepAlive?.(true, 10_000);
    socket.once(ready, () => {
      this.#handshakeSentAt = now();
      socket.write(encodeHandshakeFrame({ clusterId: ctx.clusterId, from: ctx.memberId, to }));
    });
    socket.on("data", (chunk: Buffer) => {
      if (this.closed || this.established) return; // nothing is expected after the handshake reply
      try {
        this.#reader.push(chunk, (payload) => {
          this.#onReply(payload);
          return false;
        });
      } catch (e) {
        owner.failed(this, `bad handshake reply: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    socket.on("drain", () => {
      this.blocked = false;
      owner.drained(this);
    });
    socket.on("error", (e: Error & { code?: string }) => {
      this.#error ??= describeSocketError(e);
    });
    socket.on("close", () => owner.failed(this, this.#error ?? "connection closed by peer"));
  }

  close(): void {
    this.closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.socket.destroy();
  }

  #onReply(payload: Buffer): void {
    const failure = this.#checkReply(payload);
    if (failure !== null) return this.owner.failed(this, failure);
    this.established = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.owner.established(this, now() - this.#handshakeSentAt);
  }

  /** Why the reply does not let the stream start (logged here where etcd logs it), or null. */
  #checkReply(payload: Buffer): string | null {
    const { clusterId, memberId, log } = this.ctx;
    const refused = decodeRefusal(payload);
    if (refused !== null) return refused;
    const h = decodeHandshake(payload);
    if (typeof h === "string") return `bad handshake reply: ${h}`;
    if (h.clusterId !== clusterId) {
      log("warn", "cluster ID mismatch", {
        "local-member-id": hex(memberId),
        "local-member-cluster-id": hex(clusterId),
        "remote-peer-id": hex(h.from),
        "remote-peer-cluster-id": hex(h.clusterId),
        "remote-peer-url": this.url,
      });
      return `cluster ID mismatch (local ${hex(clusterId)}, remote ${hex(h.clusterId)})`;
    }
    if (h.from === this.to && h.to === 0n && h.clusterId === clusterId) {
      log("warn", "this member was removed from the cluster (a peer refused it)", { "remote-peer-id": hex(h.from) });
      this.ctx.reportRemoved();
      return "this member was removed from the cluster";
    }
    if (h.from !== this.to || h.to !== memberId) {
      log("warn", `peer URL ${this.url} belongs to member ${hex(h.from)}, not member ${hex(this.to)}`, {
        "local-member-id": hex(memberId),
        "remote-peer-id": hex(this.to),
        "answering-member-id": hex(h.from),
      });
      return `member ID mismatch (expected ${hex(this.to)}, reached ${hex(h.from)})`;
    }
    return null;
  }
}
