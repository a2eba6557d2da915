/** `etcdctl compaction <revision>`: discards the history before a revision. */
import { rpc } from "../../client/rpc.ts";
import { type Command, flagBool } from "../command.ts";
import { CliError, ExitCode } from "../errors.ts";
import { parseInt64 } from "./strconv.ts";

export const compactionCommand: Command = {
  name: "compaction",
  usage: "compaction [options] <revision>",
  short: "Compacts the event history in etcd",
  flags: [{ name: "physical", type: "bool", usage: "'true' to wait for compaction to physically remove all old revisions" }],
  async run(ctx, args, f) {
    if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "compaction command needs 1 argument");
    let revision: bigint;
    try {
      revision = parseInt64(args[0], 10);
    } catch (e) {
      throw new CliError(ExitCode.Error, (e as Error).message);
    }
    const physical = flagBool(f, "physical");
    await ctx.client().call(rpc.compact, physical ? { revision, physical } : { revision }, ctx.requestOpts());
    ctx.out(`compacted revision ${revision}\n`);
  },
};
