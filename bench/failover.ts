#!/usr/bin/env bun
// `npm run bench -- failover`: how long a 3-member loopback cluster cannot take writes after its
// leader is killed with SIGKILL — etcd-ts (dist/etcd) against the real etcd 3.4, in the same run.
//
// Both sides run with the same explicit --heartbeat-interval 100 --election-timeout 1000. Each trial:
//   1. find the leader: Maintenance Status (raw gRPC) on all 3 members until all 3 name the same
//      leader and report the same commit index (raftIndex), so no member is still catching up;
//   2. open h2c connections to the 2 survivors (set-up not timed), read the clock, kill -9 the
//      leader's process (only a process this bench started, by its PID);
//   3. from that instant, on each survivor, --lanes loops of: Put with a --attempt-ms deadline (also
//      sent as grpc-timeout), retried at once on failure, until one succeeds. Lane j starts
//      j × attempt-ms / lanes after the kill (50 ms apart by default) and starts no two attempts closer
//      than that (so fast "no leader" errors do not spin a core of this 2-core machine): a Put sent
//      while no leader could take it (forwarded to the dead leader, say) hangs until its deadline,
//      and with a single loop per survivor every trial's result would land on a multiple of 200 ms.
//      (a) kill → write is when the first Put's response arrives (± 50 ms). Alongside, each
//      survivor's Status is polled every 20 ms: (b) kill → leader is when one first names a leader
//      other than the killed member (± 20 ms). Both are bounded by --max-wait-ms;
//   4. restart the killed member on its data dir and wait until all 3 answer /health with 200.
// Trials per side are split over --clusters fresh clusters per side (fresh temp data dirs and
// ports), run in the order A-B-B-A… (A = etcd-ts, B = etcd 3.4) like the other benches, so drift in
// the shared machine's load hits both sides alike, and only one cluster runs at a time. The first
// trial of a cluster kills the leader elected at bootstrap, the others a leader elected by a failover.
// What the sides do differently by default: etcd-ts always runs Raft with pre-vote (and check-quorum);
// etcd 3.4 defaults to --pre-vote=false (it has check-quorum), and this bench leaves it so unless
// --etcd-pre-vote is given.
// Raft's randomized election timeout is in [1, 2) × --election-timeout after the last heartbeat,
// so the first survivor campaigns within 2 × --election-timeout of the kill; a write later than
// that means the first election round failed. The table says whether every trial was within it,
// and the per-trial details give the survivors' election log lines of the slower trials.
// dist/etcd is copied to a temp dir at the start and the members run that copy, so a rebuild of
// dist/etcd during the run cannot put two builds in one cluster.
//
// Flags (or env BENCH_*): --trials 8 (per side), --clusters 2 (per side), --attempt-ms 200,
//   --lanes 4 (per survivor), --max-wait-ms 15000, --heartbeat-interval 100, --election-timeout 1000,
//   --max-seconds 170 (no new trial starts after that), --etcd-pre-vote (etcd 3.4 with --pre-vote),
//   --keep-logs (copies the members' logs to bench/logs/). About 1 minute on 2 cores. Progress goes to stderr; the table to stdout, appended to
//   bench/results.md. BENCH_NO_BUILD=1 runs dist/etcd as it is even if src/ is newer.
import fs from "node:fs";
import type http2 from "node:http2";
import os from "node:os";
import path from "node:path";
import { connectH2, put, status } from "./common/grpc.ts";
import { bool, checkFlags, commandLine as commandLineOf, helpIfAsked, opt } from "./common/options.ts";
import {
  alternate, cleanupOnSignals, DIST, freePorts, killServer, makeTmp, prerequisites, removeTmp, runMain,
  type ServerProc, type Side, SIDE_NAME, sleep, spawnServer, stopServers, waitHealthy,
} from "./common/procs.ts";
import { finish, fmt, log, logStart, markdown, markFailed, median, problems, type Row, runOrder, table as tableOf } from "./common/report.ts";

