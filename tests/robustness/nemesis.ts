// The faults of a robustness run, one at a time, each held a while and then healed: kill -9 and
// restart, SIGSTOP longer than the election timeout, network partitions, one-way loss and delay on
// the peer links (the fault proxies), and crashes at named failpoints in the server.
import { rpc } from "../../src/client/rpc.ts";
import { Client } from "../../src/client/client.ts";
import type { Cluster } from "./cluster.ts";

export const NEMESES = ["kill", "pause", "partition", "one-way", "delay", "failpoint", "disk-full", "power-loss", "replace"] as const;
export type NemesisKind = (typeof NEMESES)[number];

/**
 * Named crash points of the server (src/pkg/failpoint.ts: the process exits with 137 on the Nth hit).
 * The snapshot, defrag and compaction ones are hit only when that happens (a lagging member, the
 * traffic's Defragment and Compact calls): a run that never reaches one kills the member after a
 * while instead (the schedule says so).
 */
export const FAILPOINTS = [
  "raftBeforeSave", "raftAfterSave", "raftBeforeApply", "raftAfterApply", "raftBeforeAdvance",
  "raftBeforeLeaderSend", "raftAfterLeaderSend", "raftBeforeFollowerSend", "raftAfterFollowerSend",
  "raftBeforeApplySnap", "raftAfterApplySnap", "raftBeforeSaveSnap", "raftAfterSaveSnap", "raftAfterWALRelease",
  "applyBeforeCommit", "applyAfterCommit", "wal-before-sync", "wal-after-sync",
  "defragBeforeStep", "defragAfterStep", "compactBeforeCommitBatch", "compactAfterCommitBatch",
  "beforeSendSnapshot", "afterReceiveSnapshot",
] as const;

export interface ScheduleEntry {
  /** Run time (s) the fault began. */
  at: number;
  what: string;
  /** What became of it (restarted, failpoint reached or not). */
  outcome?: string;
}

export interface NemesisOptions {
  cluster: Cluster;
  kinds: readonly NemesisKind[];
  rnd: () => number;
  /** The run's clock (ms) and its end. */
  now: () => number;
  until: number;
  /** How long a fault is held, ms (default 1500–3000, scaled by rnd). */
  holdMs?: [number, number];
  electionTimeoutMs: number;
  log: (msg: string) => void;
}

/** The member that leads, by asking each member's Status (null: none answered or none leads). */
export async function leaderIndex(cluster: Cluster): Promise<number | null> {
  for (let i = 0; i < cluster.size; i++) {
    if (!cluster.isUp(i) || cluster.isPaused(i)) continue;
    const c = new Client({ endpoints: [cluster.endpoints[i]], dialTimeoutMs: 500, requestTimeoutMs: 1000, keepAliveTimeMs: 0 });
    try {
      const s = await c.call(rpc.status, {});
      const at = cluster.size > 1 ? cluster.net.proxies.findIndex((p) => p.targetId === s.leader) : 0;
      if (at >= 0 && s.leader !== 0n) return at;
    } catch {
      // the next member may know
    } finally {
      c.close();
    }
  }
  return null;
}

