#!/usr/bin/env bun
// Watch clients for bench/watch.ts, in their own Bun process so that decoding ~10,000 events/s does
// not share an event loop with the writer. bench/watch.ts starts one or more of these, each with a
// share of the HTTP/2 connections.
//
//   bun bench/watch-client.ts --port P --conn-ids 0,2,4 --conns 10 --streams-per-conn 10
//       --watchers 10000 --keys 1000 --seed 1 --puts N --measure-from A --measure-to B [--max-seconds 120]
//
// Layout (the same in every process, so together they cover every watcher once): stream s of the
// --conns × --streams-per-conn streams is on connection floor(s / streams-per-conn); watcher i is on
// stream floor(i × streams / watchers) and watches key i mod keys. Watchers of one key are thus
// spread over different streams and connections, like many clients watching the same key.
//
// Every event is checked: a PUT, on the watcher's key, a higher revision than the watcher's last
// (no duplicates, no reordering), and for the measured puts (seq in [A, B)) the key the writer's
// seeded sequence gave that put. Latency is the shared clock now minus the stamp in the value.
//
// stdout: "@ready <ms to create all>" once every watcher is created, then one JSON line with the
// result when every measured event has arrived, on "end" on stdin (the writer gave up waiting), or
// after --max-seconds.
import type http2 from "node:http2";
import { etcdserverpb } from "../src/proto/etcd.js";
import { frame, MessageReader } from "../src/server/grpc/framing.ts";
import { connectH2 } from "./common/grpc.ts";
import {
  decodeWatchEvent, decodeWatchMsg, keyName, keyPicks, LatencyHistogram, newWatchEvent, newWatchMsg, sharedNowMs, STAMP_BYTES,
} from "./common/watch-wire.ts";

/** What this process reports (bench/watch.ts merges the processes' results). */
export interface WatchClientResult {
  watchers: number;
  created: number;
  createMs: number;
  /** Measured events every watcher should get (each watcher: the measured puts to its key). */
  expected: number;
  /** Measured events received (each at most once per watcher: duplicates are errors, not counted). */
  delivered: number;
  missing: number;
  /** Events of any put, warm-up included. */
  eventsAll: number;
  errors: number;
  firstErrors: string[];
  hist: { counts: number[]; n: number; maxMs: number };
  /** The process's own utime + stime so far, ms. */
  cpuTotalMs: number;
  /** Shared clock when the result was made. */
  finishedAtMs: number;
  /** The result was made on "end" or the time limit, not because everything arrived. */
  gaveUp: boolean;
}

const args: Record<string, string> = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1] ?? "";
const num = (name: string, dflt?: number): number => {
  const v = args[name] ?? (dflt === undefined ? undefined : String(dflt));
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`--${name}: a number is required, not ${v}`);
  return Math.floor(n);
};

const PORT = num("port");
const CONNS = num("conns");
const SPC = num("streams-per-conn");
const WATCHERS = num("watchers");
const KEYS = num("keys");
const PUTS = num("puts");
const FROM = num("measure-from");
const TO = num("measure-to");
const MAX_SECONDS = num("max-seconds", 120);
const CONN_IDS = (args["conn-ids"] ?? "").split(",").filter(Boolean).map(Number);
const STREAMS = CONNS * SPC;
const WATCH_PATH = "/etcdserverpb.Watch/Watch";

const picks = keyPicks(num("seed"), KEYS, PUTS);
/** Measured puts per key: what each watcher of that key must receive. */
const perKey = new Uint32Array(KEYS);
for (let s = FROM; s < TO; s++) perKey[picks[s]]++;
const keyBufs = Array.from({ length: KEYS }, (_, k) => Buffer.from(keyName(k)));

const lastRev = new Float64Array(WATCHERS);
const gotMeasured = new Uint32Array(WATCHERS);
const hist = new LatencyHistogram();
let myWatchers = 0;
let created = 0;
let expected = 0;
let delivered = 0;
let eventsAll = 0;
let errors = 0;
const firstErrors: string[] = [];
let createStart = 0;
let createMs = NaN;
let done = false;
let measuring = false; // "@ready" written: from now on every measured event counts towards done

function error(msg: string): void {
  errors++;
  if (firstErrors.length < 5) firstErrors.push(msg);
}

/** One watch stream: the watchers created on it in order, and their ids once created. */
class Stream {
  readonly reader = new MessageReader(64 * 1024 * 1024);
  readonly pending: number[] = [];
  head = 0;
  readonly byId = new Map<number, number>();
  constructor(readonly index: number) {}
}

const msg = newWatchMsg();
const ev = newWatchEvent();

