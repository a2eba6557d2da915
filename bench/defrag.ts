#!/usr/bin/env bun
// Defragment under load: etcd-ts against the real etcd 3.4, one member each on loopback.
//
//   npx bun bench/defrag.ts [--keys 70000] [--value-size 2048] [--keep-percent 40]
//                           [--probe-clients 4] [--ts-binary PATH] [--sides ts,etcd] [--keep-logs]
//
// Each server is filled with --keys keys of --value-size bytes, then all but --keep-percent of them
// are deleted and the history compacted (physical), so the database has space to reclaim. A few
// clients (--probe-clients) then run a steady stream of small requests — each a linearizable Range
// of one key, then a Put of a small value — for 3 s, then Defragment runs while they go on, then 1 s
// more. Reported per server: defrag duration, dbSize before/after, p99 and max latency of the
// stream before and during the defrag, and the longest stall: the longest time during the defrag in
// which no request of the stream completed (for etcd-ts, whose requests all run on one event loop,
// that is the longest event-loop block a client could see).
//
// --ts-binary runs that etcd-ts build instead of dist/etcd (then dist/etcd is neither checked nor
// rebuilt). Every loop is bounded: fill and deletes by count, the probe by time, each call by a deadline.
import fs from "node:fs";
import type http2 from "node:http2";
import path from "node:path";
import { etcdserverpb } from "../src/proto/etcd.js";
import { frame } from "../src/server/grpc/framing.ts";
import { connectH2, unaryCall, unaryFramed } from "./common/grpc.ts";
import { argv, bool, checkFlags, flag, helpIfAsked, opt } from "./common/options.ts";
import {
  cleanupOnSignals, DIST, prerequisites, removeTmp, runMain, type Side, SIDE_NAME, type SingleMember, sleep, spawnSingleMember, stopServers, waitHealthy, which,
} from "./common/procs.ts";
import { fmt, log } from "./common/report.ts";

helpIfAsked(import.meta.path, "header");
checkFlags(["keys", "value-size", "keep-percent", "probe-clients", "ts-binary", "sides", "keep-logs", "help"]);

const KEYS = opt("keys", 70_000);
const VALUE_SIZE = opt("value-size", 2048);
const KEEP_PERCENT = Math.min(100, opt("keep-percent", 40));
const PROBE_CLIENTS = opt("probe-clients", 4);
const SIDES = (flag("sides") ?? "ts,etcd").split(",").filter(Boolean) as Side[];
const KEEP_LOGS = bool("keep-logs");
const FILL_INFLIGHT = 64;
const BEFORE_MS = 3000;
const AFTER_MS = 1000;
const CALL_TIMEOUT_MS = 30_000;
const DEFRAG_TIMEOUT_MS = 10 * 60_000;

let ETCD = "";
let TS_BIN = DIST;
const tsFlag = flag("ts-binary");
if (tsFlag) {
  TS_BIN = path.resolve(tsFlag);
  if (!fs.existsSync(TS_BIN)) throw new Error(`--ts-binary ${TS_BIN} does not exist`);
  ETCD = which("etcd") ?? "";
  if (!ETCD && SIDES.includes("etcd")) throw new Error("the real etcd is not installed (apt-get install -y etcd-server)");
} else ETCD = prerequisites().ETCD;

const enc = new TextEncoder();
const keyOf = (i: number) => `bench/defrag/${String(i).padStart(8, "0")}`;

type Server = SingleMember;

async function startServer(side: Side): Promise<Server> {
  const srv = await spawnSingleMember(side, ETCD, "defrag", ["--quota-backend-bytes", String(8 * 1024 ** 3)], TS_BIN);
  await waitHealthy([srv], () => SIDE_NAME[side]);
  return srv;
}

async function statusOf(s: http2.ClientHttp2Session): Promise<{ dbSize: number; inUse: number; rev: bigint }> {
  const r = etcdserverpb.StatusResponse.decode(
    await unaryCall(s, "/etcdserverpb.Maintenance/Status", etcdserverpb.StatusRequest.encode({}).finish(), CALL_TIMEOUT_MS),
  );
  return { dbSize: Number(r.dbSize), inUse: Number(r.dbSizeInUse), rev: r.header!.revision! };
}

