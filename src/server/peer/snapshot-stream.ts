// Snapshot connections (handshake kind Snapshot): how a member far behind the leader's log gets
// the leader's whole database without holding it in memory on either side, and without delaying
// the Raft stream (heartbeats keep flowing on their own connection).
//
//   dialer → frame: u64be size | 32-byte sha256 of the file | raftpb.Message (Snap, empty data)
//   dialer → frames of up to SNAPSHOT_CHUNK_BYTES until `size` bytes have gone
//   acceptor → frame: 0x00 (stored, fsynced, sha256 matched) | 0x01 + reason
//
// The sender reads the file from an fd opened before it dials, so the file may be replaced or
// removed meanwhile. The receiver writes to a .part file, checks the sha256, fsyncs, renames it
// to received-<sender>-<index>.db and hands the message and that path on.
import { createHash, type Hash } from "node:crypto";
import fs from "node:fs";
import type net from "node:net";
import type tls from "node:tls";
import { join } from "node:path";
import { decodeMessage } from "../../raft/codec.ts";
import { type Message, MessageType } from "../../raft/types.ts";
import { dialPeer } from "./dial.ts";
import { frameHeader } from "./frame.ts";
import { ConnKind } from "./handshake.ts";
import { snapDbFsyncSeconds, snapDbSaveSeconds } from "./metrics.ts";

export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** A chunk frame, or the header frame with its message (which carries no data). */
export const SNAPSHOT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
const HEADER_BYTES = 8 + 32;
/** Buffered file writes on the receiver before it stops reading the socket. */
const MAX_PENDING_WRITES = 8;

/** A database file to send, with what the receiver checks it against. */
export interface SnapshotSource {
  path: string;
  size: number;
  sha256: Buffer;
}

export interface SendSnapshotOptions {
  url: string;
  clusterId: bigint;
  from: bigint;
  to: bigint;
  dialTimeoutMs: number;
  /** no progress for this long fails the transfer */
  idleTimeoutMs: number;
  chunkBytes?: number;
  /** set while sending: aborting destroys the connection */
  signal?: AbortSignal;
  /** this member's peer TLS client side, for https:// URLs */
  tls?: tls.ConnectionOptions;
}

/** Streams src to the peer; resolves once the peer has stored and verified it. */
export async function sendSnapshot(opts: SendSnapshotOptions, message: Uint8Array, src: SnapshotSource): Promise<void> {
  const file = await fs.promises.open(src.path, "r");
  try {
    const { socket, early, reader } = await dialPeer(opts.url, { clusterId: opts.clusterId, from: opts.from, to: opts.to, kind: ConnKind.Snapshot }, opts.dialTimeoutMs, 1024, opts.tls);
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (err: Error | null) => {
        if (done) return;
        done = true;
        opts.signal?.removeEventListener("abort", onAbort);
        socket.destroy();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => finish(new Error("snapshot send aborted"));
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener("abort", onAbort);
      const onVerdict = (payload: Buffer) => {
        if (payload.length >= 1 && payload[0] === 0) finish(null);
        else finish(new Error(`${opts.url} refused the snapshot: ${payload.subarray(1).toString() || "no reason given"}`));
        return false;
      };
      if (early.length > 0) return void onVerdict(early[0]);
      socket.setTimeout(opts.idleTimeoutMs, () => finish(new Error(`${opts.url}: snapshot transfer made no progress for ${opts.idleTimeoutMs} ms`)));
      socket.on("data", (chunk: Buffer) => {
        try {
          reader.push(chunk, onVerdict);
        } catch (e) {
          finish(e as Error);
        }
      });
      socket.on("close", () => finish(new Error(`${opts.url}: connection closed during the snapshot transfer`)));
      const header = Buffer.allocUnsafe(HEADER_BYTES);
      header.writeBigUInt64BE(BigInt(src.size), 0);
      src.sha256.copy(header, 8);
      socket.write(Buffer.concat([frameHeader(HEADER_BYTES + message.length), header, message]));
      void (async () => {
        const chunkBytes = opts.chunkBytes ?? SNAPSHOT_CHUNK_BYTES;
        for (let off = 0; off < src.size && !done; ) {
          const buf = Buffer.allocUnsafe(Math.min(chunkBytes, src.size - off));
          const { bytesRead } = await file.read(buf, 0, buf.length, off);
          if (bytesRead !== buf.length) return finish(new Error(`${src.path}: file shrank while being sent (read ${bytesRead} of ${buf.length} bytes at ${off})`));
          off += bytesRead;
          if (done) return;
          const more = socket.write(frameHeader(buf.length)) && socket.write(buf);
          if (!more) await new Promise<void>((r) => socket.once("drain", r).once("close", r));
        }
      })().catch((e) => finish(e as Error));
    });
  } finally {
    await file.close();
  }
}

export interface ReceiverOptions {
  dir: string;
  from: bigint;
  memberId: bigint;
  socket: net.Socket;
  /** the snapshot is stored and verified at path; the receiver no longer owns the file */
  onSnapshot: (m: Message, path: string) => void;
  onError: (reason: string) => void;
}

