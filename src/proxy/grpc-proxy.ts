// `etcd grpc-proxy start`: etcd's stateless gRPC proxy (etcdmain/grpc_proxy.go). Clients speak etcd's
// v3 API to it; it forwards every call to the cluster through the client (one connection, failover,
// retries), coalesces identical watches into one upstream watch, shares one keep-alive stream for all
// leases and caches serializable ranges. The same port serves /metrics and /health over HTTP/1.1.
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import { join } from "node:path";
import { TransportError } from "../client/errors.ts";
import type { ClientTlsOptions } from "../client/grpc/channel.ts";
import { rpc } from "../client/rpc.ts";
import { GrpcCode, isEtcdError } from "../pkg/errors.ts";
import type { Logger } from "../pkg/logger.ts";
import { CLIENT_FLAGS, prepareTlsSide, type TlsSide } from "../pkg/tls-options.ts";
import { createClientPort } from "../server/grpc/client-port.ts";
import { GrpcServer, type Handler } from "../server/grpc/grpc-server.ts";
import { H2Server } from "../server/grpc/h2/server.ts";
import { clusterHandlers, lockAndElectionHandlers, maintenanceAndAuthHandlers } from "./forward.ts";
import type { GrpcProxyConfig } from "./grpc-proxy-config.ts";
import { proxyHttpHandler } from "./http.ts";
import { kvHandlers } from "./kv.ts";
import { leaseHandlers } from "./lease.ts";
import { Namespace } from "./namespace.ts";
import { RangeCache } from "./range-cache.ts";
import { joinHostPort } from "./tcp-proxy.ts";
import { Upstream } from "./upstream.ts";
import { WatchRegistry } from "./watch/broadcast.ts";
import { watchHandlers } from "./watch/serve.ts";

/** clientv3's DialTimeout in etcd's proxy: the cluster must answer within it at start. */
const DIAL_TIMEOUT_MS = 5000;
/** grpc-go's default largest request a server takes (etcd's proxy server keeps it). */
const GRPC_DEFAULT_MAX_RECV_BYTES = 4 * 1024 * 1024;

/** A startup failure: printed on stderr as it is, exit status 1 (etcd prints the error and exits 1). */
export class StartError extends Error {}

/**
 * TLS towards the cluster from --cert/--key/--cacert/--insecure-skip-tls-verify; null for none. The
 * proxy's certificate must have no CN: members with --client-cert-auth take a certificate's CN as
 * the user, and every request the proxy forwards, whoever sent it, would run as that user.
 */
export function upstreamTls(cfg: Pick<GrpcProxyConfig, "cert" | "key" | "cacert" | "insecureSkipTlsVerify">): ClientTlsOptions | null {
  if (cfg.cert === "" && cfg.key === "" && cfg.cacert === "" && !cfg.insecureSkipTlsVerify) return null;
  const read = (file: string, flag: string) => {
    try {
      return fs.readFileSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new StartError(`open ${file}: ${code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (e as Error).message} (${flag})`);
    }
  };
  const out: ClientTlsOptions = { insecureSkipVerify: cfg.insecureSkipTlsVerify };
  if (cfg.cacert) out.ca = read(cfg.cacert, "--cacert");
  if (cfg.cert) {
    out.cert = read(cfg.cert, "--cert");
    out.key = read(cfg.key, "--key");
    let cn = "";
    try {
      cn = commonNameOf(new X509Certificate(out.cert).subject);
    } catch (e) {
      throw new StartError(`cannot read the certificate in --cert '${cfg.cert}': ${(e as Error).message}`);
    }
    if (cn !== "") {
      throw new StartError(
        `cert has non empty Common Name (${cn}): the proxy's certificate towards the cluster (--cert '${cfg.cert}') must have no CN, ` +
          "because members take a client certificate's CN as the user, and every request the proxy forwards would run as that user",
      );
    }
  }
  return out;
}

/** The CN of an X509Certificate subject ("C=US\nO=etcd\nCN=name"); "" when there is none. */
function commonNameOf(subject: string): string {
  for (const line of subject.split("\n")) if (line.startsWith("CN=")) return line.slice(3);
  return "";
}

/** The proxy's method table: every etcd v3 service, forwarded. */
export function proxyHandlers(upstream: Upstream, cfg: Pick<GrpcProxyConfig, "namespace" | "advertiseClientUrl">, log: Logger): { handlers: Record<string, Handler>; registry: WatchRegistry } {
  const ns = cfg.namespace ? new Namespace(cfg.namespace) : null;
  const registry = new WatchRegistry(upstream, ns, log);
  const handlers = {
    ...kvHandlers({ upstream, cache: new RangeCache(), namespace: ns }),
    ...watchHandlers({ registry, upstream, namespace: ns }),
    ...leaseHandlers(upstream, ns, log),
    ...clusterHandlers(upstream, cfg.advertiseClientUrl),
    ...maintenanceAndAuthHandlers(upstream),
    ...lockAndElectionHandlers(upstream, ns),
  };
  return { handlers, registry };
}

async function listen(server: net.Server | http.Server, host: string, port: number, flag: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(new StartError(`listen tcp ${joinHostPort(host, port)}: ${err.code === "EADDRINUSE" ? "bind: address already in use" : err.message} (${flag})`)),
    );
    server.listen(port, host === "" ? undefined : host, () => resolve());
  });
}

