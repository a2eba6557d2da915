// Opens the byte stream an HTTP/2 client connection runs on. Under Bun a cleartext connection uses
// Bun.connect: loading node:net costs a compiled binary ~10 ms at start, a large part of a short
// etcdctl call. TLS (node:tls, ALPN "h2") and everything under Node load their module on first use,
// so a process that never dials does not pay for it either.
import type { ConnectionOptions } from "node:tls";

/** Where to connect; `tls` null: cleartext (h2c with prior knowledge). */
export interface DialTarget {
  host: string;
  port: number;
  tls: ConnectionOptions | null;
}

/** What the connection hears from its byte stream; never called before dial() returns. */
export interface ByteStreamEvents {
  /** Connected (for TLS: the handshake is done and the server chose "h2"). */
  onOpen(): void;
  onData(chunk: Buffer): void;
  /** What write() held back has gone out: write more. */
  onDrain(): void;
  /** Closed, with the error that closed it if any. Once, also after destroy(). */
  onClose(err: Error | null): void;
}

export interface ByteStream {
  /** Sends bytes (kept until they can go); false: more should wait for onDrain. The bytes are not copied. */
  write(bytes: Uint8Array): boolean;
  /** Closes once what was written has gone out (under Bun nothing more is read after it either). */
  end(): void;
  /** Closes at once. */
  destroy(): void;
}

export const NOT_H2_ALPN = 'the server did not select HTTP/2 (ALPN "h2") for gRPC';

/** Bytes held before the socket is up (or beyond what the kernel took) before write() asks the caller to wait. */
const HELD_HIGH_WATER = 64 * 1024;

export function dial(target: DialTarget, events: ByteStreamEvents): ByteStream {
  if (target.tls === null && typeof Bun !== "undefined") return bunTcp(target, events);
  return nodeSocket(target, events);
}

/** A cleartext Bun.connect socket. Its write() takes what the kernel accepts now: the rest is held here. */
function bunTcp(target: DialTarget, events: ByteStreamEvents): ByteStream {
  let sock: Bun.Socket | null = null;
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  let waiting = false; // write() returned false: onDrain owed
  let ending = false;
  let closed = false;
  let error: Error | null = null;

  const finish = (err: Error | null) => {
    if (closed) return;
    closed = true;
    held = [];
    heldBytes = 0;
    events.onClose(err);
  };
  /** Writes held bytes; true when none are left. */
  const writeHeld = (s: Bun.Socket): boolean => {
    while (held.length > 0) {
      const b = held[0];
      const n = s.write(b);
      if (n < 0) return false; // closing: 'close' follows
      heldBytes -= n;
      if (n < b.length) {
        held[0] = b.subarray(n);
        return false;
      }
      held.shift();
    }
    return true;
  };
  const hold = (b: Uint8Array) => {
    held.push(b);
    heldBytes += b.length;
  };

  Bun.connect({
    hostname: target.host,
    port: target.port,
    socket: {
      open(s) {
        if (closed) return void s.terminate();
        sock = s;
        s.setNoDelay(true);
        events.onOpen();
        if (writeHeld(s) && ending) s.end();
        if (held.length === 0 && waiting) {
          waiting = false;
          events.onDrain();
        }
      },
      data(_s, chunk) {
        // Each chunk has a buffer of its own: views into it stay valid.
        if (closed) return;
        try {
          events.onData(chunk);
        } catch (err) {
          // Bun would hand a throw here to error() as if the socket had failed; a bug must surface
          // as an uncaught exception, as it does from a node:net listener.
          queueMicrotask(() => {
            throw err;
          });
        }
      },
      drain(s) {
        if (!writeHeld(s)) return;
        if (ending) s.end();
        if (waiting) {
          waiting = false;
          events.onDrain();
        }
      },
      end(s) {
        s.end(); // the server closed its side: nothing more can arrive
      },
      error(_s, err) {
        error ??= err;
      },
      close(_s, err) {
        finish(err ?? error);
      },
      connectError(_s, err) {
        finish(connectError(err, target));
      },
    },
  }).catch((err: Error) => finish(connectError(err, target)));

  return {
    write(bytes) {
      if (closed || ending) return false;
      if (sock !== null && held.length === 0) {
        const n = sock.write(bytes);
        if (n === bytes.length) return true;
        if (n < 0) return false;
        hold(bytes.subarray(n));
      } else {
        hold(bytes);
      }
      if (sock === null && heldBytes < HELD_HIGH_WATER) return true;
      waiting = true;
      return false;
    },
    end() {
      if (ending || closed) return;
      ending = true;
      if (sock !== null && held.length === 0) sock.end();
    },
    destroy() {
      if (sock !== null) sock.terminate();
      finish(null);
    },
  };
}

/** Bun says "Failed to connect"; node:net's wording ("connect ECONNREFUSED 127.0.0.1:2379") names the cause and the address. */
function connectError(err: Error, target: DialTarget): Error {
  const code = (err as { code?: string }).code;
  if (!code) return err;
  return Object.assign(new Error(`connect ${code} ${target.host}:${target.port}`), { code });
}

/** A node:net or node:tls socket (Node, or TLS under Bun); the module loads on the first dial. */
function nodeSocket(target: DialTarget, events: ByteStreamEvents): ByteStream {
  type Socket = import("node:net").Socket & { alpnProtocol?: string | false | null };
  let socket: Socket | null = null;
  let held: Uint8Array[] = [];
  let ending = false;
  let closed = false;

  const finish = (err: Error | null) => {
    if (closed) return;
    closed = true;
    held = [];
    events.onClose(err);
  };
  const secure = target.tls !== null;
  const opening: Promise<Socket> = secure
    ? import("node:tls").then((tls) => tls.connect({ ...target.tls, host: target.host, port: target.port }) as Socket)
    : import("node:net").then((net) => net.connect({ host: target.host, port: target.port }));
  opening.then(
    (s) => {
      if (closed) return void s.destroy();
      socket = s;
      let error: Error | null = null;
      s.once(secure ? "secureConnect" : "connect", () => {
        if (secure && s.alpnProtocol !== "h2") return void s.destroy(new Error(NOT_H2_ALPN));
        s.setNoDelay(true);
        events.onOpen();
      });
      s.on("data", (chunk: Buffer) => closed || events.onData(chunk));
      s.on("drain", () => closed || events.onDrain());
      s.on("error", (err: Error) => (error ??= err));
      s.on("close", () => finish(error));
      for (const b of held) s.write(b);
      held = [];
      if (ending) s.end();
    },
    (err: Error) => finish(err),
  );

  return {
    write(bytes) {
      if (closed) return false;
      if (socket !== null) return socket.write(bytes);
      held.push(bytes);
      return true;
    },
    end() {
      ending = true;
      socket?.end();
    },
    destroy() {
      socket?.destroy();
      finish(null);
    },
  };
}