/** Puts KEYS keys of VALUE_SIZE bytes, FILL_INFLIGHT at a time over 4 connections. */
async function fill(port: number): Promise<void> {
  const sessions = await Promise.all([0, 1, 2, 3].map(() => connectH2(port, 5000)));
  const value = Buffer.alloc(VALUE_SIZE, "x");
  let next = 0;
  const t0 = Date.now();
  const worker = async (w: number) => {
    const s = sessions[w % sessions.length];
    for (let i = next++; i < KEYS; i = next++) {
      const msg = frame(etcdserverpb.PutRequest.encode({ key: enc.encode(keyOf(i)), value }).finish());
      await unaryFramed(s, "/etcdserverpb.KV/Put", msg, { timeoutMs: CALL_TIMEOUT_MS });
      if (i % 20_000 === 0 && i > 0) log(`  filled ${i} keys (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
  };
  await Promise.all(Array.from({ length: FILL_INFLIGHT }, (_, w) => worker(w)));
  for (const s of sessions) s.close();
}

/** Deletes the first (100 - KEEP_PERCENT)% of the keys in ranges of 2000, then compacts (physical) at the head. */
async function deleteAndCompact(s: http2.ClientHttp2Session): Promise<void> {
  const drop = Math.floor((KEYS * (100 - KEEP_PERCENT)) / 100);
  for (let from = 0; from < drop; from += 2000) {
    const msg = etcdserverpb.DeleteRangeRequest.encode({ key: enc.encode(keyOf(from)), rangeEnd: enc.encode(keyOf(Math.min(drop, from + 2000))) }).finish();
    await unaryCall(s, "/etcdserverpb.KV/DeleteRange", msg, CALL_TIMEOUT_MS);
  }
  const { rev } = await statusOf(s);
  await unaryCall(s, "/etcdserverpb.KV/Compact", etcdserverpb.CompactionRequest.encode({ revision: rev, physical: true }).finish(), CALL_TIMEOUT_MS * 4);
}

interface Sample {
  start: number;
  end: number;
  ms: number;
  ok: boolean;
}

/** PROBE_CLIENTS loops of (linearizable Range of one key, Put of 16 bytes) until stop() says so. */
function probe(port: number): { samples: Sample[]; stop: () => Promise<void>; ready: Promise<void> } {
  const samples: Sample[] = [];
  let stopping = false;
  const sessions: http2.ClientHttp2Session[] = [];
  const loops: Promise<void>[] = [];
  const ready = (async () => {
    for (let c = 0; c < PROBE_CLIENTS; c++) sessions.push(await connectH2(port, 5000));
    for (let c = 0; c < PROBE_CLIENTS; c++) {
      const get = frame(etcdserverpb.RangeRequest.encode({ key: enc.encode(keyOf(KEYS - 1 - c)) }).finish());
      const put = frame(etcdserverpb.PutRequest.encode({ key: enc.encode(`bench/defrag/probe/${c}`), value: Buffer.alloc(16, "p") }).finish());
      loops.push(
        (async () => {
          // Bounded by time through stopping (set at most BEFORE_MS + the defrag deadline + AFTER_MS later); the count is a backstop.
          for (let n = 0; !stopping && n < 10_000_000; n++) {
            const [path, msg] = n % 2 === 0 ? ["/etcdserverpb.KV/Range", get] : ["/etcdserverpb.KV/Put", put];
            const start = performance.now();
            let ok = true;
            try {
              await unaryFramed(sessions[c], path, msg, { timeoutMs: CALL_TIMEOUT_MS });
            } catch {
              ok = false;
              await sleep(10);
            }
            const end = performance.now();
            samples.push({ start, end, ms: end - start, ok });
          }
        })(),
      );
    }
  })();
  return {
    samples,
    ready,
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      for (const s of sessions) s.close();
    },
  };
}

const quantile = (xs: number[], q: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

interface Result {
  side: Side;
  defragMs: number;
  sizeBefore: number;
  inUseBefore: number;
  sizeAfter: number;
  inUseAfter: number;
  p99Before: number;
  maxBefore: number;
  p99During: number;
  maxDuring: number;
  stallMs: number;
  reqsDuring: number;
  errors: number;
}

async function runSide(side: Side): Promise<Result> {
  log(`${SIDE_NAME[side]}: starting`);
  const srv = await startServer(side);
  try {
    const s = await connectH2(srv.port, 5000);
    log(`${SIDE_NAME[side]}: filling ${KEYS} keys × ${VALUE_SIZE} B`);
    await fill(srv.port);
    log(`${SIDE_NAME[side]}: deleting ${100 - KEEP_PERCENT}% and compacting`);
    await deleteAndCompact(s);
    await sleep(1000);
    const before = await statusOf(s);
    log(`${SIDE_NAME[side]}: dbSize ${(before.dbSize / 1e6).toFixed(1)} MB, in use ${(before.inUse / 1e6).toFixed(1)} MB; defrag under load`);
    const p = probe(srv.port);
    await p.ready;
    await sleep(BEFORE_MS);
    const t0 = performance.now();
    await unaryCall(s, "/etcdserverpb.Maintenance/Defragment", etcdserverpb.DefragmentRequest.encode({}).finish(), DEFRAG_TIMEOUT_MS);
    const t1 = performance.now();
    await sleep(AFTER_MS);
    await p.stop();
    const after = await statusOf(s);
    s.close();
    const pre = p.samples.filter((x) => x.end < t0);
    // A request overlapping the defrag at all counts as "during".
    const during = p.samples.filter((x) => x.end >= t0 && x.start <= t1);
    // The longest interval inside [t0, t1] with no completion.
    const ends = during.map((x) => x.end).filter((e) => e <= t1).sort((a, b) => a - b);
    let stall = 0;
    let last = t0;
    for (const e of [...ends, t1]) {
      stall = Math.max(stall, e - last);
      last = e;
    }
    const r: Result = {
      side,
      defragMs: t1 - t0,
      sizeBefore: before.dbSize,
      inUseBefore: before.inUse,
      sizeAfter: after.dbSize,
      inUseAfter: after.inUse,
      p99Before: quantile(pre.map((x) => x.ms), 0.99),
      maxBefore: Math.max(...pre.map((x) => x.ms)),
      p99During: quantile(during.map((x) => x.ms), 0.99),
      maxDuring: Math.max(...during.map((x) => x.ms)),
      stallMs: stall,
      reqsDuring: during.length,
      errors: p.samples.filter((x) => !x.ok).length,
    };
    log(`${SIDE_NAME[side]}: defrag ${r.defragMs.toFixed(0)} ms, dbSize ${(r.sizeAfter / 1e6).toFixed(1)} MB after, max latency during ${r.maxDuring.toFixed(0)} ms`);
    return r;
  } finally {
    const failures = await stopServers([srv], () => SIDE_NAME[side]);
    for (const f of failures) log(f);
    removeTmp(srv.tmp, KEEP_LOGS, [[srv.logFile, `defrag-${side}.log`]]);
  }
}

cleanupOnSignals();
runMain(async () => {
  log(`defrag bench: ${KEYS} keys × ${VALUE_SIZE} B, keep ${KEEP_PERCENT}%, ${PROBE_CLIENTS} probe clients; etcd-ts ${TS_BIN}`);
  const results: Result[] = [];
  for (const side of SIDES) results.push(await runSide(side));
  const MB = (n: number) => fmt(n / 1e6, 1);
  const rows: [string, (r: Result) => string][] = [
    ["defrag duration (ms)", (r) => fmt(r.defragMs, 0)],
    ["dbSize before → after (MB)", (r) => `${MB(r.sizeBefore)} → ${MB(r.sizeAfter)}`],
    ["dbSizeInUse before → after (MB)", (r) => `${MB(r.inUseBefore)} → ${MB(r.inUseAfter)}`],
    ["request p99 before / during defrag (ms)", (r) => `${fmt(r.p99Before, 1)} / ${fmt(r.p99During, 1)}`],
    ["request max before / during defrag (ms)", (r) => `${fmt(r.maxBefore, 1)} / ${fmt(r.maxDuring, 1)}`],
    ["longest stall during defrag (ms)", (r) => fmt(r.stallMs, 0)],
    ["stall / defrag duration", (r) => fmt(r.stallMs / r.defragMs, 2)],
    ["requests completed during defrag", (r) => String(r.reqsDuring)],
    ["failed requests", (r) => String(r.errors)],
  ];
  const head = `| metric | ${results.map((r) => SIDE_NAME[r.side]).join(" | ")} |`;
  const lines = [head, `| --- |${results.map(() => " ---: |").join("")}`, ...rows.map(([m, f]) => `| ${m} | ${results.map(f).join(" | ")} |`)];
  const ts = results.find((r) => r.side === "ts");
  const et = results.find((r) => r.side === "etcd");
  if (ts && et) {
    lines.push(`| ratio etcd-ts / etcd 3.4: defrag duration | ${fmt(ts.defragMs / et.defragMs, 2)} | |`);
    lines.push(`| ratio etcd-ts / etcd 3.4: longest stall | ${fmt(ts.stallMs / et.stallMs, 2)} | |`);
  }
  process.stdout.write(`\nnpx bun bench/defrag.ts ${argv.join(" ")}\n\n${lines.join("\n")}\n`);
  if (results.some((r) => r.errors > 0)) process.exitCode = 1;
});
