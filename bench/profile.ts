#!/usr/bin/env bun
// `npm run bench -- profile`: where a single member's CPU goes under a put load, by stage.
//
// Starts dist/etcd with Bun's sampling profiler on (BUN_OPTIONS=--cpu-prof), drives it with
// bench/load.ts (--warmup puts, then --total measured puts, 100 clients over 10 connections), stops it
// with SIGTERM and reads the profile. Each sample of the JavaScript thread is charged to the stage of
// the innermost frame that belongs to one (a SQLite call made by the store is "apply"; a socket write
// made by the HTTP/2 layer is "respond"), and the table gives µs per put. Beside it, the CPU of every
// thread of the process (from /proc/PID/task) over the measured part: the JavaScript thread, the
// garbage collector's helpers, the JIT compilers, the allocator's scavenger, the file I/O pool.
// The .cpuprofile is kept (--out, default bench/profile.cpuprofile): Chrome DevTools, VS Code or
// speedscope.app draw it as a flame graph.
//
// Flags (or BENCH_*): --total 60000, --warmup 30000, --out bench/profile.cpuprofile, --interval 250 (µs).
import fs from "node:fs";
import path from "node:path";
import { runLoad } from "./common/loadgen.ts";
import { checkFlags, flag, helpIfAsked, opt } from "./common/options.ts";
import { cleanupOnSignals, freePorts, makeTmp, prerequisites, removeTmp, runMain, ROOT, spawnServer, stopServers, waitHealthy } from "./common/procs.ts";
import { fmt, log } from "./common/report.ts";

checkFlags(["total", "warmup", "out", "interval", "help"]);
helpIfAsked(import.meta.path, "header");
const o = { total: opt("total", 60_000), warmup: opt("warmup", 30_000), interval: opt("interval", 250) };
const out = path.resolve(flag("out") ?? path.join(ROOT, "bench", "profile.cpuprofile"));
const { ETCD } = prerequisites();
cleanupOnSignals();

/** Stages by source file (or function), tried from the innermost frame outwards; the first match wins. */
const STAGES: [stage: string, test: (url: string, fn: string) => boolean][] = [
  ["WAL encode + CRC", (u) => /wal\/frame|crc32c|raft-wal|wal\/record/.test(u)],
  ["WAL write + fsync (JS side)", (u) => /wal\/(wal|segment-file|group-commit)/.test(u) || u === "node:fs/promises"],
  ["apply to SQLite (MVCC, lessor, watch notify)", (u) => /mvcc\/|backend\/|apply\/|kv-apply|lessor|watch-hub|bun:sqlite|member-io/.test(u)],
  ["Raft (step, log, Ready)", (u) => /src\/raft\/|raft-node|raw-node/.test(u)],
  ["propose (wait registry, checks)", (u) => /proposer|proposals|read-batcher|reads\.ts/.test(u)],
  ["respond (encode, HTTP/2 frames, socket write)", (u, f) => /#reply|encodeMessage|#flush|#push|writeBuffered/.test(f) || u === "node:net"],
  ["HTTP/2 + gRPC receive, protobuf decode", (u) => /grpc\/|h2\/|proto\/|protobufjs|pkg\/grpc-framing/.test(u)],
  ["metrics", (u) => /metrics/.test(u)],
];

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

function stagesOf(file: string): { perStage: Map<string, number>; jsMs: number } {
  const p = JSON.parse(fs.readFileSync(file, "utf8")) as { nodes: Node[]; samples: number[] };
  const byId = new Map<number, Node>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const perStage = new Map<string, number>();
  const sampleMs = o.interval / 1000;
  for (const leaf of p.samples) {
    let stage = "other (event loop, timers, start-up)";
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!.callFrame;
      const hit = STAGES.find(([, test]) => test(f.url, f.functionName));
      if (hit) {
        stage = hit[0];
        break;
      }
    }
    perStage.set(stage, (perStage.get(stage) ?? 0) + sampleMs);
  }
  return { perStage, jsMs: p.samples.length * sampleMs };
}

function threadCpuMs(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = fs.readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim().replace(/ \d+$/, " *");
      const f = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8").split(") ")[1].split(" ");
      byName.set(name, (byName.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) * 10);
    } catch {}
  }
  return byName;
}

runMain(async () => {
  const tmp = makeTmp("etcd-bench-profile-");
  const profDir = path.join(tmp, "prof");
  fs.mkdirSync(profDir);
  const [port, peer] = await freePorts(2);
  const url = `http://127.0.0.1:${port}`;
  const args = ["--data-dir", path.join(tmp, "data"), "--listen-client-urls", url, "--advertise-client-urls", url, "--listen-peer-urls", `http://127.0.0.1:${peer}`];
  process.env.BUN_OPTIONS = `--cpu-prof --cpu-prof-dir=${profDir} --cpu-prof-interval=${o.interval}`;
  const srv = spawnServer("ts", ETCD, args, tmp, path.join(tmp, "server.log"), "etcd-ts", port);
  delete process.env.BUN_OPTIONS;
  await waitHealthy([srv], () => "etcd-ts");
  const load = { clients: 100, conns: 10, keyspace: 10_000, valueSize: 256 };
  log(`warm-up: ${o.warmup} puts`);
  await runLoad(["--port", String(port)], "put", "warm-up", load, 300, [], { total: o.warmup, seed: 1 }, () => 0);
  log(`measured: ${o.total} puts`);
  const { r, cpuStart, cpuEnd } = await runLoad(["--port", String(port)], "put", "measured", load, 300, [], { total: o.total, seed: 2 }, () => threadCpuMs(srv.pid));
  await stopServers([srv], () => "etcd-ts");
  const file = fs.readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`the server wrote no profile in ${profDir} (BUN_OPTIONS=--cpu-prof not honoured?)`);
  fs.copyFileSync(path.join(profDir, file), out);
  removeTmp(tmp, false, []);

  // The profile covers the whole process life; the warm-up's share is charged too, so per put
  // divides by every put the server saw.
  const puts = o.warmup + o.total;
  const { perStage, jsMs } = stagesOf(out);
  const lines = [
    `Put load on one member: ${fmt(r.rate, 0)} puts/s, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms (${o.total} measured after ${o.warmup}).`,
    "",
    `JavaScript thread, sampled every ${o.interval} µs over the whole run (${puts} puts), by stage:`,
    "",
    "| stage | µs per put | share |",
    "| --- | ---: | ---: |",
    ...[...perStage].sort((a, b) => b[1] - a[1]).map(([s, ms]) => `| ${s} | ${fmt((1000 * ms) / puts, 1)} | ${fmt((100 * ms) / jsMs, 0)}% |`),
    `| **sampled JavaScript thread** | **${fmt((1000 * jsMs) / puts, 1)}** | 100% |`,
    "",
    `Every thread of the process over the measured ${o.total} puts (utime + stime from /proc/PID/task):`,
    "",
    "| thread | µs per put |",
    "| --- | ---: |",
  ];
  let total = 0;
  for (const [name, end] of [...(cpuEnd ?? new Map<string, number>())].sort((a, b) => b[1] - a[1])) {
    const ms = end - (cpuStart?.get(name) ?? 0);
    if (ms <= 0) continue;
    total += ms;
    lines.push(`| ${name} | ${fmt((1000 * ms) / o.total, 1)} |`);
  }
  lines.push(`| **process** | **${fmt((1000 * total) / o.total, 1)}** |`, "", `Profile: ${path.relative(ROOT, out)} (open it as a flame graph in Chrome DevTools or speedscope.app).`);
  process.stdout.write(lines.join("\n") + "\n");
});