// ---------------------------------------------------------------- options

checkFlags(
  ["trials", "clusters", "attempt-ms", "lanes", "max-wait-ms", "heartbeat-interval", "election-timeout", "max-seconds", "keep-logs", "etcd-pre-vote", "help"],
  " with failover",
);
helpIfAsked(import.meta.path, "header");

const o = {
  trials: opt("trials", 8),
  clusters: opt("clusters", 2),
  attemptMs: opt("attempt-ms", 200),
  lanes: opt("lanes", 4),
  maxWaitMs: opt("max-wait-ms", 15_000),
  heartbeatMs: opt("heartbeat-interval", 100),
  electionMs: opt("election-timeout", 1000),
  maxSeconds: opt("max-seconds", 170),
  keepLogs: bool("keep-logs"),
  etcdPreVote: bool("etcd-pre-vote"),
};
o.clusters = Math.min(o.clusters, o.trials);
/** Lane j of a survivor starts j × STAGGER_MS after the kill; no two attempts of a lane start closer than this. */
const STAGGER_MS = Math.max(1, Math.round(o.attemptMs / o.lanes));
/** Status poll period per survivor. */
const POLL_MS = 20;
const BOUND_MS = 2 * o.electionMs;

const commandLine = commandLineOf("bun bench/main.ts");
const T_START = Date.now();

// ---------------------------------------------------------------- prerequisites

cleanupOnSignals();
const { ETCD, VERSIONS } = prerequisites();
// The members run a copy of dist/etcd (see the header).
const binDir = makeTmp("etcd-bench-failover-bin-");
const TS_BIN = path.join(binDir, "etcd");
fs.copyFileSync(DIST, TS_BIN);
fs.chmodSync(TS_BIN, 0o755);

// ---------------------------------------------------------------- clusters

interface Member extends ServerProc {
  name: string;
  args: string[];
}

interface Cluster {
  side: Side;
  tmp: string;
  members: Member[];
}

function spawnMember(side: Side, tmp: string, name: string, args: string[], port: number): Member {
  const srv = spawnServer(side, ETCD, args, tmp, path.join(tmp, `${name}.log`), `${SIDE_NAME[side]} ${name}`, port, TS_BIN);
  return Object.assign(srv, { name, args });
}

async function startCluster(side: Side): Promise<Cluster> {
  const tmp = makeTmp(`etcd-bench-failover-${side}-`);
  const ports = await freePorts(6);
  const clientPorts = ports.slice(0, 3);
  const peerPorts = ports.slice(3);
  const initialCluster = peerPorts.map((p, i) => `m${i + 1}=http://127.0.0.1:${p}`).join(",");
  const c: Cluster = { side, tmp, members: [] };
  for (let i = 0; i < 3; i++) {
    const name = `m${i + 1}`;
    const client = `http://127.0.0.1:${clientPorts[i]}`;
    const peer = `http://127.0.0.1:${peerPorts[i]}`;
    const args = [
      "--name", name,
      "--data-dir", path.join(tmp, name),
      "--listen-client-urls", client,
      "--advertise-client-urls", client,
      "--listen-peer-urls", peer,
      "--initial-advertise-peer-urls", peer,
      "--initial-cluster", initialCluster,
      "--initial-cluster-token", "bench-failover",
      "--initial-cluster-state", "new",
      "--heartbeat-interval", String(o.heartbeatMs),
      "--election-timeout", String(o.electionMs),
      ...(side === "etcd" && o.etcdPreVote ? ["--pre-vote"] : []),
    ];
    c.members.push(spawnMember(side, tmp, name, args, clientPorts[i]));
  }
  const t = Date.now();
  await waitHealthy(c.members, (sick) => `${SIDE_NAME[side]}: ${sick.map((m) => m.name).join(", ")}`);
  log(`${SIDE_NAME[side]} cluster healthy after ${((Date.now() - t) / 1000).toFixed(1)} s (client ports ${clientPorts.join(", ")})`);
  return c;
}

