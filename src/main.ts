#!/usr/bin/env bun
// The composition root: reads the configuration, starts the server and its listeners.
import { getRequestListener } from "@hono/node-server";
import http from "node:http";
import type net from "node:net";
import { basename, join } from "node:path";
import tls from "node:tls";
import { parseArgs } from "node:util";
import { install } from "./install/install.ts";
import pkg from "../package.json" with { type: "json" };
import { runCtl, processIo } from "./cli/main.ts";
import type { OfflineTools } from "./cli/context.ts";
import { ConfigError, loadConfig, type Config } from "./config/index.ts";
import { createLogger, type Logger } from "./pkg/logger.ts";
import { setRequestCommonName } from "./pkg/tls-identity.ts";
import { CLIENT_FLAGS, PEER_FLAGS, prepareTlsSide, type TlsSide, verifiedCommonName } from "./pkg/tls-options.ts";
import { ETCD_API_VERSION, ETCD_CLUSTER_VERSION, EtcdServer } from "./server/core/server.ts";
import { createClientPort } from "./server/grpc/client-port.ts";
import { GrpcServer } from "./server/grpc/grpc-server.ts";
import { GrpcWeb } from "./server/grpc/grpc-web.ts";
import { H2Server } from "./server/grpc/h2/server.ts";
import { withMethodMetrics } from "./server/grpc/metrics.ts";
import { etcdHandlers } from "./server/grpc/services.ts";
import { tokenProviderFromFlag } from "./server/core/auth/tokens.ts";
import { parseDuration } from "./config/duration.ts";
import { createHttpApp } from "./server/http/app.ts";
import { decodeMembersAnswer, encodePeerRequest } from "./server/core/peer-api.ts";
import type { RemoteCluster } from "./server/core/server.ts";
import { peerRequest } from "./server/peer/peer-request.ts";
import { listenMetrics } from "./server/http/metrics-route.ts";
import { PeerTransport } from "./server/peer/peer-transport.ts";
import { restoreSnapshot } from "./server/core/restore.ts";
import { snapshotStatus } from "./server/core/snapshot-file.ts";
import { systemdNotifier } from "./server/systemd/notify.ts";
import { startAutoCompaction } from "./server/core/auto-compactor.ts";
import { EXPORT_COMMAND, exportEtcdSnapshot, exportInChildProcess } from "./server/core/etcd-snapshot.ts";

/** gRPC framing and headers on top of --max-request-bytes, as etcd allows. */
const GRPC_OVERHEAD_BYTES = 512 * 1024;

/**
 * Asks the running members for the member list, as etcd's joiner does before it starts: the first
 * URL that answers wins; a few rounds, since the cluster may be restarting too.
 */