function onMessage(st: Stream, b: Buffer, now: number): void {
  decodeWatchMsg(b, msg);
  if (msg.canceled) {
    error(`stream ${st.index}: watch ${msg.watchId} canceled: ${msg.cancelReason || `compacted at ${msg.compactRevision}`}`);
    return;
  }
  if (msg.created) {
    const w = st.pending[st.head++];
    if (w === undefined) return error(`stream ${st.index}: a created response with no create request waiting`);
    st.byId.set(msg.watchId, w);
    if (++created === myWatchers) ready();
    return;
  }
  if (msg.nEvents === 0) return; // a progress notification
  if (msg.fragment) return error(`stream ${st.index}: a fragmented response (not expected for small events)`);
  const w = st.byId.get(msg.watchId);
  if (w === undefined) return error(`stream ${st.index}: events for unknown watch id ${msg.watchId}`);
  const k = w % KEYS;
  const key = keyBufs[k];
  for (let i = 0; i < msg.nEvents; i++) {
    decodeWatchEvent(b, msg.evStart[i], msg.evEnd[i], ev);
    eventsAll++;
    if (ev.type !== 0) {
      error(`watcher ${w}: event type ${ev.type}, not PUT`);
      continue;
    }
    if (b.compare(key, 0, key.length, ev.keyStart, ev.keyEnd) !== 0) {
      error(`watcher ${w} (key ${k}): event for key ${b.toString("utf8", ev.keyStart, ev.keyEnd)}`);
      continue;
    }
    if (ev.modRevision <= lastRev[w]) {
      error(`watcher ${w}: revision ${ev.modRevision} after ${lastRev[w]} (duplicate or out of order)`);
      continue;
    }
    lastRev[w] = ev.modRevision;
    if (ev.valueEnd - ev.valueStart < STAMP_BYTES) {
      error(`watcher ${w}: value of ${ev.valueEnd - ev.valueStart} bytes has no stamp`);
      continue;
    }
    const sent = b.readDoubleLE(ev.valueStart);
    const seq = b.readUInt32LE(ev.valueStart + 8);
    if (seq < FROM || seq >= TO) continue;
    if (picks[seq] !== k) {
      error(`watcher ${w}: put #${seq} went to key ${k}, the writer's sequence says ${picks[seq]}`);
      continue;
    }
    gotMeasured[w]++;
    delivered++;
    hist.add(Math.max(0, now - sent));
  }
  if (measuring && delivered >= expected) finish(false);
}

function ready(): void {
  createMs = performance.now() - createStart;
  measuring = true;
  process.stdout.write(`@ready ${createMs.toFixed(1)}\n`);
  if (expected === 0) finish(false);
}

function openStream(session: http2.ClientHttp2Session, st: Stream): void {
  const req = session.request(
    { ":method": "POST", ":path": WATCH_PATH, "content-type": "application/grpc", te: "trailers" },
    { endStream: false },
  );
  req.on("data", (chunk: Buffer) => {
    const now = sharedNowMs();
    let msgs: Buffer[];
    try {
      msgs = st.reader.push(chunk);
    } catch (err) {
      error(`stream ${st.index}: ${(err as Error).message}`);
      req.close();
      return;
    }
    for (const m of msgs) {
      try {
        onMessage(st, m, now);
      } catch (err) {
        error(`stream ${st.index}: ${(err as Error).message}`);
      }
    }
  });
  req.on("error", (err) => {
    if (!done) error(`stream ${st.index}: ${err.message}`);
  });
  req.on("close", () => {
    if (!done) error(`stream ${st.index} closed by the server (rst ${req.rstCode})`);
  });
  // All create requests of the stream in one write; the server answers them in order.
  const frames: Buffer[] = [];
  for (const w of st.pending) {
    frames.push(frame(etcdserverpb.WatchRequest.encode({ createRequest: { key: keyBufs[w % KEYS] } }).finish()));
  }
  req.write(Buffer.concat(frames));
}

let sessions: http2.ClientHttp2Session[] = [];

function finish(gaveUp: boolean): void {
  if (done) return;
  done = true;
  let missing = 0;
  for (const c of CONN_IDS) {
    for (let s = c * SPC; s < (c + 1) * SPC; s++) {
      for (let w = firstWatcher(s); w < firstWatcher(s + 1); w++) missing += Math.max(0, perKey[w % KEYS] - gotMeasured[w]);
    }
  }
  const cpu = process.cpuUsage();
  const r: WatchClientResult = {
    watchers: myWatchers, created, createMs, expected, delivered, missing, eventsAll, errors, firstErrors,
    hist: hist.toJSON(), cpuTotalMs: (cpu.user + cpu.system) / 1000, finishedAtMs: sharedNowMs(), gaveUp,
  };
  process.stdout.write(JSON.stringify(r) + "\n", () => {
    for (const s of sessions) s.destroy();
    process.exit(0);
  });
}

/** The first watcher on stream s: the least i with floor(i × STREAMS / WATCHERS) = s. */
const firstWatcher = (s: number) => Math.ceil((s * WATCHERS) / STREAMS);

async function main(): Promise<void> {
  if (CONN_IDS.some((c) => !Number.isInteger(c) || c < 0 || c >= CONNS)) throw new Error(`--conn-ids: ${args["conn-ids"]}`);
  setTimeout(() => {
    error(`time limit of ${MAX_SECONDS} s reached`);
    finish(true);
  }, MAX_SECONDS * 1000).unref();
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d: string) => {
    if (d.includes("end")) finish(true);
  });
  const streams: [http2.ClientHttp2Session, Stream][] = [];
  sessions = await Promise.all(CONN_IDS.map(() => connectH2(PORT, 10_000)));
  CONN_IDS.forEach((c, ci) => {
    sessions[ci].on("close", () => {
      if (!done) error(`connection ${c} closed`);
    });
    for (let s = c * SPC; s < (c + 1) * SPC; s++) {
      const st = new Stream(s);
      for (let w = firstWatcher(s); w < firstWatcher(s + 1); w++) {
        st.pending.push(w);
        expected += perKey[w % KEYS];
      }
      myWatchers += st.pending.length;
      streams.push([sessions[ci], st]);
    }
  });
  createStart = performance.now();
  for (const [session, st] of streams) openStream(session, st);
  if (myWatchers === 0) ready();
}

main().catch((err) => {
  process.stderr.write(`watch-client: ${(err as Error)?.stack ?? err}\n`);
  process.exit(2);
});
