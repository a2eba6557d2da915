// Go's own bbolt (Debian's go.etcd.io/bbolt, via tests/go/bbolt-check) as the judge of our format:
// it opens what our writer wrote, tx.Check() finds no error, and it sees exactly the pairs we wrote;
// it can go on writing to the file; and our reader reads files bbolt itself wrote (free pages included).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { goDump, modelDump, ourDump, requireBboltChecker, runChecker } from "../../../tests/go/bbolt-check/checker.ts";
import { randomRoot } from "../../../tests/go/bbolt-check/random-buckets.ts";
import { BoltReader } from "./reader.ts";
import { writeBolt, writeBoltFile } from "./writer.ts";

const run = requireBboltChecker();

describe.skipIf(!run)("Go's bbolt and our files", () => {
  const dir = mkdtempSync(join(tmpdir(), "bbolt-go-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("bbolt opens our files, tx.Check() passes, and it reads back every bucket and pair", () => {
    for (const [seed, options] of [
      [1, {}],
      [2, { fillPercent: 0.5 }],
      [5, { pageSize: 16384 }],
      [6, {}],
    ] as const) {
      const root = randomRoot(seed);
      const path = join(dir, `ours-${seed}.db`);
      writeFileSync(path, writeBolt(root, options));
      const go = goDump(path); // throws unless "check ok"
      expect(go.meta).toStartWith(`meta pagesize=${options.pageSize ?? 4096} `);
      expect(go.lines.join("\n")).toBe(modelDump(root).join("\n"));
    }
  }, 120_000);

  test("a file streamed by writeBoltFile with many keys and branch levels passes too", () => {
    const path = join(dir, "many.db");
    function* pairs() {
      for (let i = 0; i < 50_000; i++) yield { key: new TextEncoder().encode(`k${String(i).padStart(7, "0")}`), value: new Uint8Array(i % 97).fill(i & 0xff) };
    }
    writeBoltFile(path, { entries: [{ key: new TextEncoder().encode("many"), bucket: { sequence: 3n, entries: pairs() } }] }, { pageSize: 1024 });
    const go = goDump(path);
    expect(go.lines.length).toBe(1 + 50_000);
    expect(go.lines.join("\n")).toBe(ourDump(BoltReader.fromFile(path)).join("\n"));
  }, 120_000);

  test("bbolt keeps writing to our file (allocating past it, freeing pages), and we read the result", () => {
    const path = join(dir, "mutate.db");
    writeFileSync(path, writeBolt(randomRoot(7, { maxEntries: 800 })));
    expect(runChecker(["mutate", path]).trim()).toBe("mutate ok");
    const reader = BoltReader.fromFile(path);
    expect(reader.freePages().length).toBeGreaterThan(0);
    expect(ourDump(reader).join("\n")).toBe(goDump(path).lines.join("\n"));
  }, 120_000);

  test("our reader reads files bbolt wrote: nested and inline buckets, overflow, a non-empty freelist", () => {
    for (const seed of [1, 2]) {
      const path = join(dir, `go-${seed}.db`);
      const lines = runChecker(["gen", path, String(seed)]).trimEnd().split("\n");
      expect(lines.at(-1)).toBe("check ok");
      const reader = new BoltReader(readFileSync(path));
      expect(reader.freePages().length).toBeGreaterThan(0);
      expect(ourDump(reader).join("\n")).toBe(lines.slice(1, -1).join("\n"));
      // And a copy through our writer is the same to bbolt.
      const copy = join(dir, `go-${seed}-copy.db`);
      writeFileSync(copy, writeBolt(reader.readAll()));
      expect(goDump(copy).lines.join("\n")).toBe(lines.slice(1, -1).join("\n"));
    }
  }, 120_000);
});
