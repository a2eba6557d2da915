/**
 * `etcdctl lock <name> [cmd args…]`: takes the lock with the concurrency recipe (Go's
 * concurrency.Mutex, whose keys every etcdctl shares), then either prints the lock's key and holds it
 * until SIGINT/SIGTERM, or runs the command while holding it (ETCD_LOCK_KEY, ETCD_LOCK_REV set) and
 * exits with the command's exit code (etcdctl 3.5).
 */
import { spawn } from "node:child_process";
import { type Client, Mutex, rpc, Session } from "../../client/index.ts";
import { type Command, flagInt } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";
import { aborted, unlessInterrupted } from "../interrupt.ts";
import { printRange } from "../output/kv.ts";

/** Prints a key as etcdctl's display.Get does, from a fresh read (a Range response). */
export async function printKey(ctx: Ctx, client: Client, key: string, signal?: AbortSignal): Promise<boolean> {
  const res = await client.call(rpc.range, { key: Buffer.from(key) }, { signal });
  if (res.kvs.length === 0) return false;
  printRange((t) => ctx.out(t), ctx.globals, res);
  return true;
}

/** Runs the command with the lock's variables; resolves with Go's error for a failure, or null. */
function runHolding(argv: string[], env: Record<string, string>): Promise<{ message: string; code: number } | null> {
  return new Promise((resolve) => {
    // Go's exec keeps the last of duplicate variables: the inherited environment wins over ours.
    const child = spawn(argv[0], argv.slice(1), { env: { ...env, ...process.env }, stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", (err: NodeJS.ErrnoException) => {
      const why = err.code === "ENOENT" ? "no such file or directory" : err.code === "EACCES" ? "permission denied" : err.message;
      resolve({ message: `fork/exec ${argv[0]}: ${why}`, code: ExitCode.Error });
    });
    child.once("close", (code, sig) => {
      if (sig) return resolve({ message: `signal: ${sig === "SIGKILL" ? "killed" : sig === "SIGTERM" ? "terminated" : sig === "SIGINT" ? "interrupt" : sig.toLowerCase()}`, code: 255 });
      resolve(code === 0 ? null : { message: `exit status ${code}`, code: code ?? ExitCode.Error });
    });
  });
}

const canceled = () => new CliError(ExitCode.Error, "context canceled");

export const lockCommand: Command = {
  name: "lock",
  usage: "lock <lockname> [exec-command arg1 arg2 ...]",
  short: "Acquires a named lock",
  flags: [{ name: "ttl", type: "int", default: 10n, usage: "timeout for session" }],
  // SIGINT/SIGTERM (from the start, so also while the session is made) cancel the wait, or release a held lock.
  interruptible: true,
  async run(ctx, args, flags) {
    if (args.length === 0) throw new CliError(ExitCode.BadArgs, "lock takes a lock name argument and an optional command to execute");
    const client = ctx.client();
    const interrupt = ctx.interrupted;
    const session = await unlessInterrupted(interrupt, Session.create(client, { ttlSeconds: Number(flagInt(flags, "ttl")) }), canceled);
    const m = new Mutex(session, args[0]);
    try {
      await m.lock({ signal: interrupt });
      const command = args.slice(1);
      if (command.length > 0) {
        const failed = await runHolding(command, { ETCD_LOCK_KEY: m.key, ETCD_LOCK_REV: String(m.header?.revision ?? 0n) });
        await m.unlock();
        if (failed) throw new CliError(failed.code as ExitCode, failed.message);
        return;
      }
      if (!(await printKey(ctx, client, m.key, interrupt))) throw new CliError(ExitCode.Error, "lock lost on init");
      const why = await Promise.race([aborted(interrupt).then(() => "interrupted" as const), session.done.then(() => "expired" as const)]);
      if (why === "interrupted") return void (await m.unlock());
      throw new CliError(ExitCode.Error, "session expired");
    } finally {
      // As etcdctl, the session's lease is left to expire (the lock key itself is deleted above).
      session.orphan();
    }
  },
};
