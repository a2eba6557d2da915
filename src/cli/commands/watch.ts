/**
 * `etcdctl watch`: prints each watch response as it arrives, optionally running a command per event
 * (`watch key -- cmd args`, with ETCD_WATCH_* set). With -i, reads `watch …` and `progress` lines
 * from stdin, all watches sharing one stream. Runs until the server cancels the watch (exit 5).
 */
import { spawn } from "node:child_process";
import { prefixEnd } from "../../client/index.ts";
import { rpc } from "../../client/rpc.ts";
import { backoffMs, Transport, type TypedStream } from "../../client/transport.ts";
import { EtcdError, GrpcCode } from "../../pkg/errors.ts";
import type { etcdserverpb } from "../../proto/etcd.js";
import { type Command, type Flags, flagBool, flagInt } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, describeError, ExitCode } from "../errors.ts";
import { type FlagSpec, parseFlags } from "../flags.ts";
import { goQuote, goQuoteBytes } from "../output/go-quote.ts";
import { eventType, printWatch } from "../output/kv.ts";
import { argify } from "./txn-grammar.ts";

const WATCH_FLAGS: readonly FlagSpec[] = [
  { name: "interactive", short: "i", type: "bool", usage: "Interactive mode" },
  { name: "prefix", type: "bool", usage: "Watch on a prefix if prefix is set" },
  { name: "rev", type: "int", usage: "Revision to start watching" },
  { name: "prev-kv", type: "bool", usage: "get the previous key-value pair before the event happens" },
  { name: "progress-notify", type: "bool", usage: "get periodic watch progress notification from server" },
];

const badArgs = (message: string) => new CliError(ExitCode.BadArgs, message);
const BAD_ARGS_NUM = "bad number of arguments";
const CONFLICT_ENV = "bad number of arguments (found conflicting environment key)";
const NO_COMMAND = "bad number of arguments (found separator --, but no commands)";

interface WatchEnv {
  key: string;
  rangeEnd: string;
}

/**
 * Splits `args` (with `atDash` of them before "--") into the key/range words and the command to run,
 * folding in ETCDCTL_WATCH_KEY/RANGE_END; etcdctl's errors for the combinations it refuses.
 */
export function splitWatchArgs(args: string[], atDash: number, env: WatchEnv): { watchArgs: string[]; execArgs: string[] } {
  let watchArgs = atDash >= 0 ? args.slice(0, atDash) : args;
  const execArgs = atDash >= 0 ? args.slice(atDash) : [];
  if (atDash >= 0 && execArgs.length === 0) throw badArgs(NO_COMMAND);
  if (env.key !== "" && watchArgs.length > 0) throw badArgs(CONFLICT_ENV);
  if (env.key !== "") watchArgs = env.rangeEnd !== "" ? [env.key, env.rangeEnd] : [env.key];
  if (watchArgs.length === 0 && execArgs.length === 0) throw badArgs(BAD_ARGS_NUM);
  return { watchArgs, execArgs };
}

/** The create request for `key [range_end]` and the watch flags; a string is etcdctl's complaint. */
export function watchCreate(watchArgs: string[], f: Flags): etcdserverpb.WatchCreateRequest.$Properties | string {
  if (watchArgs.length < 1) return BAD_ARGS_NUM;
  const prefix = flagBool(f, "prefix");
  const key = Buffer.from(watchArgs[0]);
  const req: etcdserverpb.WatchCreateRequest.$Properties = { key };
  // Only exactly two words make a range (etcdctl ignores any further ones).
  if (watchArgs.length === 2) {
    if (prefix) return "`range_end` and `--prefix` are mutually exclusive";
    if (watchArgs[1] !== "") req.rangeEnd = Buffer.from(watchArgs[1]);
  }
  if (prefix) {
    if (key.length === 0) Object.assign(req, { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });
    else req.rangeEnd = prefixEnd(key);
  }
  const rev = flagInt(f, "rev");
  if (rev !== 0n) req.startRevision = rev;
  if (flagBool(f, "prev-kv")) req.prevKv = true;
  if (f["progress-notify"]) req.progressNotify = true;
  return req;
}

