#!/usr/bin/env bun
// npm run sim -- --server [--seeds N] [--from S] [--seed S] [--members 3|5|3,5] [--steps N]
//   [--bug ack-before-fsync|apply-twice-after-restart|watch-skip-on-compaction] [--trace]
// Whole-server deterministic simulation (sim-cluster.ts): each seed is one run of real EtcdServers;
// a failing seed prints the line that replays it. With --bug, a planted server bug is switched on and
// the run reports which seeds caught it (exit 0 when at least one did).
import { judge, replayLine } from "./judge.ts";
import { ELECTION_MS, runServerSim, UNSAFE_BUGS, type UnsafeBug } from "./sim-cluster.ts";

export async function main(argv: string[]): Promise<number> {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const single = get("seed");
  const from = Number(get("from") ?? 1);
  const count = single ? 1 : Number(get("seeds") ?? 100);
  const steps = Number(get("steps") ?? 400);
  const membersList = (get("members") ?? "3").split(",").map(Number);
  const bug = get("bug") as UnsafeBug | undefined;
  const trace = argv.includes("--trace");
  if (bug && !UNSAFE_BUGS.includes(bug)) {
    console.error(`--bug '${bug}' is not a planted bug; choose one of ${UNSAFE_BUGS.join(", ")}`);
    return 2;
  }
  for (const m of membersList) {
    if (m !== 3 && m !== 5) {
      console.error(`--members ${m}: the simulation runs 3 or 5 members`);
      return 2;
    }
  }
  if (!(Number.isInteger(count) && count > 0 && Number.isInteger(steps) && steps > 0)) {
    console.error("--seeds and --steps take positive integers");
    return 2;
  }

  let passed = 0;
  let failed = 0;
  const t0 = performance.now();
  for (const members of membersList) {
    for (let i = 0; i < count; i++) {
      const seed = single ? Number(single) : from + i;
      const r = await runServerSim({ seed, members, steps, bug, trace: trace ? (line) => console.log(line) : undefined });
      const found = judge(r, { electionTimeoutMs: ELECTION_MS });
      if (found.length === 0) {
        passed++;
        if (single) console.log(`seed ${seed}, ${members} members: ok`, summary(r.stats));
      } else {
        failed++;
        console.log(`FAIL seed ${seed}, ${members} members${bug ? ` (planted bug ${bug})` : ""}: ${replayLine(r, bug)}`);
        for (const f of found.slice(0, 8)) console.log(`  ${f}`);
        if (found.length > 8) console.log(`  … and ${found.length - 8} more`);
      }
      if (!single && (i + 1) % 50 === 0) process.stderr.write(`  ${members} members: ${i + 1}/${count} seeds\n`);
    }
  }
  const s = (performance.now() - t0) / 1000;
  const total = passed + failed;
  console.log(`${passed} passed, ${failed} failed in ${s.toFixed(1)} s (${(total / s).toFixed(1)} seeds/s)`);
  if (bug) {
    console.log(failed ? `planted bug ${bug}: caught by ${failed} of ${total} seeds` : `planted bug ${bug}: NOT caught in ${total} seeds`);
    return failed ? 0 : 1;
  }
  return failed ? 1 : 0;
}

function summary(stats: Record<string, unknown>): string {
  const st = stats as { steps: number; events: number; crashes: number; partitions: number; fakeMs: number; realMs: number; clients: { ops: number; watches: number } };
  return `${st.steps} steps, ${st.events} events, ${st.clients.ops} operations, ${st.clients.watches} watches, ${st.crashes} crashes, ${st.partitions} partitions, ${st.fakeMs} ms simulated in ${st.realMs} ms`;
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
