/**
 * `etcdctl snapshot save|status|restore`. save streams the Snapshot RPC (the member's database,
 * then its sha256) into <file>.part, checks the hash, fsyncs and renames, as etcd's clientv3
 * snapshot.Save; the file keeps the trailing hash, so restore can check it. status and restore read
 * the database format, which is the server's business: they go through ctx.offline (main.ts wires
 * server/core/snapshot-file.ts and restore.ts), as etcd 3.5 moved them to etcdutl.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { rpc, TransportError } from "../../client/index.ts";
import { createLogger } from "../../pkg/logger.ts";
import { type Command, type Flags, flagBool, flagString } from "../command.ts";
import type { Ctx, RestoreSummary, SnapshotStatus } from "../context.ts";
import { CliError, describeError, ExitCode } from "../errors.ts";
import { humanizeBytes } from "../output/humanize.ts";
import { renderTable } from "../output/table.ts";
import { unsupportedFormat } from "../output/unsupported.ts";

const SHA256_BYTES = 32;
const DEFAULT_NAME = "default";
const DEFAULT_PEER_URLS = "http://localhost:2380";

const HASH_CHUNK_BYTES = 4 * 1024 * 1024;

/** etcd's hasChecksum: a database is whole 512-byte units; the stream adds a sha256. */
export function hasChecksum(sizeBytes: number): boolean {
  return sizeBytes % 512 === SHA256_BYTES;
}

/**
 * Bun's own hasher: node:crypto would add ~7 ms to the start of every etcdctl call, which this
 * module's import would pay even when no snapshot command runs.
 */
const sha256 = () => new Bun.CryptoHasher("sha256");

/**
 * Hashes a stream except its last 32 bytes, which it keeps: the Snapshot stream ends with the
 * sha256 of what came before, and where the data ends is known only when the stream does.
 */
