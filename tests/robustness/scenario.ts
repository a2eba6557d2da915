// One robustness history: a 3-member cluster of dist/etcd, a traffic profile (several clients of our
// client library plus the real etcdctl, and recording watchers), one kind of nemesis, for a bounded
// time; then everything is healed, the watchers are let catch up, and the history is checked.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "../../src/client/client.ts";
import { rpc } from "../../src/client/rpc.ts";
import { seededRandom } from "../../src/pkg/prng.ts";
import { checkHistory, excerpt, type Violation } from "./check/index.ts";
import { Cluster } from "./cluster.ts";
import type { History, KvCall, WatchRequest, WatchSession } from "./history.ts";
import { type NemesisKind, runNemesis, type ScheduleEntry } from "./nemesis.ts";
import { EtcdctlClient } from "./traffic/etcdctl-client.ts";
import { KvRecorder } from "./traffic/kv-recorder.ts";
import { newClientState, type Profile, type TrafficContext, type TrafficMix } from "./traffic/profiles.ts";
import { WatchRecorder } from "./traffic/watch-recorder.ts";

export interface ScenarioOptions {
  /** Shown in reports; default "<profile>×<nemesis>". */
  name?: string;
  profile: Profile;
  /** "none": no faults (a regression scenario that needs only its traffic). */
  nemesis: NemesisKind | "none";
  /** Cluster size (default 3). */
  members?: number;
  /** More server flags (after the suite's own). */
  serverArgs?: string[];
  /** Extra weight on some operations. */
  mix?: TrafficMix;
  /** The progress-notify watcher's request period (default 1000 ms). */
  progressEveryMs?: number;
  /**
   * More watchers: "future" watches from a revision the traffic has not reached yet; "at-compaction"
   * opens a short watch from each acknowledged compaction's revision.
   */
  watchers?: ("future" | "at-compaction")[];
  seed: number;
  seconds: number;
  /** KV clients of our library (the real etcdctl is one more when `etcdctl`). */
  clients: number;
  etcdctl: boolean;
  /** Pause between one client's steps, ms (0 = as fast as answers come: overload for 2 cores). */
  thinkMs: number;
  /** Where failed runs keep their data dirs, logs and history. */
  keepDir: string;
  /** Keep passing histories too (their data dirs, logs and history), not only failed ones. */
  keepAll?: boolean;
  /** ETCD_TS_UNSAFE_BUG for every member: the self-test of the checkers. */
  plantedBug?: string;
  log: (msg: string) => void;
}

export interface ScenarioResult {
  name: string;
  seed: number;
  ok: boolean;
  calls: { ok: number; failed: number; unknown: number };
  watchEvents: number;
  watchSessions: number;
  faults: number;
  violations: Violation[];
  schedule: ScheduleEntry[];
  /** Set when the run failed: where its history, logs and data dirs are. */
  keptAt?: string;
  /** Set when the run failed: the history itself (for an excerpt). */
  history?: History;
  ms: number;
}

