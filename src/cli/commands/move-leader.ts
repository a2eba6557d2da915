/** `etcdctl move-leader <id>`: finds the leader among --endpoints and asks it to hand over. */
import { rpc } from "../../client/index.ts";
import type { Command } from "../command.ts";
import { CliError, ExitCode } from "../errors.ts";
import { unsupportedFormat } from "../output/unsupported.ts";
import { endpointError, headerOf, hexId, parseHexId, printJson, printProtobuf } from "./cluster-shared.ts";

export const moveLeaderCommand: Command = {
  name: "move-leader",
  usage: "move-leader <transferee-member-id>",
  short: "Transfers leadership to another etcd cluster member.",
  async run(ctx, args) {
    if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "move-leader command needs 1 argument");
    let target: bigint;
    try {
      target = parseHexId(args[0]);
    } catch (e) {
      throw new CliError(ExitCode.BadArgs, (e as Error).message);
    }
    // Only the leader can transfer leadership: ask each endpoint until one says it leads.
    const endpoints = ctx.globals.endpoints;
    let leader: { client: ReturnType<typeof ctx.clientFor>; id: bigint } | null = null;
    for (const ep of endpoints) {
      const client = ctx.clientFor([ep]);
      let status;
      try {
        status = await client.call(rpc.status, {}, ctx.requestOpts());
      } catch (e) {
        throw new CliError(ExitCode.Error, endpointError(e));
      }
      if (headerOf(status.header).memberId === BigInt(status.leader)) {
        leader = { client, id: BigInt(status.leader) };
        break;
      }
    }
    if (leader === null) throw new CliError(ExitCode.BadArgs, `no leader endpoint given at [${endpoints.join(" ")}]`);
    const res = await leader.client.call(rpc.moveLeader, { targetID: target }, ctx.requestOpts());
    switch (ctx.globals.writeOut) {
      case "simple":
        ctx.out(`Leadership transferred from ${hexId(leader.id)} to ${hexId(target)}\n`);
        return;
      case "json":
        printJson(ctx, "etcdserverpb.MoveLeaderResponse", res);
        return;
      case "protobuf":
        printProtobuf(ctx, rpc.moveLeader, res);
        return;
      default:
        throw unsupportedFormat(ctx.globals.writeOut);
    }
  },
};
