// `etcd gateway …` and `etcd grpc-proxy …`: etcd's two proxy commands, with cobra's help and errors.
import { createLogger } from "../pkg/logger.ts";
import { systemdNotifier } from "../server/systemd/notify.ts";
import { FlagError } from "./flags.ts";
import { gatewayConfig, gatewayUsage, runGateway } from "./gateway.ts";
import { runGrpcProxy, StartError } from "./grpc-proxy.ts";
import { grpcProxyConfig, grpcProxyUsage } from "./grpc-proxy-config.ts";

const GROUP_HELP: Record<string, string> = {
  gateway: "gateway related command\n\nUsage:\n  etcd gateway [command]\n\nAvailable Commands:\n  start       start the gateway\n",
  "grpc-proxy": "grpc-proxy related command\n\nUsage:\n  etcd grpc-proxy [command]\n\nAvailable Commands:\n  start       start the grpc proxy\n",
};

/** Runs `etcd gateway|grpc-proxy [start] [flags]` (argv[0] is the command); resolves with the exit status. */
export async function runProxyCommand(argv: readonly string[]): Promise<number> {
  const command = argv[0] as "gateway" | "grpc-proxy";
  const rest = argv.slice(1);
  const hasStart = rest.includes("start");
  // Without a subcommand, cobra shows the command's help.
  if (!hasStart && (rest.length === 0 || rest.every((a) => a === "-h" || a === "--help" || a === "-help"))) {
    process.stdout.write(GROUP_HELP[command]);
    return 0;
  }
  try {
    if (command === "gateway") {
      const cfg = gatewayConfig(rest);
      if (cfg === "help") {
        process.stdout.write(gatewayUsage());
        return 0;
      }
      const log = createLogger("info");
      const notify = await systemdNotifier(process.env, log);
      return await runGateway(cfg, log, () => notify({ READY: "1", STATUS: "proxying client connections" }));
    }
    const cfg = grpcProxyConfig(rest);
    if (cfg === "help") {
      process.stdout.write(grpcProxyUsage());
      return 0;
    }
    const log = createLogger(cfg.debug ? "debug" : "info");
    const notify = await systemdNotifier(process.env, log);
    return await runGrpcProxy(cfg, log, () => notify({ READY: "1", STATUS: "serving gRPC proxy clients" }));
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return 1;
    }
    if (err instanceof StartError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
