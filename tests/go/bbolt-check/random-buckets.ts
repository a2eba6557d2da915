// Random bucket trees for the bbolt writer/reader tests, replayable from a seed: small and large values
// (overflow pages), many keys (branch pages), nested buckets, empty and inline-sized buckets.
import { seededRandom } from "../../../src/pkg/prng.ts";
import { compareBytes } from "../../../src/snap/bbolt/format.ts";
import type { ReadBucket, ReadEntry } from "../../../src/snap/bbolt/model.ts";

export interface RandomShape {
  /** Top-level buckets. */
  buckets: number;
  /** Most entries in one bucket. */
  maxEntries: number;
  /** Chance that a value is large (1..60 KB: overflow pages). */
  bigValueChance: number;
  /** Deepest nesting below the top level. */
  maxDepth: number;
}

const DEFAULT_SHAPE: RandomShape = { buckets: 4, maxEntries: 3000, bigValueChance: 0.01, maxDepth: 3 };

export function randomRoot(seed: number, shape: Partial<RandomShape> = {}): ReadBucket {
  const s = { ...DEFAULT_SHAPE, ...shape };
  const rand = seededRandom(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const bytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  const uniqueSorted = (keys: Uint8Array[]) => {
    keys.sort(compareBytes);
    return keys.filter((k, i) => i === 0 || compareBytes(keys[i - 1], k) !== 0);
  };
  // A budget keeps nesting from multiplying: each nested bucket may hold thousands of entries.
  let nestedLeft = 12;
  const bucket = (depth: number): ReadBucket => {
    // A spread of sizes: empty, inline-sized, one page, many pages.
    const sizes = [0, 1 + int(5), 1 + int(40), 1 + int(s.maxEntries)];
    const n = sizes[int(sizes.length)];
    const keys = uniqueSorted(Array.from({ length: n }, () => bytes(1 + int(int(4) === 0 ? 300 : 24))));
    const entries: ReadEntry[] = keys.map((key) => {
      if (depth < s.maxDepth && nestedLeft > 0 && int(40) === 0) {
        nestedLeft--;
        return { key, bucket: bucket(depth + 1) };
      }
      const big = rand() < s.bigValueChance;
      return { key, value: bytes(big ? 1000 + int(60_000) : int(4) === 0 ? 0 : int(120)) };
    });
    return { sequence: BigInt(int(3) === 0 ? int(1000) : 0), entries };
  };
  const names = uniqueSorted(Array.from({ length: s.buckets }, (_, i) => new TextEncoder().encode(`bucket-${i}-${int(1000)}`)));
  return { sequence: BigInt(int(5)), entries: names.map((key) => ({ key, bucket: bucket(0) })) };
}
