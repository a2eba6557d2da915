import type { Server as Http1Server } from "node:http";
import type { Http2Server } from "node:http2";
import net from "node:net";

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * One port, two protocols: a connection that opens with the HTTP/2 preface (gRPC with prior knowledge,
 * as grpc-go and grpc-js speak) goes to the HTTP/2 server, anything else to the HTTP/1.1 server.
 */
export function createClientPort(h2: Http2Server, h1: Http1Server): net.Server {
  return net.createServer({ noDelay: true }, (socket) => {
    let seen: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && n < H2_PREFACE.length) return; // wait for the whole preface
      socket.off("data", onData);
      socket.pause();
      socket.unshift(seen);
      (isH2 ? h2 : h1).emit("connection", socket);
      socket.resume();
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  });
}
