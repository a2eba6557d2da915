/**
 * `etcdctl make-mirror [options] <destination>`: copies the keys under --prefix to another cluster and
 * keeps copying their changes, as etcd's mirror package does: the keys as of one revision first (read
 * in pages at that revision), then a watch from the next revision, each source revision applied to the
 * destination as one transaction. Every 30 s it prints how many keys it has written so far. It runs
 * until it fails (exit 1) or is killed, as etcdctl's does.
 */
import { type Client, type GetOptions, type GetResult, op, type Op, prefixEnd, type WatchEvent, type WatchOptions } from "../../client/index.ts";
import { type Command, flagBool, flagString } from "../command.ts";
import { tlsOptions } from "../context.ts";
import { CliError, ExitCode } from "../errors.ts";

/** etcd's mirror syncer reads the base state in pages of this many keys. */
const PAGE_KEYS = 1000;
/** etcdctl prints the running total this often. */
const REPORT_EVERY_MS = 30_000;

/** Where a key goes: the first occurrence of `prefix` replaced with `destPrefix` (Go's strings.Replace(key, prefix, dest, 1)). */
export function destKey(key: Uint8Array, prefix: Uint8Array, destPrefix: Uint8Array): Buffer {
  const k = Buffer.from(key.buffer, key.byteOffset, key.length);
  const at = k.indexOf(prefix);
  if (at < 0) return Buffer.from(k);
  return Buffer.concat([k.subarray(0, at), destPrefix, k.subarray(at + prefix.length)]);
}

/** What the mirror reads from the source cluster (a Client; a fake in tests). */
export interface MirrorSource {
  get(key: Uint8Array | string, opts: GetOptions): Promise<GetResult>;
  watch(key: Uint8Array | string, opts: WatchOptions): AsyncIterable<WatchEvent> & { readonly buffered: number };
}

/** What the mirror writes to the destination cluster. */
export interface MirrorDest {
  put(key: Uint8Array, value: Uint8Array): Promise<unknown>;
  /** One transaction of unconditional operations. */
  commit(ops: Op[]): Promise<unknown>;
}

export interface MirrorOptions {
  prefix: Buffer;
  destPrefix: Buffer;
  /** Counts every key written (base state) and every event applied; read by the progress printer. */
  progress: { total: number };
}

/**
 * Mirrors until the watch ends. Throws the first failure; a watch whose revision was compacted away
 * fails with etcd's compacted error, as etcdctl's make-mirror does (it cannot go on without a gap).
 */
export async function mirror(src: MirrorSource, dst: MirrorDest, o: MirrorOptions): Promise<void> {
  const to = (key: Uint8Array) => destKey(key, o.prefix, o.destPrefix);
  // The base state as of one revision: the header of a read (of an arbitrary key) names it.
  const rev = (await src.get("foo", {})).header.revision;
  const all = o.prefix.length === 0;
  let key: Buffer = all ? Buffer.from([0]) : o.prefix;
  const rangeEnd = all ? Buffer.from([0]) : prefixEnd(o.prefix);
  for (;;) {
    const page = await src.get(key, { rangeEnd, limit: PAGE_KEYS, revision: rev });
    for (const kv of page.kvs) {
      await dst.put(to(kv.key), kv.value);
      o.progress.total++;
    }
    if (!page.more || page.kvs.length === 0) break;
    key = Buffer.concat([page.kvs[page.kvs.length - 1].key, Buffer.from([0])]);
  }

  // Then every change after that revision, one destination transaction per source revision.
  const watcher = src.watch(o.prefix, { prefix: true, startRevision: rev + 1n });
  let ops: Op[] = [];
  let opsRev = 0n;
  const flush = async () => {
    if (ops.length) await dst.commit(ops);
    ops = [];
    opsRev = 0n;
  };
  for await (const ev of watcher) {
    if (opsRev !== 0n && ev.revision !== opsRev) await flush();
    opsRev = ev.revision;
    ops.push(ev.type === "put" ? op.put(to(ev.kv.key), ev.kv.value) : op.delete(to(ev.kv.key)));
    o.progress.total++;
    // The rest of this watch response is already buffered: none left means the response is done.
    if (watcher.buffered === 0) await flush();
  }
  await flush();
}

/** Prints the running total every `everyMs` (etcdctl: every 30 s, from the start); returns the stop. */
export function reportProgress(out: (text: string) => void, progress: { readonly total: number }, everyMs = REPORT_EVERY_MS): () => void {
  const timer = setInterval(() => out(`${progress.total}\n`), everyMs);
  return () => clearInterval(timer);
}

/** A Client as the mirror's destination. */
function destOf(c: Client): MirrorDest {
  return {
    put: (key, value) => c.put(key, value),
    commit: (ops) => c.txn().then(...ops).commit(),
  };
}

export const makeMirrorCommand: Command = {
  name: "make-mirror",
  usage: "make-mirror [options] <destination>",
  short: "Makes a mirror at the destination etcd cluster",
  flags: [
    { name: "prefix", type: "string", usage: "Key-value prefix to mirror" },
    { name: "dest-prefix", type: "string", usage: "destination prefix to mirror a prefix to a different prefix in the destination cluster" },
    { name: "no-dest-prefix", type: "bool", usage: "mirror key-values to the root of the destination cluster" },
    { name: "dest-cert", type: "string", usage: "Identify secure client using this TLS certificate file for the destination cluster" },
    { name: "dest-key", type: "string", usage: "Identify secure client using this TLS key file" },
    { name: "dest-cacert", type: "string", usage: "Verify certificates of TLS enabled secure servers using this CA bundle" },
    { name: "dest-insecure-transport", type: "bool", default: true, usage: "Disable transport security for client connections" },
  ],
  async run(ctx, args, flags) {
    if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "make-mirror takes one destination argument");
    const prefix = flagString(flags, "prefix");
    let destPrefix = flagString(flags, "dest-prefix");
    const noDestPrefix = flagBool(flags, "no-dest-prefix");
    if (noDestPrefix && destPrefix !== "") {
      throw new CliError(ExitCode.BadArgs, "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one");
    }
    // Without either, keys keep their prefix; --no-dest-prefix strips it.
    if (!noDestPrefix && destPrefix === "") destPrefix = prefix;
    // The destination: its own TLS flags, never the source's --user (etcdctl's clientConfig without auth).
    const destTls = tlsOptions(
      {
        cert: flagString(flags, "dest-cert"),
        key: flagString(flags, "dest-key"),
        cacert: flagString(flags, "dest-cacert"),
        insecureTransport: flagBool(flags, "dest-insecure-transport"),
        insecureSkipVerify: false,
      },
      args,
      { cert: "--dest-cert", key: "--dest-key", cacert: "--dest-cacert" },
    );
    const dest = ctx.clientFor([args[0]], { tls: destTls, anonymous: true });
    const progress = { total: 0 };
    const stopReport = reportProgress((t) => ctx.out(t), progress);
    try {
      await mirror(ctx.client(), destOf(dest), { prefix: Buffer.from(prefix), destPrefix: Buffer.from(destPrefix), progress });
    } finally {
      stopReport();
    }
    // The watch ended without an error (the client was closed): etcdctl exits 1 then too.
    throw new CliError(ExitCode.Error, "make-mirror: the watch on the source cluster ended");
  },
};