/** SIGTERM to the followers first, then the leader (as bench/cluster.ts does); returns what went wrong. */
async function stopCluster(c: Cluster, leader: string | null): Promise<string[]> {
  const groups = [c.members.filter((m) => m.name !== leader), c.members.filter((m) => m.name === leader)];
  const failures: string[] = [];
  for (const g of groups) failures.push(...(await stopServers(g, (m) => m.name)));
  return failures;
}

/** Sessions to the members (index = member index), each opened with a 2 s deadline. */
async function connectAll(ms: Member[]): Promise<http2.ClientHttp2Session[]> {
  return Promise.all(ms.map((m) => connectH2(m.port, 2000)));
}

function closeAll(ss: (http2.ClientHttp2Session | null)[]): void {
  for (const s of ss) {
    try {
      s?.destroy();
    } catch {}
  }
}

interface LeaderInfo {
  leader: Member;
  leaderId: bigint;
  ids: Map<bigint, Member>;
  term: bigint;
  index: bigint;
}

/**
 * Status on all 3 members every 100 ms (1 s deadline each) until all name the same leader, one of
 * them, and report the same commit index; throws after 10 s.
 */
async function findLeader(c: Cluster, ss: http2.ClientHttp2Session[]): Promise<LeaderInfo> {
  const deadline = Date.now() + 10_000;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const st = await Promise.all(ss.map((s) => status(s, 1000)));
      const ids = new Map<bigint, Member>();
      st.forEach((r, i) => ids.set(r.header?.memberId ?? 0n, c.members[i]));
      const leaders = new Set(st.map((r) => r.leader));
      const indexes = new Set(st.map((r) => r.raftIndex));
      const leaderId = st[0].leader;
      last = `leaders ${[...leaders].map((l) => ids.get(l)?.name ?? l.toString(16)).join("/")}, commit indexes ${[...indexes].join("/")}`;
      if (leaders.size === 1 && indexes.size === 1 && ids.has(leaderId)) {
        const i = c.members.indexOf(ids.get(leaderId)!);
        return { leader: c.members[i], leaderId, ids, term: st[i].raftTerm, index: st[i].raftIndex };
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${SIDE_NAME[c.side]}: the members did not agree on a leader and commit index within 10 s (last: ${last})`);
}

// ---------------------------------------------------------------- trials

interface Trial {
  tag: string;
  killed: string;
  /** raftTerm of the leader's Status (etcd 3.4: the term of its last applied entry, current once quiet). */
  oldTerm: bigint;
  /** kill → first successful Put, ms; NaN if none within --max-wait-ms. */
  writeMs: number;
  writeVia: string;
  /** kill → a survivor names a new leader, ms; NaN if not seen. */
  leaderMs: number;
  newLeader: string;
  attempts: number;
  errors: Map<string, number>;
  /** kill → the process has exited. */
  exitMs: number;
  /** restart → all 3 healthy. */
  healthyMs: number;
}

const trials: Record<Side, Trial[]> = { ts: [], etcd: [] };
const details: Record<Side, string[]> = { ts: [], etcd: [] };

/** Log lines of one member about elections, from byte offset `from` on: the story of a slow failover. */
function raftLines(file: string, from: number, max = 14): string[] {
  let text = "";
  try {
    const buf = fs.readFileSync(file);
    text = buf.subarray(from).toString("utf8");
  } catch {
    return [];
  }
  const out = text
    .split("\n")
    .filter((l) => /elect|vote|leader|candidate|lease|raft state|became (in)?active/i.test(l))
    .map((l) => l.slice(0, 240));
  return out.length > max ? [...out.slice(0, max - 1), `… ${out.length - max + 1} more`] : out;
}

/** Error text without the numbers that differ per attempt, to count them by kind. */
const errorKind = (msg: string) => msg.replace(/\d+(\.\d+)?/g, "N").slice(0, 120);

async function trial(c: Cluster, tag: string): Promise<Trial> {
  let ss: (http2.ClientHttp2Session | null)[] = await connectAll(c.members);
  try {
    const li = await findLeader(c, ss as http2.ClientHttp2Session[]);
    const leader = li.leader;
    const li0 = c.members.indexOf(leader);
    const survivors = c.members.map((m, i) => ({ m, i })).filter(({ i }) => i !== li0);
    ss[li0]?.destroy();
    ss[li0] = null;
    const logOffsets = new Map(survivors.map(({ m }) => [m.name, fs.statSync(m.logFile).size]));
    const t: Trial = {
      tag, killed: leader.name, oldTerm: li.term, writeMs: NaN, writeVia: "", leaderMs: NaN, newLeader: "",
      attempts: 0, errors: new Map(), exitMs: NaN, healthyMs: NaN,
    };
    const key = `failover/${tag.replace(/\W+/g, "-")}`;
    const killWall = new Date();

    // ---- the kill, and the clock
    const t0 = performance.now();
    // Settled here (awaited only after the write), so a process that outlives SIGKILL fails the trial, not the runtime.
    const killed = killServer(leader).then(
      () => ((t.exitMs = performance.now() - t0), null),
      (err: Error) => err,
    );
    const stopAt = t0 + o.maxWaitMs;
    const since = () => performance.now() - t0;

    // One session per survivor, shared by its lanes; reconnected (once, not per lane) if it breaks.
    const connecting = new Map<number, Promise<http2.ClientHttp2Session>>();
    const sessionOf = (m: Member, i: number): Promise<http2.ClientHttp2Session> => {
      const s = ss[i];
      if (s && !s.closed && !s.destroyed) return Promise.resolve(s);
      let p = connecting.get(i);
      if (!p) {
        p = connectH2(m.port, o.attemptMs).then(
          (s2) => ((ss[i] = s2), connecting.delete(i), s2),
          (err) => (connecting.delete(i), Promise.reject(err)),
        );
        connecting.set(i, p);
      }
      return p;
    };
    /** One lane: Put, retried at once on failure; lane j of a survivor starts j × STAGGER_MS after the kill. */
    const writer = async (m: Member, i: number, lane: number) => {
      if (lane > 0) await sleep(lane * STAGGER_MS);
      while (Number.isNaN(t.writeMs) && performance.now() < stopAt) {
        const a0 = performance.now();
        t.attempts++;
        try {
          const s = await sessionOf(m, i);
          await put(s, key, `${m.name} ${a0.toFixed(0)}`, Math.max(1, Math.min(o.attemptMs, stopAt - a0)));
          if (Number.isNaN(t.writeMs)) {
            t.writeMs = since();
            t.writeVia = m.name;
          }
        } catch (err) {
          const k = `${m.name}: ${errorKind((err as Error).message)}`;
          t.errors.set(k, (t.errors.get(k) ?? 0) + 1);
        }
        const spent = performance.now() - a0;
        if (Number.isNaN(t.writeMs) && spent < STAGGER_MS) await sleep(STAGGER_MS - spent);
      }
    };
    const watcher = async (m: Member, i: number) => {
      while (Number.isNaN(t.leaderMs) && performance.now() < stopAt) {
        const a0 = performance.now();
        try {
          const s = ss[i];
          if (s && !s.closed && !s.destroyed) {
            const st = await status(s, Math.max(1, Math.min(o.attemptMs, stopAt - a0)));
            if (st.leader !== 0n && st.leader !== li.leaderId && Number.isNaN(t.leaderMs)) {
              t.leaderMs = since();
              t.newLeader = li.ids.get(st.leader)?.name ?? st.leader.toString(16);
            }
          }
        } catch {}
        const spent = performance.now() - a0;
        if (Number.isNaN(t.leaderMs) && spent < POLL_MS) await sleep(POLL_MS - spent);
      }
    };
    const lanes = survivors.flatMap(({ m, i }) => Array.from({ length: o.lanes }, (_, lane) => writer(m, i, lane)));
    await Promise.all([...lanes, ...survivors.map(({ m, i }) => watcher(m, i))]);
    const killError = await killed;
    if (killError) throw killError;

    const errs = [...t.errors].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n}× ${k}`);
    const say =
      `${tag}: killed leader ${t.killed} (term ${t.oldTerm}, exited after ${fmt(t.exitMs, 0)} ms); ` +
      `first write after ${fmt(t.writeMs, 0)} ms via ${t.writeVia || "-"} (${t.attempts} attempts); ` +
      `new leader ${t.newLeader || "?"} seen after ${fmt(t.leaderMs, 0)} ms`;
    log(say);
    details[c.side].push(`- ${say}; failed attempts: ${errs.length ? errs.slice(0, 4).join("; ") : "none"}`);
    if (!(t.writeMs <= BOUND_MS)) {
      const why = Number.isNaN(t.writeMs) ? `no write succeeded within ${o.maxWaitMs} ms` : `the first write took ${fmt(t.writeMs, 0)} ms`;
      if (Number.isNaN(t.writeMs)) markFailed();
      problems.push(`${tag}: ${why} (more than 2 × the election timeout, ${BOUND_MS} ms); the survivors' Raft log lines are in the per-trial details`);
      log(`!!! ${tag}: ${why}; kill at ${killWall.toISOString()}; the survivors' Raft log lines since the kill:`);
      details[c.side].push(`  - ${tag}: kill at ${killWall.toISOString()}; survivors' Raft log lines since then:`);
      for (const { m } of survivors) {
        for (const l of raftLines(m.logFile, logOffsets.get(m.name)!)) {
          log(`    ${m.name}: ${l}`);
          details[c.side].push(`    - ${m.name}: \`${l.replace(/`/g, "'")}\``);
        }
      }
    }

    // ---- restart the killed member on its data dir
    closeAll(ss);
    ss = [];
    const r0 = performance.now();
    const again = spawnMember(c.side, c.tmp, leader.name, leader.args, leader.port);
    c.members[li0] = again;
    await waitHealthy(c.members, (sick) => `${tag} after restarting ${leader.name}: ${sick.map((m) => m.name).join(", ")}`);
    t.healthyMs = performance.now() - r0;
    log(`${tag}: ${leader.name} restarted, all 3 healthy after ${fmt(t.healthyMs, 0)} ms`);
    return t;
  } finally {
    closeAll(ss);
  }
}

