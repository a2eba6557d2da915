/** `etcdctl put`: a key with a value from the arguments or stdin, optionally on a lease (hex id). */
import { rpc } from "../../client/rpc.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { type Command, type Flags, flagBool, flagString } from "../command.ts";
import { CliError, ExitCode } from "../errors.ts";
import type { FlagSpec } from "../flags.ts";
import { printPut } from "../output/kv.ts";
import { type ToBytes, UTF8 } from "./get.ts";
import { parseInt64 } from "./strconv.ts";

export const PUT_FLAGS: readonly FlagSpec[] = [
  { name: "lease", type: "string", default: "0", usage: "lease ID (in hexadecimal) to attach to the key" },
  { name: "prev-kv", type: "bool", usage: "return the previous key-value pair before modification" },
  { name: "ignore-value", type: "bool", usage: "updates the key using its current value" },
  { name: "ignore-lease", type: "bool", usage: "updates the key using its current lease" },
];

const NEEDS_ARGS = "put command needs 1 argument and input from stdin or 2 arguments";

/**
 * The Put request of `put args… flags`. `stdin` supplies the value when only the key is given (null:
 * no stdin to read, as inside txn).
 */
export async function putRequest(args: string[], f: Flags, stdin: (() => Promise<Buffer>) | null, enc: ToBytes = UTF8): Promise<etcdserverpb.PutRequest.$Properties> {
  if (args.length === 0) throw new CliError(ExitCode.BadArgs, NEEDS_ARGS);
  const ignoreValue = flagBool(f, "ignore-value");
  if (ignoreValue && args.length > 1) throw new CliError(ExitCode.BadArgs, "put command needs only 1 argument when 'ignore-value' is set");
  let value: Buffer = Buffer.alloc(0);
  if (!ignoreValue) {
    if (args.length > 1) value = enc(args[1]);
    else {
      value = stdin ? await stdin() : Buffer.alloc(0);
      if (value.length === 0) throw new CliError(ExitCode.BadArgs, NEEDS_ARGS);
    }
  }
  let lease: bigint;
  try {
    lease = parseInt64(flagString(f, "lease"), 16);
  } catch (e) {
    throw new CliError(ExitCode.BadArgs, `bad lease ID (${(e as Error).message}), expecting ID in Hex`);
  }
  const req: etcdserverpb.PutRequest.$Properties = { key: enc(args[0]), value };
  if (lease !== 0n) req.lease = lease;
  if (flagBool(f, "prev-kv")) req.prevKv = true;
  if (ignoreValue) req.ignoreValue = true;
  if (flagBool(f, "ignore-lease")) req.ignoreLease = true;
  return req;
}

export const putCommand: Command = {
  name: "put",
  usage: "put [options] <key> <value> (<value> can also be given from stdin)",
  short: "Puts the given key into the store",
  long: `Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.`,
  flags: PUT_FLAGS,
  async run(ctx, args, f) {
    const req = await putRequest(args, f, () => ctx.io.readStdin());
    const res = await ctx.client().call(rpc.put, req, ctx.requestOpts());
    printPut((t) => ctx.out(t), ctx.globals, res);
  },
};
