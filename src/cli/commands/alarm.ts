/** `etcdctl alarm list|disarm`: the alarms members raised (NOSPACE, CORRUPT). */
import { rpc } from "../../client/index.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import type { Command } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";
import { fieldsHeader } from "../output/fields.ts";
import { unsupportedFormat } from "../output/unsupported.ts";
import { headerOf, printJson, printProtobuf } from "./cluster-shared.ts";

const Action = etcdserverpb.AlarmRequest.AlarmAction;
const NONE = etcdserverpb.AlarmType.NONE;

function alarmName(a: etcdserverpb.AlarmType | null | undefined): string {
  return etcdserverpb.AlarmType[a ?? NONE] ?? String(a);
}

/**
 * Go's %+v of an *AlarmMember, which is its proto String(): compact text format, each set field
 * followed by a space ("memberID:10276657743932975437 alarm:NOSPACE ").
 */
function alarmText(a: etcdserverpb.IAlarmMember): string {
  let s = "";
  if (BigInt(a.memberID ?? 0) !== 0n) s += `memberID:${BigInt(a.memberID ?? 0)} `;
  if ((a.alarm ?? NONE) !== NONE) s += `alarm:${alarmName(a.alarm)} `;
  return s;
}

function printAlarms(ctx: Ctx, res: etcdserverpb.AlarmResponse): void {
  switch (ctx.globals.writeOut) {
    case "simple":
      ctx.out(res.alarms.map((a) => alarmText(a) + "\n").join(""));
      return;
    case "json":
      printJson(ctx, "etcdserverpb.AlarmResponse", res);
      return;
    case "protobuf":
      printProtobuf(ctx, rpc.alarm, res);
      return;
    case "fields":
      ctx.out(fieldsHeader(headerOf(res.header)) + res.alarms.map((a) => `"MemberID" : ${BigInt(a.memberID ?? 0)}\n"AlarmType" : ${alarmName(a.alarm)}\n\n`).join(""));
      return;
    default:
      throw unsupportedFormat(ctx.globals.writeOut);
  }
}

/**
 * clientv3's AlarmDisarm of every alarm: lists them, then deactivates each one; the answer carries
 * the deactivated alarms and no header (as clientv3 builds it).
 */
async function disarmAll(ctx: Ctx): Promise<etcdserverpb.AlarmResponse> {
  const client = ctx.client();
  const listed = await client.call(rpc.alarm, { action: Action.GET, memberID: 0n, alarm: NONE }, ctx.requestOpts());
  const merged = etcdserverpb.AlarmResponse.create({ alarms: [] });
  for (const a of listed.alarms) {
    const res = await client.call(rpc.alarm, { action: Action.DEACTIVATE, memberID: a.memberID, alarm: a.alarm }, ctx.requestOpts());
    merged.alarms.push(...res.alarms);
  }
  return merged;
}

const disarmCommand: Command = {
  name: "disarm",
  usage: "disarm",
  short: "Disarms all alarms",
  async run(ctx, args) {
    if (args.length !== 0) throw new CliError(ExitCode.BadArgs, "alarm disarm command accepts no arguments");
    printAlarms(ctx, await disarmAll(ctx));
  },
};

const listCommand: Command = {
  name: "list",
  usage: "list",
  short: "Lists all alarms",
  async run(ctx, args) {
    if (args.length !== 0) throw new CliError(ExitCode.BadArgs, "alarm list command accepts no arguments");
    printAlarms(ctx, await ctx.client().call(rpc.alarm, { action: Action.GET, memberID: 0n, alarm: NONE }, ctx.requestOpts()));
  },
};

export const alarmCommand: Command = {
  name: "alarm",
  usage: "alarm <subcommand>",
  short: "Alarm related commands",
  subcommands: [disarmCommand, listCommand],
};