const clusterNo: Record<Side, number> = { ts: 0, etcd: 0 };
const trialNo: Record<Side, number> = { ts: 0, etcd: 0 };
let outOfTime = false;

/** One fresh cluster of `side` and its share of the trials. */
async function clusterRun(side: Side, rep: number): Promise<void> {
  const share = Math.floor(o.trials / o.clusters) + (rep < o.trials % o.clusters ? 1 : 0);
  const tagC = `${SIDE_NAME[side]} cluster #${++clusterNo[side]}`;
  if (Date.now() - T_START > o.maxSeconds * 1000) {
    outOfTime = true;
    log(`${tagC}: skipped, past --max-seconds ${o.maxSeconds}`);
    return;
  }
  log(`${tagC}: starting a fresh 3-member cluster for ${share} trials`);
  const c = await startCluster(side);
  let lastLeader: string | null = null;
  try {
    for (let k = 0; k < share; k++) {
      if (Date.now() - T_START > o.maxSeconds * 1000) {
        outOfTime = true;
        log(`${tagC}: no more trials, past --max-seconds ${o.maxSeconds}`);
        break;
      }
      const t = await trial(c, `${SIDE_NAME[side]} trial ${++trialNo[side]}`);
      trials[side].push(t);
      lastLeader = t.newLeader || null;
    }
  } finally {
    for (const f of await stopCluster(c, lastLeader)) {
      problems.push(`${tagC}: ${f}`);
      log(`!!! ${tagC}: ${f}`);
    }
    removeTmp(c.tmp, o.keepLogs, c.members.map((m) => [m.logFile, `failover-${side}-c${clusterNo[side]}-${m.name}.log`]));
  }
}

