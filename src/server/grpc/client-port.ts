import type { Server as Http1Server } from "node:http";
import net from "node:net";
import { CONNECTION_PREFACE } from "./h2/frames.ts";
import type { H2Server } from "./h2/server.ts";

/**
 * One port, two protocols: a connection that opens with the HTTP/2 preface (gRPC with prior knowledge,
 * as grpc-go and grpc-js speak) goes to the HTTP/2 server, anything else to the HTTP/1.1 server.
 */
export function createClientPort(h2: H2Server, h1: Http1Server): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    let seen: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(seen.length, CONNECTION_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(CONNECTION_PREFACE.subarray(0, n));
      if (isH2 && n < CONNECTION_PREFACE.length) return; // wait for the whole preface
      socket.off("data", onData);
      if (isH2) {
        // The HTTP/2 connection takes the bytes read so far (preface included) and reads on itself.
        h2.handleConnection(socket, seen);
        return;
      }
      socket.pause();
      socket.unshift(seen);
      h1.emit("connection", socket);
      socket.resume();
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });
}