/** clientv3's IsProgressNotify: a response with nothing in it but the header's revision. */
function isProgressNotify(r: etcdserverpb.WatchResponse): boolean {
  return r.events.length === 0 && !r.canceled && !r.created && r.compactRevision === 0n && (r.header?.revision ?? 0n) !== 0n;
}

interface Watch {
  create: etcdserverpb.WatchCreateRequest.$Properties;
  execArgs: string[];
  /** The server's id on the current stream; null until created. */
  id: bigint | null;
  /** The revision to resume from after a broken stream; 0 until the first creation. */
  nextRev: bigint;
  ended: boolean;
}

/** The most responses waiting to be printed (the command per event may be slow): a bound on memory. */
const MAX_QUEUED = 100_000;

/**
 * Watches on one Watch stream, resumed on a new stream (from the next revision each still needs)
 * when the connection breaks, as clientv3 does. Responses are printed one at a time, in order.
 */
class WatchSession {
  readonly #ctx: Ctx;
  readonly #transport: Transport;
  readonly #watches: Watch[] = [];
  #creating: Watch[] = [];
  #stream: TypedStream<etcdserverpb.WatchRequest.$Properties> | null = null;
  #failures = 0;
  /** Bumped per stream, so the callbacks of an abandoned stream are ignored. */
  #generation = 0;
  #closed = false;
  /** Interactive mode goes on reading lines when a watch ends; otherwise its end is etcdctl's. */
  readonly #interactive: boolean;
  #queue: (() => Promise<void>)[] = [];
  #draining: Promise<void> | null = null;
  /** Settles when a non-interactive session's watch has ended (with the error to report). */
  readonly ended: Promise<CliError>;
  #end!: (e: CliError) => void;

