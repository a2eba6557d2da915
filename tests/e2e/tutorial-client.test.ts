// The README's TypeScript version of the tutorial's Go client runs as shown and prints its transcript.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { cleanup, ROOT, startMember, type Member } from "./harness.ts";

let m: Member;
beforeAll(async () => {
  m = await startMember();
});
afterAll(async () => {
  await m.stop();
  cleanup(m);
});

test("examples/tutorial-client.ts prints the tutorial's transcript", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "examples/tutorial-client.ts"), m.endpoint], { encoding: "utf8", timeout: 30_000 });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const lines = r.stdout.trimEnd().split("\n");
  expect(lines.slice(0, 9)).toEqual([
    "[a=abc]",
    "delete: 1",
    "b1 abc1",
    "b2 abc2",
    "b3 abc3",
    "批量删除: 3",
    "user1: zhangsan",
    "lease: []",
    ...lines.slice(8, 9),
  ]);
  // The two watchers interleave; each one's events are in order.
  const watch = lines.slice(8);
  expect(watch.filter((l) => l.startsWith("watch>>w"))).toEqual(['watch>>w PUT w "hello world!"']);
  expect(watch.filter((l) => l.startsWith("watch range"))).toEqual([
    'watch range  -- PUT fo0 "b"',
    'watch range  -- PUT fo1 "b"',
    'watch range  -- PUT fo2 "c"',
    'watch range  -- PUT fo2.5 "c"',
  ]);
});
