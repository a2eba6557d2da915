#!/usr/bin/env bun
// npm run bench -- raft [--entries N] [--batch B]: a 3-node in-memory Raft cluster (the pure core, no
// disk or network) committing 100-byte proposals in batches. Reports entries/s and how the per-entry
// cost changes as the log grows from 10^5 to 10^6 entries (it must not grow with the log length).
import { seededRandom } from "../src/pkg/prng.ts";
import { RawNode } from "../src/raft/raw-node.ts";
import { MemoryStorage } from "../src/raft/storage.ts";
import { type Message, StateType } from "../src/raft/types.ts";

const args = process.argv.slice(2).filter((a) => a !== "raft");
const get = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const TOTAL = get("entries", 1_000_000);
const BATCH = get("batch", 1000);
const WINDOW = 100_000;

const ids = [1n, 2n, 3n];
const nodes = ids.map((id) => {
  const storage = new MemoryStorage();
  storage.snapshot.meta.confState.voters = [...ids];
  return new RawNode({ id, storage, electionTick: 10, heartbeatTick: 1, random: seededRandom(Number(id)), maxSizePerMsg: 1 << 20, maxInflightMsgs: 256 });
});
const byId = new Map(ids.map((id, i) => [id, nodes[i]]));
let queue: Message[] = [];
let applied = 0;

function pump(): void {
  for (;;) {
    let moved = false;
    for (const n of nodes) {
      if (!n.hasReady()) continue;
      moved = true;
      const rd = n.ready();
      if (n.id === 1n) applied += rd.committedEntries.length;
      for (const m of rd.messages) queue.push(m);
      n.advance(rd);
    }
    if (queue.length) {
      moved = true;
      const q = queue;
      queue = [];
      for (const m of q) byId.get(m.to)!.step(m);
    }
    if (!moved) return;
  }
}

nodes[0].campaign();
pump();
if (nodes[0].state !== StateType.Leader) throw new Error("node 1 did not become leader");
const payload = new Uint8Array(100).fill(42);
const base = nodes[0].committed;
const windows: number[] = [];
let windowStart = performance.now();
const t0 = windowStart;
let proposed = 0;
let lastReport = 0;
while (proposed < TOTAL) {
  nodes[0].proposeMany(Array.from({ length: BATCH }, () => payload));
  proposed += BATCH;
  pump();
  if (proposed % WINDOW === 0) {
    const now = performance.now();
    windows.push((now - windowStart) / WINDOW);
    windowStart = now;
  }
  if (proposed - lastReport >= 200_000) {
    lastReport = proposed;
    process.stderr.write(`  ${proposed}/${TOTAL} entries committed\n`);
  }
}
const elapsed = (performance.now() - t0) / 1000;
const committed = nodes[0].committed - base;
if (committed < TOTAL) throw new Error(`only ${committed} of ${TOTAL} entries committed`);
const first = windows[0] * 1000;
const last = windows[windows.length - 1] * 1000;
console.log(`| metric | value |`);
console.log(`| --- | ---: |`);
console.log(`| entries committed (3 nodes, 100 B, batches of ${BATCH}) | ${committed} |`);
console.log(`| throughput | ${Math.round(committed / elapsed).toLocaleString("en")} entries/s |`);
console.log(`| per-entry cost, entries 1–10^5 | ${first.toFixed(2)} µs |`);
console.log(`| per-entry cost, last 10^5 before ${TOTAL.toLocaleString("en")} | ${last.toFixed(2)} µs (${(last / first).toFixed(2)}× the first) |`);
console.log(`\nCommand: npm run bench -- raft --entries ${TOTAL} --batch ${BATCH}`);
