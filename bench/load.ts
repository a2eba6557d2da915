#!/usr/bin/env bun
// Load generator for bench/run.ts: gRPC unary calls over h2c (node:http2, prior knowledge) with
// pre-encoded protobuf messages, so the client stays cheap and does the same work for both servers.
// The call itself is unaryFramed of common/grpc.ts, which bench/failover.ts uses too.
//
//   bun bench/load.ts --port P --mode put|range|fill [--total N] [--clients C] [--conns K]
//                     [--keyspace 10000] [--value-size 256] [--keys N --batch 100 --inflight 8]
//                     [--max-seconds 90] [--seed 1] [--label text] [--serializable 1|0]
//   --ports P1,P2,P3 instead of --port: the --conns connections go round-robin to the endpoints
//                     (connection i to endpoint i mod n), as for a cluster's client URLs.
//
// put:   --total Put requests on random keys of the key space (--clients concurrent, over --conns).
// range: --total single-key Range requests on random keys of the key space, serializable unless
//        --serializable 0 (then linearizable); every 25th response is decoded and must hold
//        exactly one key.
// fill:  --keys keys written with Txn requests of --batch puts each, --inflight Txns in flight.
// Progress goes to stderr every 2 s; stdout gets "@start" and "@end" lines around the measured
// part, then one JSON object with the result.
import http2 from "node:http2";
import { etcdserverpb } from "../src/proto/etcd.js";
import { seededRandom } from "../src/pkg/prng.ts";
import type { LoadMode as Mode, LoadResult as Result } from "./common/loadgen.ts";
import { frame } from "../src/server/grpc/framing.ts";
import { CallError, unaryFramed, type UnaryOptions } from "./common/grpc.ts";

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else out[a.slice(2)] = argv[++i] ?? "";
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const num = (name: string, dflt: number): number => {
  const v = args[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a number: ${v}`);
  return n;
};

const ports: number[] = args.ports !== undefined ? args.ports.split(",").map(Number) : [num("port", 0)];
const mode = (args.mode ?? "put") as Mode;
if (!ports.length || ports.some((p) => !Number.isInteger(p) || p <= 0)) throw new Error("--port or --ports is required");
const serializable = num("serializable", 1) !== 0;
if (!["put", "range", "fill"].includes(mode)) throw new Error(`--mode: put, range or fill, not ${mode}`);
const clients = Math.max(1, Math.floor(num("clients", 100)));
const conns = Math.max(1, Math.floor(num("conns", 10)));
const keyspace = Math.max(1, Math.floor(num("keyspace", 10_000)));
const valueSize = Math.floor(num("value-size", 256));
const maxSeconds = num("max-seconds", 90);
const seed = Math.floor(num("seed", 1)) >>> 0 || 1;
const label = args.label ?? mode;
const keys = Math.floor(num("keys", 100_000));
const batch = Math.max(1, Math.floor(num("batch", 100)));
const inflight = Math.max(1, Math.floor(num("inflight", 8)));
const callTimeoutMs = num("call-timeout-ms", 15_000);

/** Keys are "bench/00000042": the same names for put, range and fill, so range finds what fill wrote. */
const enc = new TextEncoder();
const keyOf = (i: number): Uint8Array => enc.encode(`bench/${String(i).padStart(8, "0")}`);


const rand = seededRandom(seed);
const baseValue = new Uint8Array(valueSize);
for (let i = 0; i < valueSize; i++) baseValue[i] = 97 + Math.floor(rand() * 26);
/** A 256-byte value that differs per key (its index in front), so no two values are the same. */
function valueOf(i: number): Uint8Array {
  const v = baseValue.slice();
  const tag = enc.encode(String(i));
  v.set(tag.subarray(0, Math.min(tag.length, v.length)));
  return v;
}

async function connect(n: number): Promise<http2.ClientHttp2Session[]> {
  const out: http2.ClientHttp2Session[] = [];
  for (let i = 0; i < n; i++) {
    const s = http2.connect(`http://127.0.0.1:${ports[i % ports.length]}`);
    s.on("error", (err) => process.stderr.write(`  [${label}] connection ${i} error: ${err.message}\n`));
    s.on("goaway", (code) => process.stderr.write(`  [${label}] connection ${i} got GOAWAY ${code}\n`));
    await new Promise<void>((resolve, reject) => {
      s.once("connect", () => resolve());
      s.once("error", reject);
    });
    out.push(s);
  }
  return out;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

async function main(): Promise<Result> {
  let path: string;
  let requested: number;
  let workers: number;
  /** Builds the frame of request number i. */
  let frameFor: (i: number) => Buffer;
  let perRequestUnits = 1;
  let check: ((i: number, body: Buffer) => string | null) | null = null;

  if (mode === "put" || mode === "range") {
    requested = Math.floor(num("total", 20_000));
    workers = clients;
    // Pre-encode one message per key, and pick the key of each request up front.
    const frames: Buffer[] = new Array(keyspace);
    for (let k = 0; k < keyspace; k++) {
      const msg =
        mode === "put"
          ? etcdserverpb.PutRequest.encode({ key: keyOf(k), value: valueOf(k) }).finish()
          : etcdserverpb.RangeRequest.encode({ key: keyOf(k), serializable }).finish();
      frames[k] = frame(msg);
    }
    const picks = new Uint32Array(requested);
    for (let i = 0; i < requested; i++) picks[i] = Math.floor(rand() * keyspace);
    frameFor = (i) => frames[picks[i]];
    path = mode === "put" ? "/etcdserverpb.KV/Put" : "/etcdserverpb.KV/Range";
    if (mode === "range") {
      check = (i, body) => {
        if (i % 25 !== 0) return null;
        if (body.length < 5) return "empty range response";
        const resp = etcdserverpb.RangeResponse.decode(body.subarray(5, 5 + body.readUInt32BE(1)));
        if (resp.kvs.length !== 1) return `range of an existing key returned ${resp.kvs.length} keys (key index ${picks[i]})`;
        return null;
      };
    }
  } else {
    requested = Math.ceil(keys / batch);
    workers = inflight;
    perRequestUnits = batch;
    path = "/etcdserverpb.KV/Txn";
    frameFor = (i) => {
      const ops: etcdserverpb.RequestOp.$Properties[] = [];
      for (let k = i * batch; k < Math.min(keys, (i + 1) * batch); k++) ops.push({ requestPut: { key: keyOf(k), value: valueOf(k) } });
      return frame(etcdserverpb.TxnRequest.encode({ success: ops }).finish());
    };
  }

  const sessions = await connect(Math.min(conns, workers));
  const lat = new Float64Array(requested);
  let next = 0;
  let done = 0;
  let ok = 0;
  let errors = 0;
  const firstErrors: string[] = [];
  let timedOut = false;
  // Markers for bench/run.ts, which reads the server's CPU time exactly around the measured part.
  process.stdout.write("@start\n");
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + maxSeconds * 1000;

  const progress = setInterval(() => {
    const s = (performance.now() - t0) / 1000;
    const unit = mode === "fill" ? `${Math.min(keys, done * batch)}/${keys} keys` : `${done}/${requested}`;
    process.stderr.write(
      `  [${label}] ${unit} (${Math.round((100 * done) / requested)}%) ${s.toFixed(1)}s${errors ? `, ${errors} errors` : ""}\n`,
    );
  }, 2000);

  // One options object for all calls (none built per call); bodies are kept only when checked.
  const callOptions: UnaryOptions = { timeoutMs: callTimeoutMs, keepBody: check !== null };
  async function worker(w: number): Promise<void> {
    const session = sessions[w % sessions.length];
    while (next < requested) {
      if (performance.now() > deadline) {
        timedOut = true;
        return;
      }
      const i = next++;
      const frame = frameFor(i);
      const start = performance.now();
      try {
        const body = await unaryFramed(session, path, frame, callOptions);
        const bad = check && body ? check(i, body) : null;
        if (bad) throw new CallError(bad);
        lat[done] = performance.now() - start;
        ok++;
      } catch (err) {
        lat[done] = performance.now() - start;
        errors++;
        if (firstErrors.length < 5) firstErrors.push((err as Error).message);
        if (session.closed || session.destroyed) {
          // The connection is gone: stop rather than spin through the remaining requests.
          timedOut = true;
          return;
        }
      }
      done++;
    }
  }

  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  const elapsedMs = performance.now() - t0;
  process.stdout.write("@end\n");
  clearInterval(progress);
  const cpu = process.cpuUsage(cpu0);
  for (const s of sessions) s.close();

  const sorted = lat.slice(0, done).sort();
  return {
    mode,
    label,
    requested,
    done,
    ok,
    errors,
    firstErrors,
    timedOut,
    elapsedMs,
    rate: (mode === "fill" ? Math.min(keys, ok * perRequestUnits) : ok) / (elapsedMs / 1000),
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    p999Ms: percentile(sorted, 99.9),
    maxMs: sorted.length ? sorted[sorted.length - 1] : NaN,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

main().then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + "\n");
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`load: ${(err as Error)?.stack ?? err}\n`);
    process.exit(2);
  },
);
