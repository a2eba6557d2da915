import { expect, test } from "bun:test";
import { seededRandom } from "../pkg/prng.ts";
import { TimeQueue } from "./time-queue.ts";

test("pops by time then id, one entry per id, matching a sorted-array model over random operations", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = seededRandom(seed);
    const q = new TimeQueue();
    const model = new Map<bigint, number>();
    for (let step = 0; step < 3000; step++) {
      const id = BigInt(Math.floor(random() * 60));
      const r = random();
      if (r < 0.5) {
        const time = Math.floor(random() * 50); // many ties
        q.set(id, time);
        model.set(id, time);
      } else if (r < 0.7) {
        expect(q.delete(id)).toBe(model.delete(id));
      } else if (r < 0.8) {
        const expected = [...model].sort(([ia, ta], [ib, tb]) => ta - tb || (ia < ib ? -1 : 1))[0];
        const top = q.peek();
        if (!expected) expect(top).toBeUndefined();
        else {
          expect(top).toEqual({ id: expected[0], time: expected[1] });
          q.delete(expected[0]);
          model.delete(expected[0]);
        }
      }
      expect(q.size).toBe(model.size);
      expect(q.timeOf(id)).toBe(model.get(id));
      expect(q.has(id)).toBe(model.has(id));
    }
    const drained: bigint[] = [];
    for (let top = q.peek(); top; top = q.peek()) {
      drained.push(top.id);
      q.delete(top.id);
    }
    expect(drained).toEqual([...model].sort(([ia, ta], [ib, tb]) => ta - tb || (ia < ib ? -1 : 1)).map(([id]) => id));
  }
});

test("moving an entry later or earlier reorders it; clear empties", () => {
  const q = new TimeQueue();
  q.set(1n, 10);
  q.set(2n, 20);
  q.set(3n, 30);
  q.set(1n, 40);
  expect(q.peek()).toEqual({ id: 2n, time: 20 });
  q.set(3n, 5);
  expect(q.peek()).toEqual({ id: 3n, time: 5 });
  expect(q.size).toBe(3);
  q.clear();
  expect(q.size).toBe(0);
  expect(q.peek()).toBeUndefined();
  expect(() => q.set(1n, Number.NaN)).toThrow("assertion failed");
});
