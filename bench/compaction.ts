// npm run bench -- compaction: how long a compaction keeps the event loop from turning, synchronous
// (the whole history in one go, as before) against in background slices (what the server does).
// In-process on the MVCC store alone: 400k revisions over 50k keys, compacted to the middle; a 1 ms
// timer measures the longest gap between event-loop turns while it runs.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../src/backend/backend.ts";
import { MvccStore } from "../src/mvcc/store.ts";

const KEYS = Number(process.env.KEYS ?? 50_000);
const REVISIONS = Number(process.env.REVISIONS ?? 400_000);

function fill(dir: string): { backend: Backend; store: MvccStore } {
  const backend = new Backend(join(dir, "db"));
  const store = new MvccStore(backend);
  const value = new Uint8Array(100);
  for (let i = 0; i < REVISIONS; i++) {
    const key = new TextEncoder().encode(`key/${String(i % KEYS).padStart(6, "0")}`);
    store.write((t) => t.put(key, value, 0n));
    if (i % 10_000 === 0) backend.commit();
  }
  backend.commit();
  backend.checkpoint(); // the fill's WAL is not the compaction's cost
  return { backend, store };
}

async function measure(background: boolean): Promise<{ totalMs: number; longestGapMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "bench-compaction-"));
  try {
    const { backend, store } = fill(dir);
    let last = performance.now();
    let longest = 0;
    const probe = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 1);
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    last = t0;
    store.compact(store.rev - BigInt(REVISIONS / 2), { background });
    await store.compacted();
    const totalMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5));
    clearInterval(probe);
    backend.close();
    return { totalMs, longestGapMs: Math.max(longest, background ? 0 : totalMs) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const sync = await measure(false);
const sliced = await measure(true);
console.log(`compaction of ${REVISIONS} revisions over ${KEYS} keys to the middle:`);
console.log(`  synchronous (before):  ${sync.totalMs.toFixed(0)} ms, event loop blocked ${sync.longestGapMs.toFixed(0)} ms`);
console.log(`  background slices:     ${sliced.totalMs.toFixed(0)} ms, longest gap ${sliced.longestGapMs.toFixed(1)} ms`);
console.log(`  longest gap ratio (sliced / synchronous): ${(sliced.longestGapMs / sync.longestGapMs).toFixed(3)}×`);