/** Runs the proxy until SIGINT/SIGTERM; resolves with the exit status. `ready` is told when it serves. */
export async function runGrpcProxy(cfg: GrpcProxyConfig, log: Logger, ready: () => void = () => {}): Promise<number> {
  for (const w of cfg.warnings) log("warn", w);
  const tls = upstreamTls(cfg);
  if (cfg.insecureSkipTlsVerify) {
    log("warn", "--insecure-skip-tls-verify was given, this grpc proxy process skips authentication of etcd server TLS certificates. This option should be enabled only for testing purposes.");
  }
  if (tls) log("info", "gRPC proxy client TLS", { cert: cfg.cert, key: cfg.key, cacert: cfg.cacert });

  let listenTls: TlsSide | undefined;
  try {
    const made = await prepareTlsSide(
      {
        certFile: cfg.certFile,
        keyFile: cfg.keyFile,
        trustedCaFile: cfg.trustedCaFile,
        clientCertAuth: false,
        crlFile: cfg.clientCrlFile,
        autoTls: cfg.autoTls,
        autoTlsDir: join(cfg.dataDir, "fixtures", "proxy"),
        hosts: [cfg.listenHost === "" ? "127.0.0.1" : cfg.listenHost],
      },
      { cipherSuites: cfg.cipherSuites, minVersion: cfg.tlsMinVersion, maxVersion: cfg.tlsMaxVersion },
      CLIENT_FLAGS,
    );
    listenTls = made?.side;
    if (made?.selfSignedCreated) log("info", "generated a self-signed certificate for the proxy (auto TLS)", { cert: made.selfSignedCreated });
  } catch (e) {
    throw new StartError((e as Error).message);
  }
  if (listenTls) {
    log("info", "gRPC proxy server TLS", {
      cert: cfg.certFile || "(auto TLS)",
      key: cfg.keyFile || "(auto TLS)",
      "trusted-ca": cfg.trustedCaFile,
      "client-cert-required": cfg.trustedCaFile !== "",
      "crl-file": cfg.clientCrlFile,
    });
  }

  const upstream = new Upstream({
    endpoints: cfg.endpoints,
    tls,
    dialTimeoutMs: DIAL_TIMEOUT_MS,
    keepAliveTimeMs: cfg.dialKeepAliveTimeMs,
    keepAliveTimeoutMs: cfg.dialKeepAliveTimeoutMs,
    maxSendBytes: cfg.maxSendBytes,
    maxRecvBytes: cfg.maxRecvBytes,
  });
  const { handlers, registry } = proxyHandlers(upstream, cfg, log);
  const grpc = new GrpcServer(handlers, { maxRecvBytes: Math.max(GRPC_DEFAULT_MAX_RECV_BYTES, cfg.maxSendBytes), log });
  const h2 = new H2Server({
    onStream: grpc.handleStream,
    maxConcurrentStreams: cfg.maxConcurrentStreams,
    onError: (err, fatal) => {
      if (fatal) log("warn", "gRPC connection failed", { error: String(err.stack ?? err) });
      else log("debug", "gRPC client protocol error", { error: err.message });
    },
  });
  const onHttp = proxyHttpHandler(upstream);
  const h1 = http.createServer(onHttp);
  const port = createClientPort(h2, h1, {
    tls: listenTls,
    onTlsError: (err, remote) => log("debug", "client TLS handshake failed", { remote, error: err.code ? `${err.code}: ${err.message}` : err.message }),
    onRefused: (r, remote) => log("warn", "refused a client certificate", { remote, reason: r.message }),
  });
  const servers: (net.Server | http.Server)[] = [];
  const shutdown = async () => {
    for (const s of servers) s.close();
    h1.close();
    await h2.close(2000);
    registry.close();
    upstream.close();
  };
  try {
    await listen(port, cfg.listenHost, cfg.listenPort, "--listen-addr");
    servers.push(port);
    log("info", "listening for gRPC proxy client requests", { address: cfg.listenAddr });

    // As etcd's proxy (its client dials with a timeout and blocks): the cluster must answer at start.
    await reachCluster(upstream, cfg.endpoints);

    if (cfg.metricsUrl) {
      const u = cfg.metricsUrl;
      const secure = u.protocol === "https:";
      if (secure && !listenTls) throw new StartError(`--metrics-addr ${u.href} is https:// but the proxy has no certificate: set --cert-file and --key-file (or --auto-tls), or use http://`);
      const m = secure ? https.createServer(listenTls!.server, onHttp) : http.createServer(onHttp);
      const host = u.hostname.replace(/^\[|\]$/g, "");
      await listen(m, host === "localhost" ? "127.0.0.1" : host, Number(u.port), "--metrics-addr");
      servers.push(m);
      log("info", "gRPC proxy listening for metrics", { address: u.href });
    }
  } catch (err) {
    await shutdown();
    throw err;
  }

  // etcd's e2e suite waits for this line.
  log("info", "started gRPC proxy", { address: cfg.listenAddr, endpoints: cfg.endpoints });
  ready();
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
  });
  await shutdown();
  log("info", "stop listening gRPC proxy client requests", { address: cfg.listenAddr });
  return 0;
}

/**
 * One call the cluster answers without credentials; any answer from a member (an error included)
 * shows it is reachable. Only "cannot connect" within the dial timeout stops the proxy.
 */
async function reachCluster(upstream: Upstream, endpoints: readonly string[]): Promise<void> {
  try {
    await upstream.unary(rpc.status, {}, { deadline: Date.now() + DIAL_TIMEOUT_MS });
  } catch (err) {
    // A member's own answer ("no leader", an auth error…) shows the cluster is reachable.
    if (isEtcdError(err) && !(err instanceof TransportError) && err.code !== GrpcCode.DeadlineExceeded) return;
    throw new StartError(`cannot reach the cluster at ${endpoints.join(",")} within ${DIAL_TIMEOUT_MS / 1000}s (--endpoints): ${(err as Error).message}`);
  }
}