// ---------------------------------------------------------------- report

function table(): string {
  const col = (side: Side, f: (t: Trial) => number) => trials[side].map(f);
  const rows: Row[] = [];
  const row = (metric: string, f: (t: Trial) => number, agg: (xs: number[]) => number) =>
    rows.push({ metric, ts: agg(col("ts", f)), etcd: agg(col("etcd", f)), digits: 0, better: "lower" });
  // A trial without a successful write counts as --max-wait-ms in the max.
  const max = (xs: number[]) => (xs.length ? Math.max(...xs.map((x) => (Number.isNaN(x) ? o.maxWaitMs : x))) : NaN);
  row("kill → first successful put, median (ms)", (t) => t.writeMs, median);
  row("kill → first successful put, max (ms)", (t) => t.writeMs, max);
  row("kill → a survivor names the new leader, median (ms)", (t) => t.leaderMs, median);
  row("kill → a survivor names the new leader, max (ms)", (t) => t.leaderMs, max);
  row("restart of the killed member → all 3 healthy, median (ms)", (t) => t.healthyMs, median);
  const within = (side: Side) => {
    const ts = trials[side];
    const ok = ts.filter((t) => t.writeMs <= BOUND_MS).length;
    return `${ok === ts.length && ts.length > 0 ? "**yes**" : "**no**"} (${ok}/${ts.length})`;
  };
  return (
    tableOf(rows) +
    `\n\nEvery kill → put within 2 × election timeout (${BOUND_MS} ms): etcd-ts ${within("ts")}, etcd 3.4 ${within("etcd")}.`
  );
}

