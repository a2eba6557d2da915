/**
 * `etcdctl cluster-health`: etcdctl v2's summary, which older tutorials still run, answered through
 * the v3 API. Each member is checked at its client URLs in turn: a linearizable read of "health"
 * that goes through means the member answers; a raised alarm (NOSPACE, CORRUPT) makes the answer
 * unhealthy, as etcd's /health says. Exit 0 when every member is healthy, 5 otherwise (v2's codes).
 */
import { EtcdError, rpc } from "../../client/index.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { type Command, flagBool } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, type ExitCode } from "../errors.ts";
import { endpointError, hexId, type MemberInfo, memberInfo } from "./cluster-shared.ts";

/** etcdctl v2's exit codes for this command. */
const EXIT_SERVER_ERROR: ExitCode = 4;
const EXIT_CLUSTER_NOT_HEALTHY: ExitCode = 5;
const FOREVER_INTERVAL_MS = 10_000;

type Answer = { ok: true; healthy: boolean } | { ok: false; error: string };

async function askMember(ctx: Ctx, url: string): Promise<Answer> {
  const client = ctx.clientFor([url]);
  try {
    await client.get("health", ctx.requestOpts());
  } catch (e) {
    // Permission denied went through consensus: the member answers.
    if (!(e instanceof EtcdError && e.message === "etcdserver: permission denied")) return { ok: false, error: endpointError(e) };
  }
  try {
    const res = await client.call(rpc.alarm, { action: etcdserverpb.AlarmRequest.AlarmAction.GET }, ctx.requestOpts());
    return { ok: true, healthy: res.alarms.length === 0 };
  } catch (e) {
    return { ok: false, error: endpointError(e) };
  }
}

/** One round: a line per member, then the verdict; true when every member is healthy. */
async function checkOnce(ctx: Ctx, members: MemberInfo[]): Promise<boolean> {
  let healthy = 0;
  for (const m of members) {
    const id = hexId(m.id);
    if (m.clientURLs.length === 0) {
      ctx.out(`member ${id} is unreachable: no available published client urls\n`);
      continue;
    }
    let checked = false;
    for (const url of m.clientURLs) {
      const a = await askMember(ctx, url);
      if (!a.ok) {
        ctx.out(`failed to check the health of member ${id} on ${url}: ${a.error}\n`);
        continue;
      }
      checked = true;
      if (a.healthy) {
        ctx.out(`member ${id} is healthy: got healthy result from ${url}\n`);
        healthy++;
      } else {
        ctx.out(`member ${id} is unhealthy: got unhealthy result from ${url}\n`);
      }
      break;
    }
    if (!checked) ctx.out(`member ${id} is unreachable: [${m.clientURLs.join(" ")}] are all unreachable\n`);
  }
  if (healthy === members.length) ctx.out("cluster is healthy\n");
  else if (healthy === 0) ctx.out("cluster is unavailable\n");
  else ctx.out("cluster is degraded\n");
  return healthy === members.length;
}

export const clusterHealthCommand: Command = {
  name: "cluster-health",
  usage: "cluster-health [options]",
  short: "check the health of the etcd cluster (etcdctl v2's command)",
  flags: [{ name: "forever", short: "f", type: "bool", usage: "forever check the health every 10 second until CTRL+C" }],
  async run(ctx, _args, flags) {
    let members: MemberInfo[];
    try {
      const res = await ctx.client().call(rpc.memberList, { linearizable: true }, ctx.requestOpts());
      members = res.members.map(memberInfo);
    } catch (e) {
      ctx.out("cluster may be unhealthy: failed to list members\n");
      // v2 wrote fmt.Fprintln(os.Stderr, "Error: ", err): two spaces after the colon.
      throw new CliError(EXIT_SERVER_ERROR, ` ${endpointError(e)}`);
    }
    if (!flagBool(flags, "forever")) {
      if (!(await checkOnce(ctx, members))) throw new CliError(EXIT_CLUSTER_NOT_HEALTHY, "");
      return;
    }
    // v2 checks until interrupted and then exits 0.
    process.once("SIGINT", () => process.exit(0));
    for (;;) {
      await checkOnce(ctx, members);
      ctx.out("\nnext check after 10 second...\n\n");
      await Bun.sleep(FOREVER_INTERVAL_MS);
    }
  },
};