const ELECTION_MS = 1000;
const OP_TIMEOUT_MS = 3000;
const CATCH_UP_MS = 30_000;

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const name = o.name ?? `${o.profile.name}×${o.nemesis}`;
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const log = (msg: string) => o.log(`[${name} ${(now() / 1000).toFixed(1)}s] ${msg}`);
  const dir = mkdtempSync(join(tmpdir(), `robustness-${name.replace(/[^a-z0-9-]+/gi, "-")}-`));
  const rnd = seededRandom(o.seed);
  const calls: KvCall[] = [];
  const watches: WatchSession[] = [];
  const violations: Violation[] = [];
  let schedule: ScheduleEntry[] = [];
  let cluster: Cluster | null = null;
  const recorders: KvRecorder[] = [];
  const watchers: WatchRecorder[] = [];
  let passed = false;
  try {
    cluster = await Cluster.start({
      size: o.members ?? 3,
      dir: join(dir, "members"),
      token: `robustness-${o.seed}`,
      // Small, so that logs are compacted and a member that was down catches up by snapshot.
      args: ["--snapshot-count", "300", "--snapshot-catchup-entries", "100", "--heartbeat-interval", "100", "--election-timeout", String(ELECTION_MS), ...(o.serverArgs ?? [])],
      env: { ...(o.plantedBug ? { ETCD_TS_UNSAFE_BUG: o.plantedBug } : {}), ...(o.nemesis === "power-loss" ? { ETCD_TS_RECORD_SYNCED: "1" } : {}) },
      // WAL segments are 64 MiB each: room for a few, and for the database.
      diskMiB: o.nemesis === "disk-full" ? 512 : undefined,
    });
    const endpoints = cluster.endpoints;
    log(`cluster up on ${endpoints.join(", ")}`);

    // ---- watchers: two over the whole keyspace from revision 1 (the truth), and the profile's
    const watchOf = (client: number, home: number, request: Partial<WatchRequest>, progressEveryMs = 0) => {
      const w = new WatchRecorder({
        client, endpoints, home: home % endpoints.length, now, sink: watches, progressEveryMs,
        request: { key: "\0", end: "\0", startRevision: 0, prevKv: false, progressNotify: false, noPut: false, noDelete: false, ...request },
      });
      watchers.push(w);
      return w;
    };
    const full = [watchOf(100, 0, { startRevision: 1, prevKv: true }), watchOf(101, 1, { startRevision: 1 })];
    watchOf(102, 2, { key: o.profile.prefix, end: o.profile.prefixEnd, prevKv: true, progressNotify: true }, o.progressEveryMs ?? 1000);
    watchOf(103, 1, { key: o.profile.prefix, end: o.profile.prefixEnd, noDelete: true, startRevision: 1 });
    watchOf(104, 0, { key: o.profile.prefix, end: o.profile.prefixEnd, noPut: true }, 700);
    // A watch from a revision not reached yet: nothing may arrive from before it (etcd #20221).
    if (o.watchers?.includes("future")) watchOf(105, 1, { startRevision: 300, prevKv: true });
    const watching = watchers.map((w) => w.run());
    const ctx: TrafficContext = { safeCompactRevision: () => Math.min(...full.map((w) => w.lastRevision)) };

    // ---- traffic and nemesis, until the deadline
    const until = now() + o.seconds * 1000;
    const clients = Array.from({ length: o.clients }, async (_, c) => {
      const rec = new KvRecorder({ client: c, endpoints, home: c % endpoints.length, now, sink: calls, timeoutMs: OP_TIMEOUT_MS });
      recorders.push(rec);
      const st = newClientState(c, seededRandom((o.seed + 1 + c) >>> 0), o.mix);
      for (let k = 0; k < 1_000_000 && now() < until; k++) {
        await o.profile.step(rec, st, ctx);
        if (o.thinkMs > 0) await Bun.sleep(o.thinkMs * (0.5 + st.rnd()));
      }
    });
    const ctlClient = o.etcdctl
      ? (async () => {
          const ctl = new EtcdctlClient(o.clients, endpoints, 0, now, calls, OP_TIMEOUT_MS);
          const crnd = seededRandom((o.seed + 999) >>> 0);
          for (let k = 0; k < 100_000 && now() < until; k++) {
            const key = `${o.profile.prefix}ctl${Math.floor(crnd() * 3)}`;
            const r = crnd();
            await ctl.do(r < 0.5 ? { kind: "put", key, value: `ctl-${k}`, lease: "0" } : r < 0.85 ? { kind: "range", key, end: "", revision: 0, limit: 0, serializable: false } : { kind: "delete", key, end: "" });
            await Bun.sleep(100 + crnd() * 200);
          }
        })()
      : Promise.resolve();
    const nemesis = o.nemesis === "none" ? Promise.resolve([]) : runNemesis({ cluster, kinds: [o.nemesis], rnd, now, until, electionTimeoutMs: ELECTION_MS, log });
    // Short watches from each acknowledged compaction's revision (etcd #19179), while traffic runs.
    const chaser = o.watchers?.includes("at-compaction")
      ? (async () => {
          let seen = 0;
          for (let k = 0; k < 10_000 && now() < until; k++) {
            const compacts = calls.filter((c) => c.request.kind === "compact" && c.outcome === "ok");
            for (const c of compacts.slice(seen)) {
              const at = (c.request as { revision: number }).revision;
              const w = watchOf(200 + seen, seen, { startRevision: at, prevKv: true });
              watching.push(w.run());
              setTimeout(() => w.stop(), 1500);
            }
            seen = compacts.length;
            await Bun.sleep(100);
          }
        })()
      : Promise.resolve();
    [schedule] = await Promise.all([nemesis, ...clients, ctlClient, chaser]);
    log(`traffic done: ${calls.length} calls; healing`);
    await cluster.heal();

    // ---- let everyone catch up to one final revision
    const final = await finalRevision(recorders[0], calls, log);
    const deadline = now() + CATCH_UP_MS;
    for (let t = 0; now() < deadline; t++) {
      const behind = watchers.filter((w) => w.finished === null && !w.stopped && w.lastRevision < final);
      if (behind.length === 0) break;
      if (t % 5 === 4) for (const w of behind) w.requestProgress();
      await Bun.sleep(100);
    }
    for (const [i, w] of watchers.entries()) {
      if (w.finished === null && !w.stopped && w.lastRevision < final) violations.push({ checker: "watch", kind: "liveness", detail: `watcher ${i} reached revision ${w.lastRevision}, not ${final}, ${CATCH_UP_MS / 1000} s after healing` });
    }
    for (const w of watchers) w.stop();
    await Promise.all(watching);
    violations.push(...(await convergence(cluster, final)));

    // ---- the checkers
    const history: History = { seed: o.seed, calls, watches };
    violations.push(...checkHistory(history, log));
    passed = violations.length === 0;
    await cluster.stop(!passed || o.keepAll === true);
    if (passed && !o.keepAll) return result(undefined);
    passed = false; // kept: not removed below
    return result(keep(dir, o, history, schedule, cluster, violations));
  } catch (e) {
    violations.push({ checker: "run", kind: "error", detail: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    await cluster?.stop(true).catch(() => {});
    return result(keep(dir, o, { seed: o.seed, calls, watches }, schedule, cluster, violations));
  } finally {
    for (const w of watchers) w.stop();
    for (const r of recorders) r.close();
    await cluster?.stop().catch(() => {});
    if (passed) rmSync(dir, { recursive: true, force: true });
  }

  function result(keptAt: string | undefined): ScenarioResult {
    const count = (x: KvCall["outcome"]) => calls.filter((c) => c.outcome === x).length;
    return {
      name, seed: o.seed, ok: violations.length === 0,
      calls: { ok: count("ok"), failed: count("failed"), unknown: count("unknown") },
      watchEvents: watches.reduce((n, s) => n + s.responses.reduce((m, r) => m + r.events.length, 0), 0),
      watchSessions: watches.length,
      faults: schedule.length,
      violations, schedule, keptAt, ms: now(),
      ...(violations.length > 0 ? { history: { seed: o.seed, calls, watches } } : {}),
    };
  }
}

/** A linearizable read after healing (retried): its revision is where every watcher must get to. */
async function finalRevision(rec: KvRecorder | undefined, calls: KvCall[], log: (m: string) => void): Promise<number> {
  if (!rec) throw new Error("no traffic client");
  for (let attempt = 0; attempt < 40; attempt++) {
    const c = await rec.do({ kind: "range", key: "\0", end: "\0", revision: 0, limit: 1, serializable: false });
    if (c.outcome === "ok") {
      log(`final revision ${c.revision}`);
      return c.revision!;
    }
    await Bun.sleep(500);
  }
  throw new Error(`no linearizable read succeeded in 20 s after healing; last calls: ${JSON.stringify(calls.slice(-3))}`);
}

/** Every member at the final revision has the same HashKV, and no alarm is raised. */
async function convergence(cluster: Cluster, final: number): Promise<Violation[]> {
  const out: Violation[] = [];
  const hashes: string[] = [];
  for (let i = 0; i < cluster.size; i++) {
    const c = new Client({ endpoints: [cluster.endpoints[i]], requestTimeoutMs: 5000 });
    try {
      // Wait for the member to have applied the final revision (a serializable read says where it is).
      for (let t = 0; t < 100; t++) {
        const r = await c.call(rpc.range, { key: Buffer.from("\0"), limit: 1n, serializable: true }).catch(() => null);
        if (r && Number(r.header?.revision ?? 0) >= final) break;
        await Bun.sleep(100);
      }
      // At the current revision (0), which is the final one once traffic has stopped: HashKV refuses
      // a revision at or below the compaction (as etcd's), and the traffic may compact at the newest.
      const h = await c.call(rpc.hashKV, { revision: 0n });
      hashes.push(`${h.hash} at revision ${h.header?.revision}, compacted at ${h.compactRevision}`);
      const alarms = await c.call(rpc.alarm, { action: 0, memberID: 0n, alarm: 0 });
      if (alarms.alarms.length > 0) out.push({ checker: "convergence", kind: "alarm", detail: `${cluster.names[i]} reports alarms ${JSON.stringify(alarms.alarms.map((a) => a.alarm))}` });
    } catch (e) {
      out.push({ checker: "convergence", kind: "hashkv", detail: `${cluster.names[i]}: HashKV after revision ${final} failed: ${(e as Error).message}` });
    } finally {
      c.close();
    }
  }
  if (new Set(hashes).size > 1) out.push({ checker: "convergence", kind: "hashkv", detail: `members differ after revision ${final}: ${hashes.map((h, i) => `${cluster.names[i]} ${h}`).join(", ")}` });
  return out;
}

/** Keeps a failed run: history (re-checkable offline), schedule, violations, member logs, data dirs. */
function keep(dir: string, o: ScenarioOptions, history: History, schedule: ScheduleEntry[], cluster: Cluster | null, violations: Violation[]): string {
  const at = join(o.keepDir, `${o.profile.name}-${o.nemesis}-${o.seed}`);
  mkdirSync(o.keepDir, { recursive: true });
  rmSync(at, { recursive: true, force: true });
  writeFileSync(join(dir, "history.json"), JSON.stringify(history));
  writeFileSync(join(dir, "schedule.json"), JSON.stringify(schedule, null, 1));
  writeFileSync(join(dir, "violations.txt"), violations.map((v) => `[${v.checker}/${v.kind}] ${v.detail}`).join("\n") + "\n");
  const around = violations.slice(0, 5).map((v) => [`[${v.checker}/${v.kind}] ${v.detail}`, ...excerpt(history, v, 30)].join("\n"));
  writeFileSync(join(dir, "excerpt.txt"), around.join("\n\n") + "\n");
  for (const [i, p] of (cluster?.processes ?? []).entries()) writeFileSync(join(dir, `${p.name}.${i}.log`), p.member.logs());
  // Moved, not copied: the data dirs can be large. (mkdtemp and keepDir may be on different file systems.)
  try {
    renameSync(dir, at);
    return at;
  } catch {
    return dir;
  }
}
