// `etcd` as a server (and its other modes): reads the configuration and hands it to the server's
// embed.ts, or runs another mode. Loaded by src/main.ts, which started as etcdctl loads entry/etcdctl.ts instead.
import { dieByEarlySignal } from "../pkg/early-signals.ts";
import { parseArgs } from "node:util";
import { install } from "../install/install.ts";
import { runProxyCommand } from "../proxy/command.ts";
import pkg from "../../package.json" with { type: "json" };
import { ConfigError, loadConfig, type Config, type ConfigWarning } from "../config/index.ts";
import { createLogger, type Logger } from "../pkg/logger.ts";
import { versionText } from "./version.ts";
import { EXPORT_COMMAND, exportEtcdSnapshot } from "../server/core/etcd-snapshot.ts";
import { serve } from "../server/embed.ts";

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

/** `etcd …`: the server, or one of the other modes (install, gateway, grpc-proxy, the snapshot converter). */
export async function main(argv: string[]): Promise<number> {
  // Every mode installs its handlers later; until then a signal has its default action, as before.
  dieByEarlySignal();
  if (argv[0] === "install") return runInstall(argv.slice(1));
  if (argv[0] === "gateway" || argv[0] === "grpc-proxy") return runProxyCommand(argv);
  if (argv[0] === EXPORT_COMMAND) {
    // Internal: the server's Snapshot RPC converts a database copy here, off its event loop.
    exportEtcdSnapshot(argv[1], argv[2]);
    return 0;
  }
  let config: Config;
  let configWarnings: readonly ConfigWarning[];
  try {
    const result = loadConfig(argv, process.env);
    if (result.kind === "help") {
      process.stdout.write(result.text);
      return 0;
    }
    if (result.kind === "version") {
      process.stdout.write(versionText());
      return 0;
    }
    config = result.config;
    configWarnings = result.warnings;
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
  for (const w of configWarnings) log("warn", w.msg, w.fields);
  try {
    return await serve(config, log, { version: pkg.version, selfCommand: selfCommand() });
  } catch (err) {
    log("error", (err as Error).message ?? String(err));
    return 1;
  }
}

