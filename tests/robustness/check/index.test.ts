// The excerpt a failed history prints: the call a violation names, marked, among the calls around it.
import { expect, test } from "bun:test";
import type { KvCall } from "../history.ts";
import { excerpt } from "./index.ts";

const put = (i: number, call: number, ret: number, revision: number): KvCall => ({
  client: i % 3, member: 0, request: { kind: "put", key: `k${i}`, value: `v${i}`, lease: "0" }, call, ret, outcome: "ok", revision, response: { kind: "put" },
});

test("an excerpt marks the named call and keeps the calls that overlapped it or touched the revision", () => {
  // Calls 0..19 one after another (10 ms each), revisions 2..21; call 10 overlaps call 11 (long).
  const calls = Array.from({ length: 20 }, (_, i) => put(i, i * 10, i * 10 + 5, i + 2));
  calls[10] = { ...calls[10], ret: 118 };
  const lines = excerpt({ calls }, { checker: "kv", kind: "realTime", detail: "", call: 10, revision: 15 });
  expect(lines.filter((l) => l.startsWith("→ "))).toEqual([expect.stringContaining("call #10 ")]);
  // Overlapping in time: #11. Revision 15 ± 1: #12, #13, #14. Nothing else.
  expect(lines.map((l) => /call #(\d+)/.exec(l)![1])).toEqual(["10", "11", "12", "13", "14"]);
  expect(excerpt({ calls }, { checker: "watch", kind: "reliable", detail: "" })).toEqual([]);
});