  constructor(ctx: Ctx, interactive: boolean) {
    this.#ctx = ctx;
    this.#interactive = interactive;
    const g = ctx.globals;
    // Its own transport (watch manages one stream itself), with the same keepalive and --user as ctx.client().
    this.#transport = new Transport(g.endpoints, g.dialTimeoutMs, { timeMs: g.keepAliveTimeMs, timeoutMs: g.keepAliveTimeoutMs }, ctx.credentials(), ctx.tls(), ctx.clientLog());
    this.ended = new Promise((r) => (this.#end = r));
  }

  add(create: etcdserverpb.WatchCreateRequest.$Properties, execArgs: string[]): void {
    const w: Watch = { create, execArgs, id: null, nextRev: 0n, ended: false };
    this.#watches.push(w);
    this.#creating.push(w);
    if (this.#stream) this.#stream.send({ createRequest: this.#createFor(w) });
    else void this.#open();
  }

  /** `progress` in interactive mode: the server answers every watch on the stream with its revision. */
  requestProgress(): void {
    this.#stream?.send({ progressRequest: {} });
  }

  close(): void {
    this.#closed = true;
    this.#stream?.cancel();
    this.#transport.close();
  }

  #createFor(w: Watch): etcdserverpb.WatchCreateRequest.$Properties {
    return w.nextRev > 0n ? { ...w.create, startRevision: w.nextRev } : w.create;
  }

  async #open(): Promise<void> {
    if (this.#closed || this.#stream) return;
    const gen = ++this.#generation;
    try {
      const stream = await this.#transport.stream(rpc.watch, {
        onMessage: (r) => gen === this.#generation && this.#onMessage(r),
        onClose: (err) => gen === this.#generation && this.#onBroken(err),
      });
      if (gen !== this.#generation) return stream.cancel();
      this.#stream = stream;
      for (const w of this.#creating) stream.send({ createRequest: this.#createFor(w) });
    } catch (e) {
      if (gen === this.#generation) this.#onBroken(e instanceof EtcdError ? e : null);
    }
  }

  #onBroken(err: EtcdError | null): void {
    this.#generation++;
    this.#stream = null;
    if (this.#closed) return;
    const live = this.#watches.filter((w) => !w.ended);
    const code = err?.code ?? GrpcCode.Unavailable;
    if (code !== GrpcCode.Unavailable && code !== GrpcCode.Internal && code !== GrpcCode.DeadlineExceeded) {
      // clientv3 closes every watch with the error: etcdctl reports it as a cancellation.
      for (const w of live) this.#finish(w, { header: {}, events: [], compactRevision: 0n, canceled: true, created: false }, describeError(err));
      return;
    }
    for (const w of live) w.id = null;
    this.#creating = live;
    setTimeout(() => void this.#open(), backoffMs(Math.min(this.#failures++, 20)));
  }

  #onMessage(r: etcdserverpb.WatchResponse): void {
    if (r.created) {
      const w = this.#creating.shift();
      if (!w) return;
      this.#failures = 0;
      w.id = r.watchId;
      if (w.nextRev === 0n) w.nextRev = (r.header?.revision ?? 0n) + 1n;
      // A watch the server refused at creation just ends, as clientv3 closes its channel.
      if (r.canceled && r.compactRevision === 0n) this.#finish(w, null, "");
      return;
    }
    // A progress answer to `progress` carries watch id -1: every watch on the stream prints it.
    const targets = r.watchId === -1n ? this.#watches.filter((w) => !w.ended && w.id !== null) : this.#watches.filter((w) => !w.ended && w.id === r.watchId);
    for (const w of targets) {
      if (r.canceled) {
        const compacted = r.compactRevision !== 0n;
        this.#finish(w, compacted ? r : null, compacted ? "etcdserver: mvcc: required revision has been compacted" : "");
        continue;
      }
      const last = r.events.at(-1)?.kv?.modRevision;
      if (last !== undefined && last !== null) w.nextRev = BigInt(last) + 1n;
      if (r.events.length === 0 && !isProgressNotify(r)) continue;
      this.#enqueue(() => this.#show(w, r));
    }
  }

  /** A watch ended by the server: `shown` is printed as canceled (with `why` on stderr) when clientv3 delivers it. */
  #finish(w: Watch, shown: etcdserverpb.IWatchResponse | null, why: string): void {
    w.ended = true;
    if (shown) {
      this.#enqueue(async () => {
        this.#ctx.err(`watch was canceled (${why})\n`);
        printWatch((t) => this.#ctx.out(t), this.#ctx.globals, shown);
      });
    }
    if (!this.#interactive) this.#enqueue(async () => this.#end(new CliError(ExitCode.Interrupted, "watch is canceled by the server")));
  }

  #enqueue(job: () => Promise<void>): void {
    if (this.#queue.length >= MAX_QUEUED) {
      this.#queue = [];
      this.#end(new CliError(ExitCode.Error, `more than ${MAX_QUEUED} watch responses are waiting for the command to run`));
      return;
    }
    this.#queue.push(job);
    this.#draining ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      for (let job = this.#queue.shift(); job; job = this.#queue.shift()) await job();
    } catch (e) {
      this.#end(e instanceof CliError ? e : new CliError(ExitCode.Error, describeError(e)));
    } finally {
      this.#draining = null;
    }
  }

