#!/usr/bin/env bun
// npm run sim -- [--seeds N] [--from S] [--seed S] [--nodes 3|5] [--steps K] [--bug commit-previous-terms|vote-without-log-check]
import { runSeed, Violation } from "./simulator.ts";

const args = process.argv.slice(2);
// --server: the whole-server simulation (real EtcdServers; tests/sim/server/run.ts lists its flags).
if (args.includes("--server")) process.exit(await (await import("./server/run.ts")).main(args));
const get = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const nodesList = (get("nodes") ?? "3,5").split(",").map(Number);
const single = get("seed");
const from = Number(get("from") ?? 1);
const count = single ? 1 : Number(get("seeds") ?? 200);
const steps = Number(get("steps") ?? 3000);
const bug = get("bug") as "commit-previous-terms" | "vote-without-log-check" | undefined;

let failed = 0;
let ran = 0;
const t0 = performance.now();
for (const nodes of nodesList) {
  for (let i = 0; i < count; i++) {
    const seed = single ? Number(single) : from + i;
    try {
      const sim = runSeed({ seed, nodes, steps, plantedBug: bug });
      ran++;
      if (single) console.log(`seed ${seed} nodes ${nodes}: ok`, sim.stats, "crashes at", Object.fromEntries(sim.crashesAt));
    } catch (err) {
      if (!(err instanceof Violation)) throw err;
      failed++;
      console.log(err.message);
      if (!bug) break;
    }
    if (!single && (i + 1) % 100 === 0) process.stderr.write(`  ${nodes} nodes: ${i + 1}/${count} seeds\n`);
  }
}
console.log(`${ran} seeds passed, ${failed} failed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failed && !bug ? 1 : 0);