export class TrailingSha256 {
  #hash = sha256();
  #tail = Buffer.alloc(0);
  bytes = 0;

  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    const all = this.#tail.length ? Buffer.concat([this.#tail, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const cut = Math.max(0, all.length - SHA256_BYTES);
    if (cut > 0) this.#hash.update(all.subarray(0, cut));
    this.#tail = Buffer.from(all.subarray(cut));
  }

  /** The hash of everything but the tail, and the tail (the hash the sender computed). */
  finish(): { computed: Buffer; trailer: Buffer } {
    return { computed: Buffer.from(this.#hash.digest()), trailer: this.#tail };
  }
}

/** A one-line progress bar: "[=====>      ]  45%  12 MB / 27 MB". total 0 when unknown. */
export function progressLine(done: number, total: number, widthCols = 30): string {
  if (total <= 0) return `${humanizeBytes(done)}`;
  const ratio = Math.min(1, done / total);
  const filled = Math.floor(ratio * widthCols);
  const bar = "=".repeat(filled) + (filled < widthCols ? ">" + " ".repeat(widthCols - filled - 1) : "");
  return `[${bar}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${humanizeBytes(done)} / ${humanizeBytes(total)}`;
}

/** Progress on stderr, redrawn in place at most every 100 ms; nothing unless stderr is a terminal. */
export function progressReporter(ctx: Ctx, what: string): { update(done: number, total: number): void; end(): void } {
  const tty = ctx.io.stderrIsTTY ?? false;
  let lastMs = 0;
  let drawn = false;
  const draw = (done: number, total: number) => {
    ctx.err(`\r${what} ${progressLine(done, total)}\x1b[K`);
    drawn = true;
  };
  return {
    update(done, total) {
      if (!tty) return;
      const now = Date.now();
      if (now - lastMs < 100 && done < total) return;
      lastMs = now;
      draw(done, total);
    },
    end() {
      if (drawn) ctx.err("\n");
      drawn = false;
    },
  };
}

/** What a failed open of the .part file means, and what to do about it. */
export function openErrorMessage(path: string, err: NodeJS.ErrnoException): string {
  const dir = dirname(resolve(path));
  switch (err.code) {
    case "ENOENT":
      return `could not open ${path}: the directory ${dir} does not exist; create it or save the snapshot elsewhere`;
    case "EACCES":
    case "EPERM":
      return `could not open ${path}: permission denied; save the snapshot in a directory you may write to (${dir} is not)`;
    case "EROFS":
      return `could not open ${path}: ${dir} is on a read-only file system; save the snapshot elsewhere`;
    case "EISDIR":
      return `could not open ${path}: it is a directory; name a file`;
    default:
      return `could not open ${path} (${err.message})`;
  }
}

async function save(ctx: Ctx, args: string[], flags: Flags): Promise<void> {
  if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "snapshot save expects one argument");
  const endpoints = ctx.globals.endpoints;
  if (endpoints.length !== 1) {
    throw new CliError(ExitCode.Interrupted, `snapshot must be requested to one selected node, not multiple [${endpoints.join(" ")}]; name one member with --endpoints`);
  }
  const path = args[0];
  const part = `${path}.part`;
  let fd: number;
  try {
    fd = openSync(part, "w", 0o600);
  } catch (e) {
    throw new CliError(ExitCode.Interrupted, openErrorMessage(part, e as NodeJS.ErrnoException));
  }
  // Ctrl-C must not leave a .part behind (etcdctl removes it on the way out too).
  const onSigint = () => {
    rmSync(part, { force: true });
    process.exit(ExitCode.Interrupted);
  };
  process.once("SIGINT", onSigint);
  const progress = progressReporter(ctx, "Fetching snapshot");
  try {
    const sha = new TrailingSha256();
    let total = 0;
    // As etcdctl: no deadline unless --command-timeout was given (a large database takes a while).
    const deadline = flags.$set.has("command-timeout") ? ctx.requestOpts() : { timeoutMs: 0 };
    try {
      for await (const res of ctx.client().serverStream(rpc.snapshot, {}, deadline)) {
        const blob = res.blob ?? new Uint8Array(0);
        if (total === 0) total = blob.length + Number(res.remainingBytes ?? 0n);
        for (let w = 0; w < blob.length; ) w += writeSync(fd, blob, w, blob.length - w);
        sha.update(blob);
        progress.update(sha.bytes, total);
      }
    } catch (e) {
      // The dial's own words ("connection refused") say more here than clientv3's deadline would.
      const why = e instanceof TransportError ? e.message : describeError(e);
      throw new CliError(ExitCode.Interrupted, `could not fetch a snapshot from ${endpoints[0]}: ${why}; check --endpoints and that the member is running`);
    }
    progress.end();
    if (!hasChecksum(sha.bytes)) throw new CliError(ExitCode.Interrupted, `sha256 checksum not found [bytes: ${sha.bytes}]; the stream from ${endpoints[0]} ended early: try again`);
    const { computed, trailer } = sha.finish();
    if (!computed.equals(trailer)) {
      throw new CliError(ExitCode.Interrupted, `the snapshot from ${endpoints[0]} arrived damaged (sha256 ${computed.toString("hex")}, expected ${trailer.toString("hex")}); try again`);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    try {
      renameSync(part, path);
    } catch (e) {
      throw new CliError(ExitCode.Interrupted, `could not rename ${part} to ${path} (${(e as Error).message})`);
    }
    await fsyncParent(path);
  } catch (e) {
    progress.end();
    throw e;
  } finally {
    process.removeListener("SIGINT", onSigint);
    if (fd >= 0) closeSync(fd);
    rmSync(part, { force: true });
  }
  ctx.out(`Snapshot saved at ${path}\n`);
}

/** Makes the rename durable. */
async function fsyncParent(path: string): Promise<void> {
  const h = await open(dirname(resolve(path)), "r");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

export function formatStatus(format: string, ds: SnapshotStatus): string {
  const row = [ds.hash.toString(16), String(ds.revision), String(ds.totalKey), humanizeBytes(ds.totalSize)];
  switch (format) {
    case "simple":
      return row.join(", ") + "\n";
    case "json":
      return `{"hash":${ds.hash},"revision":${ds.revision},"totalKey":${ds.totalKey},"totalSize":${ds.totalSize}}\n`;
    case "table":
      return renderTable(["hash", "revision", "total keys", "total size"], [row]);
    case "fields":
      return `"Hash" : ${ds.hash}\n"Revision" : ${ds.revision}\n"Keys" : ${ds.totalKey}\n"Size" : ${ds.totalSize}\n`;
    default:
      throw unsupportedFormat(format);
  }
}

async function status(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "snapshot status requires exactly one argument");
  const format = ctx.globals.writeOut;
  if (format === "protobuf") throw unsupportedFormat(format);
  const read = ctx.offline.snapshotStatus;
  if (!read) throw new CliError(ExitCode.Error, "snapshot status needs the etcd-ts binary (etcd ctl snapshot status)");
  let ds: SnapshotStatus;
  try {
    ds = await read(args[0]);
  } catch (e) {
    throw new CliError(ExitCode.Error, fileError(args[0], e));
  }
  ctx.out(formatStatus(format, ds));
}

/** Node's "ENOENT: no such file or directory, open 'x'" as Go's "open x: no such file or directory". */
function fileError(path: string, e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const which = err.path ?? path;
  if (err.code === "ENOENT") return `open ${which}: no such file or directory`;
  if (err.code === "EACCES" || err.code === "EPERM") return `open ${which}: permission denied`;
  if (err.code === "EISDIR") return `${which} is a directory, not a snapshot file`;
  return err instanceof Error ? err.message : String(e);
}

/** Bytes as Go's %v prints a []byte: "[198 75 161]". */
export function goBytes(b: Uint8Array): string {
  return `[${Array.from(b).join(" ")}]`;
}

/**
 * etcdctl's integrity check before a restore: a file whose size says it ends with a sha256 must hash
 * to it. Done before anything looks inside the file, so a damaged snapshot is reported as damaged
 * (with etcdctl's message) rather than as "not a snapshot". Resolves true when a hash was there and
 * matched, false when there is none (or the file cannot be opened: the restore reports that).
 */
export async function verifySnapshotHash(path: string): Promise<boolean> {
  let h;
  try {
    h = await open(path, "r");
  } catch {
    return false;
  }
  try {
    const size = (await h.stat()).size;
    if (!hasChecksum(size)) return false;
    const dbBytes = size - SHA256_BYTES;
    const sha = sha256();
    const buf = Buffer.allocUnsafe(Math.min(HASH_CHUNK_BYTES, Math.max(dbBytes, 1)));
    for (let at = 0; at < dbBytes; ) {
      const { bytesRead } = await h.read(buf, 0, Math.min(buf.length, dbBytes - at), at);
      if (bytesRead === 0) throw new CliError(ExitCode.Error, `${path} ended at byte ${at} while ${dbBytes} were expected; the file changed while it was read`);
      sha.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    const expected = Buffer.alloc(SHA256_BYTES);
    await h.read(expected, 0, SHA256_BYTES, dbBytes);
    const got = Buffer.from(sha.digest());
    if (!got.equals(expected)) {
      throw new CliError(
        ExitCode.Error,
        `expected sha256 ${goBytes(expected)}, got ${goBytes(got)}: ${path} is damaged (sha256 mismatch); ` +
          "restore an intact copy, or add --skip-hash-check to restore it anyway",
      );
    }
    return true;
  } finally {
    await h.close();
  }
}

/**
 * What etcdctl 3.4's restore logs (zap JSON on stderr), which scripts and etcd's own tests wait for:
 * "restoring snapshot", one "added member" per member of the new cluster (by id), "restored snapshot".
 * Logged once the restore has succeeded (etcdctl logs the first line before it starts), so that a
 * failure is the one "Error:" line.
 */
export function logRestored(ctx: Ctx, o: { path: string; dataDir: string; walDir: string; localPeerUrls: readonly string[] }, done: RestoreSummary): void {
  const log = createLogger("info", (line) => ctx.err(line));
  const where = { path: o.path, "wal-dir": o.walDir || join(o.dataDir, "member", "wal"), "data-dir": o.dataDir, "snap-dir": join(o.dataDir, "member", "snap") };
  log("info", "restoring snapshot", where);
  // Without the list (an older offline tool), this member is the one known.
  const members = done.members ?? [{ id: done.memberId, peerURLs: o.localPeerUrls }];
  for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    log("info", "added member", {
      "cluster-id": done.clusterId.toString(16),
      "local-member-id": "0",
      "added-peer-id": m.id.toString(16),
      "added-peer-peer-urls": [...m.peerURLs],
    });
  }
  log("info", "restored snapshot", where);
}

async function restore(ctx: Ctx, args: string[], flags: Flags): Promise<void> {
  if (args.length !== 1) throw new CliError(ExitCode.BadArgs, "snapshot restore requires exactly one argument");
  const run = ctx.offline.restoreSnapshot;
  if (!run) throw new CliError(ExitCode.Error, "snapshot restore needs the etcd-ts binary (etcd ctl snapshot restore)");
  const name = flagString(flags, "name");
  const dataDir = flagString(flags, "data-dir") || `${name}.etcd`;
  const peerUrls = flagString(flags, "initial-advertise-peer-urls");
  // etcdctl defaults --initial-cluster to "default=<peer URL>" whatever --name says; like our
  // server, we build it from --name and --initial-advertise-peer-urls, so --name alone works.
  const initialCluster = flags.$set.has("initial-cluster")
    ? flagString(flags, "initial-cluster")
    : peerUrls.split(",").map((u) => `${name}=${u.trim()}`).join(",");
  const walDir = flagString(flags, "wal-dir");
  const localPeerUrls = peerUrls.split(",").map((u) => u.trim());
  const progress = progressReporter(ctx, "Restoring snapshot");
  try {
    const skipHashCheck = flagBool(flags, "skip-hash-check");
    // Checked here, first; the restore then need not read the whole file a second time for it.
    const verified = !skipHashCheck && (await verifySnapshotHash(args[0]));
    const done = await run({
      snapshotPath: args[0],
      dataDir,
      walDir,
      name,
      initialCluster,
      initialClusterToken: flagString(flags, "initial-cluster-token"),
      initialAdvertisePeerUrls: localPeerUrls,
      skipHashCheck: skipHashCheck || verified,
      progress: (d, t) => progress.update(d, t),
    });
    progress.end();
    if (done) {
      logRestored(ctx, { path: args[0], dataDir, walDir, localPeerUrls }, done);
      ctx.err(
        `Restored snapshot ${args[0]} (revision ${done.revision}) into ${dataDir} as member ${done.memberId.toString(16)} ` +
          `of cluster ${done.clusterId.toString(16)}; start it with --name ${name} --data-dir ${dataDir}${walDir ? ` --wal-dir ${walDir}` : ""} ` +
          "and the same --initial-cluster\n",
      );
    }
  } catch (e) {
    progress.end();
    if (e instanceof CliError) throw e;
    throw new CliError(ExitCode.Error, fileError(args[0], e));
  }
}

export const snapshotCommand: Command = {
  name: "snapshot",
  usage: "snapshot <subcommand>",
  short: "Manages etcd node snapshots",
  subcommands: [
    {
      name: "save",
      usage: "save <filename>",
      short: "Stores an etcd node backend snapshot to a given file",
      run: save,
    },
    {
      name: "restore",
      usage: "restore <filename> [options]",
      short: "Restores an etcd member snapshot to an etcd directory",
      flags: [
        { name: "data-dir", type: "string", usage: "Path to the data directory" },
        { name: "wal-dir", type: "string", usage: "Path to the WAL directory (use --data-dir if none given)" },
        { name: "initial-cluster", type: "string", default: `${DEFAULT_NAME}=${DEFAULT_PEER_URLS}`, usage: "Initial cluster configuration for restore bootstrap" },
        { name: "initial-cluster-token", type: "string", default: "etcd-cluster", usage: "Initial cluster token for the etcd cluster during restore bootstrap" },
        { name: "initial-advertise-peer-urls", type: "string", default: DEFAULT_PEER_URLS, usage: "List of this member's peer URLs to advertise to the rest of the cluster" },
        { name: "name", type: "string", default: DEFAULT_NAME, usage: "Human-readable name for this member" },
        { name: "skip-hash-check", type: "bool", usage: "Ignore snapshot integrity hash value (required if copied from data directory)" },
      ],
      run: restore,
    },
    {
      name: "status",
      usage: "status <filename>",
      short: "Gets backend snapshot status of a given file",
      long: "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\nThe items in the lists are hash, revision, total keys, total size.\n",
      run: (ctx, args) => status(ctx, args),
    },
  ],
};
