/**
 * `etcdctl txn`: reads comparisons, then the success requests, then the failure requests from stdin,
 * each list ended by an empty line, and commits them as one transaction. With -i it prompts for each.
 */
import { rpc } from "../../client/rpc.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { type Command, flagBool } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";
import { printTxn } from "../output/kv.ts";
import { InvalidRequestError, parseCompare, parseRequest } from "./txn-grammar.ts";

/** The most lines one list may have: a bound on what a runaway pipe can make us hold. */
const MAX_LINES = 100_000;

/** Reads lines up to an empty one; the end of stdin before it is an error, as in etcdctl ("EOF"). */
async function readList<T>(ctx: Ctx, parse: (line: string) => T | Promise<T>): Promise<T[]> {
  const items: T[] = [];
  for (let n = 0; n < MAX_LINES; n++) {
    const raw = await ctx.io.readLine();
    if (raw === null) throw new CliError(ExitCode.InvalidInput, "EOF");
    const line = raw.trim();
    if (line === "") return items;
    // The grammar works on bytes (a quoted "\xff" is one byte): hand it the line as a binary string.
    try {
      items.push(await parse(Buffer.from(line, "utf8").toString("latin1")));
    } catch (e) {
      // cobra writes the usage to stderr, before etcdctl's "Error:" line.
      if (e instanceof InvalidRequestError) ctx.err(e.usage);
      throw e instanceof CliError ? new CliError(e.code, fromBinary(e.message)) : e;
    }
  }
  throw new CliError(ExitCode.InvalidInput, `more than ${MAX_LINES} lines in one list`);
}

/** A message quoting a binary-string line, back to text. */
function fromBinary(s: string): string {
  return /^[\0-\xff]*$/.test(s) ? Buffer.from(s, "latin1").toString("utf8") : s;
}

export const txnCommand: Command = {
  name: "txn",
  usage: "txn [options]",
  short: "Txn processes all the requests in one transaction",
  flags: [{ name: "interactive", short: "i", type: "bool", usage: "Input transaction in interactive mode" }],
  async run(ctx, args, f) {
    if (args.length !== 0) throw new CliError(ExitCode.BadArgs, "txn command does not accept argument");
    const interactive = flagBool(f, "interactive");
    const prompt = (text: string) => interactive && ctx.out(text + "\n");
    prompt("compares:");
    const compare: etcdserverpb.Compare.$Properties[] = await readList(ctx, parseCompare);
    prompt("success requests (get, put, del):");
    const success = await readList(ctx, parseRequest);
    prompt("failure requests (get, put, del):");
    const failure = await readList(ctx, parseRequest);
    const res = await ctx.client().call(rpc.txn, { compare, success, failure }, ctx.requestOpts());
    printTxn((t) => ctx.out(t), ctx.globals, res);
  },
};
