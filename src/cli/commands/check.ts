/**
 * `etcdctl check perf`: writes at a fixed rate from many clients for the load's duration, then
 * judges the cluster by etcdctl's criteria (throughput above 90% of the target rate, slowest
 * request under 500 ms, standard deviation under 100 ms, no errors).
 */
import { Client, rpc } from "../../client/index.ts";
import { type Command, flagBool, flagString } from "../command.ts";
import type { Ctx } from "../context.ts";
import { CliError, describeError, ExitCode } from "../errors.ts";
import { goQuote } from "../output/go-quote.ts";

interface PerfLoad {
  /** Writes per second the limiter lets through. */
  limit: number;
  clients: number;
  durationS: number;
}

const LOADS: Record<string, PerfLoad> = {
  s: { limit: 150, clients: 50, durationS: 60 },
  m: { limit: 1000, clients: 200, durationS: 60 },
  l: { limit: 8000, clients: 500, durationS: 60 },
  xl: { limit: 15000, clients: 1000, durationS: 60 },
};
const ALIASES: Record<string, string> = { s: "s", small: "s", m: "m", medium: "m", l: "l", large: "l", xl: "xl", xLarge: "xl" };

/**
 * Test-only: ETCD_TS_CHECK_PERF_SECONDS shortens the run (etcdctl always takes 60 s), so the e2e
 * test can run the real workload briefly. Not an ETCDCTL_ variable on purpose: it is not a flag.
 */
function durationOverride(ctx: Ctx): number | null {
  const v = ctx.io.env.ETCD_TS_CHECK_PERF_SECONDS;
  const n = v ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 && n <= 60 ? n : null;
}

const KEY_BYTES = 256;
const VALUE_BYTES = 1024;
const SLOWEST_MAX_S = 0.5;
const STDDEV_MAX_S = 0.1;

/** Go's binary.PutVarint of a random non-negative int63 into a 256-byte key (the rest stays zero). */
function randomKey(prefix: Uint8Array): Uint8Array {
  const key = new Uint8Array(prefix.length + KEY_BYTES);
  key.set(prefix);
  const hi = BigInt(Math.floor(Math.random() * 2 ** 31));
  const lo = BigInt(Math.floor(Math.random() * 2 ** 32));
  let ux = ((hi << 32n) | lo) << 1n; // zig-zag of a non-negative value
  let i = prefix.length;
  while (ux >= 0x80n) {
    key[i++] = Number(ux & 0x7fn) | 0x80;
    ux >>= 7n;
  }
  key[i] = Number(ux);
  return key;
}

/** cheggaaa/pb's bar as etcdctl formats it ("Bom !"), redrawn in place; only on a terminal. */
function progressLine(done: number, total: number, startMs: number): string {
  const width = 60;
  const filled = Math.floor((done / total) * width);
  const bar = "B" + (filled > 0 ? "o".repeat(filled - 1) + "m" : "") + " ".repeat(width - filled) + "!";
  const pct = ((done / total) * 100).toFixed(2).padStart(6);
  const left = done === 0 ? "" : ` ${Math.max(0, Math.round(((Date.now() - startMs) / done) * (total - done) / 1000))}s`;
  return `\r${done} / ${total} ${bar} ${pct}%${left}`;
}

interface Stats {
  latenciesS: number[];
  errors: Map<string, number>;
  totalS: number;
}