  async #show(w: Watch, r: etcdserverpb.WatchResponse): Promise<void> {
    const out = (t: string | Uint8Array) => this.#ctx.out(t);
    if (isProgressNotify(r)) out(`progress notify: ${r.header?.revision ?? 0n}\n`);
    printWatch(out, this.#ctx.globals, r);
    if (w.execArgs.length === 0) return;
    for (const e of r.events) await runForEvent(this.#ctx, w.execArgs, r, e);
  }
}

/** Runs the watch's command for one event, its output passed through; a failure ends etcdctl (exit 1). */
async function runForEvent(ctx: Ctx, execArgs: string[], r: etcdserverpb.WatchResponse, e: etcdserverpb.WatchResponse["events"][number]): Promise<void> {
  const env = {
    ...ctx.io.env,
    ETCD_WATCH_REVISION: String(r.header?.revision ?? 0n),
    // etcdctl formats these with %q: the values arrive quoted.
    ETCD_WATCH_EVENT_TYPE: goQuote(eventType(e)),
    ETCD_WATCH_KEY: goQuoteBytes(e.kv?.key ?? new Uint8Array()),
    ETCD_WATCH_VALUE: goQuoteBytes(e.kv?.value ?? new Uint8Array()),
  };
  const failure = await new Promise<string | null>((resolve) => {
    const child = spawn(execArgs[0], execArgs.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => ctx.out(d));
    child.stderr.on("data", (d: Buffer) => ctx.err(d.toString()));
    child.on("error", (err: NodeJS.ErrnoException) => {
      resolve(err.code === "ENOENT" ? `exec: ${goQuote(execArgs[0])}: executable file not found in $PATH` : err.message);
    });
    child.on("close", (code, signal) => {
      if (signal) resolve(`signal: ${signal === "SIGKILL" ? "killed" : signal.toLowerCase().replace(/^sig/, "")}`);
      else resolve(code === 0 ? null : `exit status ${code}`);
    });
  });
  if (failure !== null) {
    ctx.err(`command [${execArgs.map(goQuote).join(" ")}] error (${failure})\n`);
    throw new CliError(ExitCode.Error, "");
  }
}

function watchEnv(ctx: Ctx): WatchEnv {
  const key = ctx.io.env.ETCDCTL_WATCH_KEY ?? "";
  const rangeEnd = ctx.io.env.ETCDCTL_WATCH_RANGE_END ?? "";
  if (key === "" && rangeEnd !== "") throw badArgs(`ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${goQuote(rangeEnd)}`);
  return { key, rangeEnd };
}

/** The most lines interactive mode reads: a bound on a runaway pipe. */
const MAX_LINES = 1_000_000;

async function interactive(ctx: Ctx, session: WatchSession, env: WatchEnv): Promise<never> {
  for (let n = 0; n < MAX_LINES; n++) {
    const line = await Promise.race([ctx.io.readLine(), session.ended]);
    if (line instanceof CliError) throw line;
    if (line === null) throw new CliError(ExitCode.InvalidInput, "Error reading watch request line: EOF");
    const words = argify(line);
    if (words.length < 1) {
      ctx.err(`Invalid command: ${line} (watch and progress supported)\n`);
      continue;
    }
    if (words[0] === "progress") {
      session.requestProgress();
      continue;
    }
    if (words[0] !== "watch") {
      ctx.err(`Invalid command ${line} (only support watch)\n`);
      continue;
    }
    if (words.length < 2 && env.key === "") {
      ctx.err(`Invalid command ${line} (command type or key is not provided)\n`);
      continue;
    }
    let parsed;
    try {
      parsed = parseFlags(WATCH_FLAGS, words.slice(1));
    } catch (e) {
      throw badArgs((e as Error).message);
    }
    const flags = Object.assign({ ...parsed.values }, { $set: parsed.set });
    const { watchArgs, execArgs } = splitWatchArgs(parsed.args, parsed.argsAtDash, env);
    const create = watchCreate(watchArgs, flags);
    if (typeof create === "string") {
      ctx.err(`Invalid command ${line} (${create})\n`);
      continue;
    }
    session.add(create, execArgs);
  }
  throw new CliError(ExitCode.InvalidInput, `more than ${MAX_LINES} lines`);
}

export const watchCommand: Command = {
  name: "watch",
  usage: "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
  short: "Watches events stream on keys or prefixes",
  flags: WATCH_FLAGS,
  async run(ctx, args, f) {
    const env = watchEnv(ctx);
    // Validates the connection settings (TLS is refused there) before watching.
    ctx.client();
    if (flagBool(f, "interactive")) {
      const session = new WatchSession(ctx, true);
      try {
        await interactive(ctx, session, env);
      } finally {
        session.close();
      }
    }
    const { watchArgs, execArgs } = splitWatchArgs(args, f.$argsAtDash ?? -1, env);
    const create = watchCreate(watchArgs, f);
    if (typeof create === "string") throw badArgs(create);
    const session = new WatchSession(ctx, false);
    try {
      session.add(create, execArgs);
      throw await session.ended;
    } finally {
      session.close();
    }
  },
};
