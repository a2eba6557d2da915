// A member's life around the server core (etcd's embed package): listeners, data-dir lock, the
// server, the peer transport, the client protocols, systemd notifications, stopping. The entry point
// (src/entry/etcd.ts) parses the configuration and calls serve().
import { getRequestListener } from "@hono/node-server";
import { existsSync, rmSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import type { Config } from "../config/index.ts";
import { parseDuration } from "../config/duration.ts";
import type { Logger } from "../pkg/logger.ts";
import { lockDirectory } from "../pkg/dir-lock.ts";
import { parseUnsafeBugEnv } from "../pkg/failpoint.ts";
import { HeldListener } from "../pkg/held-listener.ts";
import { listenOn, socketOfUrl } from "../pkg/socket-address.ts";
import { setRequestCommonName } from "../pkg/tls-identity.ts";
import { CLIENT_FLAGS, PEER_FLAGS, prepareTlsSide, type TlsSide, verifiedCommonName } from "../pkg/tls-options.ts";
import { ensureWritableDir, ETCD_API_VERSION, ETCD_CLUSTER_VERSION, EtcdServer, MemberRemovedError, type RemoteCluster } from "./core/server.ts";
import { createClientPort } from "./grpc/client-port.ts";
import { GrpcServer } from "./grpc/grpc-server.ts";
import { GrpcWeb } from "./grpc/grpc-web.ts";
import { H2Server } from "./grpc/h2/server.ts";
import { withMethodMetrics } from "./grpc/metrics.ts";
import { CallSlots, limitConcurrentCalls } from "./grpc/stream-limit.ts";
import { etcdHandlers } from "./grpc/services.ts";
import { tokenProviderFromFlag } from "./core/auth/tokens.ts";
import { createHttpApp } from "./http/app.ts";
import { decodeMembersAnswer, encodePeerRequest } from "./core/peer-api.ts";
import { peerRequest } from "./peer/peer-request.ts";
import { listenMetrics } from "./http/metrics-route.ts";
import { PeerTransport } from "./peer/peer-transport.ts";
import { systemdNotifier } from "./systemd/notify.ts";
import { startAutoCompaction } from "./core/auto-compactor.ts";
import { exportInChildProcess } from "./core/etcd-snapshot.ts";
import { adoptEtcdDataDir } from "./core/adopt-etcd.ts";

/** What the binary knows about itself: its version, and how to start it again (the snapshot converter). */
export interface EmbedBuild {
  version: string;
  selfCommand: string[];
}

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
  const policy = { cipherSuites: config.cipherSuites, minVersion: config.tlsMinVersion, maxVersion: config.tlsMaxVersion };
  const hostsOf = (urls: readonly { hostname: string }[]) => [...new Set(urls.map((u) => u.hostname))];
  const client = await prepareTlsSide(
    {
      certFile: config.certFile,
      keyFile: config.keyFile,
      trustedCaFile: config.trustedCaFile,
      clientCertAuth: config.clientCertAuth,
      crlFile: config.clientCrlFile,
      allowedHostnames: config.clientCertAllowedHostname,
      autoTls: config.autoTls && [...config.parsedUrls.listenClientUrls, ...config.parsedUrls.listenMetricsUrls].some((u) => socketOfUrl(u.url).secure),
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
      crlFile: config.peerCrlFile,
      allowedCns: config.peerCertAllowedCn,
      allowedHostnames: config.peerCertAllowedHostname,
      clientCertFile: config.peerClientCertFile,
      clientKeyFile: config.peerClientKeyFile,
      autoTls: config.peerAutoTls && [...config.parsedUrls.listenPeerUrls, ...config.parsedUrls.initialAdvertisePeerUrls].some((u) => socketOfUrl(u.url).secure),
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

/** Listeners bound before the data directory is touched (etcd's order): a port in use creates nothing. */
interface BoundListeners {
  /** One per --listen-peer-urls URL, in order; the peer transport takes their connections. */
  peers: HeldListener[];
  /** One per --listen-client-urls URL; their connections wait until the member is ready. */
  clients: { url: string; secure: boolean; address: string; held: HeldListener }[];
  close(): void;
}

const listenError = (e: NodeJS.ErrnoException) => (e.code === "EADDRINUSE" ? "the address is already in use" : e.message);

/** host:port as Go's net.Addr prints it ("[::1]:2379"), or a unix socket's path. */
function addressText(held: HeldListener): string {
  const raw = held.server.address();
  if (raw === null || typeof raw === "string") return String(raw);
  return raw.address.includes(":") ? `[${raw.address}]:${raw.port}` : `${raw.address}:${raw.port}`;
}

async function bindListeners(config: Config, log: Logger): Promise<BoundListeners> {
  const bound: BoundListeners = {
    peers: [],
    clients: [],
    close() {
      for (const l of [...this.peers, ...this.clients.map((c) => c.held)]) l.close();
    },
  };
  try {
    log("info", "configuring peer listeners", { "listen-peer-urls": [...config.listenPeerUrls] });
    for (const url of config.listenPeerUrls) {
      const at = socketOfUrl(url).address;
      const held = await HeldListener.listen((s) => listenOn(s, at), { noDelay: true }).catch((e) => {
        throw new Error(`cannot listen for peers on ${url}: ${listenError(e)} (--listen-peer-urls ${config.listenPeerUrls.join(",")})`);
      });
      bound.peers.push(held);
    }
    log("info", "configuring client listeners", { "listen-client-urls": [...config.listenClientUrls] });
    for (const url of config.listenClientUrls) {
      const s = socketOfUrl(url);
      // "localhost" is the IPv4 loopback, as the clients that dial it mostly resolve it.
      const at = s.address.kind === "tcp" && s.address.host === "localhost" ? { ...s.address, host: "127.0.0.1" } : s.address;
      const held = await HeldListener.listen((srv) => listenOn(srv, at), { noDelay: true }).catch((e) => {
        throw new Error(`Cannot listen on ${url} (--listen-client-urls): ${listenError(e)}`);
      });
      bound.clients.push({ url, secure: s.secure, address: addressText(held), held });
    }
  } catch (err) {
    bound.close();
    throw err;
  }
  return bound;
}

/**
 * Takes the data directory for this process (pkg/dir-lock.ts): a second server on it is refused at
 * start, naming the directory and the PID holding it, before it reads or writes anything there.
 */
async function lockDataDir(dir: string, log: Logger): Promise<void> {
  ensureWritableDir(dir);
  const lock = await lockDirectory(dir);
  if (lock.kind === "busy") {
    throw new Error(
      `Cannot use data directory '${dir}': it is in use by another process${lock.pid ? ` (PID ${lock.pid})` : ""}, which holds its lock file '${lock.path}'. ` +
        "Stop that etcd first, or give this one another --data-dir.",
    );
  }
  if (lock.kind === "unsupported") {
    log("warn", "cannot lock the data directory; make sure no other etcd uses it", { "data-dir": dir, reason: lock.reason });
    return;
  }
  log("debug", "locked the data directory", { "data-dir": dir, "lock-file": lock.path, pid: process.pid });
}

/** What a failed start created and must take away again: directories that did not exist before it. */
function freshPaths(config: Config): string[] {
  const memberDir = join(config.dataDir, "member");
  const paths = [existsSync(config.dataDir) ? memberDir : config.dataDir];
  if (config.walDir && !existsSync(config.walDir)) paths.push(config.walDir);
  return paths.filter((p) => !existsSync(p));
}

/** Go's names of the signals we stop on (os.Signal's String()), as etcd logs them. */
const SIGNAL_NAMES: Record<string, string> = { SIGINT: "interrupt", SIGTERM: "terminated" };

/**
 * A member's life, in etcd's order (embed.StartEtcd, etcdmain): bind peer and client listeners; lock
 * and open the data directory; start the server and serve peers; serve clients only once the member
 * is ready — it has a leader, has applied its own addition to the cluster and published its name
 * through Raft — until a signal, a fatal error or its removal from the cluster stops it.
 */
export async function serve(config: Config, log: Logger, build: EmbedBuild): Promise<number> {
  log("info", "starting etcd-ts", { version: build.version, etcdApi: ETCD_API_VERSION, name: config.name, dataDir: config.dataDir });
  const bound = await bindListeners(config, log);
  const fresh = freshPaths(config);

  let exitCode = 0;
  let server: EtcdServer | undefined;
  let transport: PeerTransport | undefined;
  let metrics: net.Server[] = [];
  let h1: http.Server | undefined;
  let h2: H2Server | undefined;
  let stopCompaction = () => {};
  let notify: (state: Record<string, string>) => void = () => {};
  let stopping: Promise<void> | null = null;
  let stopped: () => void = () => {};
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const closing = { name: config.name, "data-dir": config.dataDir, "advertise-peer-urls": [...config.initialAdvertisePeerUrls], "advertise-client-urls": [...config.advertiseClientUrls] };
  const stop = () =>
    (stopping ??= (async () => {
      log("info", "closing etcd server", closing);
      notify({ STOPPING: "1", STATUS: "stopping" });
      stopCompaction();
      for (const c of bound.clients) c.held.close();
      for (const m of metrics) m.close();
      h1?.close();
      // GOAWAY to gRPC clients; calls in flight get their answers (for up to 2 s) before the core stops.
      await h2?.close(2000);
      await server?.stop();
      await transport?.stop();
      for (const p of bound.peers) p.close();
      log("info", "closed etcd server", closing);
      stopped();
    })());
  const fatal = (err: unknown) => {
    if (err instanceof MemberRemovedError) {
      // etcd's lines; and its exit status 0: the member was removed on purpose, nothing to restart.
      log("warn", "server error", { error: err.message });
      log("warn", "data-dir used by this member must be removed");
    } else {
      log("error", "fatal error: stopping", { error: String((err as Error)?.stack ?? err) });
      exitCode = 1;
    }
    void stop();
  };
  // A failure outside any request is fatal as etcd's lg.Fatal is: one clear log line and exit status
  // 1, not the runtime's stack dump — and at once, with no orderly stop that would go on answering
  // from a state nobody knows (the WAL replays what was committed).
  const onUncaught = (err: unknown) => {
    log("error", "fatal error: stopping", { error: String((err as Error)?.stack ?? err) });
    process.exit(1);
  };
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onUncaught);

  // Until the HTTP app exists (the data dir is still being opened) the metrics URLs say "not yet".
  let appFetch: (req: Request) => Response | Promise<Response> = () => Response.json({ health: "false", reason: "starting" }, { status: 503 });
  let clientTls: TlsSide | undefined;
  let locked = false;
  let peersReached = false;
  try {
    await lockDataDir(config.dataDir, log);
    locked = true;
    let peerTls: TlsSide | undefined;
    ({ clientTls, peerTls } = await prepareTls(config, log));
    // Metrics are served from the start, as etcd's (/health says whether the member is ready).
    metrics = await listenMetrics(config.parsedUrls.listenMetricsUrls, (req) => appFetch(req), log, clientTls?.server);
    // A stopped etcd 3.4/3.5 member's data dir is converted once (its files kept beside it).
    await adoptEtcdDataDir({ dataDir: config.dataDir, walDir: config.walDir, log, bcryptCost: config.bcryptCost });
    const unsafeBug = parseUnsafeBugEnv(process.env);
    if (unsafeBug) log("warn", "a known bug is planted on purpose (ETCD_TS_UNSAFE_BUG): this member is for tests only", { bug: unsafeBug });
    server = await EtcdServer.start(
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
        corruptCheckTimeMs: config.corruptCheckTime,
        compactHashCheckEnabled: config.compactHashCheckEnabled,
        compactHashCheckTimeMs: config.compactHashCheckTime,
        watchProgressNotifyIntervalMs: config.watchProgressNotifyInterval,
        enableLeaseCheckpoint: config.enableLeaseCheckpoint,
        leaseCheckpointPersist: config.leaseCheckpointPersist,
        warningApplyDurationMs: config.warningApplyDuration,
        maxLearners: config.maxLearners,
        snapshotCatchupEntries: config.snapshotCatchupEntries,
        exportSnapshot: exportInChildProcess(build.selfCommand),
        maxWals: config.maxWals,
        maxSnapshots: config.maxSnapshots,
        unsafeBug,
        onStorageFailure: (err) => {
          log("error", "fatal error: the database could not be written; stopping at once (the WAL replays what it lacks at the next start)", { error: String((err as Error)?.stack ?? err) });
          process.exit(1);
        },
        log,
        auth: {
          tokens: tokenProviderFromFlag(config.authToken, { ttlSeconds: config.authTokenTtl, parseDurationMs: parseDuration }),
          bcryptCost: config.bcryptCost,
        },
      },
      fatal,
    );
    const srv = server;
    // Peers are served as soon as the server runs: the member joins through them.
    transport = new PeerTransport({
      memberId: srv.memberId,
      clusterId: srv.clusterId,
      listenUrls: [...config.listenPeerUrls],
      bound: bound.peers,
      tls: peerTls,
      onMessage: (m) => srv.receive(m),
      onUnreachable: (id) => srv.reportUnreachable(id),
      onSnapshotStatus: (id, ok) => srv.reportSnapshot(id, ok),
      snapshotDir: srv.snapshotDir,
      onSnapshot: (m, path) => srv.receiveSnapshot(m, path),
      onRequest: (req) => srv.answerPeer(req),
      log,
    });
    // From here peers may have our votes and acknowledgements in our WAL: a failed start keeps the dir.
    peersReached = true;
    await transport.start();
    transport.onRemoved = () => srv.removedFromCluster();
    srv.setTransport(transport);
    // --experimental-initial-corrupt-check: a member whose history differs from its peers' does not serve.
    if (config.initialCorruptCheck) await srv.checkInitialHashKV();
  } catch (err) {
    bound.close();
    for (const m of metrics) m.close();
    await server?.stop().catch(() => {});
    await transport?.stop().catch(() => {});
    // A start that failed leaves no half-made member behind (its peer URLs would outlive a fix of the flags).
    if (locked && !peersReached) for (const p of fresh) rmSync(p, { recursive: true, force: true });
    throw err;
  }
  const srv = server;

  // One method table for gRPC and for the HTTP side's JSON gateway.
  const handlers = etcdHandlers(srv);
  const maxRecvBytes = config.maxRequestBytes + GRPC_OVERHEAD_BYTES;
  const grpc = new GrpcServer(handlers, { maxRecvBytes, log });
  h2 = new H2Server({
    // Advertised in SETTINGS; streams beyond it are refused with REFUSED_STREAM, as grpc-go refuses them.
    maxConcurrentStreams: config.maxConcurrentStreams,
    onStream: grpc.handleStream,
    onError: (err, fatal) => {
      if (fatal) log("warn", "gRPC connection failed", { error: String(err.stack ?? err) });
      else log("debug", "gRPC client protocol error", { error: err.message });
    },
  });
  const app = createHttpApp({
    hasLeader: () => srv.isReady,
    alarms: () => srv.alarmNames(),
    // etcd's health read: keys only, limit 1, as root (etcd's AuthStore().WithRoot). etcd reads the
    // empty key, which only its gRPC layer refuses; the server here checks requests itself, so the
    // read is of the key "\0" (a point read like etcd's, answered the same way).
    healthRead: (serializable) =>
      srv.range({ key: Uint8Array.of(0), keysOnly: true, limit: 1n, serializable }, srv.auth.store.enabled ? { username: "root", revision: srv.auth.store.revision } : undefined),
    isLearner: () => srv.members.some((m) => m.id === srv.memberId && m.isLearner),
    versions: () => ({ etcdserver: ETCD_API_VERSION, etcdcluster: ETCD_CLUSTER_VERSION, "etcd-ts": build.version }),
    // Gateway calls are counted under their gRPC method, as etcd's (which go through gRPC), and share
    // --max-concurrent-streams, as etcd's gateway shares one gRPC connection (server/grpc/stream-limit.ts).
    handlers: limitConcurrentCalls(withMethodMetrics(handlers), new CallSlots(config.maxConcurrentStreams)),
    maxRecvBytes,
    cors: config.cors,
    log,
  });
  appFetch = app.fetch;
  // gRPC-web (browsers, HTTP/1.1) goes to the same method table; everything else to the Hono app.
  // --cors empty allows every origin, as etcd's default.
  const grpcWeb = new GrpcWeb(handlers, { maxRecvBytes, cors: config.cors.length ? config.cors : ["*"], log });
  h1 = http.createServer(
    getRequestListener((req, env) => {
      // The verified client certificate's CN (--client-cert-auth) goes with the request (pkg/tls-identity.ts).
      const socket = (env as { incoming?: { socket?: unknown } }).incoming?.socket;
      if (socket instanceof tls.TLSSocket && clientTls?.clientCertAuth) setRequestCommonName(req, verifiedCommonName(socket));
      return grpcWeb.handle(req) ?? app.fetch(req, env);
    }),
  );
  const ports = bound.clients.map((c) => ({
    ...c,
    port: createClientPort(h2!, h1!, {
      tls: c.secure ? clientTls : undefined,
      // Plaintext on the TLS port, no or an unknown client certificate: the client is refused, we go on.
      onTlsError: (err, remote) => log("debug", "client TLS handshake failed", { address: c.url, remote, error: err.code ? `${err.code}: ${err.message}` : err.message }),
      // Revoked (--client-crl-file) or not for an allowed host (--client-cert-allowed-hostname).
      onRefused: (refusal, remote) => log("warn", "rejected connection", { address: c.url, "remote-addr": remote, error: refusal.message }),
    }),
  }));
  log("info", "now serving peer/client/metrics", {
    "local-member-id": srv.memberId.toString(16),
    "initial-advertise-peer-urls": [...config.initialAdvertisePeerUrls],
    "listen-peer-urls": [...config.listenPeerUrls],
    "advertise-client-urls": [...config.advertiseClientUrls],
    "listen-client-urls": [...config.listenClientUrls],
    "listen-metrics-urls": config.parsedUrls.listenMetricsUrls.map((u) => u.url),
  });
  stopCompaction = startAutoCompaction(
    config.autoCompaction,
    {
      currentRevision: () => srv.header().revision,
      isLeader: () => srv.leader === srv.memberId,
      compact: async (revision) => void (await srv.compact({ revision })),
    },
    log,
  );
  // Type=notify: systemd counts the unit started once the member has joined and serves clients.
  notify = await systemdNotifier(process.env, log);
  // Clients wait (connected, unanswered) until the member is ready, as etcd's serve() waits on ReadyNotify.
  void srv.ready.then(() => {
    if (stopping) return;
    for (const p of ports) {
      log("info", "ready to serve client requests");
      if (p.held.waiting > 0) log("debug", "serving client connections that waited for readiness", { address: p.address, connections: p.held.waiting });
      p.held.release(p.port);
      if (p.secure) log("info", "serving client traffic securely", { traffic: "grpc+http", address: p.address, "client-cert-auth": clientTls?.clientCertAuth ?? false });
      else log("info", "serving client traffic insecurely; this is strongly discouraged!", { traffic: "grpc+http", address: p.address });
    }
    notify({ READY: "1", STATUS: `serving clients as member ${srv.memberId.toString(16)} of cluster ${srv.clusterId.toString(16)}` });
  });

  // A signal, a fatal error or the member's removal (which call stop() themselves) ends the server.
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      log("info", "received signal; shutting down", { signal: SIGNAL_NAMES[sig] });
      void stop();
    });
  }
  await done;
  return exitCode;
}