/** Runs faults until `until`; returns the schedule. Leaves the cluster healed. */
export async function runNemesis(o: NemesisOptions): Promise<ScheduleEntry[]> {
  const { cluster, rnd, now } = o;
  const schedule: ScheduleEntry[] = [];
  const [holdMin, holdMax] = o.holdMs ?? [1500, 3000];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const n = cluster.size;
  for (let round = 0; round < 10_000 && now() + holdMin < o.until; round++) {
    const kind = pick(o.kinds);
    const leader = await leaderIndex(cluster);
    // Half the faults aim at the leader: that is where most of etcd's bugs were.
    const victim = leader !== null && rnd() < 0.5 ? leader : Math.floor(rnd() * n);
    const name = cluster.names[victim];
    const hold = holdMin + rnd() * (holdMax - holdMin);
    const entry: ScheduleEntry = { at: now() / 1000, what: kind };
    schedule.push(entry);
    switch (kind) {
      case "kill":
        entry.what = `kill -9 ${name}${victim === leader ? " (leader)" : ""}`;
        o.log(`nemesis: ${entry.what}`);
        await cluster.kill(victim);
        await Bun.sleep(hold / 2);
        break;
      case "pause": {
        // Longer than an election timeout: the others elect a leader while this one sleeps.
        const ms = o.electionTimeoutMs * (1.5 + rnd());
        entry.what = `SIGSTOP ${name}${victim === leader ? " (leader)" : ""} for ${Math.round(ms)} ms`;
        o.log(`nemesis: ${entry.what}`);
        cluster.pause(victim);
        await Bun.sleep(ms);
        break;
      }
      case "partition":
        if (n < 2) break;
        entry.what = `isolate ${name}${victim === leader ? " (leader)" : ""}`;
        o.log(`nemesis: ${entry.what}`);
        cluster.net.isolate(victim);
        await Bun.sleep(hold);
        break;
      case "one-way": {
        if (n < 2) break;
        const inbound = rnd() < 0.5;
        entry.what = inbound ? `${name} hears nobody` : `${name} reaches nobody`;
        o.log(`nemesis: ${entry.what}`);
        cluster.net.isolateOneWay(victim, inbound);
        await Bun.sleep(hold);
        break;
      }
      case "delay": {
        if (n < 2) break;
        const ms = 20 + Math.floor(rnd() * 180);
        entry.what = `delay ${ms} ms on every peer link`;
        o.log(`nemesis: ${entry.what}`);
        cluster.net.delay(ms);
        await Bun.sleep(hold);
        break;
      }
      case "disk-full": {
        // ENOSPC on the WAL's and the database's next writes: the member must not acknowledge
        // what it could not write, and must come back whole once there is room (restarted if it died).
        entry.what = `fill ${name}'s disk${victim === leader ? " (leader)" : ""}`;
        o.log(`nemesis: ${entry.what}`);
        const free = cluster.fillDisk(victim);
        await Bun.sleep(hold);
        free();
        entry.outcome = cluster.isUp(victim) ? "kept running" : "exited; restarted";
        break;
      }
      case "power-loss": {
        // One member, or the whole cluster at once (what a rack losing power does): every member's
        // WAL loses what it had not fdatasync'ed.
        const all = n > 1 && rnd() < 0.4;
        const victims = all ? cluster.names.map((_, j) => j) : [victim];
        entry.what = all ? "power cut on every member" : `power cut on ${name}${victim === leader ? " (leader)" : ""}`;
        o.log(`nemesis: ${entry.what}`);
        // Half the single-member cuts land right after a WAL write and before its fdatasync (the
        // member stops itself there), so there is always an unsynced tail to lose or tear.
        if (!all && rnd() < 0.5) {
          const after = String(5 + Math.floor(rnd() * 60));
          entry.what += ` right after a WAL write (wal-before-sync, hit ${after})`;
          await cluster.kill(victim);
          await cluster.startMember(victim, { ETCD_TS_FAILPOINT: "wal-before-sync", ETCD_TS_FAILPOINT_AFTER: after }, "live").catch(() => {});
          await cluster.waitExit(victim, Math.max(hold, 3000));
        }
        const cuts: string[] = [];
        for (const j of victims) cuts.push(`${cluster.names[j]}: ${await cluster.powerCut(j, rnd)}`);
        entry.outcome = cuts.join("; ");
        await Bun.sleep(hold / 3);
        break;
      }
      case "replace": {
        entry.what = `replace ${name}${victim === leader ? " (leader)" : ""}: remove it, wipe its data dir, add it back as a new member`;
        o.log(`nemesis: ${entry.what}`);
        entry.outcome = await replaceMember(cluster, victim);
        break;
      }
      case "failpoint": {
        // Most often a crash there; sometimes an error thrown there (a failed write or fsync), or a
        // stall longer than an election timeout (a slow disk, a stuck apply).
        const fp = pick(FAILPOINTS);
        const after = 1 + Math.floor(rnd() * 100);
        const action = pick(["exit", "exit", "exit", "error", "sleep"] as const);
        const stallMs = Math.round(o.electionTimeoutMs * (1.5 + rnd()));
        const env = { ETCD_TS_FAILPOINT: fp, ETCD_TS_FAILPOINT_AFTER: String(after), ETCD_TS_FAILPOINT_ACTION: action === "sleep" ? `sleep:${stallMs}` : action };
        const verb = action === "exit" ? "crash" : action === "error" ? "fail" : `stall ${stallMs} ms`;
        entry.what = `restart ${name} to ${verb} at failpoint ${fp} (hit ${after})`;
        o.log(`nemesis: ${entry.what}`);
        await cluster.kill(victim);
        try {
          await cluster.startMember(victim, env, "live");
        } catch {
          // It may stop before it serves: that is the failpoint doing its job.
        }
        if (action === "sleep") {
          await Bun.sleep(hold + stallMs);
          entry.outcome = cluster.isUp(victim) ? "ran on (stalled if reached)" : "exited";
          await cluster.kill(victim);
        } else {
          const stopped = await cluster.waitExit(victim, Math.max(hold, 3000));
          entry.outcome = stopped ? "stopped there" : "not reached; killed";
          if (!stopped) await cluster.kill(victim);
        }
        break;
      }
    }
    await cluster.heal();
    if (!entry.outcome) entry.outcome = "healed";
    o.log(`nemesis: … ${entry.outcome}`);
    // Some quiet time between faults, so the cluster also serves while whole.
    await Bun.sleep(Math.min(500 + rnd() * 1000, Math.max(0, o.until - now())));
  }
  await cluster.heal();
  return schedule;
}

/** Calls fn until it succeeds, a bounded number of times (reconfigurations are refused while a member catches up). */
async function retry<T>(what: string, fn: () => Promise<T>, attempts = 20): Promise<T> {
  let last: unknown;
  for (let a = 0; a < attempts; a++) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await Bun.sleep(250);
    }
  }
  throw new Error(`${what}: ${(last as Error)?.message ?? last}`);
}

/**
 * etcd's documented way to replace a failed member: MemberRemove, a fresh data dir, MemberAdd with the
 * same peer URL, and a start with --initial-cluster-state existing; the new member catches up from
 * the leader (by snapshot, with the cluster's small --snapshot-catchup-entries).
 */
async function replaceMember(cluster: Cluster, victim: number): Promise<string> {
  const others = cluster.endpoints.filter((_, j) => j !== victim);
  const c = new Client({ endpoints: others, dialTimeoutMs: 1000, requestTimeoutMs: 5000, keepAliveTimeMs: 0 });
  try {
    const id = cluster.net.id(victim);
    const t0 = performance.now();
    await retry("MemberRemove", () => c.call(rpc.memberRemove, { ID: id }));
    const t1 = performance.now();
    await cluster.wipe(victim);
    const added = await retry("MemberAdd", () => c.call(rpc.memberAdd, { peerURLs: [cluster.peerUrl(victim)], isLearner: false }));
    const t2 = performance.now();
    await cluster.startMember(victim, {}, "live");
    const ms = (a: number, b: number) => `${Math.round(b - a)} ms`;
    return `replaced ${id.toString(16)} by ${(added.member?.ID ?? 0n).toString(16)} (remove ${ms(t0, t1)}, add ${ms(t1, t2)}, start ${ms(t2, performance.now())})`;
  } finally {
    c.close();
  }
}
