// One outbound peer connection of the short-lived kinds (a snapshot, a request): connect, send the
// handshake, check the reply. The long-lived Raft stream has its own dialer (stream-conn.ts, driven by
// outbound-stream.ts's queue and backoff); these callers only need "connected to the right member, or why not".
import type net from "node:net";
import type tls from "node:tls";
import { FrameReader } from "./frame.ts";
import { decodeHandshake, decodeRefusal, encodeHandshakeFrame, type Handshake, HANDSHAKE_MAX_FRAME_BYTES } from "./handshake.ts";
import { connectPeer, describeSocketError, type PeerSocket } from "./connect.ts";

export class PeerDialError extends Error {
  constructor(
    message: string,
    /** the peer said this member was removed from the cluster */
    readonly removed = false,
  ) {
    super(message);
    this.name = "PeerDialError";
  }
}

export interface Dialed {
  socket: net.Socket;
  /** the acceptor's handshake */
  reply: Required<Handshake>;
  /** frames that arrived in the same chunk as the reply, in order */
  early: Buffer[];
  /** holds any partial frame; keep pushing socket data into it */
  reader: FrameReader;
  /** from sending the handshake to reading the reply (the connect excluded), ms */
  rttMs: number;
}

const hex = (id: bigint) => id.toString(16);

/**
 * Dials url and exchanges handshakes. Rejects with PeerDialError on a refused or mismatched
 * handshake (cluster id, member id, removed member) and on timeout.
 */
export function dialPeer(url: string, hs: Handshake, timeoutMs: number, maxFrameBytes: number, tlsClient?: tls.ConnectionOptions): Promise<Dialed> {
  return new Promise((resolve, reject) => {
    let opened: PeerSocket;
    try {
      opened = connectPeer(url, tlsClient);
    } catch (e) {
      return reject(new PeerDialError(`${url}: ${(e as Error).message}`));
    }
    const socket = opened.socket;
    socket.setNoDelay(true);
    const reader = new FrameReader(HANDSHAKE_MAX_FRAME_BYTES);
    const early: Buffer[] = [];
    let settled = false;
    const fail = (why: string, removed = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new PeerDialError(`${url}: ${why}`, removed));
    };
    const timer = setTimeout(() => fail(`no handshake reply within ${timeoutMs} ms`), timeoutMs);
    let sentAt = 0;
    socket.once(opened.ready, () => {
      sentAt = performance.now();
      socket.write(encodeHandshakeFrame(hs));
    });
    socket.on("error", (e: Error & { code?: string }) => fail(describeSocketError(e)));
    socket.on("close", () => fail("connection closed by peer"));
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk, (payload) => {
          if (settled) return early.push(payload), true;
          const refused = decodeRefusal(payload);
          if (refused !== null) return fail(refused), false;
          const h = decodeHandshake(payload);
          if (typeof h === "string") return fail(`bad handshake reply: ${h}`), false;
          if (hs.clusterId !== 0n && h.clusterId !== hs.clusterId) {
            return fail(`cluster ID mismatch (local ${hex(hs.clusterId)}, remote ${hex(h.clusterId)})`), false;
          }
          if (h.to === 0n && hs.from !== 0n) return fail("this member was removed from the cluster", true), false;
          if ((hs.to !== 0n && h.from !== hs.to) || h.to !== hs.from) {
            return fail(`member ID mismatch (expected ${hex(hs.to)}, reached ${hex(h.from)})`), false;
          }
          settled = true;
          clearTimeout(timer);
          socket.off("data", onData);
          socket.removeAllListeners("close");
          socket.removeAllListeners("error");
          socket.on("error", () => {}); // the new owner listens for close
          reader.maxFrameBytes = maxFrameBytes;
          resolve({ socket, reply: h, early, reader, rttMs: performance.now() - sentAt });
          return true;
        });
      } catch (e) {
        fail(`bad handshake reply: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    socket.on("data", onData);
  });
}
