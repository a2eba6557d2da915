import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Backend } from "../../backend/backend.ts";
import { MvccStore } from "../../mvcc/store.ts";
import { Errors } from "../../pkg/errors.ts";
import { CompactionHashes } from "./compact-hash.ts";

const b = (s: string) => new TextEncoder().encode(s);
const quiet = () => {};

let dirs: string[] = [];
let backends: Backend[] = [];
afterEach(() => {
  for (const x of backends) x.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
  backends = [];
});

function member() {
  const dir = mkdtempSync(join(tmpdir(), "compact-hash-"));
  dirs.push(dir);
  const backend = new Backend(join(dir, "db"));
  backends.push(backend);
  const store = new MvccStore(backend);
  return { backend, store, hashes: new CompactionHashes(() => store, quiet) };
}

/** The same history on every member: revisions 2..13. */
function writeHistory(store: MvccStore) {
  for (let i = 0; i < 4; i++) store.write((t) => t.put(b(`k${i}`), b(`v${i}`), 0n)); // 2..5
  for (let i = 0; i < 4; i++) store.write((t) => t.put(b(`k${i}`), b(`w${i}`), 0n)); // 6..9
  store.write((t) => t.deleteRange(b("k0"), null)); // 10
  store.write((t) => t.put(b("k9"), b("x"), 0n)); // 11
  store.write((t) => t.deleteRange(b("k9"), null)); // 12: a tombstone at the compaction point
  store.write((t) => t.put(b("k1"), b("later"), 0n)); // 13
}

describe("hashes at compaction points", () => {
  test("equal data at the compaction point hashes alike, whatever the members compacted before", async () => {
    const a = member();
    const c = member();
    writeHistory(a.store);
    writeHistory(c.store);
    a.store.compact(5n);
    a.hashes.record(5n);
    a.store.compact(12n);
    c.store.compact(12n); // c never compacted at 5
    const ha = await a.hashes.at(12n);
    const hc = await c.hashes.at(12n);
    expect(ha).toEqual({ hash: hc.hash, compactRevision: 12n, revision: 12n });
    // The stored one is answered without hashing again, and the list keeps both points.
    expect(await a.hashes.at(12n)).toBe(ha);
    expect(a.hashes.list().map((x) => x.revision)).toEqual([12n]); // 5 was overtaken before it was hashed
  });

  test("a damaged value that survives the compaction changes the hash", async () => {
    const a = member();
    const c = member();
    writeHistory(a.store);
    writeHistory(c.store);
    c.backend.batch(() => c.backend.exec("UPDATE hist SET value = X'726f7474656e' WHERE rev = 7"));
    a.store.compact(12n);
    c.store.compact(12n);
    expect((await a.hashes.at(12n)).hash).not.toBe((await c.hashes.at(12n)).hash);
  });

  test("a point a later compaction overtook is gone; one not reached yet is in the future; ten are kept", async () => {
    const a = member();
    writeHistory(a.store);
    a.store.compact(6n);
    a.store.compact(8n);
    await expect(a.hashes.at(6n)).rejects.toBe(Errors.compacted);
    await expect(a.hashes.at(9n)).rejects.toBe(Errors.futureRev);
    for (let i = 0; i < 12; i++) a.store.write((t) => t.put(b("n"), b(String(i)), 0n));
    for (let rev = 9n; rev <= 20n; rev++) {
      a.store.compact(rev);
      await a.hashes.at(rev);
    }
    expect(a.hashes.list().map((x) => x.revision)).toEqual([11n, 12n, 13n, 14n, 15n, 16n, 17n, 18n, 19n, 20n]);
    expect((await a.hashes.at(11n)).revision).toBe(11n); // still stored though no longer the compaction point
  });
});
