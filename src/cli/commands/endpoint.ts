/**
 * `etcdctl endpoint health|status|hashkv [--cluster]`: asks each endpoint on its own (or, with
 * --cluster, every client URL of the member list) and prints one row per endpoint.
 */
import { EtcdError, rpc } from "../../client/index.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { type Command, flagBool, flagInt, type Flags } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";
import { fieldsHeader } from "../output/fields.ts";
import { goQuote } from "../output/go-quote.ts";
import { marshalMessage, marshalStruct, quoteJson } from "../output/go-struct-json.ts";
import { humanizeBytes } from "../output/humanize.ts";
import { renderTable } from "../output/table.ts";
import { unsupportedFormat } from "../output/unsupported.ts";
import { endpointError, endpointsFromCluster, goDurationString, headerOf, hexId } from "./cluster-shared.ts";

/** One endpoint's health as etcdctl's epHealth. */
export interface EpHealth {
  ep: string;
  health: boolean;
  took: string;
  error: string;
}

const PERMISSION_DENIED = "etcdserver: permission denied";

/** Names of the alarm types as etcdctl 3.5's health check spells them. */
function alarmWord(a: etcdserverpb.AlarmType): string {
  if (a === etcdserverpb.AlarmType.NOSPACE) return "NOSPACE";
  if (a === etcdserverpb.AlarmType.CORRUPT) return "CORRUPT";
  return "UNKNOWN";
}

/**
 * etcdctl 3.5's check of one endpoint: a linearizable read of the key "health" (permission denied
 * still went through consensus, so it counts as healthy), then no alarm may be raised.
 */
async function checkHealth(ctx: Ctx, ep: string): Promise<EpHealth> {
  const client = ctx.clientFor([ep]);
  const start = process.hrtime.bigint();
  let error = "";
  try {
    await client.get("health", ctx.requestOpts());
  } catch (e) {
    if (!(e instanceof EtcdError && e.message === PERMISSION_DENIED)) error = endpointError(e);
  }
  const took = goDurationString(process.hrtime.bigint() - start);
  if (error === "") {
    try {
      const res = await client.call(rpc.alarm, { action: etcdserverpb.AlarmRequest.AlarmAction.GET }, ctx.requestOpts());
      if (res.alarms.length > 0) error = "Active Alarm(s): " + res.alarms.map((a) => alarmWord(a.alarm ?? etcdserverpb.AlarmType.NONE) + " ").join("");
    } catch {
      error = "Unable to fetch the alarm list";
    }
  }
  return { ep, health: error === "", took, error };
}

const healthCommand: Command = {
  name: "health",
  usage: "health",
  short: "Checks the healthiness of endpoints specified in `--endpoints` flag",
  async run(ctx, _args, flags) {
    const endpoints = await endpointsFromCluster(ctx, clusterFlag(flags));
    // All at once, listed as they finish (etcdctl collects them from a channel).
    const list: EpHealth[] = [];
    await Promise.all(endpoints.map(async (ep) => list.push(await checkHealth(ctx, ep))));
    printHealth(ctx, list);
    if (list.some((h) => h.error !== "")) throw new CliError(ExitCode.Error, "unhealthy cluster");
  },
};

function printHealth(ctx: Ctx, list: EpHealth[]): void {
  switch (ctx.globals.writeOut) {
    case "simple":
      // etcdctl 3.5: the healthy on stdout, the unhealthy on stderr.
      for (const h of list) {
        if (h.error === "") ctx.out(`${h.ep} is healthy: successfully committed proposal: took = ${h.took}\n`);
        else ctx.err(`${h.ep} is unhealthy: failed to commit proposal: ${h.error}\n`);
      }
      return;
    case "json": {
      const items = list.map((h) =>
        marshalStruct([
          { name: "endpoint", json: quoteJson(h.ep) },
          { name: "health", json: String(h.health) },
          { name: "took", json: quoteJson(h.took) },
          { name: "error", json: quoteJson(h.error), omit: h.error === "" },
        ]),
      );
      ctx.out(`[${items.join(",")}]\n`);
      return;
    }
    case "fields":
      ctx.out(list.map((h) => `"Endpoint" : ${goQuote(h.ep)}\n"Health" : ${h.health}\n"Took" : ${h.took}\n"Error" : ${h.error}\n\n`).join(""));
      return;
    case "table":
      ctx.out(renderTable(["endpoint", "health", "took", "error"], list.map((h) => [h.ep, String(h.health), h.took, h.error])));
      return;
    default:
      throw unsupportedFormat(ctx.globals.writeOut);
  }
}

const statusCommand: Command = {
  name: "status",
  usage: "status",
  short: "Prints out the status of endpoints specified in `--endpoints` flag",
  long:
    "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\n" +
    "The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.\n",
  async run(ctx, _args, flags) {
    const list: { ep: string; res: etcdserverpb.StatusResponse }[] = [];
    let failed = false;
    for (const ep of await endpointsFromCluster(ctx, clusterFlag(flags))) {
      try {
        list.push({ ep, res: await ctx.clientFor([ep]).call(rpc.status, {}, ctx.requestOpts()) });
      } catch (e) {
        failed = true;
        ctx.err(`Failed to get the status of endpoint ${ep} (${endpointError(e)})\n`);
      }
    }
    printStatus(ctx, list);
    // etcdctl exits 1 without another word: the failures were reported above.
    if (failed) throw new CliError(ExitCode.Error, "");
  },
};

