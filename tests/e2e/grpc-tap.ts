// A tap for the grpc-proxy tests: an h2c relay in front of one member that passes gRPC calls through
// byte for byte and counts the Watch create and cancel requests in them, so a test sees how many
// watches the proxy opens upstream without asking the proxy. Run as its own process
// (`bun grpc-tap.ts <member host:port>`): it prints "listening <host:port>"; GET /tap/counts on it
// (over HTTP/2) answers {"creates","cancels","streams"} as of every byte it has relayed so far.
import http2 from "node:http2";
import { MessageReader } from "../../src/pkg/grpc-framing.ts";
import { etcdserverpb } from "../../src/proto/etcd.js";
import { freePort } from "./ports.ts";

const counts = { creates: 0, cancels: 0, streams: 0 };

function relay(upstream: http2.ClientHttp2Session, down: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const path = String(headers[":path"]);
  if (path === "/tap/counts") {
    down.respond({ ":status": 200, "content-type": "application/json" });
    down.end(JSON.stringify(counts));
    return;
  }
  const fwd: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": path, "content-type": headers["content-type"], te: "trailers" };
  for (const h of ["token", "grpc-timeout"]) if (headers[h]) fwd[h] = headers[h];
  const up = upstream.request(fwd);
  const reader = path === "/etcdserverpb.Watch/Watch" ? new MessageReader(64 << 20) : null;
  if (reader) counts.streams++;
  down.on("data", (d: Buffer) => {
    if (reader) {
      for (const m of reader.push(d)) {
        const req = etcdserverpb.WatchRequest.decode(m);
        if (req.createRequest) counts.creates++;
        if (req.cancelRequest) counts.cancels++;
      }
    }
    up.write(d);
  });
  down.on("end", () => up.end());
  down.on("error", () => {});
  down.on("close", () => {
    if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL);
  });
  let trailers: http2.IncomingHttpHeaders = {};
  const status = (h: http2.IncomingHttpHeaders) => ({ "grpc-status": String(h["grpc-status"] ?? "0"), ...(h["grpc-message"] ? { "grpc-message": String(h["grpc-message"]) } : {}) });
  up.on("response", (h) => {
    if (down.closed) return;
    // A trailers-only answer carries the status in its headers.
    if (h["grpc-status"] !== undefined) down.respond({ ":status": 200, "content-type": "application/grpc", ...status(h) }, { endStream: true });
    else down.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  });
  up.on("data", (d: Buffer) => {
    if (!down.closed) down.write(d);
  });
  up.on("trailers", (t) => (trailers = t));
  down.on("wantTrailers", () => down.sendTrailers(status(trailers)));
  up.on("end", () => {
    if (!down.closed && down.headersSent) down.end();
  });
  up.on("error", () => {});
  up.on("close", () => {
    if (!down.closed && !down.headersSent) down.close(http2.constants.NGHTTP2_CANCEL);
  });
}

if (import.meta.main) {
  const target = process.argv[2];
  if (!target) throw new Error("usage: grpc-tap.ts <member host:port>");
  const upstream = http2.connect(`http://${target}`);
  upstream.on("error", (e) => console.error("tap upstream:", e.message));
  const server = http2.createServer();
  server.on("stream", (down, headers) => relay(upstream, down as http2.ServerHttp2Stream, headers));
  const port = await freePort();
  server.listen(port, "127.0.0.1", () => console.log(`listening 127.0.0.1:${port}`));
}
