// What the watch bench's writer (bench/watch.ts) and its watch clients (bench/watch-client.ts) must
// agree on: the key names, which key the put number `seq` goes to, the stamp in each value, and a
// decoder of WatchResponse that reads only what the clients check, without allocating per event
// (a client gets ~10,000 events/s; protobufjs objects per event would make the client the bottleneck).
import { seededRandom } from "../../src/pkg/prng.ts";

export const keyName = (k: number): string => `bench/watch/${String(k).padStart(6, "0")}`;

/** The key of every put, in order: both sides draw the same sequence from the seed. */
export function keyPicks(seed: number, keys: number, total: number): Uint32Array {
  const rand = seededRandom(seed >>> 0 || 1);
  const out = new Uint32Array(total);
  for (let i = 0; i < total; i++) out[i] = Math.floor(rand() * keys);
  return out;
}

/**
 * A put's value starts with the send time and its number: float64 LE ms on the shared clock, then
 * uint32 LE seq; the rest is padding. Two Bun processes share the clock performance.timeOrigin +
 * performance.now() (wall-clock origin, monotonic after it).
 */
export const STAMP_BYTES = 12;
export const sharedNowMs = (): number => performance.timeOrigin + performance.now();

export function writeStamp(value: Buffer, at: number, sentMs: number, seq: number): void {
  value.writeDoubleLE(sentMs, at);
  value.writeUInt32LE(seq, at + 8);
}

// ---------------------------------------------------------------- WatchResponse, the fields checked

/** One WatchResponse; the decoder refills the same object (and its arrays) for every message. */
export interface WatchMsg {
  /** -1 (a progress notification) and other ids beyond 2^53 come out imprecise; clients only look ids up. */
  watchId: number;
  created: boolean;
  canceled: boolean;
  cancelReason: string;
  compactRevision: number;
  fragment: boolean;
  /** events[0..nEvents): byte ranges of the Event messages in the buffer. */
  nEvents: number;
  evStart: number[];
  evEnd: number[];
}

/** One Event, refilled per event: type (0 PUT, 1 DELETE), the kv's key and value as byte ranges, its mod revision. */
export interface WatchEvent {
  type: number;
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
  modRevision: number;
  hasPrevKv: boolean;
}

export const newWatchMsg = (): WatchMsg => ({
  watchId: 0, created: false, canceled: false, cancelReason: "", compactRevision: 0, fragment: false, nEvents: 0, evStart: [], evEnd: [],
});
export const newWatchEvent = (): WatchEvent => ({ type: 0, keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0, modRevision: 0, hasPrevKv: false });

// The read position of the varint/skip helpers (one decoder at a time: the clients are single-threaded).
let pos = 0;

function varint(b: Buffer): number {
  let result = 0;
  let mul = 1;
  for (let n = 0; n < 10; n++) {
    const byte = b[pos++];
    result += (byte & 0x7f) * mul;
    if (byte < 0x80) return result;
    mul *= 128;
  }
  throw new Error("watch response: varint longer than 10 bytes");
}

function skip(b: Buffer, wireType: number): void {
  if (wireType === 0) varint(b);
  else if (wireType === 1) pos += 8;
  else if (wireType === 2) {
    const len = varint(b); // not `pos += varint(b)`: that reads pos before varint moves it
    pos += len;
  }
  else if (wireType === 5) pos += 4;
  else throw new Error(`watch response: wire type ${wireType} not expected`);
}

export function decodeWatchMsg(b: Buffer, m: WatchMsg): void {
  m.watchId = 0;
  m.created = m.canceled = m.fragment = false;
  m.cancelReason = "";
  m.compactRevision = 0;
  m.nEvents = 0;
  pos = 0;
  while (pos < b.length) {
    const tag = varint(b);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 2 && wt === 0) m.watchId = varint(b);
    else if (field === 3 && wt === 0) m.created = varint(b) !== 0;
    else if (field === 4 && wt === 0) m.canceled = varint(b) !== 0;
    else if (field === 5 && wt === 0) m.compactRevision = varint(b);
    else if (field === 6 && wt === 2) {
      const len = varint(b);
      m.cancelReason = b.toString("utf8", pos, pos + len);
      pos += len;
    } else if (field === 7 && wt === 0) m.fragment = varint(b) !== 0;
    else if (field === 11 && wt === 2) {
      const len = varint(b);
      m.evStart[m.nEvents] = pos;
      m.evEnd[m.nEvents] = pos + len;
      m.nEvents++;
      pos += len;
    } else skip(b, wt);
  }
  if (pos !== b.length) throw new Error("watch response: truncated message");
}

export function decodeWatchEvent(b: Buffer, start: number, end: number, e: WatchEvent): void {
  e.type = 0;
  e.keyStart = e.keyEnd = e.valueStart = e.valueEnd = 0;
  e.modRevision = 0;
  e.hasPrevKv = false;
  pos = start;
  while (pos < end) {
    const tag = varint(b);
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1 && wt === 0) e.type = varint(b);
    else if (field === 2 && wt === 2) {
      const len = varint(b);
      const kvEnd = pos + len;
      while (pos < kvEnd) {
        const t = varint(b);
        const f = t >>> 3;
        const w = t & 7;
        if ((f === 1 || f === 5) && w === 2) {
          const len = varint(b);
          if (f === 1) (e.keyStart = pos), (e.keyEnd = pos + len);
          else (e.valueStart = pos), (e.valueEnd = pos + len);
          pos += len;
        } else if (f === 3 && w === 0) e.modRevision = varint(b);
        else skip(b, w);
      }
    } else if (field === 3 && wt === 2) {
      e.hasPrevKv = true;
      skip(b, wt);
    } else skip(b, wt);
  }
  if (pos !== end) throw new Error("watch event: truncated message");
}

// ---------------------------------------------------------------- latency histogram

/**
 * Latencies in buckets 2% wide (bucket i holds (1.02^(i-1), 1.02^i] µs), so client processes can
 * merge theirs and the quantiles are within 2%; the max is kept exactly.
 */
export class LatencyHistogram {
  static readonly BUCKETS = 1000; // 1.02^1000 µs ≈ 110 h: nothing falls off the end
  readonly counts = new Float64Array(LatencyHistogram.BUCKETS);
  n = 0;
  maxMs = 0;

  add(ms: number): void {
    const us = ms * 1000;
    const i = us <= 1 ? 0 : Math.min(LatencyHistogram.BUCKETS - 1, Math.ceil(Math.log(us) / LN_STEP));
    this.counts[i]++;
    this.n++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  merge(o: { counts: ArrayLike<number>; n: number; maxMs: number }): void {
    for (let i = 0; i < LatencyHistogram.BUCKETS; i++) this.counts[i] += o.counts[i] ?? 0;
    this.n += o.n;
    this.maxMs = Math.max(this.maxMs, o.maxMs);
  }

  /** The upper bound of the bucket holding quantile p (0..100), in ms; NaN when empty. */
  quantileMs(p: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < LatencyHistogram.BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.maxMs, Math.exp(i * LN_STEP) / 1000);
    }
    return this.maxMs;
  }

  toJSON(): { counts: number[]; n: number; maxMs: number } {
    return { counts: Array.from(this.counts), n: this.n, maxMs: this.maxMs };
  }
}

const LN_STEP = Math.log(1.02);
