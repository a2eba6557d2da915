// Runs every Raft transcript in testdata/ (one test each): the commands of a file drive a fresh
// InteractionEnv and every output must match the file. ETCD_TS_REWRITE=1 writes the actual outputs
// back instead, to accept a deliberate change (review the git diff of the .txt files).
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { lineDiff, runFile } from "./datadriven.ts";
import { InteractionEnv } from "./interpreter.ts";

const DIR = join(import.meta.dir, "testdata");
const REWRITE = process.env.ETCD_TS_REWRITE === "1";
const files = readdirSync(DIR).filter((f) => f.endsWith(".txt")).sort();

test("the transcripts are there", () => {
  expect(files.length).toBeGreaterThan(0);
});

for (const file of files) {
  test(file, () => {
    const env = new InteractionEnv();
    const results = runFile(join(DIR, file), (d) => env.handle(d), { rewrite: REWRITE });
    if (REWRITE) return;
    const mismatches = results.filter((r) => r.expected !== r.actual);
    if (mismatches.length === 0) return;
    const report = mismatches
      .slice(0, 3)
      .map((r) => `${r.data.pos}: ${r.data.cmd} — expected (-) vs actual (+):\n${lineDiff(r.expected, r.actual)}`)
      .join("\n\n");
    throw new Error(
      `${mismatches.length} command(s) of ${file} printed other output than the transcript holds.\n\n${report}\n\n` +
        `If the new behaviour is intended, rewrite the file and review its diff:\n` +
        `  ETCD_TS_REWRITE=1 npx bun test tests/raft/transcripts.test.ts`,
    );
  });
}