function statusRow(ep: string, s: etcdserverpb.StatusResponse): string[] {
  const memberId = headerOf(s.header).memberId;
  return [
    ep,
    hexId(memberId),
    s.version,
    humanizeBytes(BigInt(s.dbSize)),
    String(BigInt(s.leader) === memberId),
    String(s.isLearner),
    String(s.raftTerm),
    String(s.raftIndex),
    String(s.raftAppliedIndex),
    s.errors.join(", "),
  ];
}

function printStatus(ctx: Ctx, list: { ep: string; res: etcdserverpb.StatusResponse }[]): void {
  switch (ctx.globals.writeOut) {
    case "simple":
      ctx.out(list.map(({ ep, res }) => statusRow(ep, res).join(", ") + "\n").join(""));
      return;
    case "json": {
      const items = list.map(({ ep, res }) =>
        marshalStruct([
          { name: "Endpoint", json: quoteJson(ep) },
          { name: "Status", json: marshalMessage("etcdserverpb.StatusResponse", res as unknown as Record<string, unknown>) },
        ]),
      );
      ctx.out(`[${items.join(",")}]\n`);
      return;
    }
    case "fields":
      ctx.out(
        list
          .map(
            ({ ep, res }) =>
              fieldsHeader(headerOf(res.header)) +
              `"Version" : ${goQuote(res.version)}\n` +
              `"DBSize" : ${res.dbSize}\n` +
              `"Leader" : ${res.leader}\n` +
              `"IsLearner" : ${res.isLearner}\n` +
              `"RaftIndex" : ${res.raftIndex}\n` +
              `"RaftTerm" : ${res.raftTerm}\n` +
              `"RaftAppliedIndex" : ${res.raftAppliedIndex}\n` +
              `"Errors" : [${res.errors.join(" ")}]\n` +
              `"Endpoint" : ${goQuote(ep)}\n\n`,
          )
          .join(""),
      );
      return;
    case "table":
      ctx.out(
        renderTable(
          ["endpoint", "ID", "version", "db size", "is leader", "is learner", "raft term", "raft index", "raft applied index", "errors"],
          list.map(({ ep, res }) => statusRow(ep, res)),
        ),
      );
      return;
    default:
      throw unsupportedFormat(ctx.globals.writeOut);
  }
}

const hashKvCommand: Command = {
  name: "hashkv",
  usage: "hashkv",
  short: "Prints the KV history hash for each endpoint in --endpoints",
  flags: [{ name: "rev", type: "int", usage: "maximum revision to hash (default: all revisions)" }],
  async run(ctx, _args, flags) {
    const list: { ep: string; res: etcdserverpb.HashKVResponse }[] = [];
    let lastError: unknown = null;
    for (const ep of await endpointsFromCluster(ctx, clusterFlag(flags))) {
      try {
        list.push({ ep, res: await ctx.clientFor([ep]).call(rpc.hashKV, { revision: flagInt(flags, "rev") }, ctx.requestOpts()) });
      } catch (e) {
        lastError = e;
        ctx.err(`Failed to get the hash of endpoint ${ep} (${endpointError(e)})\n`);
      }
    }
    printHashKv(ctx, list);
    if (lastError !== null) throw new CliError(ExitCode.Error, endpointError(lastError));
  },
};

function printHashKv(ctx: Ctx, list: { ep: string; res: etcdserverpb.HashKVResponse }[]): void {
  switch (ctx.globals.writeOut) {
    case "simple":
      ctx.out(list.map(({ ep, res }) => `${ep}, ${res.hash}\n`).join(""));
      return;
    case "json": {
      const items = list.map(({ ep, res }) =>
        marshalStruct([
          { name: "Endpoint", json: quoteJson(ep) },
          { name: "HashKV", json: marshalMessage("etcdserverpb.HashKVResponse", res as unknown as Record<string, unknown>) },
        ]),
      );
      ctx.out(`[${items.join(",")}]\n`);
      return;
    }
    case "fields":
      ctx.out(list.map(({ ep, res }) => fieldsHeader(headerOf(res.header)) + `"Endpoint" : ${goQuote(ep)}\n"Hash" : ${res.hash}\n\n`).join(""));
      return;
    case "table":
      ctx.out(renderTable(["endpoint", "hash"], list.map(({ ep, res }) => [ep, String(res.hash)])));
      return;
    default:
      throw unsupportedFormat(ctx.globals.writeOut);
  }
}

/** --cluster, a flag of the endpoint group (and of defrag) that its subcommands inherit. */
export const CLUSTER_FLAG = { name: "cluster", type: "bool", usage: "use all endpoints from the cluster member list" } as const;

function clusterFlag(flags: Flags): boolean {
  return flagBool(flags, "cluster");
}

export const endpointCommand: Command = {
  name: "endpoint",
  usage: "endpoint <subcommand>",
  short: "Endpoint related commands",
  flags: [CLUSTER_FLAG],
  subcommands: [healthCommand, statusCommand, hashKvCommand],
};
