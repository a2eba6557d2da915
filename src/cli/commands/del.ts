/** `etcdctl del`: removes a key, a range [key, range_end), a prefix or every key from one. */
import { rpc } from "../../client/rpc.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { type Command, type Flags, flagBool } from "../command.ts";
import { CliError, ExitCode } from "../errors.ts";
import type { FlagSpec } from "../flags.ts";
import { printDelete } from "../output/kv.ts";
import { rangeOf, type ToBytes, UTF8 } from "./get.ts";

export const DEL_FLAGS: readonly FlagSpec[] = [
  { name: "prefix", type: "bool", usage: "delete keys with matching prefix" },
  { name: "prev-kv", type: "bool", usage: "return deleted key-value pairs" },
  { name: "from-key", type: "bool", usage: "delete keys that are greater than or equal to the given key using byte compare" },
];

const badArgs = (message: string) => new CliError(ExitCode.BadArgs, message);

export function deleteRequest(args: string[], f: Flags, enc: ToBytes = UTF8): etcdserverpb.DeleteRangeRequest.$Properties {
  if (args.length === 0 || args.length > 2) throw badArgs("del command needs one argument as key and an optional argument as range_end");
  const prefix = flagBool(f, "prefix");
  const fromKey = flagBool(f, "from-key");
  if (prefix && fromKey) throw badArgs("`--prefix` and `--from-key` cannot be set at the same time, choose one");
  if (args.length > 1 && (prefix || fromKey)) {
    throw badArgs("too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
  }
  const req: etcdserverpb.DeleteRangeRequest.$Properties = rangeOf(args[0], args[1], prefix, fromKey, enc);
  if (flagBool(f, "prev-kv")) req.prevKv = true;
  return req;
}

export const delCommand: Command = {
  name: "del",
  usage: "del [options] <key> [range_end]",
  short: "Removes the specified key or range of keys [key, range_end)",
  flags: DEL_FLAGS,
  async run(ctx, args, f) {
    const res = await ctx.client().call(rpc.deleteRange, deleteRequest(args, f), ctx.requestOpts());
    printDelete((t) => ctx.out(t), ctx.globals, res);
  },
};