/** The acceptor's side of one snapshot connection: feed it every frame after the handshake. */
export class SnapshotReceiver {
  #m: Message | null = null;
  #size = 0;
  #want: Buffer | null = null;
  #hash: Hash = createHash("sha256");
  #got = 0;
  #fd: number | null = null;
  #part: string;
  #pending = 0;
  #chain: Promise<void> = Promise.resolve();
  #failed = false;
  #startedMs = 0;

  constructor(readonly opts: ReceiverOptions) {
    this.#part = join(opts.dir, `receiving-${opts.from.toString(16)}.part`);
  }

  /** Returns false once the connection should stop being read (done or failed). */
  onFrame(payload: Buffer): boolean {
    if (this.#failed) return false;
    if (this.#m === null) return this.#onHeader(payload);
    if (payload.length === 0) return true;
    if (this.#got + payload.length > this.#size) return this.#fail(`more data than the announced ${this.#size} bytes`);
    this.#got += payload.length;
    this.#hash.update(payload);
    this.#write(payload);
    if (this.#got === this.#size) this.#complete();
    return true;
  }

  /** The connection closed: a transfer still in progress is discarded. */
  closed(): void {
    if (this.#m !== null && this.#got < this.#size && !this.#failed) {
      this.#failed = true;
      this.opts.onError(`connection closed after ${this.#got} of ${this.#size} bytes`);
      this.#cleanup();
    }
  }

  #onHeader(payload: Buffer): boolean {
    if (payload.length < HEADER_BYTES) return this.#fail("short snapshot header");
    let m: Message;
    try {
      m = decodeMessage(payload.subarray(HEADER_BYTES));
    } catch (e) {
      return this.#fail(`bad snapshot message: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (m.type !== MessageType.Snap || !m.snapshot) return this.#fail(`expected a Snap message, got type ${m.type}`);
    if (m.to !== this.opts.memberId || m.from !== this.opts.from) return this.#fail("snapshot message is not from the connected member to this one");
    this.#m = m;
    this.#startedMs = performance.now();
    this.#size = Number(payload.readBigUInt64BE(0));
    this.#want = Buffer.from(payload.subarray(8, HEADER_BYTES));
    try {
      fs.mkdirSync(this.opts.dir, { recursive: true });
      this.#fd = fs.openSync(this.#part, "w", 0o600);
    } catch (e) {
      return this.#fail(`cannot store the snapshot: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (this.#size === 0) this.#complete();
    return true;
  }

  #write(chunk: Buffer): void {
    const fd = this.#fd as number;
    this.#pending++;
    if (this.#pending >= MAX_PENDING_WRITES) this.opts.socket.pause();
    this.#chain = this.#chain.then(async () => {
      if (this.#failed) return;
      for (let off = 0; off < chunk.length; ) {
        const { bytesWritten } = await writeAsync(fd, chunk.subarray(off));
        off += bytesWritten;
      }
    });
    this.#chain
      .finally(() => {
        this.#pending--;
        if (this.#pending < MAX_PENDING_WRITES / 2) this.opts.socket.resume();
      })
      .catch(() => {});
  }

  #complete(): void {
    const m = this.#m as Message;
    const sum = this.#hash.digest();
    this.#chain
      .then(async () => {
        if (this.#failed) return;
        if (!sum.equals(this.#want as Buffer)) throw new Error("sha256 mismatch: the snapshot arrived damaged");
        const fd = this.#fd as number;
        const fsyncStartMs = performance.now();
        await new Promise<void>((r, j) => fs.fsync(fd, (e) => (e ? j(e) : r())));
        snapDbFsyncSeconds.observe((performance.now() - fsyncStartMs) / 1000);
        fs.closeSync(fd);
        this.#fd = null;
        const path = join(this.opts.dir, `received-${this.opts.from.toString(16)}-${m.snapshot?.meta.index}.db`);
        fs.renameSync(this.#part, path);
        snapDbSaveSeconds.observe((performance.now() - this.#startedMs) / 1000);
        this.opts.socket.end(Buffer.concat([frameHeader(1), Buffer.from([0])]));
        this.opts.onSnapshot(m, path);
      })
      .catch((e) => this.#fail(e instanceof Error ? e.message : String(e)));
  }

  #fail(reason: string): false {
    if (this.#failed) return false;
    this.#failed = true;
    this.opts.onError(reason);
    const text = Buffer.from(reason);
    this.opts.socket.end(Buffer.concat([frameHeader(1 + text.length), Buffer.from([1]), text]));
    this.#cleanup();
    return false;
  }

  #cleanup(): void {
    if (this.#fd !== null) {
      try {
        fs.closeSync(this.#fd);
      } catch {}
      this.#fd = null;
    }
    fs.rmSync(this.#part, { force: true });
  }
}

function writeAsync(fd: number, b: Buffer): Promise<{ bytesWritten: number }> {
  return new Promise((r, j) => fs.write(fd, b, 0, b.length, null, (e, n) => (e ? j(e) : r({ bytesWritten: n }))));
}

