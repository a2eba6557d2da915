/** `etcdctl defrag [--cluster]`: defragments each endpoint's backend, one after another. */
import { rpc } from "../../client/index.ts";
import { type Command, flagBool, flagString } from "../command.ts";
import { CliError, ExitCode } from "../errors.ts";
import { endpointError, endpointsFromCluster } from "./cluster-shared.ts";
import { CLUSTER_FLAG } from "./endpoint.ts";

export const defragCommand: Command = {
  name: "defrag",
  usage: "defrag",
  short: "Defragments the storage of the etcd members with given endpoints",
  flags: [CLUSTER_FLAG, { name: "data-dir", type: "string", usage: "Optional. If present, defragments a data directory not in use by etcd." }],
  async run(ctx, _args, flags) {
    const dataDir = flagString(flags, "data-dir");
    if (dataDir !== "") {
      // etcdctl 3.5 defragments a stopped member's bbolt file here (etcdutl's work); our storage
      // is not bbolt, and the running server defragments its own.
      ctx.err(`Failed to defragment etcd data[${dataDir}] (offline defragmentation is not supported by etcd-ts; start the member and run 'etcdctl defrag' against it)\n`);
      throw new CliError(ExitCode.Error, "");
    }
    let failures = 0;
    for (const ep of await endpointsFromCluster(ctx, flagBool(flags, "cluster"))) {
      try {
        await ctx.clientFor([ep]).call(rpc.defragment, {}, ctx.requestOpts());
        ctx.out(`Finished defragmenting etcd member[${ep}]\n`);
      } catch (e) {
        ctx.err(`Failed to defragment etcd member[${ep}] (${endpointError(e)})\n`);
        failures++;
      }
    }
    if (failures !== 0) throw new CliError(ExitCode.Error, "");
  },
};