const perfCommand: Command = {
  name: "perf",
  usage: "perf [options]",
  short: "Check the performance of the etcd cluster",
  flags: [
    { name: "load", type: "string", default: "s", usage: "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)" },
    { name: "prefix", type: "string", default: "/etcdctl-check-perf/", usage: "The prefix for writing the performance check's keys." },
    { name: "auto-compact", type: "bool", usage: "Compact storage with last revision after test is finished." },
    { name: "auto-defrag", type: "bool", usage: "Defragment storage after test is finished." },
  ],
  async run(ctx, _args, flags) {
    const loadName = flagString(flags, "load");
    const model = ALIASES[loadName];
    if (!model) throw new CliError(ExitCode.BadFeature, `unknown load option ${loadName}`);
    const load = LOADS[model];
    const durationS = durationOverride(ctx) ?? load.durationS;
    const prefix = flagString(flags, "prefix");
    const prefixBytes = new TextEncoder().encode(prefix);

    const clients: Client[] = [];
    for (let i = 0; i < load.clients; i++) clients.push(ctx.clientFor(ctx.globals.endpoints));
    const first = clients[0];
    const existing = await first.get(prefix, { prefix: true, limit: 1, timeoutMs: load.durationS * 1000 });
    if (existing.kvs.length > 0) {
      throw new CliError(ExitCode.InvalidInput, `prefix ${JSON.stringify(prefix)} has keys. Delete with etcdctl del --prefix ${prefix} first`);
    }

    const value = new Uint8Array(VALUE_BYTES);
    const stats: Stats = { latenciesS: [], errors: new Map(), totalS: 0 };
    const startMs = Date.now();
    const endMs = startMs + durationS * 1000;
    const intervalMs = 1000 / load.limit;
    let nextSlotMs = startMs;

    // The rate limiter hands out one write slot every 1/limit seconds until the time is up; each
    // client takes the next slot when it is free (etcdctl's channel of ops feeding its clients).
    const takeSlot = async (): Promise<boolean> => {
      const slot = Math.max(nextSlotMs, Date.now());
      if (slot >= endMs) return false;
      nextSlotMs = slot + intervalMs;
      const wait = slot - Date.now();
      if (wait > 0) await Bun.sleep(wait);
      return true;
    };
    const worker = async (c: Client) => {
      while (await takeSlot()) {
        const st = performance.now();
        try {
          await c.put(randomKey(prefixBytes), value);
          stats.latenciesS.push((performance.now() - st) / 1000);
        } catch (e) {
          const msg = describeError(e);
          stats.errors.set(msg, (stats.errors.get(msg) ?? 0) + 1);
        }
      }
    };

    let ticks = 0;
    const showBar = ctx.io.stdoutIsTTY;
    if (showBar) ctx.out(progressLine(0, durationS, startMs));
    const timer = setInterval(() => {
      ticks = Math.min(durationS, ticks + 1);
      if (showBar) ctx.out(progressLine(ticks, durationS, startMs));
    }, 1000);
    try {
      await Promise.all(clients.map(worker));
    } finally {
      clearInterval(timer);
    }
    stats.totalS = (Date.now() - startMs) / 1000;
    if (showBar) ctx.out(progressLine(durationS, durationS, startMs) + "\n");

    const deleted = await first.delete(prefix, { prefix: true, timeoutMs: 30_000 });
    if (flagBool(flags, "auto-compact")) {
      const rev = deleted.header.revision;
      ctx.out(`Compacting with revision ${rev}\n`);
      await first.compact(rev, { physical: true, timeoutMs: 30_000 });
      ctx.out(`Compacted with revision ${rev}\n`);
    }
    if (flagBool(flags, "auto-defrag")) {
      for (const ep of ctx.globals.endpoints) {
        ctx.out(`Defragmenting ${goQuote(ep)}\n`);
        await ctx.clientFor([ep]).call(rpc.defragment, {}, { timeoutMs: 30_000 });
        ctx.out(`Defragmented ${goQuote(ep)}\n`);
      }
    }
    const { report, ok } = verdict(stats, load.limit);
    ctx.out(report);
    // The report said what failed: etcdctl exits 1 without an "Error:" line.
    if (!ok) throw new CliError(ExitCode.Error, "");
  },
};

/** etcdctl's report: the PASS/FAIL lines, and whether every criterion passed. */
function verdict(s: Stats, limit: number): { report: string; ok: boolean } {
  const n = s.latenciesS.length;
  const rps = n / s.totalS;
  const avg = n ? s.latenciesS.reduce((a, b) => a + b, 0) / n : NaN;
  const stddev = n ? Math.sqrt(s.latenciesS.reduce((a, l) => a + (l - avg) ** 2, 0) / n) : NaN;
  const slowest = n ? Math.max(...s.latenciesS) : 0;
  let ok = true;
  let out = "";
  if (s.errors.size > 0) {
    out += "FAIL: too many errors\n";
    for (const [k, v] of s.errors) out += `FAIL: ERROR(${k}) -> ${v}\n`;
    ok = false;
  }
  if (rps / limit <= 0.9) {
    out += `FAIL: Throughput too low: ${Math.trunc(rps) + 1} writes/s\n`;
    ok = false;
  } else {
    out += `PASS: Throughput is ${Math.trunc(rps) + 1} writes/s\n`;
  }
  if (slowest > SLOWEST_MAX_S) {
    out += `Slowest request took too long: ${slowest.toFixed(6)}s\n`;
    ok = false;
  } else {
    out += `PASS: Slowest request took ${slowest.toFixed(6)}s\n`;
  }
  // NaN (no successful write) compares false in Go as here: it "passes" and prints NaN.
  if (stddev > STDDEV_MAX_S) {
    out += `Stddev too high: ${goFloat(stddev)}s\n`;
    ok = false;
  } else {
    out += `PASS: Stddev is ${goFloat(stddev)}s\n`;
  }
  out += ok ? "PASS\n" : "FAIL\n";
  return { report: out, ok };
}

/** Go's %f, which prints NaN as "NaN". */
function goFloat(v: number): string {
  return Number.isNaN(v) ? "NaN" : v.toFixed(6);
}

export const checkCommand: Command = {
  name: "check",
  usage: "check <subcommand>",
  short: "commands for checking properties of the etcd cluster",
  subcommands: [perfCommand],
};
