/**
 * `etcdctl elect <name> <proposal>` campaigns (Go's concurrency.Election) and, once elected, prints
 * the leader key and holds leadership until SIGINT/SIGTERM, then resigns; `elect -l <name>` prints
 * each leader (and each new proclamation) as it comes.
 */
import { Election, Session } from "../../client/index.ts";
import { type Command, flagBool } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";
import { printRange } from "../output/kv.ts";
import { aborted, unlessInterrupted } from "../interrupt.ts";
import { printKey } from "./lock.ts";

const canceled = () => new CliError(ExitCode.Error, "context canceled");

async function observe(ctx: Ctx, name: string): Promise<void> {
  const interrupt = ctx.interrupted;
  const session = await unlessInterrupted(interrupt, Session.create(ctx.client()), canceled);
  try {
    const e = new Election(session, name);
    try {
      for await (const r of e.observe({ signal: interrupt })) printRange((t) => ctx.out(t), ctx.globals, r);
    } catch {
      // etcdctl's observer ends without a reason when its read or watch fails.
    }
    if (!interrupt.aborted) throw new CliError(ExitCode.Error, "elect: observer lost");
  } finally {
    session.orphan();
  }
}

async function campaign(ctx: Ctx, name: string, proposal: string): Promise<void> {
  const client = ctx.client();
  const interrupt = ctx.interrupted;
  const session = await unlessInterrupted(interrupt, Session.create(client), canceled);
  try {
    const e = new Election(session, name);
    await e.campaign(proposal, { signal: interrupt });
    await printKey(ctx, client, e.key, interrupt);
    const why = await Promise.race([aborted(interrupt).then(() => "interrupted" as const), session.done.then(() => "expired" as const)]);
    if (why === "expired") throw new CliError(ExitCode.Error, "elect: session expired");
    await e.resign();
  } finally {
    session.orphan();
  }
}

export const electCommand: Command = {
  name: "elect",
  usage: "elect <election-name> [proposal]",
  short: "Observes and participates in leader election",
  flags: [{ name: "listen", short: "l", type: "bool", usage: "observation mode" }],
  // SIGINT/SIGTERM end observing, cancel a campaign, or resign (see interrupt.ts).
  interruptible: true,
  async run(ctx, args, flags) {
    if (args.length !== 1 && args.length !== 2) throw new CliError(ExitCode.BadArgs, "elect takes one election name argument and an optional proposal argument");
    const listen = flagBool(flags, "listen");
    if (args.length === 1) {
      if (!listen) throw new CliError(ExitCode.BadArgs, "no proposal argument but -l not set");
      return observe(ctx, args[0]);
    }
    if (listen) throw new CliError(ExitCode.BadArgs, "proposal given but -l is set");
    return campaign(ctx, args[0], args[1]);
  },
};
