// The deterministic simulation over a fixed set of seeds: 1,000 for 3 nodes and 1,000 for 5. A failure
// message carries the one-line command that replays its seed (npm run sim -- --seed S --nodes N).
import { describe, expect, test } from "bun:test";
import { RAFT_NODE_FAILPOINTS } from "../../src/server/core/raft-node.ts";
import { runSeed, Violation } from "./simulator.ts";

// The fast tier (npm run test:unit) runs fewer seeds: ETCD_TS_SIM_SEEDS=100; npm test runs them all.
const SEEDS = Number(process.env.ETCD_TS_SIM_SEEDS ?? 1000);
const CHUNK = Math.min(250, SEEDS);

for (const nodes of [3, 5]) {
  describe(`${nodes} nodes`, () => {
    for (let from = 1; from <= SEEDS; from += CHUNK) {
      const count = Math.min(CHUNK, SEEDS - from + 1);
      test(`seeds ${from}–${from + count - 1} keep every safety property and make progress once healed`, () => {
        let checkedReads = 0;
        let acked = 0;
        let membershipChanges = 0;
        const crashedAt = new Set<string>();
        for (let seed = from; seed < from + count; seed++) {
          const sim = runSeed({ seed, nodes, steps: 1500 });
          checkedReads += sim.stats.readsChecked;
          acked += sim.stats.acked;
          membershipChanges += sim.stats.membersAdded + sim.stats.membersRemoved;
          for (const at of sim.crashesAt.keys()) crashedAt.add(at);
        }
        // The runs did real work: writes were acknowledged and reads were checked against them.
        expect(acked).toBeGreaterThan(count * 10);
        expect(checkedReads).toBeGreaterThan(count);
        expect(membershipChanges).toBeGreaterThan(count / 2);
        // Members crashed at every step of the Ready loop, including between installing a leader's
        // snapshot and persisting it (the state machine then keeps its state over an older snapshot).
        expect([...crashedAt].sort()).toEqual([...RAFT_NODE_FAILPOINTS, "between steps"].sort());
      }, 120_000);
    }
  });
}

test("a planted bug (votes granted without the log check) is reported by the checker", () => {
  let violations = 0;
  for (let seed = 1; seed <= 20; seed++) {
    try {
      runSeed({ seed, nodes: 5, steps: 1500, plantedBug: "vote-without-log-check" });
    } catch (err) {
      if (!(err instanceof Violation)) throw err;
      expect(err.message).toContain(`npm run sim -- --seed ${seed} --nodes 5 --steps 1500 --bug vote-without-log-check`);
      violations++;
    }
  }
  expect(violations).toBeGreaterThan(0);
}, 60_000);
