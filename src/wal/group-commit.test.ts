import { test, expect } from "bun:test";
import { GroupCommit } from "./group-commit";

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

test("queues submissions behind an in-flight flush and flushes them together, in order", async () => {
  const batches: number[][] = [];
  const gates: ReturnType<typeof deferred>[] = [];
  const committer = new GroupCommit<number>(
    async (items) => {
      batches.push(items);
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
    },
    { maxBatchBytes: 1000 },
  );
  const resolved: number[] = [];
  const first = committer.submit(0, 1).then(() => resolved.push(0));
  await Bun.sleep(1);
  expect(batches).toEqual([[0]]);
  const rest = [1, 2, 3, 4].map((n) => committer.submit(n, 1).then(() => resolved.push(n)));
  await Bun.sleep(1);
  // Nothing resolves before its flush finished.
  expect(batches).toEqual([[0]]);
  expect(resolved).toEqual([]);
  gates[0].resolve();
  await first;
  await Bun.sleep(1);
  expect(batches).toEqual([[0], [1, 2, 3, 4]]);
  expect(resolved).toEqual([0]);
  gates[1].resolve();
  await Promise.all(rest);
  expect(resolved).toEqual([0, 1, 2, 3, 4]);
  await committer.drain();
});

test("submissions in the same tick share the first flush", async () => {
  const batches: number[][] = [];
  const committer = new GroupCommit<number>(async (items) => void batches.push(items), { maxBatchBytes: 1000 });
  await Promise.all([1, 2, 3].map((n) => committer.submit(n, 1)));
  expect(batches).toEqual([[1, 2, 3]]);
});

test("splits queued work by the byte budget but always takes at least one item", async () => {
  const batches: number[][] = [];
  const committer = new GroupCommit<number>(async (items) => void batches.push(items), { maxBatchBytes: 10 });
  await Promise.all([
    committer.submit(1, 4),
    committer.submit(2, 4),
    committer.submit(3, 4),
    committer.submit(4, 50),
    committer.submit(5, 1),
  ]);
  expect(batches).toEqual([[1, 2], [3], [4], [5]]);
});

test("a failed flush rejects its batch, everything queued and everything later with the same error", async () => {
  const failure = new Error("EIO: fdatasync failed");
  const gate = deferred();
  let flushes = 0;
  const committer = new GroupCommit<number>(
    async () => {
      flushes++;
      await gate.promise;
    },
    { maxBatchBytes: 1 },
  );
  const inFlight = committer.submit(1, 1);
  await Bun.sleep(1);
  const queued = committer.submit(2, 1);
  const settled = Promise.allSettled([inFlight, queued]);
  gate.reject(failure);
  expect(await settled).toEqual([
    { status: "rejected", reason: failure },
    { status: "rejected", reason: failure },
  ]);
  await committer.drain();
  expect(committer.failure).toEqual({ error: failure });
  await expect(committer.submit(3, 1)).rejects.toBe(failure);
  expect(flushes).toBe(1);
});

test("drain resolves immediately when idle and after the in-flight flush otherwise", async () => {
  const gate = deferred();
  const committer = new GroupCommit<number>(() => gate.promise, { maxBatchBytes: 10 });
  await committer.drain();
  const submitted = committer.submit(1, 1);
  let drained = false;
  const draining = committer.drain().then(() => (drained = true));
  await Bun.sleep(1);
  expect(drained).toBe(false);
  gate.resolve();
  await submitted;
  await draining;
  expect(drained).toBe(true);
});