async function main(): Promise<void> {
  logStart(VERSIONS, ETCD, o);
  log(`command: ${commandLine}`);
  await alternate(o.clusters, clusterRun);
  if (outOfTime) problems.push(`stopped early at --max-seconds ${o.maxSeconds}: etcd-ts ${trials.ts.length}, etcd 3.4 ${trials.etcd.length} trials of ${o.trials}`);
  removeTmp(binDir, false, []);
  const md = markdown(
    (when) =>
      `Failover benchmark: leader of a 3-member loopback cluster killed with SIGKILL, etcd-ts (dist/etcd) vs etcd 3.4, same machine, same run (${when}, ${os.cpus().length} cores).`,
    commandLine,
    table(),
    `Both sides with --heartbeat-interval ${o.heartbeatMs} --election-timeout ${o.electionMs} (etcd-ts always uses pre-vote; ` +
      (o.etcdPreVote ? `etcd 3.4 with --pre-vote). ` : `etcd 3.4 left at its default --pre-vote=false). `) +
      `Per trial: the leader (all 3 members agreeing in Maintenance Status) is ` +
      `killed with SIGKILL; from that instant each survivor gets Puts with a ${o.attemptMs} ms deadline on ${o.lanes} lanes ` +
      `started ${STAGGER_MS} ms apart, each retrying at once on failure (no two attempts of a lane closer than ${STAGGER_MS} ms), ` +
      `until the first succeeds; the survivors' Status is polled every ${POLL_MS} ms for a new leader; then the killed member is restarted on its data dir and the next trial waits ` +
      `for all 3 healthy. ${o.trials} trials per side over ${o.clusters} fresh clusters per side (order ${runOrder(o.clusters)}). ` +
      `Raft's randomized election timeout is 1–2 × the election timeout after the last heartbeat; with 2 survivors the ` +
      `first of them times out about ${Math.round(1.28 * o.electionMs)} ms after the kill on average. That much is Raft's own; ` +
      `the ratio shows whether an implementation adds to it.`,
    [...details.ts, ...details.etcd],
  );
  finish(md, { append: true });
}

runMain(main);