async function fetchCluster(urls: string[], log: Logger, peerTls: TlsSide | undefined): Promise<RemoteCluster> {
  const errors: string[] = [];
  for (let round = 0; round < 5; round++) {
    for (const url of urls) {
      try {
        return decodeMembersAnswer(await peerRequest({ url, clusterId: 0n, from: 0n, to: 0n, tls: peerTls?.client }, encodePeerRequest({ op: "members" }), 2000));
      } catch (e) {
        errors.push(`${url}: ${(e as Error).message}`);
      }
    }
    log("warn", "could not reach any member to join; retrying", { urls, error: errors[errors.length - 1] });
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(
    `cannot join the existing cluster: no member in --initial-cluster answered (${[...new Set(errors)].slice(-urls.length).join("; ")}). ` +
      "Start this member once the cluster runs, or check --initial-cluster",
  );
}

/**
 * Client and peer TLS from the flags (files, or a self-signed certificate under <data-dir>/fixtures
 * with --auto-tls / --peer-auto-tls, for the hosts of this member's URLs). The config already refused
 * https:// URLs without a certificate; here files are read and checked.
 */
async function prepareTls(config: Config, log: Logger): Promise<{ clientTls?: TlsSide; peerTls?: TlsSide }> {
  const policy = { cipherSuites: config.cipherSuites, minVersion: config.tlsMinVersion };
  const hostsOf = (urls: readonly { hostname: string }[]) => [...new Set(urls.map((u) => u.hostname))];
  const client = await prepareTlsSide(
    {
      certFile: config.certFile,
      keyFile: config.keyFile,
      trustedCaFile: config.trustedCaFile,
      clientCertAuth: config.clientCertAuth,
      autoTls: config.autoTls && [...config.parsedUrls.listenClientUrls, ...config.parsedUrls.listenMetricsUrls].some((u) => u.protocol === "https"),
      autoTlsDir: join(config.dataDir, "fixtures", "client"),
      hosts: hostsOf([...config.parsedUrls.listenClientUrls, ...config.parsedUrls.advertiseClientUrls]),
    },
    policy,
    CLIENT_FLAGS,
  );
  const peer = await prepareTlsSide(
    {
      certFile: config.peerCertFile,
      keyFile: config.peerKeyFile,
      trustedCaFile: config.peerTrustedCaFile,
      clientCertAuth: config.peerClientCertAuth,
      autoTls: config.peerAutoTls && [...config.parsedUrls.listenPeerUrls, ...config.parsedUrls.initialAdvertisePeerUrls].some((u) => u.protocol === "https"),
      autoTlsDir: join(config.dataDir, "fixtures", "peer"),
      hosts: hostsOf([...config.parsedUrls.listenPeerUrls, ...config.parsedUrls.initialAdvertisePeerUrls]),
    },
    policy,
    PEER_FLAGS,
  );
  for (const [what, made, certAuth] of [["client", client, "--client-cert-auth"], ["peer", peer, "--peer-client-cert-auth"]] as const) {
    if (made?.selfSignedCreated) log("info", `generated a self-signed ${what} certificate (auto TLS)`, { cert: made.selfSignedCreated });
    // As etcd: a self-signed certificate means no CA to check the other side's certificates against.
    if (made && !made.side.clientCertAuth && (what === "client" ? config.clientCertAuth : config.peerClientCertAuth)) {
      log("warn", `ignoring ${certAuth}: ${what} TLS uses a self-signed certificate (auto TLS)`);
    }
  }
  return { clientTls: client?.side, peerTls: peer?.side };
}

/** How to start this program again: the compiled binary alone, or bun with the script. */
function selfCommand(): string[] {
  const script = process.argv[1] ?? "";
  return script.startsWith("/$bunfs/") || script === "" ? [process.execPath] : [process.execPath, script];
}

/** `etcd install [--root DIR] [--user NAME]`: see src/install/install.ts. */
function runInstall(argv: string[]): number {
  let values: { root?: string; user?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { root: { type: "string" }, user: { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true }));
  } catch (e) {
    process.stderr.write(`etcd install: ${(e as Error).message}\nUsage: etcd install [--root DIR] [--user etcd]\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(
      "Usage: etcd install [--root DIR] [--user etcd]\n\n" +
        "Installs this binary as /usr/bin/etcd with /usr/bin/etcdctl linked to it, the systemd unit\n" +
        "(/etc/systemd/system/etcd.service), /etc/etcd/etcd.conf (kept if present), the service user and\n" +
        "its data directory /var/lib/etcd. --root installs into another tree.\n",
    );
    return 0;
  }
  try {
    install({ root: values.root ?? "/", user: values.user ?? "etcd", binary: process.execPath, say: (l) => process.stdout.write(l + "\n") });
    return 0;
  } catch (e) {
    process.stderr.write(`etcd install: ${(e as Error).message}\n`);
    return 1;
  }
}

/** What `etcdctl snapshot restore|status` need from the server's storage code (etcdutl's part of etcdctl). */
function offlineTools(): OfflineTools {
  return {
    async snapshotStatus(path) {
      return snapshotStatus(path);
    },
    async restoreSnapshot(o) {
      // The new member's settings are checked as the server checks them at start (same messages),
      // so a restore that succeeds starts with the same flags.
      const args = ["--name", o.name, "--initial-cluster", o.initialCluster, "--initial-cluster-token", o.initialClusterToken];
      args.push("--initial-advertise-peer-urls", o.initialAdvertisePeerUrls.join(","), "--data-dir", o.dataDir);
      const loaded = loadConfig(args, {});
      if (loaded.kind !== "run") throw new Error("snapshot restore: unexpected help or version request");
      const c = loaded.config;
      return restoreSnapshot({
        snapshotPath: o.snapshotPath,
        dataDir: o.dataDir,
        walDir: o.walDir,
        name: c.name,
        initialCluster: c.initialCluster,
        initialClusterToken: c.initialClusterToken,
        skipHashCheck: o.skipHashCheck,
        progress: o.progress,
      });
    },
  };
}

async function main(argv: string[]): Promise<number> {
  // A compiled binary sees the name it was started as (a symlink etcdctl -> etcd) in argv0 only.
  const invokedAs = basename(process.argv0 ?? "");
  if (argv[0] === "install") return runInstall(argv.slice(1));
  if (argv[0] === EXPORT_COMMAND) {
    // Internal: the server's Snapshot RPC converts a database copy here, off its event loop.
    exportEtcdSnapshot(argv[1], argv[2]);
    return 0;
  }
  if (invokedAs === "etcdctl" || argv[0] === "ctl") {
    return runCtl(invokedAs === "etcdctl" ? argv : argv.slice(1), processIo(), offlineTools());
  }
  let config: Config;
  try {
    const result = loadConfig(argv, process.env);
    if (result.kind === "help") {
      process.stdout.write(result.text);
      return 0;
    }
    if (result.kind === "version") {
      process.stdout.write(
        `etcd Version: ${ETCD_API_VERSION}\netcd-ts Version: ${pkg.version}\n` +
          `Bun Version: ${process.versions.bun ?? "n/a"}\nOS/Arch: ${process.platform}/${process.arch}\n`,
      );
      return 0;
    }
    config = result.config;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`etcd: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let log: Logger;
  try {
    log = createLogger(config.logLevel, config.logOutputs);
  } catch (err) {
    process.stderr.write(`etcd: cannot open a log output (--log-outputs ${config.logOutputs.join(",")}): ${(err as Error).message}\n`);
    return 1;
  }
  try {
    return await serve(config, log);
  } catch (err) {
    log("error", (err as Error).message ?? String(err));
    return 1;
  }
}

async function serve(config: Config, log: Logger): Promise<number> {
  log("info", "starting etcd-ts", { version: pkg.version, etcdApi: ETCD_API_VERSION, name: config.name, dataDir: config.dataDir });
  const { clientTls, peerTls } = await prepareTls(config, log);

  let exitCode = 0;
  let stopping: Promise<void> | null = null;
  const listeners: net.Server[] = [];
  const server = await EtcdServer.start(
    {
      name: config.name,
      dataDir: config.dataDir,
      walDir: config.walDir,
      initialAdvertisePeerUrls: [...config.initialAdvertisePeerUrls],
      advertiseClientUrls: [...config.advertiseClientUrls],
      initialClusterToken: config.initialClusterToken,
      initialCluster: config.initialCluster,
      quotaBackendBytes: config.quotaBackendBytes,
      strictReconfigCheck: config.strictReconfigCheck,
      initialClusterState: config.initialClusterState,
      heartbeatIntervalMs: config.heartbeatInterval,
      electionTimeoutMs: config.electionTimeout,
      maxRequestBytes: config.maxRequestBytes,
      maxTxnOps: config.maxTxnOps,
      snapshotCount: config.snapshotCount,
      fetchCluster: (urls) => fetchCluster(urls, log, peerTls),
      corruptCheckTimeMs: config.experimentalCorruptCheckTime,
      exportSnapshot: exportInChildProcess(selfCommand()),
      maxWals: config.maxWals,
      maxSnapshots: config.maxSnapshots,
      log,
      auth: {
        tokens: tokenProviderFromFlag(config.authToken, { ttlSeconds: config.authTokenTtl, parseDurationMs: parseDuration }),
        bcryptCost: config.bcryptCost,
      },
    },
    (err) => {
      log("error", "fatal error: stopping", { error: String((err as Error)?.stack ?? err) });
      exitCode = 1;
      void stop();
    },
  );

  const transport = new PeerTransport({
    memberId: server.memberId,
    clusterId: server.clusterId,
    listenUrls: [...config.listenPeerUrls],
    tls: peerTls,
    onMessage: (m) => server.receive(m),
    onUnreachable: (id) => server.reportUnreachable(id),
    onSnapshotStatus: (id, ok) => server.reportSnapshot(id, ok),
    snapshotDir: server.snapshotDir,
    onSnapshot: (m, path) => server.receiveSnapshot(m, path),
    onRequest: (req) => server.answerPeer(req),
    log,
  });
  try {
    await transport.start();
  } catch (err) {
    await server.stop();
    // The transport's message already says "cannot listen for peers …"; add which setting to change.
    throw new Error(`${(err as Error).message} (--listen-peer-urls ${config.listenPeerUrls.join(",")})`);
  }
  transport.onRemoved = () => server.removedFromCluster();
  server.setTransport(transport);

  // One method table for gRPC and for the HTTP side's JSON gateway.
  const handlers = etcdHandlers(server);
  const maxRecvBytes = config.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  const grpc = new GrpcServer(handlers, { maxRecvBytes, log });
  const h2 = new H2Server({
    onStream: grpc.handleStream,
    onError: (err, fatal) => {
      if (fatal) log("warn", "gRPC connection failed", { error: String(err.stack ?? err) });
      else log("debug", "gRPC client protocol error", { error: err.message });
    },
  });
  const app = createHttpApp({
    hasLeader: () => server.isReady,
    alarms: () => server.alarmNames(),
    versions: () => ({ etcdserver: ETCD_API_VERSION, etcdcluster: ETCD_CLUSTER_VERSION, "etcd-ts": pkg.version }),
    // Gateway calls are counted under their gRPC method, as etcd's (which go through gRPC).
    handlers: withMethodMetrics(handlers),
    maxRecvBytes,
    cors: config.cors,
    log,
  });
  // gRPC-web (browsers, HTTP/1.1) goes to the same method table; everything else to the Hono app.
  // --cors empty allows every origin, as etcd's default.
  const grpcWeb = new GrpcWeb(handlers, { maxRecvBytes, cors: config.cors.length ? config.cors : ["*"], log });
  const h1 = http.createServer(
    getRequestListener((req, env) => {
      // The verified client certificate's CN (--client-cert-auth) goes with the request (pkg/tls-identity.ts).
      const socket = (env as { incoming?: { socket?: unknown } }).incoming?.socket;
      if (socket instanceof tls.TLSSocket) setRequestCommonName(req, verifiedCommonName(socket));
      return grpcWeb.handle(req) ?? app.fetch(req, env);
    }),
  );

  for (const u of config.parsedUrls.listenClientUrls) {
    const secure = u.protocol === "https";
    const port = createClientPort(h2, h1, {
      tls: secure ? clientTls?.server : undefined,
      // Plaintext on the TLS port, no or an unknown client certificate: the client is refused, we go on.
      onTlsError: (err, remote) => log("debug", "client TLS handshake failed", { address: u.url, remote, error: err.code ? `${err.code}: ${err.message}` : err.message }),
    });
    const host = u.hostname === "localhost" ? "127.0.0.1" : u.hostname;
    await new Promise<void>((resolve, reject) => {
      port.once("error", (err: NodeJS.ErrnoException) =>
        reject(new Error(`Cannot listen on ${u.url} (--listen-client-urls): ${err.code === "EADDRINUSE" ? "the address is already in use" : err.message}`)),
      );
      port.listen(u.port, host, () => resolve());
    });
    listeners.push(port);
    log("info", `serving client traffic (gRPC and HTTP/1.1${secure ? ", TLS" : ""})`, {
      address: `${host}:${u.port}`,
      ...(secure ? { "client-cert-auth": clientTls?.clientCertAuth ?? false } : {}),
    });
  }
  listeners.push(...(await listenMetrics(config.parsedUrls.listenMetricsUrls, app.fetch, log, clientTls?.server)));
  log("info", "ready to serve client requests", { memberId: server.memberId.toString(16) });
  const stopCompaction = startAutoCompaction(
    config.autoCompaction,
    {
      currentRevision: () => server.header().revision,
      isLeader: () => server.leader === server.memberId,
      compact: async (revision) => void (await server.compact({ revision })),
    },
    log,
  );
  // Type=notify: systemd counts the unit started once the member has joined and serves clients.
  const notify = await systemdNotifier(process.env, log);
  void server.ready.then(() => {
    if (!stopping) notify({ READY: "1", STATUS: `serving clients as member ${server.memberId.toString(16)} of cluster ${server.clusterId.toString(16)}` });
  });

  let stopped: () => void = () => {};
  const stop = () =>
    (stopping ??= (async () => {
      notify({ STOPPING: "1", STATUS: "stopping" });
      stopCompaction();
      for (const l of listeners) l.close();
      h1.close();
      // GOAWAY to gRPC clients; calls in flight get their answers (for up to 2 s) before the core stops.
      await h2.close(2000);
      await server.stop();
      await transport.stop();
      log("info", "stopped");
      stopped();
    })());
  // A signal or a fatal error (which calls stop() itself) ends the server: wait for whichever comes.
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void stop());
  await new Promise<void>((resolve) => (stopped = resolve));
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`etcd: ${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);
