/** `etcdctl member add|remove|update|list|promote`: cluster membership through the Cluster API. */
import { type Method, rpc } from "../../client/index.ts";
import { type Command, flagBool, flagString } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";
import { fieldsHeader } from "../output/fields.ts";
import { goQuote } from "../output/go-quote.ts";
import { renderTable } from "../output/table.ts";
import { unsupportedFormat } from "../output/unsupported.ts";
import { headerOf, hexId, hexId16, memberIdArg, type MemberInfo, memberInfo, printJson, printProtobuf } from "./cluster-shared.ts";

/** etcdctl's makeMemberListTable: "unstarted" for a member that has not published its name yet. */
export function memberRows(members: readonly MemberInfo[]): string[][] {
  return members.map((m) => [
    hexId(m.id),
    m.name ? "started" : "unstarted",
    m.name,
    m.peerURLs.join(","),
    m.clientURLs.join(","),
    m.isLearner ? "true" : "false",
  ]);
}

const MEMBER_HEADER = ["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"];

/**
 * A membership change's answer in the -w format: simple is the line `simple` returns; json and
 * protobuf print the response; fields and table have no printer (etcdctl fails after the change).
 */
function printChange<Req, Res>(ctx: Ctx, m: Method<Req, Res>, type: string, res: Res, simple: () => string): void {
  switch (ctx.globals.writeOut) {
    case "simple":
      ctx.out(simple());
      return;
    case "json":
      printJson(ctx, type, res);
      return;
    case "protobuf":
      printProtobuf(ctx, m, res);
      return;
    default:
      throw unsupportedFormat(ctx.globals.writeOut);
  }
}

function peerUrls(flags: Record<string, unknown>): string[] {
  const text = flags["peer-urls"] as string;
  if (text.length === 0) throw new CliError(ExitCode.BadArgs, "member peer urls not provided");
  return text.split(",");
}

const addCommand: Command = {
  name: "add",
  usage: "add <memberName> [options]",
  short: "Adds a member into the cluster",
  flags: [
    { name: "peer-urls", type: "string", usage: "comma separated peer URLs for the new member." },
    { name: "learner", type: "bool", usage: "indicates if the new member is raft learner" },
  ],
  async run(ctx, args, flags) {
    if (args.length < 1) throw new CliError(ExitCode.BadArgs, "member name not provided");
    if (args.length > 1) {
      let why = "too many arguments";
      for (const a of args) if (a.toLowerCase().startsWith("http")) why += `, did you mean --peer-urls=${a}`;
      throw new CliError(ExitCode.BadArgs, why);
    }
    const name = args[0];
    const urls = peerUrls(flags);
    const res = await ctx.client().call(rpc.memberAdd, { peerURLs: urls, isLearner: flagBool(flags, "learner") }, ctx.requestOpts());
    const newId = BigInt(res.member?.ID ?? 0);
    printChange(ctx, rpc.memberAdd, "etcdserverpb.MemberAddResponse", res, () => {
      // What the new member's etcd needs to join: the cluster as it will be, under the new name.
      const conf = res.members.map(memberInfo).flatMap((m) => m.peerURLs.map((u) => `${m.id === newId ? name : m.name}=${u}`));
      return (
        `Member ${hexId16(newId)} added to cluster ${hexId16(headerOf(res.header).clusterId)}\n` +
        "\n" +
        `ETCD_NAME=${goQuote(name)}\n` +
        `ETCD_INITIAL_CLUSTER=${goQuote(conf.join(","))}\n` +
        `ETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(flagString(flags, "peer-urls"))}\n` +
        `ETCD_INITIAL_CLUSTER_STATE="existing"\n`
      );
    });
  },
};

const removeCommand: Command = {
  name: "remove",
  usage: "remove <memberID>",
  short: "Removes a member from the cluster",
  async run(ctx, args) {
    const id = memberIdArg(args);
    const res = await ctx.client().call(rpc.memberRemove, { ID: id }, ctx.requestOpts());
    printChange(ctx, rpc.memberRemove, "etcdserverpb.MemberRemoveResponse", res, () => `Member ${hexId16(id)} removed from cluster ${hexId16(headerOf(res.header).clusterId)}\n`);
  },
};

const updateCommand: Command = {
  name: "update",
  usage: "update <memberID> [options]",
  short: "Updates a member in the cluster",
  flags: [{ name: "peer-urls", type: "string", usage: "comma separated peer URLs for the updated member." }],
  async run(ctx, args, flags) {
    const id = memberIdArg(args);
    const urls = peerUrls(flags);
    const res = await ctx.client().call(rpc.memberUpdate, { ID: id, peerURLs: urls }, ctx.requestOpts());
    printChange(ctx, rpc.memberUpdate, "etcdserverpb.MemberUpdateResponse", res, () => `Member ${hexId16(id)} updated in cluster ${hexId16(headerOf(res.header).clusterId)}\n`);
  },
};

const promoteCommand: Command = {
  name: "promote",
  usage: "promote <memberID>",
  short: "Promotes a non-voting member in the cluster",
  long: "Promotes a non-voting learner member to a voting one in the cluster.\n",
  async run(ctx, args) {
    const id = memberIdArg(args);
    const res = await ctx.client().call(rpc.memberPromote, { ID: id }, ctx.requestOpts());
    printChange(ctx, rpc.memberPromote, "etcdserverpb.MemberPromoteResponse", res, () => `Member ${hexId16(id)} promoted in cluster ${hexId16(headerOf(res.header).clusterId)}\n`);
  },
};

const listCommand: Command = {
  name: "list",
  usage: "list",
  short: "Lists all members in the cluster",
  long:
    "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.\n" +
    "The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.\n",
  async run(ctx) {
    const res = await ctx.client().call(rpc.memberList, { linearizable: true }, ctx.requestOpts());
    const members = res.members.map(memberInfo);
    switch (ctx.globals.writeOut) {
      case "simple":
        ctx.out(memberRows(members).map((r) => r.join(", ") + "\n").join(""));
        return;
      case "table":
        ctx.out(renderTable(MEMBER_HEADER, memberRows(members)));
        return;
      case "json":
        printJson(ctx, "etcdserverpb.MemberListResponse", res);
        return;
      case "protobuf":
        printProtobuf(ctx, rpc.memberList, res);
        return;
      case "fields": {
        let out = fieldsHeader(headerOf(res.header));
        for (const m of members) {
          out += `"ID" : ${m.id}\n"Name" : ${goQuote(m.name)}\n`;
          for (const u of m.peerURLs) out += `"PeerURL" : ${goQuote(u)}\n`;
          for (const u of m.clientURLs) out += `"ClientURL" : ${goQuote(u)}\n`;
          out += `"IsLearner" : ${m.isLearner}\n\n`;
        }
        ctx.out(out);
        return;
      }
    }
  },
};

export const memberCommand: Command = {
  name: "member",
  usage: "member <subcommand>",
  short: "Membership related commands",
  subcommands: [addCommand, removeCommand, updateCommand, listCommand, promoteCommand],
};
