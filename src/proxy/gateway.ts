// `etcd gateway start`: etcd's L4 gateway (etcdmain/gateway.go) — a TCP proxy in front of the
// cluster's client URLs, round-robin, skipping endpoints that refuse connections for --retry-delay.
import dns from "node:dns";
import net from "node:net";
import type { Logger } from "../pkg/logger.ts";
import { FlagError, type FlagSpec, parseCommandLine, usage } from "./flags.ts";
import { joinHostPort, type TcpEndpoint, TcpProxy } from "./tcp-proxy.ts";

export const GATEWAY_FLAGS: readonly FlagSpec[] = [
  { name: "listen-addr", kind: "string", default: "127.0.0.1:23790", help: "listen address" },
  { name: "discovery-srv", kind: "string", default: "", help: "DNS domain used to bootstrap initial cluster (not supported: list the members with --endpoints)" },
  { name: "discovery-srv-name", kind: "string", default: "", help: "service name to query when using DNS discovery" },
  { name: "insecure-discovery", kind: "bool", default: false, help: "accept insecure SRV records" },
  { name: "trusted-ca-file", kind: "string", default: "", help: "path to the client server TLS CA file for verifying the discovered endpoints when discovery-srv is provided." },
  { name: "endpoints", kind: "strings", default: ["127.0.0.1:2379"], help: "comma separated etcd cluster endpoints" },
  { name: "retry-delay", kind: "duration", default: 60_000, help: "duration of delay before retrying failed endpoints" },
];

export interface GatewayConfig {
  listenHost: string;
  listenPort: number;
  endpoints: TcpEndpoint[];
  retryDelayMs: number;
}

/**
 * The gateway's settings from its command line (after "gateway"). Throws FlagError for anything
 * etcd would refuse, and for DNS discovery, which etcd-ts does not do.
 */
export function gatewayConfig(argv: readonly string[]): GatewayConfig | "help" {
  const p = parseCommandLine(argv, GATEWAY_FLAGS, "etcd gateway start");
  if (p.help) return "help";
  checkSubcommand(p.positionals, "gateway");
  const v = p.values;
  if (v.get("discovery-srv") !== "") {
    throw new FlagError(
      "--discovery-srv is not supported: etcd-ts does not look up DNS SRV records; list the members' client URLs with --endpoints instead",
    );
  }
  const endpoints = (v.get("endpoints") as string[]).filter((e) => e !== "").map((e) => parseEndpoint(e));
  if (endpoints.length === 0) throw new FlagError("no endpoints found: give the members' client URLs with --endpoints");
  const retryDelayMs = v.get("retry-delay") as number;
  if (!(retryDelayMs > 0)) throw new FlagError(`--retry-delay must be a positive duration, got ${retryDelayMs}ms`);
  const listen = splitHostPort(v.get("listen-addr") as string);
  if (!listen) throw new FlagError(`failed to validate listen address: ${v.get("listen-addr")} (write host:port, such as 127.0.0.1:23790)`);
  return { listenHost: listen.host, listenPort: listen.port, endpoints, retryDelayMs };
}

/** "gateway start" / "grpc-proxy start" take exactly the subcommand "start". */
export function checkSubcommand(positionals: readonly string[], command: string): void {
  if (positionals.length === 0) throw new FlagError(`missing subcommand: run 'etcd ${command} start'`);
  if (positionals[0] !== "start") throw new FlagError(`unknown command "${positionals[0]}" for "etcd ${command}": the only subcommand is 'start'`);
  if (positionals.length > 1) throw new FlagError(`unexpected argument "${positionals[1]}" for "etcd ${command} start": it takes only flags`);
}

/** An endpoint as etcd's gateway takes it: a URL's host, or host:port as given (the scheme is dropped: this is TCP). */
export function parseEndpoint(text: string): TcpEndpoint {
  let hostPort = text;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      const u = new URL(text);
      if (u.host) hostPort = u.host;
    } catch {}
  }
  const hp = splitHostPort(hostPort);
  if (!hp) throw new FlagError(`error parsing endpoint "${text}": write host:port or a URL with a port, such as http://10.0.0.1:2379`);
  return hp;
}

/** Go's net.SplitHostPort plus a port number check; null when it does not parse. */
export function splitHostPort(text: string): TcpEndpoint | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]*):(\d+)$/.exec(text);
  if (!m) return null;
  const port = Number(m[2]);
  if (!(port >= 0 && port <= 65535)) return null;
  return { host: m[1], port };
}

async function addressesOf(host: string): Promise<string[]> {
  if (host === "") return ["0.0.0.0", "::"];
  if (net.isIP(host)) return [host];
  return (await dns.promises.lookup(host, { all: true })).map((a) => a.address);
}

/**
 * Runs the gateway until SIGINT/SIGTERM. Resolves with the exit status. `ready` is told once the
 * listener is up (systemd's READY=1, as etcd notifies there).
 */
export async function runGateway(cfg: GatewayConfig, log: Logger, ready: () => void = () => {}): Promise<number> {
  // An endpoint that is the gateway itself would proxy every connection back into itself, forever.
  let listenAddrs: string[];
  try {
    listenAddrs = await addressesOf(cfg.listenHost);
  } catch {
    process.stderr.write(`failed to resolve listen host: ${cfg.listenHost}\n`);
    return 1;
  }
  for (const ep of cfg.endpoints) {
    let addrs: string[];
    try {
      addrs = await addressesOf(ep.host);
    } catch {
      process.stderr.write(`failed to resolve endpoint host: ${ep.host}\n`);
      return 1;
    }
    if (ep.port !== cfg.listenPort) continue;
    const same = addrs.find((a) => listenAddrs.includes(a));
    if (same) {
      process.stderr.write(`SRV or endpoint (${ep.host}:${ep.port}->${same}:${ep.port}) should not resolve to the gateway listen addr (${joinHostPort(cfg.listenHost, cfg.listenPort)})\n`);
      return 1;
    }
  }

  const server = net.createServer({ noDelay: true, pauseOnConnect: false });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(cfg.listenPort, cfg.listenHost || undefined, () => resolve());
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`listen tcp ${joinHostPort(cfg.listenHost, cfg.listenPort)}: ${e.code === "EADDRINUSE" ? "bind: address already in use" : e.message} (--listen-addr)\n`);
    return 1;
  }
  const proxy = new TcpProxy({ endpoints: cfg.endpoints, retryDelayMs: cfg.retryDelayMs, log });
  proxy.serve(server);
  ready();
  // etcd's e2e suite waits for this line.
  log("info", "ready to proxy client requests", { endpoints: proxy.endpoints, address: joinHostPort(cfg.listenHost, cfg.listenPort) });
  await new Promise<void>((resolve) => {
    for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
  });
  proxy.close();
  log("info", "stopped the gateway");
  return 0;
}

export function gatewayUsage(): string {
  return usage("start the gateway", "etcd gateway start [flags]", GATEWAY_FLAGS);
}
