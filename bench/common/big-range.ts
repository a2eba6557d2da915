// One Range over a whole key prefix, for bench/scale.ts: the call on its own connection (a large
// HTTP/2 window, so the client's flow control is not what gets timed), how long until the whole
// response is in, the kvs counted without decoding them all, and the server's peak RSS meanwhile.
import fs from "node:fs";
import { etcdserverpb, mvccpb } from "../../src/proto/etcd.js";
import { frame } from "../../src/server/grpc/framing.ts";
import { CallError, connectH2, unaryFramed } from "./grpc.ts";
import { procStatus } from "./procs.ts";

/** Receive window of the connection and of its streams: a few round trips per 100 MB, not thousands. */
const WINDOW_BYTES = 64 * 1024 * 1024;
const POLL_MS = 20;

export interface BigRangeResult {
  ms: number;
  /** Size of the RangeResponse message. */
  bytes: number;
  /** kvs entries in the response, and its count and more fields. */
  kvs: number;
  count: number;
  more: boolean;
  firstKey: string;
  lastKey: string;
  rssBeforeKiB: number;
  peakKiB: number;
  /** Where peakKiB comes from: VmHWM reset just before the call (exact), or VmRSS polled every 20 ms. */
  peakFrom: "VmHWM" | "VmRSS polls";
}

/** The smallest key after every key that starts with prefix (etcd's prefix range_end). */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]); // all 0xff: to the end of the key space
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, our own child); false if the kernel refuses. */
function resetPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * One linearizable Range of every key under `prefix` from the server on 127.0.0.1:port (process
 * pid). Throws CallError if the call fails or its response is not one well-formed RangeResponse;
 * the caller checks the count.
 */
export async function bigRange(port: number, pid: number, prefix: string, timeoutMs: number): Promise<BigRangeResult> {
  const key = new TextEncoder().encode(prefix);
  const request = frame(etcdserverpb.RangeRequest.encode({ key, rangeEnd: prefixEnd(key) }).finish());
  const session = await connectH2(port, 5000);
  try {
    session.setLocalWindowSize(WINDOW_BYTES);
    await new Promise<void>((resolve, reject) =>
      session.settings({ initialWindowSize: WINDOW_BYTES }, (err) => (err ? reject(new CallError(`HTTP/2 SETTINGS: ${err.message}`)) : resolve())),
    );

    const reset = resetPeak(pid);
    const before = procStatus(pid);
    let polled = before.rssKiB;
    // The poll runs on this event loop while the response streams in; with a reset VmHWM it is only a fallback.
    const timer = setInterval(() => {
      try {
        polled = Math.max(polled, procStatus(pid).rssKiB);
      } catch {} // the server has exited: the call fails and says so
    }, POLL_MS);
    const t0 = performance.now();
    let body: Buffer | null;
    try {
      body = await unaryFramed(session, "/etcdserverpb.KV/Range", request, { timeoutMs, keepBody: true });
    } finally {
      clearInterval(timer);
    }
    const ms = performance.now() - t0;
    const after = procStatus(pid);
    polled = Math.max(polled, after.rssKiB);
    // Without a reset, a VmHWM above its value before the call was set during the call.
    const hwmPeak = reset || after.hwmKiB > before.hwmKiB;
    const peakKiB = hwmPeak ? Math.max(after.hwmKiB, polled) : polled;

    if (!body || body.length < 5) throw new CallError("Range returned an empty body");
    const len = body.readUInt32BE(1);
    if (body[0] !== 0 || body.length !== 5 + len) {
      throw new CallError(`Range returned ${body.length} bytes, not one uncompressed message (flag ${body[0]}, length ${len})`);
    }
    const scan = scanRangeResponse(body.subarray(5));
    return { ms, bytes: len, ...scan, rssBeforeKiB: before.rssKiB, peakKiB, peakFrom: hwmPeak ? "VmHWM" : "VmRSS polls" };
  } finally {
    session.close();
  }
}

/**
 * The top-level fields of a RangeResponse (kvs = 2, more = 3, count = 4) read off the wire: decoding
 * a million KeyValue objects would cost this process seconds and hundreds of MB on the cores the
 * server uses. Only the first and last kvs are decoded, to show their keys.
 */
function scanRangeResponse(msg: Buffer): { kvs: number; count: number; more: boolean; firstKey: string; lastKey: string } {
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= msg.length) throw new CallError("RangeResponse: truncated varint");
      const b = msg[pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new CallError("RangeResponse: varint longer than 10 bytes");
  };
  let kvs = 0;
  let count = 0;
  let more = false;
  let first: Buffer | null = null;
  let last: Buffer | null = null;
  while (pos < msg.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) {
      const v = varint();
      if (field === 3) more = v !== 0;
      else if (field === 4) count = v;
    } else if (wire === 2) {
      const n = varint();
      if (pos + n > msg.length) throw new CallError("RangeResponse: a field runs past the end");
      if (field === 2) {
        kvs++;
        last = msg.subarray(pos, pos + n);
        first ??= last;
      }
      pos += n;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new CallError(`RangeResponse: wire type ${wire} of field ${field}`);
  }
  if (pos !== msg.length) throw new CallError("RangeResponse: the last field runs past the end");
  const keyOf = (b: Buffer | null) => (b ? new TextDecoder().decode(mvccpb.KeyValue.decode(b).key) : "");
  return { kvs, count, more, firstKey: keyOf(first), lastKey: keyOf(last) };
}
