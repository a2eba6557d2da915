/** `etcdctl get`: a key, a range [key, range_end), a prefix or every key from one, in any -w format. */
import { prefixEnd } from "../../client/index.ts";
import { rpc } from "../../client/rpc.ts";
import { etcdserverpb } from "../../proto/etcd.js";
import { type Command, type Flags, flagBool, flagInt, flagString } from "../command.ts";
import { CliError, ExitCode } from "../errors.ts";
import type { FlagSpec } from "../flags.ts";
import { goQuote } from "../output/go-quote.ts";
import { printRange } from "../output/kv.ts";

export const GET_FLAGS: readonly FlagSpec[] = [
  { name: "consistency", type: "string", default: "l", usage: "Linearizable(l) or Serializable(s)" },
  { name: "order", type: "string", usage: "Order of results; ASCEND or DESCEND (ASCEND by default)" },
  { name: "sort-by", type: "string", usage: "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION" },
  { name: "limit", type: "int", usage: "Maximum number of results" },
  { name: "prefix", type: "bool", usage: "Get keys with matching prefix" },
  { name: "from-key", type: "bool", usage: "Get keys that are greater than or equal to the given key using byte compare" },
  { name: "rev", type: "int", usage: "Specify the kv revision" },
  { name: "keys-only", type: "bool", usage: "Get only the keys" },
  { name: "count-only", type: "bool", usage: "Get only the count" },
  { name: "print-value-only", type: "bool", usage: 'Only write values when using the "simple" output format' },
  { name: "min-mod-rev", type: "int", usage: "Minimum modification revision" },
  { name: "max-mod-rev", type: "int", usage: "Maximum modification revision" },
  { name: "min-create-rev", type: "int", usage: "Minimum create revision" },
  { name: "max-create-rev", type: "int", usage: "Maximum create revision" },
];

/** How a word of the command line becomes bytes (UTF-8; txn's words are binary strings). */
export type ToBytes = (s: string) => Buffer;
export const UTF8: ToBytes = (s) => Buffer.from(s, "utf8");

const badArgs = (message: string) => new CliError(ExitCode.BadArgs, message);

const SORT_ORDERS: Record<string, etcdserverpb.RangeRequest.SortOrder> = {
  "": etcdserverpb.RangeRequest.SortOrder.NONE,
  ASCEND: etcdserverpb.RangeRequest.SortOrder.ASCEND,
  DESCEND: etcdserverpb.RangeRequest.SortOrder.DESCEND,
};
const SORT_TARGETS: Record<string, etcdserverpb.RangeRequest.SortTarget> = {
  "": etcdserverpb.RangeRequest.SortTarget.KEY,
  CREATE: etcdserverpb.RangeRequest.SortTarget.CREATE,
  KEY: etcdserverpb.RangeRequest.SortTarget.KEY,
  MODIFY: etcdserverpb.RangeRequest.SortTarget.MOD,
  VALUE: etcdserverpb.RangeRequest.SortTarget.VALUE,
  VERSION: etcdserverpb.RangeRequest.SortTarget.VERSION,
};

/** The key and range end for `key [range_end]`, --prefix or --from-key (an empty key means every key). */
export function rangeOf(key: string, rangeEnd: string | undefined, prefix: boolean, fromKey: boolean, enc: ToBytes = UTF8): { key: Buffer; rangeEnd?: Buffer } {
  const k = enc(key);
  if ((prefix || fromKey) && k.length === 0) return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
  if (prefix) return { key: k, rangeEnd: prefixEnd(k) };
  if (fromKey) return { key: k, rangeEnd: Buffer.from([0]) };
  if (rangeEnd !== undefined && rangeEnd !== "") return { key: k, rangeEnd: enc(rangeEnd) };
  return { key: k };
}

/** The Range request of `get args… flags`, refusing what etcdctl refuses, with its words and codes. */
export function getRequest(args: string[], f: Flags, enc: ToBytes = UTF8): etcdserverpb.RangeRequest.$Properties {
  if (args.length === 0) throw badArgs("get command needs one argument as key and an optional argument as range_end");
  const prefix = flagBool(f, "prefix");
  const fromKey = flagBool(f, "from-key");
  if (prefix && fromKey) throw badArgs("`--prefix` and `--from-key` cannot be set at the same time, choose one");
  if (flagBool(f, "keys-only") && flagBool(f, "count-only")) {
    throw badArgs("`--keys-only` and `--count-only` cannot be set at the same time, choose one");
  }
  const consistency = flagString(f, "consistency");
  if (consistency !== "l" && consistency !== "s") {
    throw new CliError(ExitCode.BadFeature, `unknown consistency flag ${goQuote(consistency)}`);
  }
  if (args.length > 1 && (prefix || fromKey)) {
    throw badArgs("too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
  }
  const order = SORT_ORDERS[flagString(f, "order").toUpperCase()];
  if (order === undefined) throw new CliError(ExitCode.BadFeature, `bad sort order ${flagString(f, "order")}`);
  const target = SORT_TARGETS[flagString(f, "sort-by").toUpperCase()];
  if (target === undefined) throw new CliError(ExitCode.BadFeature, `bad sort target ${flagString(f, "sort-by")}`);

  const req: etcdserverpb.RangeRequest.$Properties = rangeOf(args[0], args[1], prefix, fromKey, enc);
  const limit = flagInt(f, "limit");
  if (limit !== 0n) req.limit = limit;
  const rev = flagInt(f, "rev");
  if (rev > 0n) req.revision = rev;
  // Ascending by key is the server's own order: clientv3 sends no sort for it.
  const ascendingByKey = target === etcdserverpb.RangeRequest.SortTarget.KEY && order === etcdserverpb.RangeRequest.SortOrder.ASCEND;
  req.sortOrder = ascendingByKey ? etcdserverpb.RangeRequest.SortOrder.NONE : order;
  req.sortTarget = target;
  if (consistency === "s") req.serializable = true;
  if (flagBool(f, "keys-only")) req.keysOnly = true;
  if (flagBool(f, "count-only")) req.countOnly = true;
  const revBounds: [string, "minModRevision" | "maxModRevision" | "minCreateRevision" | "maxCreateRevision"][] = [
    ["min-mod-rev", "minModRevision"],
    ["max-mod-rev", "maxModRevision"],
    ["min-create-rev", "minCreateRevision"],
    ["max-create-rev", "maxCreateRevision"],
  ];
  for (const [flag, prop] of revBounds) {
    const v = f[flag] as bigint | undefined;
    if (v !== undefined && v !== 0n) req[prop] = v;
  }
  return req;
}

export const getCommand: Command = {
  name: "get",
  usage: "get [options] <key> [range_end]",
  short: "Gets the key or a range of keys",
  flags: GET_FLAGS,
  async run(ctx, args, f) {
    const req = getRequest(args, f);
    const res = await ctx.client().call(rpc.range, req, ctx.requestOpts());
    // etcdctl checks these after the request, so a bad combination still costs a round trip there too.
    if (flagBool(f, "count-only") && ctx.globals.writeOut !== "fields") {
      throw new CliError(ExitCode.BadArgs, "--count-only is only for `--write-out=fields`");
    }
    const valueOnly = flagBool(f, "print-value-only");
    if (valueOnly && ctx.globals.writeOut !== "simple") {
      throw new CliError(ExitCode.BadArgs, "print-value-only is only for `--write-out=simple`");
    }
    printRange((t) => ctx.out(t), ctx.globals, res, { valueOnly });
  },
};
