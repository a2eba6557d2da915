// Request connections (handshake kind Request): the dialer sends one frame, the acceptor answers
// with one frame and both close. What the bytes mean is the server's business (member list for a
// joining member, HashKV for the corruption check); the transport only carries them.
import type tls from "node:tls";
import { dialPeer } from "./dial.ts";
import { frameHeader } from "./frame.ts";
import { ConnKind } from "./handshake.ts";

/** Requests and answers are small (a member list, a hash). */
export const MAX_REQUEST_FRAME_BYTES = 16 * 1024 * 1024;

export interface PeerRequestTarget {
  url: string;
  clusterId: bigint;
  /** this member's id, 0 when it does not know it yet (joining) */
  from: bigint;
  /** the member meant, 0 for whoever answers at url */
  to: bigint;
  /** this member's peer TLS client side, for https:// URLs */
  tls?: tls.ConnectionOptions;
}

/** Sends body, resolves with the answer. Rejects on any failure within timeoutMs. */
export async function peerRequest(target: PeerRequestTarget, body: Uint8Array, timeoutMs: number): Promise<Buffer> {
  const deadline = performance.now() + timeoutMs;
  const { socket, early, reader } = await dialPeer(
    target.url,
    { clusterId: target.clusterId, from: target.from, to: target.to, kind: ConnKind.Request },
    timeoutMs,
    MAX_REQUEST_FRAME_BYTES,
    target.tls,
  );
  return new Promise<Buffer>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | null, answer?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(answer as Buffer);
    };
    const timer = setTimeout(() => finish(new Error(`${target.url}: no answer within ${timeoutMs} ms`)), Math.max(1, deadline - performance.now()));
    const onFrame = (payload: Buffer) => (finish(null, payload), false);
    if (early.length > 0) return void onFrame(early[0]);
    socket.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk, onFrame);
      } catch (e) {
        finish(e as Error);
      }
    });
    socket.on("close", () => finish(new Error(`${target.url}: connection closed before the answer`)));
    socket.write(Buffer.concat([frameHeader(body.length), body]));
  });
}
